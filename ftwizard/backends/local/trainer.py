"""The transformers Trainer as the local run uses it: its arguments from the recipe, and a subclass that writes
each checkpoint aside (checkpoints/.staging) and renames it into place when complete, so a kill during a save
never leaves a half checkpoint where resume would look. Imported by the worker process only (transformers)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import Trainer, TrainingArguments

from ftwizard.backends.local.checkpoints import STAGING, complete_checkpoints, last_checkpoint
from ftwizard.backends.local.failures import is_disk_full
from ftwizard.backends.local.world import barrier, is_main, world_size

if TYPE_CHECKING:
    from ftwizard.backends.local.callbacks import RunCallback
    from ftwizard.backends.local.reporter import Reporter
    from ftwizard.backends.local.speed import SpeedChoices
    from ftwizard.recipe import Recipe


def training_arguments(recipe: "Recipe", *, output_dir: Path, device: str, speed: "SpeedChoices | None", model,
                       n_examples: int, fsdp: bool = False) -> dict[str, Any]:
    """The TrainingArguments of this run (a dict, so the configuration can be checked without training)."""
    import torch

    from ftwizard.defaults import train_schedule

    r = recipe
    t = r.train
    use_bf16 = use_fp16 = False
    if device == "cuda":
        dt = next(p.dtype for p in model.parameters())
        base_dtype = getattr(model.config, "dtype", None) or getattr(model.config, "torch_dtype", None)
        use_bf16 = base_dtype == torch.bfloat16 or dt == torch.bfloat16 or r.model.dtype == "bf16"
        use_fp16 = not use_bf16 and (base_dtype == torch.float16 or r.model.dtype == "fp16")
    sched = train_schedule(r, n_examples, world=world_size())  # steps from epochs when max_steps = 0, warm-up by ratio
    args = dict(
        output_dir=str(output_dir),
        max_steps=sched.steps,
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
        use_cpu=device == "cpu",
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
    if fsdp:
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


class AsideCheckpointTrainer(Trainer):
    """Writes each checkpoint into checkpoints/.staging and renames it into place when complete; a full disk
    during a save keeps the last good checkpoint and stops the run (the callback's `disk_error` says why)."""

    def __init__(self, *args, reporter: "Reporter", run_callback: "RunCallback", **kwargs):
        super().__init__(*args, callbacks=[run_callback], **kwargs)
        self.reporter = reporter
        self.run_callback = run_callback

    def _save_checkpoint(self, model, trial):
        final_dir = Path(self.args.output_dir)
        staging_root = final_dir / STAGING
        name = f"checkpoint-{self.state.global_step}"
        real_output = self.args.output_dir
        main = is_main()
        ok = True
        try:
            if main:
                staging_root.mkdir(parents=True, exist_ok=True)
            barrier()
            self.args.output_dir = str(staging_root)
            super()._save_checkpoint(model, trial)
        except Exception as e:  # noqa: BLE001 - re-raised unless the disk is full (safetensors, torch.save and
            ok = False          # os each report that in their own exception type)
            if not is_disk_full(e):
                raise
            self._disk_full(name, final_dir, e)
        finally:
            self.args.output_dir = real_output
        barrier()
        if main:
            if ok:
                os.replace(staging_root / name, final_dir / name)
                _fsync_dir(final_dir)
                cks = complete_checkpoints(final_dir)  # keep the newest save_total_limit complete checkpoints
                for _, p in cks[: max(0, len(cks) - self.args.save_total_limit)]:
                    shutil.rmtree(p, ignore_errors=True)
                self.reporter.status(last_checkpoint=name, step=self.state.global_step)
                self.reporter.log(f"checkpoint saved: {name}")
            shutil.rmtree(staging_root, ignore_errors=True)
        if not ok:
            self.control.should_training_stop = True
        barrier()

    def _disk_full(self, name: str, final_dir: Path, e: BaseException) -> None:
        why = getattr(e, "strerror", None) or str(e).splitlines()[0][:160]
        last = last_checkpoint(final_dir)
        self.run_callback.disk_error = (f"disk full while saving {name}: {why}; the last good checkpoint is kept"
                                        + (f" ({last[1].name})" if last else " (there was none yet)"))


def build_trainer(args: dict[str, Any], *, model, tok, train_ex, eval_ex, collator, reporter: "Reporter",
                  run_callback: "RunCallback") -> AsideCheckpointTrainer:
    if not eval_ex:
        args = {**args, "eval_strategy": "no"}
    return AsideCheckpointTrainer(model=model, args=TrainingArguments(**args), train_dataset=train_ex,
                                  eval_dataset=eval_ex or None, data_collator=collator, processing_class=tok,
                                  reporter=reporter, run_callback=run_callback)


def sharded(trainer: Trainer) -> bool:
    """Whether the trained model's parameters were really FSDP shards (DTensors) - recorded, not assumed."""
    return any(type(p).__name__ == "DTensor" for p in trainer.model_wrapped.parameters())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
