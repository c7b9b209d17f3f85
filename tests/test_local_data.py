"""The data pipeline on the real tiny tokenizer: answer-only labels, EOS learned, pads masked by position, packing."""

from __future__ import annotations

import pytest

from ftwizard.backends.local import data as D
from ftwizard.recipe import parse_recipe

TEMPLATE = '''
[prompt]
template = """
Sentence: {target}
MR: {meaning_representation}
"""
answer_field = "meaning_representation"
'''


def recipe(model_dir, **train):
    extra = "\n".join(f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v) if not isinstance(v, str) else repr(v).replace(chr(39), chr(34))}"
                      for k, v in train.items())
    return parse_recipe(f'name = "d"\ntask = "viggo"\n[data]\nlimit_train = 20\nlimit_eval = 4\n{TEMPLATE}\n'
                        f'[model]\nbase = "{model_dir}"\n[train]\n{extra}\n')


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    from ftwizard.backends.local.modeling import load_tokenizer

    return load_tokenizer(recipe(tiny_model_dir), padding_side="right")


def test_answer_only_labels_mask_the_prompt_and_learn_the_eos(tok, tiny_model_dir):
    prompt = "Sentence: a fun game\nMR: "
    text = prompt + "inform(name[X])\n"
    ids, labels, truncated = D.encode_example(tok, prompt, text, max_length=512, loss_on="answer")
    assert not truncated
    assert ids[-1] == tok.eos_token_id and labels[-1] == tok.eos_token_id, "the EOS is a learned label"
    learned = [i for i, l in zip(ids, labels) if l != D.IGNORE]
    assert tok.decode(learned[:-1]).strip() == "inform(name[X])"
    n_masked = labels.index(next(l for l in labels if l != D.IGNORE))
    assert tok.decode(ids[:n_masked]).replace(" ", "") .startswith("Sentence:afungame")
    ids2, labels2, _ = D.encode_example(tok, prompt, text, max_length=512, loss_on="all")
    assert ids2 == ids and labels2 == ids2


def test_truncation_is_counted_and_answerless_examples_dropped(tok, tiny_model_dir):
    r = recipe(tiny_model_dir, max_length=24, loss_on="answer")
    from ftwizard.tasks import get_task

    task = get_task("viggo")
    rows = task.load_split(r, "train").rows
    ex, st = D.build_examples(r, tok, rows, task.templates(r))
    assert st.examples == 20 and st.truncated > 0
    assert st.kept + st.answer_cut_off == 20
    assert all(len(e["input_ids"]) <= 24 for e in ex)
    assert all(any(l != D.IGNORE for l in e["labels"]) for e in ex)


def test_collator_masks_pads_by_position_even_when_pad_is_eos(tok):
    col = D.Collator(pad_token_id=tok.eos_token_id)
    eos = tok.eos_token_id
    batch = col([{"input_ids": [5, 6, eos], "labels": [D.IGNORE, 6, eos]},
                 {"input_ids": [7, eos], "labels": [7, eos]}])
    assert batch["input_ids"].tolist() == [[5, 6, eos], [7, eos, eos]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    # the real EOS keeps its label; the pad (same id) is masked
    assert batch["labels"].tolist() == [[D.IGNORE, 6, eos], [7, eos, D.IGNORE]]
    assert col.tokens_seen == 5


def test_packing_keeps_examples_whole(tok, tiny_model_dir):
    exs = [{"input_ids": [1] * n, "labels": [1] * n} for n in (10, 20, 15, 40, 5)]
    from ftwizard.backends.local.packing import pack

    packed = pack(exs, 40)
    assert [len(p["input_ids"]) for p in packed] == [30, 15, 40, 5]
    r = recipe(tiny_model_dir, max_length=256, packing=True, loss_on="all")
    from ftwizard.tasks import get_task

    task = get_task("viggo")
    ex, st = D.build_examples(r, tok, task.load_split(r, "train").rows, task.templates(r))
    assert st.packed_sequences == len(ex) < st.kept
    assert sum(len(e["input_ids"]) for e in ex) == st.tokens
