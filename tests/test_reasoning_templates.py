"""Hybrid reasoning chat templates (Qwen3's `enable_thinking`): train and evaluate answering directly."""

from __future__ import annotations

from tests.tinymodel import make_chat_tokenizer

# The shape of Qwen3's template: the answer turn and the generation prompt carry an empty think block when
# enable_thinking is false; with it on (its default) the generation prompt leaves the model to think.
QWEN3_LIKE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['role'] == 'assistant' and loop.last and enable_thinking is defined and not enable_thinking %}"
    "<think>\n\n</think>\n\n{% endif %}{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)

MESSAGES = [{"role": "user", "content": "Ticket: card declined"}, {"role": "assistant", "content": "billing"}]


def test_the_eval_prompt_closes_the_think_block_and_training_labels_only_the_answer():
    from ftwizard.backends.local.data import encode_chat, eval_prompt
    from ftwizard.prompts import ChatTemplates

    tok = make_chat_tokenizer()
    tok.chat_template = QWEN3_LIKE
    prompt = eval_prompt(tok, ChatTemplates(), {"messages": MESSAGES})
    assert prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n"), repr(prompt)
    ids, labels, _truncated, _counts = encode_chat(tok, MESSAGES, max_length=256)
    learned = tok.decode([i for i, lab in zip(ids, labels) if lab != -100])
    assert "billing" in learned and "think" not in learned and "Ticket" not in learned
    # what training saw before the answer is exactly the evaluation prompt
    full = tok.decode(ids)
    assert full.startswith(prompt)


def test_a_leading_reasoning_block_is_not_part_of_the_answer():
    from ftwizard.tasks import get_task
    from ftwizard.tasks.base import strip_reasoning

    viggo = get_task("viggo")
    raw = "<think>\nThe user wants an inform act.\n</think>\n\ninform(name[Tetris], rating[good])"
    assert viggo.extract_answer(strip_reasoning(raw)) == "inform(name[Tetris], rating[good])"
    assert strip_reasoning("<think>never closed") == "<think>never closed"


def test_a_reasoning_row_is_scored_on_its_answer():
    """Training learns the reasoning and the answer; evaluation cuts the model's reasoning off its output and
    compares the answer with the reference's answer (not with the reference's reasoning)."""
    from ftwizard.prompts import ChatTemplates

    row = {"messages": [{"role": "user", "content": "Ticket: card declined"},
                        {"role": "assistant", "content": "<think>\nIt is about money.\n</think>\n\nbilling"}]}
    assert ChatTemplates().answer(row) == "billing"
