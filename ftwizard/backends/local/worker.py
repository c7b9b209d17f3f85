"""The local training process: `python -m ftwizard.backends.local.worker RUN_DIR` (or under torchrun).

setup (recipe, model, data) -> train (transformers Trainer + peft LoRA, resuming from the last complete
checkpoint) -> save (adapter, summary, cost) -> evaluate. Everything it reports goes to the run directory;
under torchrun only rank 0 writes events, status, checkpoints' rename and the adapter.

Checkpoints are written into checkpoints/.staging/ and renamed into place when complete, so a kill during a
save never leaves a half checkpoint where resume would look. SIGINT / SIGTERM: save, mark `cancelled`, exit.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from ftwizard.backends.local.checkpoints import STAGING, complete_checkpoints, last_checkpoint
from ftwizard.backends.local.probe import is_oom, oom_advice, peak_mem_gib
from ftwizard.errors import UsageError
from ftwizard.fsutil import atomic_dir, atomic_write_json
from ftwizard.rundir import RunDirectory


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return rank() == 0


# ---------------------------------------------------------------------------------------
# A full disk

DISK_FULL_TEXT = ("no space left on device", "os error 28", "disk quota exceeded", "file too large",
                  "file write failed")


def is_disk_full(e: BaseException) -> bool:
    """ENOSPC and friends, however the library wraps them (safetensors and torch.save raise their own types)."""
    seen = 0
    while e is not None and seen < 5:
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return True
        if any(t in str(e).lower() for t in DISK_FULL_TEXT):
            return True
        e = e.__cause__ or e.__context__
        seen += 1
    return False


def disk_advice(path: Path) -> list[str]:
    try:
        free = shutil.disk_usage(path).free / 1e9
        where = f"{free:.1f} GB free on the disk of {path}"
    except OSError:
        where = f"the disk of {path}"
    return [f"free space ({where}), then continue with `ftwizard run --resume {path.parent}`",
            "lower train.save_total_limit to keep fewer checkpoints"]


class StopRequested:
    """Set by SIGINT / SIGTERM; the callback turns it into save-then-stop at the end of the current step."""

    def __init__(self):
        self.flag = False
        self.signame = ""

    def __call__(self, signum, _frame):
        self.flag = True
        self.signame = signal.Signals(signum).name


# ---------------------------------------------------------------------------------------
# Price

def price_per_hour(recipe) -> tuple[float | None, str, str]:
    """(USD per GPU-hour, source, date) for the recipe's card, through `ftwizard.pricing.gpu_price` (recipe >
    FTWIZARD_PRICE_PER_HOUR > catalog). With hardware.gpu = auto the card is known once torch reports it
    (`catalog_price_for`); until then only the recipe's own price counts."""
    from ftwizard.pricing import gpu_price

    hw = recipe.hardware
    if hw.gpu in ("auto", "cpu", ""):
        if hw.price_per_hour is not None:
            return float(hw.price_per_hour), "recipe hardware.price_per_hour", ""
        return None, "", ""
    try:
        p = gpu_price(hw.gpu, recipe=recipe)
    except UsageError:  # a card the catalog does not know: the recipe's price, if any
        return (float(hw.price_per_hour), "recipe hardware.price_per_hour", "") if hw.price_per_hour else (None, "", "")
    return p["price_per_hour"], p["price_source"], p["price_date"] or ""


def catalog_price_for(device_name: str, recipe=None) -> tuple[float | None, str, str]:
    """The price of the GPU torch reports (`ftwizard.pricing.gpu_price`), when the recipe names no card."""
    from ftwizard.catalog import match_gpu
    from ftwizard.pricing import gpu_price

    g = match_gpu(device_name)
    if g is None:
        return None, "", ""
    p = gpu_price(g, recipe=recipe)
    return p["price_per_hour"], p["price_source"], p["price_date"] or ""


