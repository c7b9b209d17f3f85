"""Own data -> one recipe, whichever face asks (`ftwizard.usecases.own_data`): the CLI's `recipes --from-data`,
the wizard's Task step, and its Hardware step when the card changes all run the same sequence (the model that
fits the card, then the defaults for that model), so they cannot disagree."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftwizard.cli.main import main
from ftwizard.defaults import OWN_DATA_LR, OWN_DATA_LR_LARGE
from ftwizard.errors import UsageError
from ftwizard.recipe import load_recipe, parse_recipe
from ftwizard.tui.app import make_app
from ftwizard.tui.screens.task import recipe_for_choice
from ftwizard.usecases.own_data import FOLLOWS_THE_CARD, OwnData, follow_card, propose
from tests.test_tui import screen_name, wait_for
from tests.test_wizard_own_data import only, to_hardware_on_the_cpu, write_chat_file  # noqa: F401 - a fixture

FORM = {"train": "", "eval": "", "name": "", "columns": "", "template": "", "answer": "", "path": ""}


@pytest.fixture
def two_models(tmp_path, monkeypatch, only):  # noqa: F811 - the fixture imported above
    """A machine with a small and a large model folder and nothing else: the CPU fits only the small one (lr
    1e-3), a big card takes the large one (lr 2e-4, past 3B parameters)."""
    from ftwizard.cli import output

    output.reset()  # the CLI's consoles write to this test's captured streams
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    only()
    for name in ("Qwen3-0.6B", "Qwen3-14B"):
        (tmp_path / "models" / name).mkdir(parents=True)
        (tmp_path / "models" / name / "config.json").write_text("{}")
    return write_chat_file(tmp_path / "tickets.jsonl")


@pytest.mark.parametrize("gpu, model, lr", [("cpu", "Qwen/Qwen3-0.6B", OWN_DATA_LR),
                                            ("H100", "Qwen/Qwen3-14B", OWN_DATA_LR_LARGE)])
def test_the_cli_and_the_wizard_propose_the_same_recipe(two_models, capsys, gpu, model, lr):
    wizard = recipe_for_choice("custom", {**FORM, "train": str(two_models)}, gpu)
    assert main(["recipes", "--from-data", str(two_models), "--gpu", gpu]) == 0
    cli = parse_recipe(capsys.readouterr().out)
    assert cli == wizard
    assert (cli.model.catalog_id, cli.train.lr, cli.name, cli.data.eval) == (model, lr, "tickets", "")
    assert main(["recipes", "--from-data", str(two_models), "--gpu", gpu, "-o", "tickets.toml"]) == 0
    assert load_recipe(Path("tickets.toml")) == wizard
    with pytest.raises(UsageError, match="the file exists"):  # never replaced: it may be the user's own
        main(["recipes", "--from-data", str(two_models), "--gpu", gpu, "-o", "tickets.toml"])


def test_another_card_re_proposes_what_follows_the_model(two_models):
    """On an A40 the large model is proposed with its learning rate; on the CPU the small one with its own -
    not the large model's rate kept beside the small model (what the Hardware step did when it swapped only
    the model keys)."""
    data = OwnData(train=str(two_models))
    on_a40 = propose(data, "A40")
    assert (on_a40.model.catalog_id, on_a40.train.lr) == ("Qwen/Qwen3-14B", OWN_DATA_LR_LARGE)
    moved = follow_card(on_a40.with_updates({"lora.r": 8}), data, "cpu")
    assert moved == propose(data, "cpu").with_updates({"lora.r": 8})  # the card's keys follow; an edit stays
    assert {k for k in FOLLOWS_THE_CARD if k.startswith("train.")} == {"train.lr"}


async def test_the_wizard_on_the_cpu_trains_the_small_model_at_its_own_rate(two_models):
    """The Task step proposes on the wizard's starting card (A40: the large model), the Hardware step finds no
    GPU and moves to the CPU: the recipe is then the CLI's proposal for the CPU, learning rate included."""
    app = make_app(runs_dir=Path("runs"), hardware={"gpus": []})
    async with app.run_test(size=(120, 40)) as pilot:
        await to_hardware_on_the_cpu(pilot, app, two_models)
        await wait_for(pilot, lambda: app.screen.state.recipe.model.catalog_id == "Qwen/Qwen3-0.6B", what="refit")
        r = app.screen.state.recipe
        assert screen_name(app) == "HardwareScreen"
    cli = propose(OwnData(train=str(two_models)), "cpu")
    assert r.train.lr == OWN_DATA_LR
    assert r.model_dump(exclude={"hosted"}) == cli.model_dump(exclude={"hosted"})


def test_a_broken_line_stops_the_proposal_with_its_file_and_line(two_models):
    lines = two_models.read_text().splitlines()
    lines[6] = '{"messages": [{"role": "user", "content": "no answer"}]}'
    two_models.write_text("\n".join(lines) + "\n")
    with pytest.raises(UsageError) as e:
        main(["recipes", "--from-data", str(two_models), "--gpu", "cpu", "-o", "t.toml"])
    assert e.value.exit_code == 2 and f"{two_models}: line 7: no assistant message" in str(e.value)
    assert not Path("t.toml").exists()
