"""Chat data: each format round-trips through `prepare`; the hosted chat file is the user's data message for
message; chat rows train on the tokenizer's chat template with the loss on assistant turns only (weight 0
honoured); the evaluator's prompt ends with the generation prompt; a held-out eval split never holds a
training row; a tiny instruct model really learns the assistant turns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftwizard.backends.local import data as D
from ftwizard.defaults import holdout_indices, holdout_size
from ftwizard.prepare import prepare
from ftwizard.prompts import DEFAULT_CHAT_TEMPLATE, ChatTemplates, render_default_chat
from ftwizard.recipe import validate_dict
from ftwizard.tasks import get_task

LABELS = ("billing", "bug", "account", "shipping")


def chat_rows(n: int = 30) -> list[dict]:
    rows = []
    for i in range(n):
        msgs = [{"role": "system", "content": "Sort the support ticket into one category."},
                {"role": "user", "content": f"Ticket {i}: my order {i * 7} never arrived, caf\u00e9 \u2028 ok?"},
                {"role": "assistant", "content": LABELS[i % 4]}]
        if i % 5 == 0:  # multi-turn, a turn not to learn, a name
            msgs += [{"role": "user", "content": "Are you sure?", "name": "alex"},
                     {"role": "assistant", "content": "Let me check.", "weight": 0},
                     {"role": "user", "content": "Please answer with the category."},
                     {"role": "assistant", "content": LABELS[i % 4], "weight": 1}]
        rows.append({"messages": msgs})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def files_recipe(train: Path, eval_: Path | str, **extra) -> "object":
    d = {"name": "chat", "task": "custom", "data": {"source": "files", "train": str(train), "eval": str(eval_)}}
    for k, v in extra.items():
        d.setdefault(k.split(".")[0], {})[k.split(".")[1]] = v
    return validate_dict(d)


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]  # not splitlines(): U+2028 is not a line end here


# ---------------------------------------------------------------------------------------------
# Formats through prepare

def test_chat_round_trips_through_prepare_message_for_message(tmp_path):
    rows = chat_rows(30)
    train = write_jsonl(tmp_path / "train.jsonl", rows[:24])
    ev = write_jsonl(tmp_path / "eval.jsonl", rows[24:])
    report = prepare(files_recipe(train, ev), tmp_path / "out")
    assert report["format"] == "chat" and report["format_source"] == "detected"
    assert report["splits"]["train"]["examples"] == 24 and report["splits"]["eval"]["examples"] == 6
    # The hosted files are the user's data: the same objects (weights, names, multi-turn) and the same bytes.
    assert [json.loads(x) for x in read_lines(tmp_path / "out" / "openai_train.jsonl")] == rows[:24]
    assert (tmp_path / "out" / "openai_train.jsonl").read_bytes() == train.read_bytes()
    assert (tmp_path / "out" / "openai_validation.jsonl").read_bytes() == ev.read_bytes()
    assert report["splits"]["train"]["hosted"]["ok"]
    local = [json.loads(x) for x in read_lines(tmp_path / "out" / "train.jsonl")]
    assert local[0]["prompt"].endswith("### User:\n" + rows[0]["messages"][-2]["content"] + "\n\n### Assistant:\n")
    assert local[0]["answer"].startswith(rows[0]["messages"][-1]["content"])


def test_chat_rows_with_other_keys_keep_their_messages(tmp_path):
    rows = [dict(r, id=f"t{i}", source="crm") for i, r in enumerate(chat_rows(12))]
    train = write_jsonl(tmp_path / "t.jsonl", rows)
    prepare(files_recipe(train, train), tmp_path / "out")
    hosted = [json.loads(x) for x in read_lines(tmp_path / "out" / "openai_train.jsonl")]
    assert hosted == [{"messages": r["messages"]} for r in rows]  # message for message; the ids stay home


def test_prompt_completion_round_trips(tmp_path):
    rows = [{"prompt": f"Ticket: parcel {i} lost\nCategory:", "completion": f" {LABELS[i % 4]}"} for i in range(15)]
    train = write_jsonl(tmp_path / "pc.jsonl", rows)
    report = prepare(files_recipe(train, train), tmp_path / "out")
    assert report["format"] == "prompt_completion" and report["splits"]["train"]["examples"] == 15
    chat = [json.loads(x) for x in read_lines(tmp_path / "out" / "openai_train.jsonl")]
    assert chat[3] == {"messages": [{"role": "user", "content": rows[3]["prompt"]},
                                    {"role": "assistant", "content": rows[3]["completion"]}]}
    local = [json.loads(x) for x in read_lines(tmp_path / "out" / "train.jsonl")]
    assert local[3]["prompt"] == rows[3]["prompt"] and local[3]["text"] == rows[3]["prompt"] + rows[3]["completion"]


def test_alpaca_round_trips_as_one_turn_chats(tmp_path):
    rows = [{"instruction": "Categorize the ticket.", "input": f"refund {i} please" if i % 2 else "",
             "output": LABELS[i % 4]} for i in range(12)]
    train = write_jsonl(tmp_path / "alpaca.jsonl", rows)
    report = prepare(files_recipe(train, train), tmp_path / "out")
    assert report["format"] == "alpaca" and report["splits"]["eval"]["examples"] == 12
    chat = [json.loads(x) for x in read_lines(tmp_path / "out" / "openai_train.jsonl")]
    assert chat[0]["messages"] == [{"role": "user", "content": "Categorize the ticket."},
                                   {"role": "assistant", "content": "billing"}]
    assert chat[1]["messages"][0]["content"] == "Categorize the ticket.\n\nrefund 1 please"


def test_fields_csv_still_uses_the_text_template(tmp_path):
    (tmp_path / "t.csv").write_text("text,label\n" + "".join(f"box {i} crushed,{LABELS[i % 4]}\n" for i in range(12)),
                                    encoding="utf-8")
    r = validate_dict({"name": "f", "task": "custom", "data": {"source": "files", "train": str(tmp_path / "t.csv"),
                                                               "eval": str(tmp_path / "t.csv")},
                       "prompt": {"template": "Ticket: {text}\nCategory:\n{label}\n", "answer_field": "label"}})
    report = prepare(r, tmp_path / "out")
    assert report["format"] == "fields" and report["splits"]["train"]["examples"] == 12
    local = [json.loads(x) for x in read_lines(tmp_path / "out" / "train.jsonl")]
    assert local[0]["text"] == "Ticket: box 0 crushed\nCategory:\nbilling\n"


def test_named_format_wins_over_detection(tmp_path):
    rows = [{"prompt": "p", "completion": "c", "label": "x"} for _ in range(12)]
    train = write_jsonl(tmp_path / "d.jsonl", rows)
    r = validate_dict({"name": "f", "task": "custom", "data": {"source": "files", "train": str(train),
                                                               "eval": str(train), "format": "fields"},
                       "prompt": {"template": "{prompt} -> {label}\n", "answer_field": "label"}})
    assert get_task("custom").data_format(r) == "fields"
    assert prepare(r, tmp_path / "out")["format_source"] == "data.format"


# ---------------------------------------------------------------------------------------------
# A held-out eval split

def test_held_out_eval_split_is_disjoint_seeded_and_capped(tmp_path):
    rows = chat_rows(200)
    for i, r in enumerate(rows):
        r["messages"][1]["content"] = f"unique ticket #{i}"
    train = write_jsonl(tmp_path / "all.jsonl", rows)
    recipe = files_recipe(train, "")
    task = get_task("custom")
    tr, ev = task.load_split(recipe, "train"), task.load_split(recipe, "eval")
    assert len(ev) == 20 and len(tr) == 180 and "held out" in ev.source
    key = lambda row: row["messages"][1]["content"]  # noqa: E731
    assert not {key(r) for r in tr.rows} & {key(r) for r in ev.rows}
    assert {key(r) for r in tr.rows} | {key(r) for r in ev.rows} == {key(r) for r in rows}
    assert [key(r) for r in task.load_split(recipe, "eval").rows] == [key(r) for r in ev.rows]  # seeded
    other = task.load_split(recipe.with_updates({"train.seed": 1}), "eval")
    assert [key(r) for r in other.rows] != [key(r) for r in ev.rows]
    report = prepare(recipe, tmp_path / "out")
    assert report["train_eval_overlap"] == 0
    assert holdout_size(50_000) == 1000 and holdout_size(5) == 0
    a, b = holdout_indices(25_000, seed=3)
    assert len(b) == 1000 and not set(a) & set(b) and len(a) + len(b) == 25_000


# ---------------------------------------------------------------------------------------------
# Chat templates: assistant-only labels

@pytest.fixture(scope="module")
def tiny_chat_dir(tmp_path_factory) -> Path:
    """A tiny Llama whose tokenizer has a ChatML chat template: an 'instruct' model, built once here."""
    from tests.tinymodel import make_tiny_chat_model

    return make_tiny_chat_model(tmp_path_factory.mktemp("tiny-chat") / "model")


@pytest.fixture(scope="module")
def chat_tok():
    from tests.tinymodel import make_chat_tokenizer

    return make_chat_tokenizer()


@pytest.fixture(scope="module")
def base_tok():
    from tests.tinymodel import make_tokenizer

    return make_tokenizer()


def _learned(tok, ids, labels) -> str:
    return tok.decode([i for i, l in zip(ids, labels) if l != D.IGNORE])


def _prompt_token_positions(tok, messages) -> list[int]:
    """Token positions inside the rendering of every non-assistant message and of weight-0 turns."""
    full = D._render(tok, messages, generation_prompt=False)
    enc = tok(full, add_special_tokens=False, return_offsets_mapping=True)
    spans, pos = [], 0
    for m in messages:
        k = full.index(m["content"], pos)
        pos = k + len(m["content"])
        if m["role"] != "assistant" or m.get("weight", 1) == 0:
            spans.append((k, pos))
    return [t for t, (a, b) in enumerate(enc["offset_mapping"]) if any(a < e and b > s for s, e in spans)]


@pytest.mark.parametrize("which", ["chatml", "default"])
def test_only_assistant_turns_carry_loss(which, chat_tok, base_tok):
    tok = chat_tok if which == "chatml" else base_tok
    assert D.ensure_chat_template(tok) == ("model" if which == "chatml" else "default")
    # the end-of-turn token is learned; the template's separator after it is never generated, so never learned
    end = "<|im_end|>" if which == "chatml" else "</s>"
    for row in chat_rows(6):
        msgs = row["messages"]
        ids, labels, truncated, counts = D.encode_chat(tok, msgs, max_length=4096)
        assert not truncated
        learned_turns = [m["content"] for m in msgs if m["role"] == "assistant" and m.get("weight", 1)]
        # exactly the learned assistant turns and their end-of-turn tokens, in order: nothing else
        assert _learned(tok, ids, labels) == "".join(c + end for c in learned_turns)
        # the test that fails if prompt tokens (system, user, weight-0 turns) carry loss
        prompt_pos = _prompt_token_positions(tok, msgs)
        assert prompt_pos and all(labels[p] == D.IGNORE for p in prompt_pos)
        assert counts["learned"] == len(learned_turns) and not counts["problem"] and counts["dropped"] == 0
        assert counts["skipped"] == sum(1 for m in msgs if m.get("weight") == 0)
        assert tok.eos_token_id in [l for l in labels if l != D.IGNORE], "the end of turn is learned"


def test_default_template_is_documented_and_matches_its_python_twin(base_tok):
    D.ensure_chat_template(base_tok)
    assert base_tok.chat_template.endswith(DEFAULT_CHAT_TEMPLATE)
    for row in chat_rows(6):
        msgs = [{k: v for k, v in m.items() if k != "weight"} for m in row["messages"]]
        for gen in (False, True):
            assert base_tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen) == \
                render_default_chat(msgs, add_generation_prompt=gen, eos_token=base_tok.eos_token)


def test_eval_prompt_is_the_training_prefix_with_the_generation_prompt(chat_tok, base_tok):
    tpl = ChatTemplates()
    for tok in (chat_tok, base_tok):
        D.ensure_chat_template(tok)
        for row in chat_rows(6):
            prompt = D.eval_prompt(tok, tpl, row)
            ids, labels, _, _ = D.encode_chat(tok, row["messages"], max_length=4096)
            # the last learned turn starts right where the eval prompt ends (same tokens before it)
            last_start = max(i for i in range(len(labels)) if labels[i] != D.IGNORE and labels[i - 1] == D.IGNORE)
            assert tok(prompt, add_special_tokens=True)["input_ids"] == ids[:last_start]
        assert prompt.endswith("<|im_start|>assistant\n" if tok is chat_tok else "### Assistant:\n")
    assert tpl.answer(chat_rows(1)[0]) == "billing"
    # what the run's data/ files record: the text as this tokenizer's template renders it
    shown = D.rendered_example(chat_tok, tpl, chat_rows(1)[0])
    assert shown["text"].endswith("<|im_start|>assistant\nbilling<|im_end|>")
    assert shown["prompt"] == D.eval_prompt(chat_tok, tpl, chat_rows(1)[0])


def test_truncation_drops_examples_without_any_answer_token(chat_tok, tmp_path):
    rows = chat_rows(10)
    train = write_jsonl(tmp_path / "c.jsonl", rows)
    recipe = files_recipe(train, train, **{"train.max_length": 12})
    task = get_task("custom")
    ex, st = D.build_examples(recipe, chat_tok, task.load_split(recipe, "train").rows, task.templates(recipe))
    assert st.chat_template == "model" and st.kept + st.answer_cut_off == 10 and st.answer_cut_off > 0
    assert all(len(e["input_ids"]) <= 12 and any(l != D.IGNORE for l in e["labels"]) for e in ex)


# ---------------------------------------------------------------------------------------------
# A tiny instruct model learns the assistant turns (real steps, the real collator)

def test_tiny_instruct_model_learns_assistant_turns(tmp_path, tiny_chat_dir):
    import torch

    path = tiny_chat_dir
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    assert tok.chat_template  # saved with the model: an instruct model
    model = AutoModelForCausalLM.from_pretrained(path)
    rows = chat_rows(10)
    train = write_jsonl(tmp_path / "c.jsonl", rows)
    recipe = files_recipe(train, train)
    task = get_task("custom")
    ex, st = D.build_examples(recipe, tok, task.load_split(recipe, "train").rows, task.templates(recipe))
    assert st.kept == 10 and st.turns_skipped == 2
    collate = D.Collator(tok.pad_token_id)
    batch = collate(ex)
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(10):
        loss = model(**batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.5, losses
    # the loss counts only the assistant tokens: the same labels with the prompt unmasked give another loss
    with torch.no_grad():
        only = model(**batch).loss.item()
        all_labels = dict(batch, labels=torch.where(batch["attention_mask"] == 1, batch["input_ids"], D.IGNORE))
        assert abs(model(**all_labels).loss.item() - only) > 1e-3


# ---------------------------------------------------------------------------------------------
# The bundled "your own data" demo

def test_tickets_demo_data_is_reproducible_and_prepares_as_chat(tmp_path):
    import importlib.util

    from ftwizard.recipe import load_recipe

    here = Path(__file__).resolve().parent.parent / "ftwizard" / "data" / "tickets"
    spec = importlib.util.spec_from_file_location("make_tickets", here / "make_tickets.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(tmp_path)
    for name in ("train.jsonl", "eval.jsonl"):
        assert (tmp_path / name).read_bytes() == (here / name).read_bytes(), f"{name} is what the generator makes"
    recipe = load_recipe(Path(__file__).resolve().parent.parent / "recipes" / "tickets-cpu-demo.toml")
    report = prepare(recipe, tmp_path / "out")
    assert report["format"] == "chat" and report["problems"] == []
    assert (report["splits"]["train"]["examples"], report["splits"]["eval"]["examples"]) == (240, 60)
    assert (tmp_path / "out" / "openai_train.jsonl").read_bytes() == (here / "train.jsonl").read_bytes()
    assert report["local"]["schedule"]["steps"] == 30
    train = {json.loads(x)["messages"][1]["content"] for x in read_lines(here / "train.jsonl")}
    assert not train & {json.loads(x)["messages"][1]["content"] for x in read_lines(here / "eval.jsonl")}


def test_evaluation_asks_chat_rows_on_the_models_template(tmp_path, tiny_chat_dir):
    """evaluate_run on chat data: each prompt is the conversation up to its last assistant turn on the model's
    chat template, ending with the generation prompt; the reference is that turn."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ftwizard.evaluation.runner import evaluate_run
    from ftwizard.runs.directory import RunDirectory
    path = tiny_chat_dir
    rows = chat_rows(8)
    data = write_jsonl(tmp_path / "c.jsonl", rows)
    recipe = validate_dict({"name": "chat-eval", "task": "custom", "model": {"base": str(path)},
                            "data": {"source": "files", "train": str(data), "eval": str(data)},
                            "hardware": {"device": "cpu"}, "eval": {"limit": 4, "batch_size": 4, "max_new_tokens": 4}})
    run = RunDirectory.create(tmp_path / "runs", "chat-eval", recipe.to_toml())
    tok = AutoTokenizer.from_pretrained(path)
    evaluate_run(run, model=AutoModelForCausalLM.from_pretrained(path), tokenizer=tok)
    preds = [json.loads(x) for x in read_lines(run.path / "predictions.jsonl")]
    assert [p["reference"] for p in preds] == [r["messages"][-1]["content"] for r in rows[:4]]
    for p, r in zip(preds, rows):
        assert p["input"] == D.eval_prompt(tok, ChatTemplates(), r)
        assert p["input"].endswith(r["messages"][-2]["content"] + "<|im_end|>\n<|im_start|>assistant\n")
    assert json.loads(run.metrics_path.read_text())["n"] == 4


