"""The local generator: a run's answers from its model on this machine - batched greedy generation with
transformers (the adapter applied; baseline = the adapter disabled, or the base model alone) or vLLM
(`eval.engine`). Also evaluates a hosted run's adapter brought home (`home`): the same weights on `model.base`."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable

from ftwizard.backends.base import Answer, Generator
from ftwizard.errors import RunFailed, UsageError
from ftwizard.runs.directory import RunDirectory


def _load_local(recipe, adapter_dir: Path | None):
    from ftwizard.backends.local.modeling import load_for_inference

    return load_for_inference(recipe, adapter_dir)


class LocalGenerator(Generator):
    served = "local"

    def __init__(self, run: RunDirectory, *, baseline: bool = False, home: bool = False, model=None,
                 tokenizer=None, **_unused):
        if home and baseline:
            raise UsageError("--local evaluates the downloaded adapter; for the base model use --baseline alone")
        self.run, self.recipe = run, run.recipe()
        self.baseline, self.home = baseline, home
        self.model, self.tokenizer = model, tokenizer

    def model_name(self) -> str:
        return self.recipe.model.base + ("" if self.baseline else " + LoRA adapter")

    def _no_adapter(self) -> RunFailed:
        return RunFailed(f"{self.run.adapter_dir} holds no trained adapter: train the run first "
                         "(or evaluate the base model with --baseline)")

    def generate(self, task, templates, rows: list[dict], pending: list[int], references: dict[int, str],
                 on_answers: Callable[[list[Answer]], None]) -> None:
        from ftwizard.evaluation.generate import generate, one_line_done
        from ftwizard.evaluation.vllm_generate import choose_engine

        run, recipe, baseline = self.run, self.recipe, self.baseline
        model, tokenizer = self.model, self.tokenizer
        engine = choose_engine(recipe)
        ctx = contextlib.nullcontext()
        if engine == "vllm":
            if not baseline and not (run.adapter_dir / "adapter_config.json").exists():
                raise self._no_adapter()
            if tokenizer is None:
                from ftwizard.backends.local.modeling import load_tokenizer

                tokenizer = load_tokenizer(recipe, padding_side="left")
        elif model is None:
            adapter = None
            if not baseline:
                if not (run.adapter_dir / "adapter_config.json").exists():
                    raise self._no_adapter()
                adapter = run.adapter_dir
            model, tokenizer = _load_local(recipe, adapter)
        elif baseline:
            if hasattr(model, "disable_adapter"):
                ctx = model.disable_adapter()  # the same weights without LoRA: the base model
            else:
                model, tokenizer = _load_local(recipe, None)
        if tokenizer is None:
            raise ValueError("evaluate_run: a model was given without its tokenizer")
        from ftwizard.backends.local.data import eval_prompt, prompt_keeps_trailing_space
        from ftwizard.evaluation.generate import generation_prompt

        # chat rows: the model's chat template, as in training; text prompts end where training's prompt tokens did
        keep = not templates.is_chat and prompt_keeps_trailing_space(tokenizer, templates,
                                                                     task.load_split(recipe, "train").rows)
        prompts = [generation_prompt(eval_prompt(tokenizer, templates, rows[i]), keep_trailing_space=keep)
                   for i in pending]
        by_index = dict(zip(pending, prompts))

        def on_batch(gens) -> None:
            on_answers([Answer(g.index, by_index[g.index], g.text, latency_s=g.latency_s,
                               prompt_tokens=g.prompt_tokens, completion_tokens=g.completion_tokens) for g in gens])

        same = dict(indices=pending, max_new_tokens=recipe.eval.max_new_tokens,
                    stop_strings=list(task.stop_strings()),
                    stop_when=one_line_done if task.single_line_answers else None, on_batch=on_batch)
        if engine == "vllm":
            from ftwizard.evaluation.vllm_generate import generate_vllm

            generate_vllm(recipe, None if baseline else run.adapter_dir, tokenizer, prompts, **same)
            return
        with ctx:
            generate(model, tokenizer, prompts, batch_size=recipe.eval.batch_size, **same)
