"""`ftwizard prepare`: the seed's chat files exactly, the cookbook's token counts, and bad input handled."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ftwizard.chatfile import check_chat_examples, format_errors
from ftwizard.plan.hosted import default_epochs
from ftwizard.prepare import prepare
from ftwizard.recipe import load_recipe
from ftwizard.tokens import TokenCounter

REPO = Path(__file__).resolve().parent.parent
SEED_SQL_SYSTEM_PREFIX = ("You are a powerful text-to-SQL model. Your job is to answer questions about a database. "
                          "You are given a question and context regarding one or more tables.\\n\\nYou must output "
                          "the SQL query that answers the question.\\n\\n### Context:\\n")

# The seed's own files (samlhuillier/spider-sql-finetune, samlhuillier/viggo-finetune, openai/*.jsonl): their sizes
# in bytes, and their last lines. Equal sizes plus equal token counts plus equal ends leave no room for a difference.
SEED_FILES = {
    ("sql", "openai_train.jsonl"): 2_483_671,
    ("sql", "openai_validation.jsonl"): 352_492,
    ("viggo", "openai_validation.jsonl"): 1_082_345,
}
SEED_LAST_LINES = {
    ("sql", "openai_validation.jsonl"):
        '{"messages": [{"role": "system", "content": "' + SEED_SQL_SYSTEM_PREFIX + 'CREATE TABLE Properties '
        '(property_name VARCHAR, property_type_code VARCHAR, room_count VARCHAR)"}, {"role": "user", "content": '
        '"What are the names of properties that are either houses or apartments with more than 1 room?"}, '
        '{"role": "assistant", "content": "SELECT property_name FROM Properties WHERE property_type_code  =  '
        '\\"House\\" UNION SELECT property_name FROM Properties WHERE property_type_code  =  \\"Apartment\\" AND '
        'room_count  >  1"}]}',
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = {}
    for task in ("sql", "viggo"):
        d = tmp_path_factory.mktemp(task) / "out"
        report = prepare(load_recipe(REPO / "recipes" / f"{task}-gpt35.toml"), d)
        out[task] = (d, report)
    return out


def test_seed_chat_files_line_counts_and_billed_tokens(prepared):
    sql_dir, sql = prepared["sql"]
    viggo_dir, viggo = prepared["viggo"]
    assert sum(1 for _ in open(sql_dir / "openai_train.jsonl")) == 3961
    assert sum(1 for _ in open(sql_dir / "openai_validation.jsonl")) == 568
    assert sum(1 for _ in open(viggo_dir / "openai_train.jsonl")) == 5103
    assert sum(1 for _ in open(viggo_dir / "openai_validation.jsonl")) == 1083
    assert sql["splits"]["train"]["hosted"]["billed_tokens_per_epoch"] == 499_652
    assert viggo["splits"]["train"]["hosted"]["billed_tokens_per_epoch"] == 1_085_690
    assert sql["hosted"]["epochs"] == 3 and viggo["hosted"]["epochs"] == 3
    # The blog's $11.99 and $26.05 (3 epochs at $0.008/1K).
    assert abs(sql["hosted"]["cost_usd"] - 11.99) / 11.99 < 0.01
    assert abs(viggo["hosted"]["cost_usd"] - 26.05) / 26.05 < 0.01
    assert sql["hosted"]["price_date"] and sql["hosted"]["price_source"]


def test_seed_chat_files_byte_sizes_and_ends(prepared):
    for (task, name), size in SEED_FILES.items():
        assert (prepared[task][0] / name).stat().st_size == size, (task, name)
    for (task, name), last in SEED_LAST_LINES.items():
        assert (prepared[task][0] / name).read_text().splitlines()[-1] == last
    first = json.loads((prepared["sql"][0] / "openai_validation.jsonl").read_text().splitlines()[0])
    assert first["messages"][1:] == [{"role": "user", "content": "How many singers do we have?"},
                                     {"role": "assistant", "content": "SELECT count(*) FROM singer"}]


def test_local_training_file(prepared):
    d, report = prepared["sql"]
    rows = [json.loads(line) for line in open(d / "train.jsonl")]
    assert len(rows) == 3961
    assert rows[0]["text"] == rows[0]["prompt"] + rows[0]["answer"]
    assert rows[0]["answer"] == "SELECT count(*) FROM head WHERE age  >  56\n"
    stats = report["splits"]["train"]["local"]
    assert stats["tokens_per_example"]["max"] > stats["tokens_per_example"]["min"] > 0
    assert report["local"]["exact"] is False and "estimate" in report["local"]["tokenizer"]
    assert json.loads((d / "report.json").read_text())["hosted"]["billed_tokens"] == 3 * 499_652


def test_local_tokenizer_used_when_on_disk(tiny_model_dir, tmp_path):
    recipe = load_recipe(REPO / "recipes" / "viggo-cpu-demo.toml", [f"model.base={tiny_model_dir}", "model.gguf_file=",
                                                                    "train.max_length=40", "data.limit_train=50",
                                                                    "data.limit_eval=10"])
    report = prepare(recipe, tmp_path / "o")
    assert report["local"]["exact"] is True
    over = report["splits"]["train"]["local"]["over_max_length"]
    assert over["count"] > 0 and over["tokens_lost"] > 0
    assert any("exceed max_length 40" in p for p in report["problems"])


def test_cookbook_format_checks():
    examples = [
        "not a dict",
        {"nomessages": []},
        {"messages": [{"role": "user"}]},
        {"messages": [{"role": "user", "content": "x", "extra": 1}, {"role": "assistant", "content": "y"}]},
        {"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]},
        {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "y"}]},
        {"messages": [{"role": "user", "content": "x"}]},
    ]
    errors, where = format_errors(examples)  # one error type per broken example: its first problem
    assert errors == {"data_type": 1, "missing_messages_list": 1, "message_missing_key": 1,
                      "message_unrecognized_key": 1, "unrecognized_role": 1, "missing_content": 1,
                      "example_missing_assistant_message": 1}
    assert where[0][:2] == (1, "data_type")
    rep = check_chat_examples(examples, TokenCounter("cl100k_base"))
    assert not rep.ok and any("at least 10" in w for w in rep.warnings)


@pytest.mark.parametrize("n,epochs", [(5, 20), (1, 25), (33, 3), (34, 3), (3961, 3), (8333, 3), (8334, 2), (9000, 2), (30000, 1)])
def test_default_epochs_rule(n, epochs):
    assert default_epochs(n) == epochs


def test_cookbook_message_count():
    c = TokenCounter("cl100k_base")
    msgs = [{"role": "user", "content": "hello world"}, {"role": "assistant", "content": "hi", "name": "bot"}]
    # 3 per message + tokens of each value (+1 for name) + 3 for the reply primer.
    expected = 3 + c.count("user") + c.count("hello world") + 3 + c.count("assistant") + c.count("hi") + c.count("bot") + 1 + 3
    assert c.count_messages(msgs) == expected


def _run(args, cwd):
    return subprocess.run([sys.executable, "-m", "ftwizard", *args], capture_output=True, text=True, cwd=cwd)


def _custom_recipe(tmp_path, data_line: str, *, fmt="jsonl", template="Q: {q}\\nA: {a}\\n") -> Path:
    data = tmp_path / f"data.{fmt}"
    data.write_text(data_line)
    r = tmp_path / "r.toml"
    r.write_text(f'name = "c"\ntask = "custom"\n[data]\nsource = "files"\ntrain = "{data}"\neval = "{data}"\n'
                 f'[prompt]\ntemplate = "{template}"\nanswer_field = "a"\n')
    return r


@pytest.mark.parametrize("case,content,fmt,template,needle", [
    ("broken_jsonl", '{"q": "1", "a": "2"}\n{"q": "3", "a": \n', "jsonl", None, "line 2: not valid JSON"),
    ("empty", "", "jsonl", None, "holds no examples"),
    ("csv_missing_column", "q,b\n1,2\n", "csv", None, "unknown field `{a}`"),
    ("unknown_field", '{"q": "1", "a": "2"}\n', "jsonl", "Q: {question}\\nA: {a}", "unknown field `{question}`"),
])
def test_bad_data_exits_2_with_one_message_and_writes_nothing(tmp_path, case, content, fmt, template, needle):
    r = _custom_recipe(tmp_path, content, fmt=fmt, **({"template": template} if template else {}))
    out = tmp_path / "out"
    p = _run(["prepare", str(r), "--out", str(out)], tmp_path)
    assert p.returncode == 2, p.stderr
    assert needle in p.stderr
    assert "Traceback" not in p.stderr
    assert not out.exists()
    assert not any(x.name.startswith(".out") for x in tmp_path.iterdir()), "a half-written folder was left behind"


def test_missing_data_file_and_missing_recipe(tmp_path):
    r = tmp_path / "r.toml"
    r.write_text('name = "c"\ntask = "custom"\n[data]\nsource = "files"\ntrain = "nope.jsonl"\neval = "nope.jsonl"\n'
                 '[prompt]\ntemplate = "{q} {a}"\nanswer_field = "a"\n')
    p = _run(["prepare", str(r), "--out", str(tmp_path / "o")], tmp_path)
    assert p.returncode == 2 and "data file not found: nope.jsonl" in p.stderr
    p = _run(["prepare", "missing.toml", "--out", str(tmp_path / "o")], tmp_path)
    assert p.returncode == 2 and "recipe file not found: missing.toml" in p.stderr


def test_prepare_failure_keeps_previous_output(tmp_path):
    good = _custom_recipe(tmp_path, '{"q": "1", "a": "2"}\n' * 12)
    out = tmp_path / "out"
    assert _run(["prepare", str(good), "--out", str(out)], tmp_path).returncode == 0
    before = (out / "train.jsonl").read_text()
    (tmp_path / "data.jsonl").write_text('{"q": "1", "a": "2"}\n{broken\n')
    assert _run(["prepare", str(good), "--out", str(out)], tmp_path).returncode == 2
    assert (out / "train.jsonl").read_text() == before


def test_prepare_json_output(tmp_path):
    r = _custom_recipe(tmp_path, '{"q": "1", "a": "2"}\n' * 12)
    p = _run(["prepare", str(r), "--out", str(tmp_path / "o"), "--json"], tmp_path)
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["splits"]["train"]["examples"] == 12
    assert report["train_eval_overlap"] == 12
    assert any("leakage" in x for x in report["problems"])


# -- the defaults a user would choose (ftwizard.defaults), as prepare reports them ---------------------------------

def _ticket_file(tmp_path, n=200):
    import json as _json

    path = tmp_path / "support_tickets.train.jsonl"
    path.write_text("".join(_json.dumps({"messages": [{"role": "user", "content": f"ticket {i}: my parcel is late"},
                                                      {"role": "assistant", "content": "shipping"}]}) + "\n"
                            for i in range(n)), encoding="utf-8")
    return path


def test_own_data_defaults_steps_from_epochs_and_warmup_by_ratio(tmp_path):
    from ftwizard.defaults import own_data_recipe, run_name_from_data, train_schedule
    from ftwizard.recipe import validate_dict

    data = _ticket_file(tmp_path)
    assert run_name_from_data(data) == "support_tickets"
    recipe = validate_dict(own_data_recipe(data))
    assert recipe.name == "support_tickets" and recipe.data.eval == "" and recipe.train.max_steps == 0
    report = prepare(recipe, tmp_path / "out")
    # 180 training rows after the held-out 20; the batch is sized to the data (8 per step, not the seed's 128,
    # which would train 5 steps): 3 epochs -> ceil(540 / 8) = 68 steps, ceil(5% of 68) = 4 of warm-up
    assert (recipe.train.micro_batch_size, recipe.train.grad_accum) == (8, 1)
    assert (report["splits"]["train"]["examples"], report["splits"]["eval"]["examples"]) == (180, 20)
    assert report["local"]["schedule"] == {"steps": 68, "warmup_steps": 4, "epochs": 3.022, "from_epochs": True,
                                           "examples_per_step": 8}
    assert report["learning_warnings"] == []
    # warm-up is never the whole run, even when asked for
    s = train_schedule(recipe.with_updates({"train.warmup_steps": 100}), 180)
    assert (s.steps, s.warmup_steps) == (68, 67)


def test_settings_that_cannot_learn_are_warned_not_refused(tmp_path):
    from ftwizard.recipe import validate_dict

    data = _ticket_file(tmp_path)
    # 400 steps on 200 rows with as many warm-up steps, an lr far too high, a max_length that cuts answers.
    recipe = validate_dict({"name": "t", "task": "custom", "data": {"source": "files", "train": str(data),
                                                                   "eval": str(data)},
                            "train": {"max_steps": 400, "warmup_steps": 400, "lr": 0.5, "max_length": 8}})
    report = prepare(recipe, tmp_path / "out")
    warns = report["learning_warnings"]
    assert any("train.warmup_steps = 400 is not shorter than train.max_steps = 400" in w for w in warns)
    assert any("train.lr = 0.5 is far outside the usual LoRA range" in w for w in warns)
    assert any("passes over 200 examples" in w for w in warns)
    assert any("train.max_length = 8 cuts the answer off" in w for w in warns)
    assert all(f"settings: {w}" in report["problems"] for w in warns)
    # through the CLI: still exit 0 (warnings, not errors)
    toml = tmp_path / "t.toml"
    toml.write_text(recipe.to_toml(), encoding="utf-8")
    p = subprocess.run([sys.executable, "-m", "ftwizard", "prepare", str(toml), "--out", str(tmp_path / "o2")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "is far outside the usual LoRA range" in p.stdout


def test_model_fit_uses_the_estimator_and_the_one_fit_rule():
    from ftwizard.estimate import estimate_vram
    from ftwizard.localmodels import ModelSource, rank

    def hub(*ids):
        return [ModelSource(base=i, where="hub", catalog_id=i) for i in ids]

    seed = rank(hub("codellama/CodeLlama-34b-hf"), "A40")[0]
    assert seed.fits and seed.quant == "8bit" and seed.vram_gb <= 48 * 0.94  # unquantized 34B does not fit the A40
    assert estimate_vram("codellama/CodeLlama-34b-hf", quant="none", micro_batch=4, rank=16,
                         target_modules=["all-linear"])["vram_gb"] > 48
    small = rank(hub("Qwen/Qwen2.5-14B", "Qwen/Qwen2.5-7B"), "L4")
    assert all(r.fits for r in small) and {r.source.base: r.quant for r in small}["Qwen/Qwen2.5-14B"] == "4bit"
    assert not rank(hub("meta-llama/Llama-2-70b-hf"), "L4")[0].fits


def test_own_data_batches_follow_the_data_size_and_too_few_steps_are_warned(tmp_path):
    from ftwizard.defaults import batch_for, learning_warnings
    from ftwizard.recipe import validate_dict

    # 108 rows at the seed's 128 examples per step would be 3 steps; sized to the data it is 8 per step
    assert batch_for(108) == (8, 1)
    assert batch_for(5000) == (8, 16)          # large data keeps the seed's 128 per step
    assert batch_for(1000) == (8, 8)           # 3,000 example-passes / 64 = 47 steps >= 40
    data = _ticket_file(tmp_path)
    few = validate_dict({"name": "t", "task": "custom", "data": {"source": "files", "train": str(data),
                                                                "eval": str(data)},
                         "train": {"max_steps": 0, "epochs": 3, "micro_batch_size": 8, "grad_accum": 16}})
    warns = learning_warnings(few, n_train=108)
    assert any("only 3 optimizer step(s)" in w and "train.grad_accum" in w for w in warns), warns
    assert not any("optimizer step" in w for w in learning_warnings(few.with_updates({"train.grad_accum": 1}),
                                                                     n_train=108))