def test_a_template_that_refuses_a_conversation_drops_that_row_and_says_why(base_tok, tmp_path):
    """Some templates raise on what they do not support (a system message, roles out of turn): that row cannot be
    trained, and the run says which line and why (never "raise max_length")."""
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_object=base_tok.backend_tokenizer, eos_token="</s>")
    tok.chat_template = ("{% for m in messages %}{% if m['role'] == 'system' %}"
                         "{{ raise_exception('System role not supported') }}{% endif %}{{ m['content'] }}"
                         "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{% endfor %}")
    _ids, _labels, _t, counts = D.encode_chat(tok, chat_rows(1)[0]["messages"], max_length=64)
    assert counts["problem"] == "the model's chat template refuses it (System role not supported)"
    rows = chat_rows(4)
    rows[2]["messages"] = [m for m in rows[2]["messages"] if m["role"] != "system"]
    train = write_jsonl(tmp_path / "c.jsonl", rows)
    recipe = files_recipe(train, train)
    task = get_task("custom")
    split = task.load_split(recipe, "train")
    ex, st = D.build_examples(recipe, tok, split.rows, task.templates(recipe), lines=split.lines)
    assert st.kept == 1 == len(ex)
    (why,) = st.why_nothing_learned(where=str(train))
    assert "3 examples (lines 1, 2, 4) cannot be trained: the model's chat template refuses it" in why
    assert "max_length" not in why


def test_default_template_generation_marks_agree_with_our_labels(base_tok):
    """The default template's {% generation %} block (what `return_assistant_tokens_mask` reads) marks exactly
    the assistant tokens our labels find (content and EOS); the training text ends at the last EOS, the
    template's closing separator is never generated."""
    D.ensure_chat_template(base_tok)
    for row in chat_rows(6):
        msgs = [m for m in row["messages"] if m.get("weight", 1) == 1]  # the mask knows no weights
        r = base_tok.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        ids, labels, _, _ = D.encode_chat(base_tok, msgs, max_length=4096)
        assert r["input_ids"][: len(ids)] == ids and base_tok.decode(r["input_ids"][len(ids):]).strip() == ""
        ours = {i for i, l in enumerate(labels) if l != D.IGNORE}
        theirs = {i for i, m in enumerate(r["assistant_masks"]) if m}
        assert ours and ours == theirs