def get_estimate(recipe, runs_dir: Path | None = None) -> tuple[dict | None, dict | None]:
    """(what train_summary.json records: the uncalibrated vram_gb / hours / tokens_per_s, the estimate as the
    user saw it) - both None when the estimator is not available or cannot estimate this model."""
    from ftwizard.estimate import estimate_recipe, run_record_estimate

    try:
        est = estimate_recipe(recipe, runs_dir=runs_dir)
        local = est.get("local") or {}
        record = run_record_estimate(est)
        shown = {k: local.get(k) for k in ("vram_gb", "hours", "tokens_per_s", "cost_usd", "gpu", "fits") if k in local}
        return record, shown
    except Exception:  # noqa: BLE001 - an estimate is a courtesy, never a reason to fail
        return None, None


# ---------------------------------------------------------------------------------------
# The run

class Worker:
    def __init__(self, run_dir: str | Path):
        self.run = RunDirectory(run_dir)
        self.recipe = self.run.recipe()
        self.main = is_main()
        self.stop = StopRequested()
        self.device = "cpu"
        self.estimate: dict | None = None
        self.estimate_shown: dict | None = None
        self.t_train_start = time.time()
        self.elapsed_before = float(self.run.status().get("train_elapsed_s") or 0.0) if self.main else 0.0
        self.price, self.price_source, self.price_date = price_per_hour(self.recipe)
        self.gpu_count = 1
        self.gpu_name = "cpu"
        self.context_gib = 0.0          # CUDA context, measured before the model loads
        self.mfu_basis = None           # speed.MfuBasis once the model is loaded
        self.mean_example_len = float(self.recipe.train.max_length)
        self.probe: dict | None = None
        self.speed = None
        self.fsdp = False

    # -- reporting (rank 0 only) ----------------------------------------------------------------
    def log(self, text: str, level: str = "info") -> None:
        if self.main:
            self.run.log(text, level=level, source="local")

    def event(self, type: str, **fields: Any) -> None:
        if self.main:
            self.run.append_event(type, **fields)

    def status(self, **fields: Any) -> None:
        if self.main:
            self.run.update_status(**fields)  # the one locked writer of status.json

    def elapsed(self) -> float:
        """Paid wall time of this run so far: earlier attempts plus this process (loading included)."""
        return self.elapsed_before + (time.time() - self.t_train_start)

    def cost_so_far(self, elapsed: float) -> float | None:
        if self.price is None:
            return None
        return elapsed / 3600.0 * self.price * self.gpu_count

    # -- main -----------------------------------------------------------------------------------
    def main_(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.stop)
        self.status(state="running", worker_pid=os.getpid(), host=socket.gethostname(), world_size=world_size())
        self.event("status", state="running")
        try:
            return self._run()
        except UsageError as e:
            self._fail(str(e), kind="load")
            return 2
        except Exception as e:  # noqa: BLE001 - every failure becomes an event and a status
            if is_oom(e):
                self._oom(e)
                return 1
            if is_disk_full(e):
                self._fail(f"disk full: {e}", kind="disk", advice=disk_advice(self.run.checkpoints_dir))
                return 1
            tb = traceback.format_exc()
            sys.stderr.write(tb)
            self._fail(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", kind="crash",
                       advice=[f"the traceback is in {self.run.path / 'worker.log'}",
                               f"continue from the last checkpoint after fixing it: `ftwizard run --resume {self.run.path}`"])
            return 1

    def _fail(self, message: str, *, kind: str, advice: list[str] | None = None) -> None:
        self.event("error", message=message, kind=kind, advice=advice or [])
        last = last_checkpoint(self.run.checkpoints_dir)
        if last and self.main:
            self.log(f"last good checkpoint kept: {last[1].name} (step {last[0]})")
        self.status(state="failed", error=message.splitlines()[0], train_elapsed_s=round(self.elapsed(), 3))
        self.event("status", state="failed", detail=message.splitlines()[0])

    def _oom(self, e: BaseException) -> None:
        peak = peak_mem_gib(self.device, self.context_gib)
        message, advice = oom_advice(self.recipe, self.estimate_shown, peak, self.device)
        self.event("error", message=message, kind="oom", advice=advice, peak_mem_gib=round(peak, 3),
                   estimate_vram_gb=(self.estimate_shown or {}).get("vram_gb"), detail=str(e).splitlines()[0][:300])
        last = last_checkpoint(self.run.checkpoints_dir)
        if last:
            self.log(f"last good checkpoint kept: {last[1].name} (step {last[0]})")
        self.status(state="failed", error=message, error_kind="oom", train_elapsed_s=round(self.elapsed(), 3))
        self.event("status", state="failed", detail=message)

    def _run(self) -> int:
        t0 = time.time()
        recipe = self.recipe
        import torch

        from ftwizard.backends.local import data as D
        from ftwizard.backends.local.modeling import dtype_name, fsdp_enabled, load_for_training, pick_device, pick_dtype
        from ftwizard.backends.local.probe import apply_memory_cap, cuda_context_gib
        from ftwizard.backends.local.speed import mfu_basis, resolve_speed

        if not os.environ.get("OMP_NUM_THREADS"):
            # One thread per core for this process's share of the cores. OMP_NUM_THREADS, when set, wins: on a
            # busy machine fewer threads than cores avoid spinning threads waiting for each other (measured on
            # the 2-core build machine at load ~9: a step took 50 s with 2 threads, 12 s with 1).
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))))
        self.device = pick_device(recipe)
        self.fsdp = fsdp_enabled(recipe) and world_size() > 1
        if self.device == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            self.gpu_count = world_size()
            self.gpu_name = torch.cuda.get_device_name(int(os.environ.get("LOCAL_RANK", "0")))
            self.context_gib = cuda_context_gib()
        apply_memory_cap(self.device)
        dtype = pick_dtype(recipe, self.device)
        self.speed = resolve_speed(recipe, self.device, dtype_is_16bit=dtype in (torch.bfloat16, torch.float16),
                                   fsdp=self.fsdp)
        if self.main:
            self.estimate, self.estimate_shown = get_estimate(recipe, self.run.path.parent)
        if self.estimate_shown:
            self.log("estimate before training: " + ", ".join(
                f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in self.estimate_shown.items()))
        if recipe.model.quant != "none" and recipe.train.gradient_checkpointing is False:
            self._warn_checkpointing_off()
        if self.device == "cuda":  # price the card torch reports (a recipe's price for another card does not apply)
            actual = catalog_price_for(self.gpu_name, recipe)
            if actual[0] is not None or self.price is None:
                self.price, self.price_source, self.price_date = actual
        resume = last_checkpoint(self.run.checkpoints_dir)
        staging = self.run.checkpoints_dir / STAGING
        if self.main and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)  # a save that was interrupted: never trusted
            self.log("removed an interrupted checkpoint save (checkpoints/.staging)")

        if self.fsdp and self.device == "cpu":
            self.log("train.fsdp on the CPU: accelerate shards only on GPUs, so these processes train data-parallel "
                     "(each holds the whole model); saving and evaluation still go the FSDP way", level="warning")
        self.log(f"loading {recipe.model.base}" + (f" ({recipe.model.gguf_file})" if recipe.model.gguf_file else "")
                 + f" on {self.device}" + (f" x{world_size()} processes" if world_size() > 1 else "")
                 + (" (FSDP)" if self.fsdp else ""))
        from transformers import set_seed

        set_seed(recipe.train.seed)  # before the LoRA weights are drawn: the same recipe gives the same run
        model, tok = load_for_training(recipe, attn_implementation=self.speed.attn_implementation)
        n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
        n_all = sum(p.numel() for p in model.parameters())
        self.log(f"model loaded in {time.time() - t0:.1f} s: {n_train:,} trainable LoRA parameters of {n_all:,}")
        self.log(f"speed: {self.speed.summary()}; gradient checkpointing "
                 f"{'on' if recipe.gradient_checkpointing_on() else 'off'}"
                 + (f" ({'; '.join(self.speed.reasons)})" if self.speed.reasons else ""))
        self.mfu_basis = mfu_basis(model.config.to_dict(), recipe, device=self.device, gpu_name=self.gpu_name,
                                   dtype=dtype_name(dtype), n_lora=n_train, processes=world_size())

        templates, train_split, eval_rows = D.load_rows(recipe)
        train_ex, st = D.build_examples(recipe, tok, train_split.rows, templates)
        eval_ex, _ = D.build_examples(recipe, tok, eval_rows, templates) if eval_rows else ([], None)
        if not train_ex:
            raise UsageError(f"no training example keeps any answer token within train.max_length = "
                             f"{recipe.train.max_length}; raise it")
        if recipe.train.packing and "example_lengths" not in train_ex[0]:
            raise RuntimeError("packed sequences came without their example boundaries (data.py must pack with "
                               "ftwizard.backends.local.packing.pack): packed examples would attend to each other")
        self.mean_example_len = st.tokens / max(1, st.kept)
        self.log(f"data: {st.kept:,} training examples ({st.tokens:,} tokens/epoch, longest {st.max_tokens_seen}), "
                 f"{len(eval_ex)} for eval loss; loss on {recipe.train.loss_on}"
                 + (f"; packed into {st.packed_sequences:,} sequences, padding-free" if recipe.train.packing else ""))
        if st.truncated or st.answer_cut_off:
            self.log(f"truncation: {st.truncated:,} of {st.examples:,} examples exceed train.max_length = "
                     f"{recipe.train.max_length} and were cut"
                     + (f"; {st.answer_cut_off:,} lost their whole answer and were dropped" if st.answer_cut_off else ""),
                     level="warning")
        else:
            self.log(f"truncation: none of {st.examples:,} examples exceed train.max_length = {recipe.train.max_length}")
        if st.chat_template:
            self.log(f"chat data on the {'model' + chr(39) + 's own' if st.chat_template == 'model' else 'default'} chat "
                     f"template: loss on {st.turns_learned:,} assistant turns"
                     + (f"; {st.turns_skipped:,} with weight 0 left out" if st.turns_skipped else "")
                     + (f"; {st.turns_unstable:,} left out because the template renders them differently inside a "
                        "longer conversation" if st.turns_unstable else ""),
                     level="warning" if st.turns_unstable else "info")
        from ftwizard.defaults import learning_warnings

        for w in learning_warnings(recipe, n_train=len(train_ex), answer_cut_fraction=st.truncated / max(1, st.examples),
                                   world=world_size()):
            self.log(w, level="warning")  # settings that cannot learn: on record, never a refusal
        if self.main:
            self._write_data_files(templates, train_split.rows, eval_rows, st, tok)

        trainer, cb = self._trainer(model, tok, train_ex, eval_ex, st)
        self._memory_probe(trainer, tok, train_ex, templates)
        if resume:
            self.log(f"resuming from {resume[1].name} (step {resume[0]}) with its optimizer and scheduler state")
        self.status(total_steps=cb.max_steps, step=resume[0] if resume else 0)
        if self.stop.flag:  # asked to stop while loading: nothing new to save
            self.status(state="cancelled", train_elapsed_s=round(self.elapsed(), 3))
            self.event("status", state="cancelled", detail="stopped before training started")
            return 130
        trainer.train(resume_from_checkpoint=str(resume[1]) if resume else None)
        elapsed = self.elapsed()

        if cb.disk_error:
            self._fail(cb.disk_error, kind="disk", advice=disk_advice(self.run.checkpoints_dir))
            return 1
        if self.stop.flag:
            self.log(f"{self.stop.signame or 'stop'} received: saved checkpoint-{trainer.state.global_step}; "
                     f"continue with `ftwizard run --resume {self.run.path}`")
            self.status(state="cancelled", step=trainer.state.global_step, train_elapsed_s=round(elapsed, 3))
            self.event("status", state="cancelled", detail=f"stopped at step {trainer.state.global_step}")
            return 130

        # -- the end: adapter, summary, cost --------------------------------------------------
        self._save_adapter(trainer, tok)
        if self.main:
            self._write_summary(trainer, cb, st, elapsed)
        _barrier(world_size() > 1)
        if not self.main:
            return 0
        model = trainer.model
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

                trainer.model = trainer.model_wrapped = model = None
                gc.collect()
                torch.cuda.empty_cache()
                self.log("evaluation generates with vLLM (base + LoRA adapter, greedy)")
            self._evaluate(model, tok)
        if recipe.train.merge:
            self._merge(model, tok, dtype)
        self.status(state="succeeded", step=trainer.state.global_step, train_elapsed_s=round(elapsed, 3))
        self.event("status", state="succeeded")
        return 0

    def _warn_checkpointing_off(self) -> None:
        """A quantized base with checkpointing turned off: say what it costs, in the estimator's figures."""
        est_off = (self.estimate_shown or {}).get("vram_gb")
        est_on = None
        try:
            from ftwizard.estimate import estimate_recipe

            on = estimate_recipe(self.recipe.with_updates({"train.gradient_checkpointing": True}),
                                 runs_dir=self.run.path.parent)
            est_on = on["local"]["vram_gb"]
        except UsageError:
            pass
        figures = (f": the estimate is {est_off:.1f} GiB without it" if isinstance(est_off, (int, float)) else "")
        if isinstance(est_on, (int, float)):
            figures += f" vs {est_on:.1f} GiB with it"
        self.log(f"gradient checkpointing is off (train.gradient_checkpointing = false) with a {self.recipe.model.quant} "
                 f"base{figures}; every layer's activations are kept - remove the setting (auto = on) if the "
                 "memory probe or step 1 runs out of memory", level="warning")

    def _memory_probe(self, trainer, tok, train_ex, templates) -> None:
        """Before step 1: the longest batch forward/backward and one eval generation batch (probe.py)."""
        from ftwizard.backends.local.probe import probe_line, run_probe

        est = (self.estimate_shown or {}).get("vram_gb")
        if self.fsdp:
            self.log("memory probe: skipped under FSDP (the model is sharded when training starts); "
                     f"{est:.1f} GiB estimated" if isinstance(est, (int, float)) else
                     "memory probe: skipped under FSDP (the model is sharded when training starts)")
            return
        prompts_ids = None
        r = self.recipe
        if r.eval.enabled:
            from ftwizard.tasks import get_task

            task = get_task(r.task)
            rows = task.load_split(r, "eval").rows
            if r.eval.limit:
                rows = rows[: r.eval.limit]
            from ftwizard.backends.local.data import eval_prompt
            from ftwizard.evaluation.generate import generation_prompt

            # the evaluator's own prompts (chat rows: the chat template), so the probe's batch is its batch
            prompts_ids = [tok(generation_prompt(eval_prompt(tok, templates, row)))["input_ids"] for row in rows] or None
        result = run_probe(trainer, trainer.data_collator, train_ex, device=self.device, context_gib=self.context_gib,
                           eval_prompts_ids=prompts_ids, eval_batch_size=r.eval.batch_size,
                           max_new_tokens=r.eval.max_new_tokens, pad_token_id=tok.pad_token_id)
        self.probe = {**result.as_dict(), "estimate_gib": est}
        self.log(probe_line(result, est, self.device))

    def _write_data_files(self, templates, train_rows, eval_rows, st, tok) -> None:
        from ftwizard.backends.local.data import rendered_example

        d = self.run.data_dir
        d.mkdir(parents=True, exist_ok=True)
        for name, rows in (("train.jsonl", train_rows), ("eval_loss.jsonl", eval_rows)):
            if not rows:
                continue
            text = "".join(json.dumps(rendered_example(tok, templates, r), ensure_ascii=False) + "\n" for r in rows)
            from ftwizard.fsutil import atomic_write_text

            atomic_write_text(d / name, text)
        atomic_write_json(d / "train_stats.json", st.as_dict())

    def training_arguments(self, model, n_examples: int) -> dict:
        """The TrainingArguments of this run (a dict, so the configuration can be checked without training)."""
        import torch

        r = self.recipe
        t = r.train
        use_bf16 = use_fp16 = False
        if self.device == "cuda":
            dt = next(p.dtype for p in model.parameters())
            base_dtype = getattr(model.config, "dtype", None) or getattr(model.config, "torch_dtype", None)
            use_bf16 = base_dtype == torch.bfloat16 or dt == torch.bfloat16 or r.model.dtype == "bf16"
            use_fp16 = not use_bf16 and (base_dtype == torch.float16 or r.model.dtype == "fp16")
        from ftwizard.defaults import train_schedule

        world = world_size()
        sched = train_schedule(r, n_examples, world=world)  # steps from epochs when max_steps = 0, warm-up by ratio
        steps = sched.steps
        speed = self.speed
        args = dict(
            output_dir=str(self.run.checkpoints_dir),
            max_steps=steps,
            per_device_train_batch_size=t.micro_batch_size,
            per_device_eval_batch_size=t.micro_batch_size,
            gradient_accumulation_steps=t.grad_accum,
            learning_rate=t.lr,
            warmup_steps=sched.warmup_steps,
            lr_scheduler_type=t.lr_scheduler,
            optim=speed.optimizer if speed else t.optimizer,
            weight_decay=t.weight_decay,
            logging_steps=t.logging_steps,
            eval_strategy="steps" if t.eval_every else "no",
            eval_steps=t.eval_every or None,
            save_strategy="steps" if t.save_every else "no",
            save_steps=t.save_every or 500,
            save_total_limit=t.save_total_limit,
            seed=t.seed,
            data_seed=t.seed,
            bf16=use_bf16,
            fp16=use_fp16,
            use_cpu=self.device == "cpu",
            report_to="none",
            disable_tqdm=True,
            remove_unused_columns=False,
            label_names=["labels"],
            ddp_find_unused_parameters=False,
            dataloader_num_workers=0,
            train_sampling_strategy="group_by_length" if (t.group_by_length and not t.packing) else "random",
            include_num_input_tokens_seen="no",  # our collator counts tokens, summed across ranks with the stop flag
            gradient_checkpointing=False,  # done in modeling (peft needs input grads set up first), or by FSDP
            use_liger_kernel=bool(speed and speed.use_liger),
            torch_compile=bool(speed and speed.torch_compile),
            log_level="warning",
        )
        if self.fsdp:
            # FSDP2 (transformers' default) with LoRA as accelerate and peft document it: each decoder layer is a
            # unit (the model's _no_split_modules), the Trainer adds peft's policy that wraps the LoRA layers
            # apart (trainable and frozen weights never share a flat buffer), a full state dict gathered from
            # every rank for saving, and FSDP's own activation checkpointing instead of the model's.
            args["fsdp"] = True
            args["fsdp_config"] = {"version": 2, "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
                                   "state_dict_type": "FULL_STATE_DICT", "reshard_after_forward": True,
                                   "activation_checkpointing": r.gradient_checkpointing_on(),
                                   "cpu_ram_efficient_loading": False}
        return args

    def _trainer(self, model, tok, train_ex, eval_ex, st):
        from transformers import TrainingArguments

        from ftwizard.backends.local.callbacks import RunCallback
        from ftwizard.backends.local.data import Collator
        from ftwizard.backends.local.packing import FlatteningCollator

        args = self.training_arguments(model, len(train_ex))
        if not eval_ex:
            args["eval_strategy"] = "no"
        targs = TrainingArguments(**args)
        if self.recipe.train.packing:
            collator = FlatteningCollator()
        else:
            collator = Collator(tok.pad_token_id, pad_to_multiple_of=8 if self.device == "cuda" else None)
        cb = RunCallback(self, max_steps=args["max_steps"], collator=collator)
        trainer = _AsideCheckpointTrainer(
            model=model, args=targs, train_dataset=train_ex, eval_dataset=eval_ex or None,
            data_collator=collator, processing_class=tok, callbacks=[cb],
        )
        trainer._ftw = self
        trainer._ftw_cb = cb
        return trainer, cb

    def _save_adapter(self, trainer, tok) -> None:
        """adapter/ written whole or not at all. Under FSDP every rank takes part (the state dict is gathered
        through the Trainer); otherwise rank 0 alone saves the adapter it holds."""
        if self.fsdp:
            tmp = self.run.path / ".adapter.fsdp"
            if self.main:
                shutil.rmtree(tmp, ignore_errors=True)
            _barrier(True)
            trainer.save_model(str(tmp))  # collective: all ranks
            _barrier(True)
            if self.main:
                tok.save_pretrained(str(tmp))
                shutil.rmtree(self.run.adapter_dir, ignore_errors=True)
                os.replace(tmp, self.run.adapter_dir)
                self.log(f"adapter saved: {self.run.adapter_dir}")
            return
        if self.main:
            with atomic_dir(self.run.adapter_dir) as tmp:
                trainer.model.save_pretrained(str(tmp))
                tok.save_pretrained(str(tmp))
            self.log(f"adapter saved: {self.run.adapter_dir}")

    def _write_summary(self, trainer, cb, st, elapsed: float) -> None:
        r = self.recipe
        peak = cb.peak_mem_gib()
        tokens = cb.total_tokens()
        tps = cb.session_tokens_per_s()
        mfu = cb.mfu()
        summary = {
            "gpu": self.gpu_name,
            "gpu_count": self.gpu_count if self.device == "cuda" else 0,
            "device": self.device,
            "world_size": world_size(),
            "model": r.model.catalog_id or r.model.base,
            "base": r.model.base,
            "quant": r.model.quant,
            "dtype": r.model.dtype,
            # Calibration quantities, in the estimate's own units and scope:
            "peak_mem_gib": round(peak, 3) if peak is not None else None,
            "peak_mem_kind": ("gpu: torch.cuda.max_memory_reserved + CUDA context, GiB" if self.device == "cuda"
                              else "cpu: peak resident set size of the worker, GiB (no GPU memory)"),
            "train_tokens_per_s": round(tps, 1) if tps else None,
            "train_step_s": round(cb.train_s, 3),
            "mfu": round(mfu, 4) if mfu is not None else None,
            "mfu_basis": self.mfu_basis.as_dict(self.mean_example_len) if self.mfu_basis is not None else None,
            "memory_probe": self.probe,
            "train_tokens": int(tokens),
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
            "speed": {"attn_implementation": self.speed.attn_implementation, "use_liger": self.speed.use_liger,
                      "torch_compile": self.speed.torch_compile, "optimizer": self.speed.optimizer,
                      "fsdp": self.fsdp, "fsdp_sharded_params": _sharded(trainer) if self.fsdp else None}
            if self.speed else None,
            "truncated_examples": st.truncated,
            "estimate": self.estimate or {},
        }
        atomic_write_json(self.run.path / "train_summary.json", summary)
        hours = elapsed / 3600.0
        usd = self.cost_so_far(elapsed)
        cost = {
            "training_usd": round(usd, 6) if usd is not None else None,
            "training_kind": "actual",
            "hours": round(hours, 6),
            "price_per_hour": self.price,
            "gpu": self.gpu_name if self.device == "cuda" else (r.hardware.gpu if r.hardware.gpu != "auto" else "cpu"),
            "gpu_count": self.gpu_count,
            "price_source": self.price_source,
            "price_date": self.price_date,
        }
        from ftwizard.fsutil import read_json

        old = read_json(self.run.cost_path, default={}) or {}
        old.update(cost)
        atomic_write_json(self.run.cost_path, old)
        self.event("cost", usd=cost["training_usd"] or 0.0, kind="actual", what="training",
                   detail=f"{hours:.3f} h x ${self.price or 0:.3f}/h x {self.gpu_count}" if self.price else
                   "no price: set hardware.price_per_hour")

    def _evaluate(self, model, tok) -> None:
        tok.padding_side = "left"
        if model is not None:
            model.eval()
            if hasattr(model, "config"):
                model.config.use_cache = True
        try:
            from ftwizard.evaluation.runner import evaluate_run  # a broken evaluator is an evaluation failure

            evaluate_run(self.run, model=model, tokenizer=tok)
            if self.recipe.eval.baseline:
                # The same examples through the base model (the adapter switched off): the gain of fine-tuning.
                self.log("evaluating the base model without the adapter (eval.baseline = true)")
                evaluate_run(self.run, baseline=True, model=model, tokenizer=tok)
        except UsageError as e:
            self.event("error", message=f"evaluation: {e}", kind="eval", advice=[f"re-run it: `ftwizard eval {self.run.path}`"])
        except Exception as e:  # noqa: BLE001 - a failed evaluation does not undo a finished training
            sys.stderr.write(traceback.format_exc())
            self.event("error", message=f"evaluation failed: {type(e).__name__}: {e}", kind="eval",
                       advice=[f"the adapter is saved; re-run evaluation with `ftwizard eval {self.run.path}`"])

    def _merge(self, model, tok, train_dtype) -> None:
        """Merge the adapter into the base and save a standalone model in merged/ (for serving), in the
        training's compute dtype (bf16 stays bf16; never fp32 because the merge ran on the CPU)."""
        r = self.recipe
        self.log("merging the adapter into the base model for serving")
        if r.model.quant != "none" or model is None:
            # Merging into 8/4-bit weights loses precision: reload the base in 16-bit on the CPU and merge there
            # (also when the training model was released for vLLM).
            from ftwizard.backends.local.modeling import load_for_inference

            model, tok = load_for_inference(merge_recipe(r, train_dtype), self.run.adapter_dir)
        merged = model.merge_and_unload()
        merged.to(train_dtype)
        with atomic_dir(self.run.path / "merged") as tmp:
            merged.save_pretrained(str(tmp))
            tok.save_pretrained(str(tmp))
        self.log(f"merged model saved: {self.run.path / 'merged'} ({merged.dtype})")


