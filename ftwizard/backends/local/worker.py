"""The local training process, started as `python -m ftwizard.workers.local RUN_DIR` (or under torchrun).

One attempt at a run, in stages as torchtune's recipes do: `setup` (device, price, estimate, model, data,
trainer), `probe` (the longest batch before step 1), `train` (from the last complete checkpoint), `finish`
(adapter, summary, cost, evaluation, merge). Everything it reports goes through a `Reporter` to the run
directory; under torchrun only rank 0 writes. The lifecycle around the stages (the run's lock, status
`running`, the stop signals, one ending, redaction, exit codes) is the one of every worker,
`ftwizard.runs.worker.DetachedWorker`. SIGINT / SIGTERM: save at the end of the current step, mark `cancelled`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftwizard.backends.local.checkpoints import STAGING, last_checkpoint
from ftwizard.backends.local.probe import is_oom, oom_advice, peak_mem_gib
from ftwizard.backends.local.reporter import RunReporter, price_per_hour
from ftwizard.backends.local.world import (barrier, die_with_launcher, is_main, local_rank, local_world_size, shut_down,
                                           world_size)
from ftwizard.errors import UsageError
from ftwizard.fsutil import atomic_write_json, atomic_write_text, is_disk_full
from ftwizard.runs.directory import RunDirectory
from ftwizard.runs.worker import EXIT_REFUSED, DetachedWorker, Ended, Evaluator, Failure, disk_full, free_space


def get_estimate(recipe, runs_dir: Path | None = None) -> tuple[dict | None, dict | None]:
    """(what train_summary.json records: the uncalibrated vram_gb / hours / tokens_per_s, the estimate as the
    user saw it) - both None when the estimator is not available or cannot estimate this model."""
    from ftwizard.estimate import estimate_recipe

    try:
        local = estimate_recipe(recipe, runs_dir=runs_dir).local
        shown = {k: v for k, v in local.to_json().items()
                 if k in ("vram_gb", "hours", "tokens_per_s", "cost_usd", "gpu", "fits")}
        return local.run_record(), shown
    except Exception:  # noqa: BLE001 - an estimate is a courtesy, never a reason to fail
        return None, None


@dataclass
class Loaded:
    """What `setup` builds and the later stages use."""

    model: Any
    tok: Any
    dtype: Any
    trainer: Any
    callback: Any
    train_ex: list
    eval_ex: list
    templates: Any
    stats: Any
    resume: tuple[int, Path] | None


def disk_advice(checkpoints_dir: Path) -> list[str]:
    """What gets a local run past a full disk: space, then a resume; fewer checkpoints kept."""
    return [f"{free_space(checkpoints_dir)}, then continue with `ftwizard run --resume {checkpoints_dir.parent}`",
            "lower train.save_total_limit to keep fewer checkpoints"]


class Worker(DetachedWorker):
    """One attempt at a local run: setup -> probe -> train -> finish."""

    who = "local worker"
    stop_signals = (signal.SIGINT, signal.SIGTERM)  # save-then-stop at the end of the current step
    crash_advice = ("continue from the last checkpoint after fixing it: `ftwizard run --resume RUN_DIR`",)

    def __init__(self, run: str | Path | RunDirectory, *, evaluate: Evaluator | None = None):
        """`evaluate`: the evaluation after training (None: a worker that never gets that far, e.g. in a test)."""
        run = run if isinstance(run, RunDirectory) else RunDirectory(run)
        self.main = is_main()
        super().__init__(run, writes=self.main)
        self.evaluate = evaluate
        self.recipe = self.run.recipe()
        self.rep = RunReporter(self.run, main=self.main, price=price_per_hour(self.recipe))
        self.device = "cpu"
        self.estimate: dict | None = None
        self.estimate_shown: dict | None = None
        self.gpu_name = "cpu"
        self.context_gib = 0.0          # CUDA context, measured before the model loads
        self.mfu_basis = None           # speed.MfuBasis once the model is loaded
        self.mean_example_len = float(self.recipe.train.max_length)
        self.probe_result: dict | None = None
        self.speed = None
        self.fsdp = False
        self.offload = None             # offload.ActivationOffload when train.activation_offloading runs

    # -- the attempt ------------------------------------------------------------------------------
    def body(self) -> Ended:
        loaded = self.setup()
        self.probe(loaded)
        return self.train(loaded) or self.finish(loaded)

    def running_fields(self) -> dict[str, Any]:
        return {"worker_pid": os.getpid(), "world_size": world_size()}

    def explain(self, e: Exception) -> Failure | None:
        if isinstance(e, UsageError):
            return Failure(str(e), kind="load", code=EXIT_REFUSED)
        if is_oom(e):
            peak = peak_mem_gib(self.device, self.context_gib)
            message, advice = oom_advice(self.recipe, self.estimate_shown, peak, self.device)
            return Failure(message, kind="oom", advice=advice, peak_mem_gib=round(peak, 3),
                           estimate_vram_gb=(self.estimate_shown or {}).get("vram_gb"),
                           detail=str(e).splitlines()[0][:300])
        if is_disk_full(e):
            return disk_full(e, self.run.checkpoints_dir, disk_advice(self.run.checkpoints_dir))
        return None

    def on_failure(self, failure: Failure) -> None:
        last = last_checkpoint(self.run.checkpoints_dir)
        if last:
            self.rep.log(f"last good checkpoint kept: {last[1].name} (step {last[0]})")
        failure.status.setdefault("train_elapsed_s", round(self.rep.elapsed(), 3))

    def resume_refusal(self, status: dict[str, Any]) -> str | None:
        """The resume rule (`LocalBackend.ended_refusal`): only from a complete checkpoint."""
        from ftwizard.backends.local import LocalBackend

        return LocalBackend().resume_refusal(self.run, status)

    # -- stage 1: setup ---------------------------------------------------------------------------
    def setup(self) -> Loaded:
        """Device, price, estimate, model + LoRA, data, trainer; the checkpoint to resume from."""
        t0 = time.time()
        recipe, rep = self.recipe, self.rep
        import torch

        from ftwizard.backends.local.modeling import dtype_name, fsdp_enabled, load_for_training, pick_device, pick_dtype
        from ftwizard.backends.local.probe import apply_memory_cap, cuda_context_gib
        from ftwizard.backends.local.speed import mfu_basis, resolve_speed

        if not os.environ.get("OMP_NUM_THREADS"):
            # One thread per core for this process's share of the cores. OMP_NUM_THREADS, when set, wins: on a
            # busy machine fewer threads than cores avoid spinning threads waiting for each other (measured on
            # the 2-core build machine at load ~9: a step took 50 s with 2 threads, 12 s with 1).
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, local_world_size())))
        self.device = pick_device(recipe)
        self.fsdp = fsdp_enabled(recipe) and world_size() > 1
        if self.device == "cuda":
            torch.cuda.set_device(local_rank())
            rep.gpu_count = world_size()
            self.gpu_name = torch.cuda.get_device_name(local_rank())
            self.context_gib = cuda_context_gib()
        apply_memory_cap(self.device)
        dtype = pick_dtype(recipe, self.device)
        cc = "%d.%d" % torch.cuda.get_device_capability(local_rank()) if self.device == "cuda" else None
        self.speed = resolve_speed(recipe, self.device, dtype_is_16bit=dtype in (torch.bfloat16, torch.float16),
                                   fsdp=self.fsdp, compute_capability=cc)
        if self.main:
            self.estimate, self.estimate_shown = get_estimate(recipe, self.run.path.parent)
        if self.estimate_shown:
            rep.log("estimate before training: " + ", ".join(
                f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in self.estimate_shown.items()))
        if recipe.model.quant != "none" and recipe.train.gradient_checkpointing is False:
            self.warn_checkpointing_off()
        # the card torch reports (a recipe's price for another card does not apply), or the CPU
        rep.set_price(price_per_hour(recipe, self.gpu_name if self.device == "cuda" else "cpu"))
        resume = last_checkpoint(self.run.checkpoints_dir)
        staging = self.run.checkpoints_dir / STAGING
        if self.main and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)  # a save that was interrupted: never trusted
            rep.log("removed an interrupted checkpoint save (checkpoints/.staging)")

        rep.log(f"loading {recipe.model.base}" + (f" ({recipe.model.gguf_file})" if recipe.model.gguf_file else "")
                + f" on {self.device}" + (f" x{world_size()} processes" if world_size() > 1 else "")
                + (" (FSDP)" if self.fsdp else ""))
        from transformers import set_seed

        set_seed(recipe.train.seed)  # before the LoRA weights are drawn: the same recipe gives the same run
        model, tok = load_for_training(recipe, attn_implementation=self.speed.attn_implementation)
        n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
        n_all = sum(p.numel() for p in model.parameters())
        rep.log(f"model loaded in {time.time() - t0:.1f} s: {n_train:,} trainable LoRA parameters of {n_all:,}")
        rep.log(f"speed: {self.speed.summary()}; gradient checkpointing "
                f"{'on' if recipe.gradient_checkpointing_on() else 'off'}"
                + (f" ({'; '.join(self.speed.reasons)})" if self.speed.reasons else ""))
        self.mfu_basis = mfu_basis(model.config.to_dict(), recipe, device=self.device, gpu_name=self.gpu_name,
                                   dtype=dtype_name(dtype), n_lora=n_train, processes=world_size())
        if self.fsdp:
            from ftwizard.backends.local.sharding import dtensor_fraction, shard

            done = shard(model, device=self.device, compute_dtype=dtype)
            rep.log(f"FSDP2: {done['units'] - 1} x {done['layer_class']} + the root sharded across "
                    f"{done['processes']} processes ({done['backend']}); {dtensor_fraction(model):.0%} of the "
                    "parameters are DTensor shards")

        if recipe.train.activation_offloading:
            self._offload(model)
        train_ex, eval_ex, templates, st = self._data(tok)
        trainer, cb = self._trainer(model, tok, train_ex, eval_ex, st)
        return Loaded(model=model, tok=tok, dtype=dtype, trainer=trainer, callback=cb, train_ex=train_ex,
                      eval_ex=eval_ex, templates=templates, stats=st, resume=resume)

    def _offload(self, model) -> None:
        """train.activation_offloading: hooks on the decoder stack (offload.install), on a CUDA device only."""
        if self.device != "cuda":
            self.rep.log("activation offloading: nothing to do on the CPU, activations are in host memory already "
                         "(train.activation_offloading ignored)", level="warning")
            return
        from ftwizard.backends.local.offload import install

        self.offload = install(model)
        self.rep.log("activation offloading: what the decoder layers save for backward goes to pinned host memory "
                     "in the forward and comes back in the backward"
                     + (" (with checkpointing: each layer's input)" if self.recipe.gradient_checkpointing_on() else ""))

    def _data(self, tok):
        """Training and eval-loss examples, with the data's story in the log (and data/ written by rank 0)."""
        from ftwizard.backends.local import data as D
        from ftwizard.defaults import learning_warnings

        recipe, rep = self.recipe, self.rep
        templates, train_split, eval_rows = D.load_rows(recipe)
        train_ex, st = D.build_examples(recipe, tok, train_split.rows, templates, lines=train_split.lines)
        eval_ex, _ = D.build_examples(recipe, tok, eval_rows, templates) if eval_rows else ([], None)
        dropped = st.why_nothing_learned(where=train_split.source)
        if not train_ex:
            raise UsageError(["no training example has anything to learn"] + dropped)
        for line in dropped:
            rep.log(line, level="warning")
        if recipe.train.packing and "example_lengths" not in train_ex[0]:
            raise RuntimeError("packed sequences came without their example boundaries (data.py must pack with "
                               "ftwizard.backends.local.packing.pack): packed examples would attend to each other")
        self.mean_example_len = st.tokens / max(1, st.kept)
        rep.log(f"data: {st.kept:,} training examples ({st.tokens:,} tokens/epoch, longest {st.max_tokens_seen}), "
                f"{len(eval_ex)} for eval loss; loss on {recipe.train.loss_on}"
                + (f"; packed into {st.packed_sequences:,} sequences, padding-free" if recipe.train.packing else ""))
        if st.truncated or st.answer_cut_off:
            rep.log(f"truncation: {st.truncated:,} of {st.examples:,} examples exceed train.max_length = "
                    f"{recipe.train.max_length} and were cut"
                    + (f"; {st.answer_cut_off:,} lost their whole answer and were dropped" if st.answer_cut_off else ""),
                    level="warning")
        else:
            rep.log(f"truncation: none of {st.examples:,} examples exceed train.max_length = {recipe.train.max_length}")
        if st.chat_template:
            rep.log(f"chat data on the {'model' + chr(39) + 's own' if st.chat_template == 'model' else 'default'} chat "
                    f"template: loss on {st.turns_learned:,} assistant turns "
                    f"(train.train_on_turns = {recipe.train.train_on_turns!r})"
                    + (f"; {st.turns_skipped:,} left out (weight 0 or not the last turn)" if st.turns_skipped else "")
                    + (f"; {st.turns_dropped:,} the template itself leaves out of its rendering" if st.turns_dropped else "")
                    + (f"; {st.turns_no_end:,} have no end-of-turn token after them in the template, so the model "
                       "does not learn to stop there" if st.turns_no_end else ""),
                    level="warning" if st.turns_no_end else "info")
        for w in learning_warnings(recipe, n_train=len(train_ex), answer_cut_fraction=st.truncated / max(1, st.examples),
                                   world=world_size()):
            rep.log(w, level="warning")  # settings that cannot learn: on record, never a refusal
        if self.main:
            self._write_data_files(templates, train_split.rows, eval_rows, st, tok)
        return train_ex, eval_ex, templates, st

    def _write_data_files(self, templates, train_rows, eval_rows, st, tok) -> None:
        from ftwizard.backends.local.data import rendered_example

        d = self.run.data_dir
        d.mkdir(parents=True, exist_ok=True)
        for name, rows in (("train.jsonl", train_rows), ("eval_loss.jsonl", eval_rows)):
            if rows:
                atomic_write_text(d / name, "".join(json.dumps(rendered_example(tok, templates, r), ensure_ascii=False)
                                                    + "\n" for r in rows))
        atomic_write_json(d / "train_stats.json", st.as_dict())

    def training_arguments(self, model, n_examples: int) -> dict:
        from ftwizard.backends.local.trainer import training_arguments

        return training_arguments(self.recipe, output_dir=self.run.checkpoints_dir, device=self.device,
                                  speed=self.speed, model=model, n_examples=n_examples)

    def _trainer(self, model, tok, train_ex, eval_ex, st):
        from ftwizard.backends.local.callbacks import RunCallback
        from ftwizard.backends.local.data import Collator
        from ftwizard.backends.local.packing import FlatteningCollator
        from ftwizard.backends.local.trainer import build_trainer

        args = self.training_arguments(model, len(train_ex))
        if self.recipe.train.packing:
            collator = FlatteningCollator()
        else:
            collator = Collator(tok.pad_token_id, pad_to_multiple_of=8 if self.device == "cuda" else None)
        basis, mean_len = self.mfu_basis, self.mean_example_len
        cb = RunCallback(self.rep, self.stop, max_steps=args["max_steps"], collator=collator,
                         peak_mem_gib=lambda: peak_mem_gib(self.device, self.context_gib),
                         mfu=(lambda tps: basis.utilisation(tps, mean_len)) if basis is not None else (lambda tps: None),
                         device_mem=self.device == "cuda",
                         tokens_before=int(self.run.status().get("train_tokens") or 0) if self.main else 0,
                         warmup_step=bool(self.speed and self.speed.torch_compile))
        trainer = build_trainer(args, model=model, tok=tok, train_ex=train_ex, eval_ex=eval_ex, collator=collator,
                                reporter=self.rep, run_callback=cb, sharded=self.fsdp)
        return trainer, cb

    def warn_checkpointing_off(self) -> None:
        """A quantized base with checkpointing turned off: say what it costs, in the estimator's figures."""
        est_off = (self.estimate_shown or {}).get("vram_gb")
        est_on = None
        try:
            from ftwizard.estimate import estimate_recipe

            on = estimate_recipe(self.recipe.with_updates({"train.gradient_checkpointing": True}),
                                 runs_dir=self.run.path.parent)
            est_on = on.local.vram_gb
        except UsageError:
            pass
        figures = (f": the estimate is {est_off:.1f} GiB without it" if isinstance(est_off, (int, float)) else "")
        if isinstance(est_on, (int, float)):
            figures += f" vs {est_on:.1f} GiB with it"
        self.rep.log(f"gradient checkpointing is off (train.gradient_checkpointing = false) with a "
                     f"{self.recipe.model.quant} base{figures}; every layer's activations are kept - remove the "
                     "setting (auto = on) if the memory probe or step 1 runs out of memory", level="warning")

    # -- stage 2: probe ---------------------------------------------------------------------------
    def probe(self, loaded: Loaded) -> None:
        """Before step 1: the longest batch forward/backward, the longest eval-loss batch and one eval generation
        batch (probe.py)."""
        from ftwizard.backends.local.probe import probe_line, run_probe

        est = (self.estimate_shown or {}).get("vram_gb")
        if self.fsdp:
            self.rep.log("memory probe: skipped under FSDP (the model is sharded when training starts); "
                         f"{est:.1f} GiB estimated" if isinstance(est, (int, float)) else
                         "memory probe: skipped under FSDP (the model is sharded when training starts)")
            return
        prompts_ids = None
        r, tok, trainer = self.recipe, loaded.tok, loaded.trainer
        if r.eval.enabled:
            from ftwizard.backends.local.data import eval_prompt, prompt_keeps_trailing_space
            from ftwizard.evaluation.generate import generation_prompt
            from ftwizard.tasks import get_task

            rows = get_task(r.task).load_split(r, "eval").rows
            if r.eval.limit:
                rows = rows[: r.eval.limit]
            # the evaluator's own prompts (chat rows: the chat template), so the probe's batch is its batch
            keep = prompt_keeps_trailing_space(tok, loaded.templates, get_task(r.task).load_split(r, "train").rows)
            prompts_ids = [tok(generation_prompt(eval_prompt(tok, loaded.templates, row), keep_trailing_space=keep))
                           ["input_ids"] for row in rows] or None
        result = run_probe(trainer, trainer.data_collator, loaded.train_ex, device=self.device,
                           context_gib=self.context_gib, eval_prompts_ids=prompts_ids,
                           eval_batch_size=r.eval.batch_size, max_new_tokens=r.eval.max_new_tokens,
                           pad_token_id=tok.pad_token_id,
                           eval_loss_examples=loaded.eval_ex if r.train.eval_every else None)
        self.probe_result = {**result.as_dict(), "estimate_gib": est}
        self.rep.log(probe_line(result, est, self.device))

    # -- stage 3: train ---------------------------------------------------------------------------
    def train(self, loaded: Loaded) -> Ended | None:
        """Train to the last step (resuming from the last complete checkpoint). `cancelled` when the attempt ends
        here (a full disk is a `Failure`), None when it goes on to `finish`."""
        rep, trainer, cb, resume = self.rep, loaded.trainer, loaded.callback, loaded.resume
        if resume:
            rep.log(f"resuming from {resume[1].name} (step {resume[0]}) with its optimizer and scheduler state")
        rep.status(total_steps=cb.max_steps, step=resume[0] if resume else 0)
        if self.stop.requested:  # asked to stop while loading: nothing new to save
            return Ended("cancelled", "stopped before training started",
                         {"train_elapsed_s": round(rep.elapsed(), 3)})
        trainer.train(resume_from_checkpoint=str(resume[1]) if resume else None)
        if cb.disk_error:
            raise Failure(cb.disk_error, kind="disk", advice=disk_advice(self.run.checkpoints_dir))
        if self.stop.requested:
            step = trainer.state.global_step
            rep.log(f"{self.stop.signame or 'stop'} received: saved checkpoint-{step}; "
                    f"continue with `ftwizard run --resume {self.run.path}`")
            return Ended("cancelled", f"stopped at step {step}",
                         {"step": step, "train_elapsed_s": round(rep.elapsed(), 3)})
        return None

    # -- stage 4: finish --------------------------------------------------------------------------
    def finish(self, loaded: Loaded) -> Ended:
        """Adapter (every rank under FSDP), then rank 0 alone: summary and cost, evaluation, merge."""
        from ftwizard.backends.local import finish as F

        recipe, rep, trainer = self.recipe, self.rep, loaded.trainer
        elapsed = rep.elapsed()
        F.save_adapter(self.run, rep, trainer, loaded.tok, main=self.main, fsdp=self.fsdp)
        if self.main:
            F.write_summary(self.run, rep, self.summary(loaded, elapsed), elapsed=elapsed, device=self.device,
                            gpu_name=self.gpu_name)
        barrier()
        if not self.main:
            return Ended("succeeded")  # rank 0 alone evaluates, merges and records the end
        model, tok = trainer.model, loaded.tok
        if self.fsdp:
            # A sharded model cannot generate on one rank: rank 0 evaluates an unsharded copy of the base with
            # the adapter just saved (the other ranks have finished).
            from ftwizard.backends.local.modeling import load_for_inference

            model, tok = load_for_inference(recipe, self.run.adapter_dir)
        if recipe.eval.enabled:
            from ftwizard.evaluation.vllm_generate import choose_engine

            if choose_engine(recipe) == "vllm":
                # vLLM loads its own copy of base + adapter: give the training model's GPU memory back first.
                import gc

                import torch

                trainer.model = trainer.model_wrapped = model = loaded.model = None
                gc.collect()
                torch.cuda.empty_cache()
                rep.log("evaluation generates with vLLM (base + LoRA adapter, greedy)")
            if self.evaluate is None:
                raise RuntimeError("the local worker was started without its evaluation (ftwizard.workers.local)")
            F.evaluate(self.run, rep, model, tok, self.evaluate)
        if recipe.train.merge:
            F.merge(self.run, rep, model, tok, loaded.dtype)
        return Ended("succeeded", status={"step": trainer.state.global_step, "train_elapsed_s": round(elapsed, 3)})

    def summary(self, loaded: Loaded, elapsed: float) -> dict[str, Any]:
        """train_summary.json: what the run did, in the estimate's own units and scope (calibration)."""
        from ftwizard.backends.local.modeling import quantized_layers
        from ftwizard.backends.local.trainer import sharded

        if self.fsdp:
            from ftwizard.backends.local.sharding import dtensor_fraction

        r, cb, st, trainer = self.recipe, loaded.callback, loaded.stats, loaded.trainer
        peak = cb.peak_mem_gib()
        tps = cb.session_tokens_per_s()
        mfu = cb.mfu()
        return {
            "gpu": self.gpu_name,
            "gpu_count": self.rep.gpu_count if self.device == "cuda" else 0,
            "device": self.device,
            "world_size": world_size(),
            "model": r.model.catalog_id or r.model.base,
            "base": r.model.base,
            "quant": r.model.quant,
            "quantized_layers": quantized_layers(trainer.model) if r.model.quant != "none" else {},
            "dtype": r.model.dtype,
            "peak_mem_gib": round(peak, 3) if peak is not None else None,
            "peak_mem_kind": ("gpu: torch.cuda.max_memory_reserved + CUDA context, GiB" if self.device == "cuda"
                              else "cpu: peak resident set size of the worker, GiB (no GPU memory)"),
            "train_tokens_per_s": round(tps, 1) if tps else None,
            "train_step_s": round(cb.train_s, 3),
            "first_step_s": round(cb.first_step_s, 3) if cb.first_step_s is not None else None,
            "mfu": round(mfu, 4) if mfu is not None else None,          # PaLM convention, no recomputation
            "hfu": round(cb.hfu(), 4) if cb.hfu() is not None else None,  # hardware FLOPs, recomputation counted
            "mfu_basis": self.mfu_basis.as_dict(self.mean_example_len) if self.mfu_basis is not None else None,
            "memory_probe": self.probe_result,
            "train_tokens": int(cb.total_tokens()),
            "tokens_per_epoch": st.tokens,
            "steps": int(trainer.state.global_step),
            "wall_s": round(elapsed, 3),
            "final_loss": cb.last_loss,
            "first_loss": cb.first_loss,
            "final_eval_loss": cb.last_eval_loss,
            "micro_batch_size": r.train.micro_batch_size,
            "grad_accum": r.train.grad_accum,
            "max_length": r.train.max_length,
            "lora_r": r.lora.r,
            "gradient_checkpointing": r.gradient_checkpointing_on(),
            "packing": r.train.packing,
            "activation_offloading": None if self.offload is None else {
                "tensors_per_micro_batch": self.offload.last.tensors,
                "offloaded_gib_per_micro_batch": round(self.offload.last.nbytes / 1024**3, 4),
                "offloaded_gib_total": round(self.offload.total.nbytes / 1024**3, 3)},
            "speed": {"attn_implementation": self.speed.attn_implementation, "use_liger": self.speed.use_liger,
                      "torch_compile": self.speed.torch_compile, "optimizer": self.speed.optimizer,
                      "fsdp": self.fsdp, "fsdp_sharded_params": sharded(trainer) if self.fsdp else None,
                      "fsdp_dtensor_fraction": dtensor_fraction(trainer.model) if self.fsdp else None}
            if self.speed else None,
            "truncated_examples": st.truncated,
            "estimate": self.estimate or {},
        }


def main(argv: list[str] | None, *, evaluate: Evaluator) -> int:
    """The worker process's life (`ftwizard.workers.local` hands it the evaluation)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    die_with_launcher()  # under torchrun the launcher holds the run's lock: the ranks must not outlive it
    code = Worker.main(argv, evaluate=evaluate)
    shut_down()
    return code
