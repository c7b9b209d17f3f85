"""Evaluation with vLLM when it can run, HF generate otherwise: the choice, and the requests the vLLM path makes.

Real vLLM needs a CUDA GPU and pulls a CUDA build of torch, so it cannot run here: a stand-in `vllm` module
(injected in sys.modules) records what ftwizard asks of it and answers with token ids of our choosing. What is
checked is ftwizard's side: the engine chosen, the LLM / SamplingParams / LoRARequest built, the prompts (the
HF path's), HF's stopping rule applied to vLLM's tokens, and the predictions file written.
"""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types

import pytest

from ftwizard.errors import UsageError
from ftwizard.recipe import parse_recipe
from ftwizard.runs.directory import RunDirectory


def recipe_text(model_dir) -> str:
    return f'''name = "v"
task = "viggo"
[data]
limit_train = 8
limit_eval = 3
[model]
base = "{model_dir}"
[lora]
r = 16
[eval]
max_new_tokens = 12
baseline = true
'''


def test_engine_choice():
    from ftwizard.evaluation.vllm_generate import choose_engine

    r = parse_recipe(recipe_text("/m"))
    assert choose_engine(r, vllm_installed=True, cuda=True) == "vllm"
    assert choose_engine(r, vllm_installed=False, cuda=True) == "hf"
    assert choose_engine(r, vllm_installed=True, cuda=False) == "hf"
    gguf = r.with_updates({"model.gguf_file": "m.gguf"})
    assert choose_engine(gguf, vllm_installed=True, cuda=True) == "hf"  # vLLM serves no LoRA on GGUF


def test_engine_setting(monkeypatch):
    from ftwizard.evaluation.vllm_generate import choose_engine

    r = parse_recipe(recipe_text("/m"))
    monkeypatch.setenv("FTWIZARD_EVAL_ENGINE", "hf")
    assert choose_engine(r, vllm_installed=True, cuda=True) == "hf"
    monkeypatch.setenv("FTWIZARD_EVAL_ENGINE", "vllm")
    with pytest.raises(UsageError, match="pip install 'ftwizard\\[serve\\]'"):
        choose_engine(r, vllm_installed=False, cuda=True)
    with pytest.raises(UsageError, match="needs a CUDA GPU"):
        choose_engine(r, vllm_installed=True, cuda=False)
    monkeypatch.setenv("FTWIZARD_EVAL_ENGINE", "fast")
    with pytest.raises(UsageError, match="auto, hf, vllm"):
        choose_engine(r, vllm_installed=True, cuda=True)


class _Recorder:
    llm_kwargs: list[dict] = []
    calls: list[tuple] = []


def _fake_vllm(tokenizer, answers: dict[str, str]):
    """A `vllm` stand-in: LLM records its arguments and answers each prompt with the token ids of answers[prompt]."""
    vllm = types.ModuleType("vllm")
    vllm.__spec__ = importlib.machinery.ModuleSpec("vllm", None)

    class SamplingParams:
        def __init__(self, **kw):
            self.kw = kw

    class LLM:
        def __init__(self, **kw):
            _Recorder.llm_kwargs.append(kw)

        def generate(self, prompts, params, lora_request=None, use_tqdm=True):
            _Recorder.calls.append((list(prompts), params.kw, lora_request))
            out = []
            for p in prompts:
                ids = tokenizer(answers[p], add_special_tokens=False)["input_ids"]
                comp = types.SimpleNamespace(token_ids=ids, text=answers[p])
                out.append(types.SimpleNamespace(outputs=[comp], prompt_token_ids=tokenizer(p)["input_ids"]))
            return out

    vllm.LLM, vllm.SamplingParams = LLM, SamplingParams
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")

    class LoRARequest:
        def __init__(self, lora_name, lora_int_id, lora_path):
            self.lora_name, self.lora_int_id, self.lora_path = lora_name, lora_int_id, lora_path

    request.LoRARequest = LoRARequest
    return {"vllm": vllm, "vllm.lora": lora, "vllm.lora.request": request}


def test_the_vllm_path_asks_for_the_adapter_greedy_on_the_same_prompts(monkeypatch, tmp_path, tiny_model_dir):
    from ftwizard.backends.local import modeling
    from ftwizard.backends.local.data import eval_prompt
    from ftwizard.backends.local.modeling import load_tokenizer
    from ftwizard.evaluation.generate import generation_prompt
    from ftwizard.evaluation.runner import evaluate_run
    from ftwizard.tasks import get_task

    run = RunDirectory.create(tmp_path / "runs", "v", recipe_text(tiny_model_dir))
    run.adapter_dir.mkdir(parents=True)
    (run.adapter_dir / "adapter_config.json").write_text("{}")
    recipe = run.recipe()
    task = get_task("viggo")
    templates = task.templates(recipe)
    rows = task.load_split(recipe, "eval").rows[:3]
    tok = load_tokenizer(recipe, padding_side="left")
    prompts = [generation_prompt(eval_prompt(tok, templates, r)) for r in rows]
    refs = [task.reference(r, recipe) for r in rows]
    # answer 0 right then a second line (cut where HF stops), 1 right, 2 wrong
    answers = {prompts[0]: " " + refs[0] + "\nSentence: more", prompts[1]: " " + refs[1], prompts[2]: " inform()"}
    _Recorder.llm_kwargs, _Recorder.calls = [], []
    for name, mod in _fake_vllm(tok, answers).items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setenv("FTWIZARD_EVAL_ENGINE", "vllm")
    monkeypatch.setattr(modeling, "cuda_visible_light", lambda: True)

    section = evaluate_run(run)
    assert section["n"] == 3
    llm = _Recorder.llm_kwargs[0]
    assert llm["model"] == str(tiny_model_dir) and llm["enable_lora"] is True and llm["max_lora_rank"] >= 16
    sent, params, lora = _Recorder.calls[0]
    assert sent == prompts  # the HF path's prompts, in order
    assert params["temperature"] == 0.0 and params["max_tokens"] == 12 and params["include_stop_str_in_output"]
    assert params["stop"] == list(task.stop_strings(recipe))
    assert (lora.lora_name, lora.lora_int_id, lora.lora_path) == ("ftwizard-adapter", 1, str(run.adapter_dir))
    recs = [json.loads(line) for line in (run.path / "predictions.jsonl").read_text().splitlines()]
    assert [r["index"] for r in recs] == [0, 1, 2]
    assert recs[0]["raw"].endswith("\n") and "more" not in recs[0]["raw"]  # HF's one-line stop, on vLLM's tokens
    assert recs[0]["completion_tokens"] < len(tok(answers[prompts[0]], add_special_tokens=False)["input_ids"])
    assert [r["prediction"] for r in recs] == [refs[0], refs[1], "inform()"]
    assert recs[0]["verdicts"]["meaning_match"] and not recs[2]["verdicts"]["meaning_match"]
    for key in ("input", "reference", "latency_s", "prompt_tokens"):
        assert key in recs[0]

    evaluate_run(run, baseline=True)  # the base model alone: no adapter asked for
    assert _Recorder.llm_kwargs[1]["enable_lora"] is False and _Recorder.calls[1][2] is None
    assert (run.path / "predictions_baseline.jsonl").exists()
