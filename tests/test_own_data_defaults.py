"""Own data trains with what learned on the bundled tickets demo, scores the untuned model beside the tuned one,
and a classification answer set is evaluated as one: the choice metric, short generations, its labels checked."""

from __future__ import annotations

import json

from ftwizard.defaults import (LABEL_TOKEN_MARGIN, OWN_DATA_LORA, OWN_DATA_LR, OWN_DATA_LR_LARGE,
                               label_token_counts, own_data_recipe)
from ftwizard.recipe import load_recipe, validate_dict

LABELS = ["billing", "shipping", "technical issue", "account access", "refund request", "other"]


def chat_file(tmp_path, answers, name="tickets.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps({"messages": [
        {"role": "system", "content": "Sort the ticket."}, {"role": "user", "content": f"ticket {i}"},
        {"role": "assistant", "content": a}]}) + "\n" for i, a in enumerate(answers)), encoding="utf-8")
    return path


def test_own_data_trains_like_the_tickets_demo_that_learned():
    demo = load_recipe("recipes/tickets-cpu-demo.toml")
    assert (demo.lora.r, demo.lora.alpha, demo.lora.dropout, demo.lora.target_modules) == \
        (OWN_DATA_LORA["r"], OWN_DATA_LORA["alpha"], OWN_DATA_LORA["dropout"], OWN_DATA_LORA["target_modules"])
    assert demo.train.lr == OWN_DATA_LR


def test_own_data_recipe_lora_lr_baseline_and_short_generations_for_labels(tmp_path):
    data = chat_file(tmp_path, [LABELS[i % 6] for i in range(120)])
    d = own_data_recipe(data, model="HuggingFaceTB/SmolLM2-135M-Instruct")
    r = validate_dict(d)
    assert (r.lora.r, r.lora.alpha, r.lora.target_modules) == (16, 32, ["all-linear"])  # not rank 8 on attention
    assert r.train.lr == OWN_DATA_LR == 1e-3                                                  # not 3e-4
    assert r.eval.baseline is True                        # the untuned model is scored: a gain, not a bare number
    assert r.eval.metric == "choice"
    longest = max(label_token_counts(r, LABELS))
    assert r.eval.max_new_tokens == longest + LABEL_TOKEN_MARGIN < 32   # not 256 new tokens for one-word labels
    # a large model takes QLoRA's rate, not the one measured on 135M parameters
    assert validate_dict(own_data_recipe(data, model="Qwen/Qwen2.5-7B-Instruct")).train.lr == OWN_DATA_LR_LARGE


def test_open_ended_or_reasoning_answers_keep_long_generations(tmp_path):
    prose = chat_file(tmp_path, [f"Thanks for writing in about case {i}; we refunded the charge." for i in range(60)])
    r = validate_dict(own_data_recipe(prose))
    assert r.eval.metric == "auto" and r.eval.max_new_tokens == 256 and r.eval.baseline
    think = chat_file(tmp_path, [f"<think>\nticket {i}\n</think>\n\n{LABELS[i % 6]}" for i in range(60)], "t.jsonl")
    r = validate_dict(own_data_recipe(think))
    assert r.eval.max_new_tokens == 256  # the model writes its reasoning first


def test_prepare_checks_the_label_set(tmp_path):
    from ftwizard.prepare import data_report

    train = chat_file(tmp_path, [LABELS[i % 3] for i in range(30)] + ["other"], "train.jsonl")
    ev = chat_file(tmp_path, [LABELS[i % 4] for i in range(20)], "eval.jsonl")
    r = validate_dict(own_data_recipe(train, eval_path=ev))
    report = data_report(r)
    assert report["labels"]["eval"]["technical issue"] == 5
    problems = [p for p in report["problems"] if p.startswith("labels: ")]
    assert any("5 eval examples carry label the training data never shows (account access)" in p for p in problems)
    assert any("1 label appears once in the training data (other)" in p for p in problems)