def _sharded(trainer) -> bool:
    """Whether the trained model's parameters were really FSDP shards (DTensors) - recorded, not assumed."""
    return any(type(p).__name__ == "DTensor" for p in trainer.model_wrapped.parameters())


def merge_recipe(recipe, train_dtype):
    """The recipe that reloads a quantized run's base for merging: 16-bit, on the CPU, in the training dtype."""
    from ftwizard.backends.local.modeling import dtype_name

    return recipe.with_updates({"model.quant": "none", "hardware.device": "cpu",
                                "model.dtype": dtype_name(train_dtype)})


def _make_aside_trainer():
    from transformers import Trainer

    class AsideCheckpointTrainer(Trainer):
        """Writes each checkpoint into checkpoints/.staging and renames it into place when complete."""

        def _save_checkpoint(self, model, trial):
            ftw: Worker = self._ftw
            cb = self._ftw_cb
            final_dir = Path(self.args.output_dir)
            staging_root = final_dir / STAGING
            name = f"checkpoint-{self.state.global_step}"
            real_output = self.args.output_dir
            distributed = world_size() > 1
            ok = True
            try:
                if ftw.main:
                    staging_root.mkdir(parents=True, exist_ok=True)
                _barrier(distributed)
                self.args.output_dir = str(staging_root)
                super()._save_checkpoint(model, trial)
            except Exception as e:  # noqa: BLE001 - only a full disk is handled here
                ok = False
                if not is_disk_full(e):
                    raise
                why = getattr(e, "strerror", None) or str(e).splitlines()[0][:160]
                cb.disk_error = (f"disk full while saving {name}: {why}; the last good checkpoint is kept"
                                 + (f" ({last_checkpoint(final_dir)[1].name})" if last_checkpoint(final_dir) else
                                    " (there was none yet)"))
            finally:
                self.args.output_dir = real_output
            _barrier(distributed)
            if ftw.main:
                if ok:
                    os.replace(staging_root / name, final_dir / name)
                    _fsync_dir(final_dir)
                    # Keep the newest save_total_limit complete checkpoints.
                    cks = complete_checkpoints(final_dir)
                    for _, p in cks[: max(0, len(cks) - self.args.save_total_limit)]:
                        shutil.rmtree(p, ignore_errors=True)
                    ftw.status(last_checkpoint=name, step=self.state.global_step)
                    ftw.log(f"checkpoint saved: {name}")
                shutil.rmtree(staging_root, ignore_errors=True)
            if not ok:
                self.control.should_training_stop = True
            _barrier(distributed)

    return AsideCheckpointTrainer


def _barrier(distributed: bool) -> None:
    if distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


class _Lazy:
    cls = None


def _AsideCheckpointTrainer(**kwargs):
    if _Lazy.cls is None:
        _Lazy.cls = _make_aside_trainer()
    return _Lazy.cls(**kwargs)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: python -m ftwizard.backends.local.worker RUN_DIR\n")
        return 2
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    w = Worker(argv[0])
    code = w.main_()
    if world_size() > 1:
        try:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
        except Exception:  # noqa: BLE001
            pass
    return code


if __name__ == "__main__":
    sys.exit(main())
