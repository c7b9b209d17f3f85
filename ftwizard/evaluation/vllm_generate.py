"""Evaluation generation with vLLM: the base model plus the run's LoRA adapter (`LoRARequest`), greedy.

Used when vLLM is installed (`pip install 'ftwizard[serve]'`) and a CUDA GPU is present; HF `generate`
(generate.py) stays the fallback, and FTWIZARD_EVAL_ENGINE=hf|vllm forces one. Same prompts, same greedy
decoding, same stop rules, same `Generation` records, so predictions.jsonl has the same shape either way:
vLLM stops at EOS and at the stop strings (kept in the text, as HF keeps them), and a continuation is cut at
the token where the caller's `stop_when` first holds - exactly where HF's stopping criterion ends it.
vLLM is imported only inside `generate_vllm`.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from ftwizard import settings
from ftwizard.errors import UsageError
from ftwizard.evaluation.generate import Generation

if TYPE_CHECKING:
    from ftwizard.recipe import Recipe

ENGINES = ("auto", "hf", "vllm")


def choose_engine(recipe: "Recipe", *, vllm_installed: bool | None = None, cuda: bool | None = None) -> str:
    """'vllm' or 'hf' for a local model's evaluation (FTWIZARD_EVAL_ENGINE, else vLLM when it can run)."""
    wanted = settings.eval_engine()
    if wanted not in ENGINES:
        raise UsageError(f"FTWIZARD_EVAL_ENGINE={wanted!r}: use one of {', '.join(ENGINES)}")
    if vllm_installed is None:
        vllm_installed = importlib.util.find_spec("vllm") is not None
    if cuda is None:
        from ftwizard.backends.local.modeling import cuda_visible_light

        cuda = recipe.hardware.device != "cpu" and cuda_visible_light()
    if wanted == "hf":
        return "hf"
    if wanted == "vllm":
        if not vllm_installed:
            raise UsageError("FTWIZARD_EVAL_ENGINE=vllm but vLLM is not installed: pip install 'ftwizard[serve]'")
        if not cuda:
            raise UsageError("FTWIZARD_EVAL_ENGINE=vllm needs a CUDA GPU; none is visible here")
        return "vllm"
    if recipe.model.gguf_file:
        return "hf"  # vLLM's GGUF loader serves no LoRA adapters
    return "vllm" if vllm_installed and cuda else "hf"


def cut_where_done(tokenizer, token_ids: Sequence[int], done: Callable[[str], bool]) -> int:
    """How many tokens HF would have kept: it checks `done` on the decoded continuation after every token."""
    for k in range(1, len(token_ids) + 1):
        if done(tokenizer.decode(list(token_ids[:k]), skip_special_tokens=True)):
            return k
    return len(token_ids)


def vllm_requests(recipe: "Recipe", adapter_dir: Path | None, *, max_new_tokens: int,
                  stop_strings: Sequence[str] | None):
    """(LLM kwargs, SamplingParams, LoRARequest or None): what is asked of vLLM, built in one place."""
    from vllm import SamplingParams
    from vllm.lora.request import LoRARequest

    from ftwizard.modelfiles import resolve_base

    src = resolve_base(recipe)
    dtype = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}.get(recipe.model.dtype, "auto")
    llm_kwargs = dict(model=src.path, dtype=dtype, trust_remote_code=recipe.model.trust_remote_code,
                      enable_lora=adapter_dir is not None, max_lora_rank=max(8, recipe.lora.r), max_loras=1,
                      seed=recipe.train.seed, gpu_memory_utilization=0.85)
    if recipe.model.quant != "none":
        llm_kwargs["quantization"] = "bitsandbytes"  # the same base the adapter was trained on
    params = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=max_new_tokens, stop=list(stop_strings or []),
                            include_stop_str_in_output=True, skip_special_tokens=True)
    lora = LoRARequest("ftwizard-adapter", 1, str(adapter_dir)) if adapter_dir is not None else None
    return llm_kwargs, params, lora


def generate_vllm(recipe: "Recipe", adapter_dir: Path | None, tokenizer, prompts: Sequence[str], *,
                  max_new_tokens: int = 256, stop_strings: Sequence[str] | None = None,
                  stop_when: Callable[[str], bool] | None = None, indices: Sequence[int] | None = None,
                  on_batch: Callable[[list[Generation]], None] | None = None, llm=None) -> list[Generation]:
    """Greedy continuations of `prompts` with vLLM (all at once: vLLM schedules its own batches).
    `adapter_dir` None = the base model alone (the baseline). `llm`: an already built vllm.LLM."""
    from vllm import LLM

    indices = list(range(len(prompts))) if indices is None else list(indices)
    llm_kwargs, params, lora = vllm_requests(recipe, adapter_dir, max_new_tokens=max_new_tokens,
                                             stop_strings=stop_strings)
    if llm is None:
        llm = LLM(**llm_kwargs)
    t0 = time.perf_counter()
    outputs = llm.generate(list(prompts), params, lora_request=lora, use_tqdm=False)
    wall = time.perf_counter() - t0
    gens = []
    for i, out in zip(indices, outputs):
        ids = list(out.outputs[0].token_ids)
        n = cut_where_done(tokenizer, ids, stop_when) if stop_when else len(ids)
        text = tokenizer.decode(ids[:n], skip_special_tokens=True)  # decoded as HF decodes its tokens
        gens.append(Generation(index=i, text=text, prompt_tokens=len(out.prompt_token_ids), completion_tokens=n,
                               latency_s=wall / max(1, len(prompts))))
    if on_batch is not None:
        on_batch(gens)
    return gens
