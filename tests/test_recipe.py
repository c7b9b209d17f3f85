"""The recipe schema: bundled recipes load, every error is reported at once with key path and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ftwizard.errors import UsageError
from ftwizard.recipe import Recipe, load_recipe, parse_overrides, parse_recipe, schema_keys

REPO = Path(__file__).resolve().parent.parent
BUNDLED = sorted((REPO / "recipes").glob("*.toml"))


def test_bundled_recipes_present():
    names = {p.name for p in BUNDLED}
    assert {"sql-gpt35.toml", "sql-codellama34b-lora.toml", "viggo-gpt35.toml", "viggo-codellama34b-lora.toml",
            "viggo-cpu-demo.toml"} <= names


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_bundled_recipe_loads_and_opens_with_its_command(path):
    recipe = load_recipe(path)
    first = path.read_text().splitlines()[0]
    assert first == f"# ftwizard run recipes/{path.name}"
    assert recipe.name == path.stem
    # Round trip: the resolved TOML loads back to the same recipe.
    assert parse_recipe(recipe.to_toml(header="x")) == recipe


def test_seed_lora_settings_are_exact():
    r = load_recipe(REPO / "recipes" / "sql-codellama34b-lora.toml")
    assert r.model.base == "codellama/CodeLlama-34b-hf" and r.model.quant == "8bit"
    assert (r.lora.r, r.lora.alpha, r.lora.dropout, r.lora.bias) == (8, 16, 0.05, "none")
    assert r.lora.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj"]
    t = r.train
    assert (t.micro_batch_size, t.grad_accum, t.max_steps, t.warmup_steps, t.lr, t.max_length) == (8, 16, 400, 100, 3e-4, 512)
    assert t.group_by_length and t.loss_on == "all" and t.optimizer == "adamw_torch"
    assert (t.eval_every, t.save_every) == (20, 20)
    assert (r.hardware.gpu, r.hardware.price_per_hour) == ("A40", 0.475)


BAD = '''name = "demo"
task = "viggo"
backend = "local"

[train]
lr = "fast"
max_stepz = 10
micro_batch_size = 0

[lora]
r = 8
alpha = 16
targets = ["q_proj"]
'''


def test_all_errors_reported_at_once_with_lines_and_did_you_mean(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text(BAD)
    with pytest.raises(UsageError) as ei:
        load_recipe(f)
    msg = str(ei.value)
    assert str(f) in msg
    assert "`train.lr` (line 6)" in msg
    assert "unknown key `train.max_stepz` (line 7) (did you mean `max_steps`?)" in msg
    assert "`train.micro_batch_size` (line 8)" in msg
    assert "unknown key `lora.targets` (line 13)" in msg and "target_modules" in msg
    assert len(ei.value.problems) == 4


def test_unknown_top_level_key_and_missing_task():
    with pytest.raises(UsageError) as ei:
        parse_recipe('name = "x"\nbackedn = "local"\n', source="r.toml")
    msg = str(ei.value)
    assert "unknown key `backedn` (line 2) (did you mean `backend`?)" in msg
    assert "missing key `task`" in msg


def test_wrong_literal_names_choices():
    with pytest.raises(UsageError) as ei:
        parse_recipe('name = "x"\ntask = "sq"\n')
    assert "`task` (line 2)" in str(ei.value) and "'sql'" in str(ei.value)


def test_invalid_toml_is_a_usage_error():
    with pytest.raises(UsageError, match="not valid TOML"):
        parse_recipe('name = "x\n')


def test_set_overrides_any_key_and_are_validated(tmp_path):
    path = REPO / "recipes" / "sql-codellama34b-lora.toml"
    r = load_recipe(path, ["train.lr=1e-4", "lora.r=16", "hosted.epochs=2", "model.base=my/model"])
    assert (r.train.lr, r.lora.r, r.hosted.epochs, r.model.base) == (1e-4, 16, 2, "my/model")
    with pytest.raises(UsageError) as ei:
        load_recipe(path, ["train.lrr=1"])
    assert "unknown key `train.lrr` (from --set) (did you mean `lr`?)" in str(ei.value)
    with pytest.raises(UsageError, match="expected KEY=VALUE"):
        parse_overrides(["train.lr"])


def test_private_data_forbids_hosted():
    with pytest.raises(UsageError, match="private_data"):
        parse_recipe('name = "x"\ntask = "sql"\nbackend = "hosted"\nprivate_data = true\n')


def test_with_updates_and_schema_keys():
    r = parse_recipe('name = "x"\ntask = "sql"\n')
    r2 = r.with_updates({"eval.limit": 5})
    assert r2.eval.limit == 5 and r.eval.limit == 0
    keys = schema_keys()
    assert "train.lr" in keys and keys["train.lr"][0] == 3e-4
    assert isinstance(r2, Recipe)


def test_cli_reports_recipe_errors_with_exit_2_and_no_traceback(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text(BAD)
    p = subprocess.run([sys.executable, "-m", "ftwizard", "prepare", str(f), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert "max_stepz" in p.stderr and "line 7" in p.stderr
    assert not (tmp_path / "o").exists()


def test_an_update_the_recipe_refuses_is_a_usage_error_naming_the_key():
    """with_updates is how every face applies a what-if (the wizard's knobs, the verdict's next run, the
    estimator's quantization): a refused combination is one UsageError naming the key, never pydantic's raw error
    (the verdict's next run caught only UsageError)."""
    from ftwizard.errors import UsageError
    from ftwizard.recipe import load_recipe

    r = load_recipe(Path(__file__).resolve().parent.parent / "recipes" / "viggo-cpu-demo.toml")
    with pytest.raises(UsageError, match=r"train\.fsdp.*8-bit"):
        r.with_updates({"train.fsdp": True, "model.quant": "8bit"})
