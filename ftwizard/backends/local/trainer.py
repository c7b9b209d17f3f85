"""The transformers Trainer as the local run uses it: its arguments from the recipe, and a subclass that writes
each checkpoint aside (checkpoints/.staging) and renames it into place when complete, so a kill during a save
never leaves a half checkpoint where resume would look. Imported by the worker process only (transformers)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accelerate import Accelerator
from transformers import Trainer, TrainingArguments

from ftwizard.backends.local.checkpoints import STAGING, complete_checkpoints, last_checkpoint
from ftwizard.fsutil import is_disk_full
from ftwizard.backends.local.world import barrier, is_main, world_size

if TYPE_CHECKING:
    from ftwizard.backends.local.callbacks import RunCallback
    from ftwizard.backends.local.reporter import Reporter
    from ftwizard.backends.local.speed import SpeedChoices
    from ftwizard.recipe import Recipe


def training_arguments(recipe: "Recipe", *, output_dir: Path, device: str, speed: "SpeedChoices | None", model,
                       n_examples: int) -> dict[str, Any]:
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
        gradient_checkpointing=False,  # done in modeling (peft needs input grads set up first)
        use_liger_kernel=bool(speed and speed.use_liger),
        torch_compile=bool(speed and speed.torch_compile),
        log_level="warning",
    )
    return args


class PreShardedAccelerator(Accelerator):
    """accelerate wraps the model of several processes in DDP; a model FSDP2 has already sharded (sharding.py)
    reduces its own gradients and must reach the training loop as it is."""

    def prepare_model(self, model, device_placement=None, evaluation_mode=False):
        from ftwizard.backends.local.sharding import is_sharded

        if is_sharded(model):
            if model not in self._models:
                self._models.append(model)
            return model
        return super().prepare_model(model, device_placement=device_placement, evaluation_mode=evaluation_mode)


class AsideCheckpointTrainer(Trainer):
    """Writes each checkpoint into checkpoints/.staging and renames it into place when complete; a full disk
    during a save keeps the last good checkpoint and stops the run (the callback's `disk_error` says why).

    With a model sharded by FSDP2 (`sharded=True`), the adapter and the optimizer go through full state dicts
    gathered to rank 0 on save and broadcast from it on resume, so a checkpoint has the same files either way."""

    def __init__(self, *args, reporter: "Reporter", run_callback: "RunCallback", sharded: bool = False, **kwargs):
        self.sharded = sharded  # read by create_accelerator_and_postprocess, inside Trainer.__init__
        super().__init__(*args, callbacks=[run_callback], **kwargs)
        self.reporter = reporter
        self.run_callback = run_callback

    def create_accelerator_and_postprocess(self):
        super().create_accelerator_and_postprocess()
        if self.sharded:
            self.accelerator.__class__ = PreShardedAccelerator

    def _torch_optimizer(self):
        return getattr(self.optimizer, "optimizer", self.optimizer)  # accelerate's wrapper holds torch's

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        if not self.sharded:
            return super().save_model(output_dir, _internal_call)
        from ftwizard.backends.local import sharding

        output_dir = output_dir or self.args.output_dir
        full = sharding.adapter_state_dict(self.model)  # every rank
        if self.args.should_save:
            os.makedirs(output_dir, exist_ok=True)
            sharding.save_adapter(self.model, output_dir, full)

    def _save_optimizer_and_scheduler(self, output_dir: str) -> None:
        if not self.sharded:
            return super()._save_optimizer_and_scheduler(output_dir)
        from ftwizard.backends.local import sharding

        sharding.save_optimizer(self.model, self._torch_optimizer(), self.lr_scheduler, output_dir)

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        if not self.sharded:
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        from ftwizard.backends.local import sharding

        sharding.load_adapter(self.model, resume_from_checkpoint)

    def _load_optimizer_and_scheduler(self, checkpoint):
        if not self.sharded or checkpoint is None:
            return super()._load_optimizer_and_scheduler(checkpoint)
        from ftwizard.backends.local import sharding

        sharding.load_optimizer(self.model, self._torch_optimizer(), self.lr_scheduler, checkpoint)

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
                  run_callback: "RunCallback", sharded: bool = False) -> AsideCheckpointTrainer:
    if not eval_ex:
        args = {**args, "eval_strategy": "no"}
    return AsideCheckpointTrainer(model=model, args=TrainingArguments(**args), train_dataset=train_ex,
                                  eval_dataset=eval_ex or None, data_collator=collator, processing_class=tok,
                                  reporter=reporter, run_callback=run_callback, sharded=sharded)


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
