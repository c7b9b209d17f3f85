"""Before any training, `prepare` and the local preflight say which chat rows cannot be trained on the model's
own chat template and why (read from the model's files, as training will render it): a run none of whose rows
can be trained is refused; some rows are a warning before launch; "raise train.max_length" is never the advice
unless length is the cause."""

from __future__ import annotations

import json

import pytest

from ftwizard.errors import UsageError
from ftwizard.recipe import validate_dict
from tests.test_chat_templates import SYSTEM, a, tokenizer, u


def model_folder(tmp_path, name: str):
    folder = tmp_path / name
    tokenizer(name).save_pretrained(folder)
    (folder / "config.json").write_text("{}")
    return folder


def recipe_for(tmp_path, rows, folder, **train):
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return validate_dict({"name": "c", "task": "custom", "backend": "local",
                          "data": {"source": "files", "train": str(path), "eval": str(path)},
                          "model": {"base": str(folder)}, "train": {"max_length": 160, **train}})


def test_mistral_v03_tickets_with_a_system_message_pass_preflight_and_prepare(tmp_path):
    """The bundled tickets' shape (every row has a system message) on Mistral v0.3: every row trains (it used to
    fail with "no training example keeps any answer token within train.max_length = 160; raise it")."""
    from ftwizard.backends.local import LocalBackend
    from ftwizard.chatmask import unlearnable_rows
    from ftwizard.prepare import data_report

    rows = [{"messages": [SYSTEM, u(f"Ticket: case {i}"), a("billing")]} for i in range(8)]
    recipe = recipe_for(tmp_path, rows, model_folder(tmp_path, "mistral-7b-instruct-v0.3"))
    assert unlearnable_rows(recipe) == (8, 0, [])
    LocalBackend().preflight(recipe)  # no exception
    report = data_report(recipe)
    assert not any("cannot be trained" in p for p in report["problems"])
    assert "tokenizer_config" in report["local"]["chat_template"] or str(tmp_path) in report["local"]["chat_template"]


def test_preflight_refuses_a_run_none_of_whose_rows_can_be_trained_naming_rows_and_reason(tmp_path):
    from ftwizard.backends.local import LocalBackend

    rows = [{"messages": [u("a"), u("b"), a("billing")]} for _ in range(3)]  # Gemma 3 refuses roles out of turn
    recipe = recipe_for(tmp_path, rows, model_folder(tmp_path, "gemma-3-it"))
    with pytest.raises(UsageError) as e:
        LocalBackend().preflight(recipe)
    text = "\n".join(e.value.problems)
    assert "3 examples (lines 1, 2, 3) cannot be trained: the model's chat template refuses it" in text
    assert "Conversation roles must alternate" in text and "max_length" not in text


def test_some_rows_that_cannot_be_trained_are_a_warning_before_launch_and_in_prepare(tmp_path):
    from ftwizard.backends.local import LocalBackend
    from ftwizard.defaults import preflight_warnings
    from ftwizard.prepare import prepare

    rows = [{"messages": [u(f"Ticket {i}"), a("billing")]} for i in range(6)]
    rows[4] = {"messages": [u("Ticket 4"), u("more"), a("billing")]}
    recipe = recipe_for(tmp_path, rows, model_folder(tmp_path, "gemma-3-it"))
    LocalBackend().preflight(recipe)
    warns = preflight_warnings(recipe)
    assert any("1 example (line 5) cannot be trained: the model's chat template refuses it" in w for w in warns)
    report = prepare(recipe, tmp_path / "out")
    assert any(p.startswith("train: ") and "(line 5)" in p for p in report["problems"])
    assert list(report["splits"]["train"]["local"]["cannot_train"].values()) == [[5]]
    # the files prepare writes are the model's own rendering (what training sees)
    first = json.loads((tmp_path / "out" / "train.jsonl").read_text().splitlines()[0])
    assert first["text"] == "<bos><start_of_turn>user\nTicket 0<end_of_turn>\n<start_of_turn>model\nbilling<end_of_turn>"
    assert first["prompt"].endswith("<start_of_turn>model\n")


def test_the_bundled_tickets_train_on_a_mistral_v03_model_through_the_real_worker(tmp_path):
    """The issue's run: the bundled tickets (every row has a system message) on a model with Mistral v0.3's
    chat template. It used to end before step 1 with "no training example keeps any answer token within
    train.max_length = 160; raise it" (rows are ~90 tokens); now every row trains and the run succeeds. (The tiny
    test tokenizer spends ~200 tokens on a ticket, hence max_length 512 here.)"""
    from ftwizard.runs.directory import RunDirectory
    from tests.test_local_train import run_worker
    from tests.tinymodel import make_tiny_model

    model = make_tiny_model(tmp_path / "mistral-like", make_tok=lambda _v: tokenizer("mistral-7b-instruct-v0.3"))
    text = f'''name = "tickets-mistral"
task = "custom"
backend = "local"
[data]
source = "bundled"
format = "chat"
train = "tickets/train.jsonl"
eval = "tickets/eval.jsonl"
limit_train = 24
[model]
base = "{model}"
dtype = "fp32"
[train]
max_length = 512
micro_batch_size = 8
grad_accum = 1
max_steps = 2
warmup_steps = 0
eval_every = 0
save_every = 0
logging_steps = 1
[hardware]
device = "cpu"
price_per_hour = 0.05
[eval]
enabled = false
'''
    run = RunDirectory.create(tmp_path / "runs", "tickets-mistral", text)
    assert run_worker(run) == 0, (run.path / "events.jsonl").read_text()[-2000:]
    logs = [e.get("text", "") for e in run.events(("log",))]
    assert any("data: 24 training examples" in t for t in logs), logs
    assert any("loss on 24 assistant turns" in t for t in logs)
    assert not any("cannot be trained" in t or "raise it" in t for t in logs)
    first = json.loads((run.path / "data" / "train.jsonl").read_text().splitlines()[0])
    assert first["text"].startswith("<s>[INST] ") and "\n\n" in first["text"] and first["text"].endswith("</s>")
