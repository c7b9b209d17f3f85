"""The Trainer callback that turns training into run-directory events: metrics, ETA, dollars, MFU, stop requests.

Cheap per step (benchmarks/bench_train_overhead.py holds it under 5% of a tiny model's 20 ms step): events are
appended once per logging step, status.json is rewritten at most every STATUS_EVERY_S seconds.
Tokens/s counts training steps only (step begin to step end): evaluation and checkpoint saves happen between
steps and are left out, so the figure is the one the estimate's tokens/s is compared with.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

from transformers import TrainerCallback

# status.json is replaced with an fsync: on a busy disk that alone costs several ms, so it is rewritten at most
# this often (and at checkpoints and the end); the events carry every step.
STATUS_EVERY_S = 10.0

if TYPE_CHECKING:
    from ftwizard.backends.local.reporter import Reporter
    from ftwizard.runs.worker import StopFlag


class RunCallback(TrainerCallback):
    """Reports through a `Reporter`; measures with the two functions it is given (peak memory in GiB, and
    {"mfu", "hfu"} from tokens/s: None when the device has no known peak). `tokens_before`: what earlier attempts trained on."""

    def __init__(self, reporter: "Reporter", stop: "StopFlag", *, max_steps: int, collator=None,
                 peak_mem_gib: Callable[[], float], mfu: Callable[[float], dict | None], device_mem: bool,
                 tokens_before: int = 0, warmup_step: bool = False):
        self.rep = reporter
        # torch.compile builds its kernels in the first step: tokens/s (the estimate's steady state) starts after it
        self.warmup_step = warmup_step
        self.stop = stop
        self._measure_peak = peak_mem_gib
        self._measure_mfu = mfu
        self.device_mem = device_mem  # a GPU: each metric event carries its memory in use
        self.max_steps = max_steps
        self.collator = collator
        self.disk_error: str | None = None
        self.first_loss: float | None = None
        self.last_loss: float | None = None
        self.last_eval_loss: float | None = None
        self.session_start_step = 0
        self.session_start_t = time.time()
        self.session_start_tokens = 0
        self.last_status_t = 0.0
        self._peak: float | None = None
        self._tps: float | None = None
        self._mfu: float | None = None
        self._hfu: float | None = None
        self.step_t0: float | None = None
        self.train_s = 0.0           # this attempt's time inside training steps
        self.first_step_s: float | None = None  # train begin -> end of the first step (torch.compile builds here)
        # Non-padding tokens, counted by the collator (this process) and summed over processes each step.
        self.tokens_all = 0
        self._tokens_local_synced = 0
        self.tokens_before = tokens_before

    # -- helpers ----------------------------------------------------------------------------------
    def peak_mem_gib(self) -> float | None:
        self._peak = max(self._peak or 0.0, self._measure_peak())
        return self._peak

    def session_tokens_per_s(self) -> float | None:
        return self._tps

    def mfu(self) -> float | None:
        return self._mfu

    def hfu(self) -> float | None:
        return self._hfu

    def total_tokens(self) -> int:
        """Tokens trained on by all processes, this attempt and the earlier ones (a resumed run counts both)."""
        return int(self.tokens_before + self.tokens_all)

    # -- events -----------------------------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kw):
        self.session_start_step = state.global_step
        self.session_start_t = time.time()
        self.session_start_tokens = 0
        self.train_s = 0.0
        self.first_step_s = None

    def on_step_begin(self, args, state, control, **kw):
        self.step_t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        if self.step_t0 is not None:
            self.train_s += time.perf_counter() - self.step_t0
            self.step_t0 = None
        if self.first_step_s is None:
            self.first_step_s = time.time() - self.session_start_t
        stop = self.stop.requested
        local = self.collator.tokens_seen if self.collator is not None else 0
        delta = local - self._tokens_local_synced
        self._tokens_local_synced = local
        if args.world_size > 1:
            # Every rank must stop at the same step, or the others wait forever in the next all-reduce; the same
            # (single) collective sums the tokens of all ranks.
            import torch
            import torch.distributed as dist

            if dist.is_initialized():
                t = torch.tensor([1.0 if stop else 0.0, float(delta)], dtype=torch.float64, device=args.device)
                dist.all_reduce(t, op=dist.ReduceOp.SUM)
                stop = bool(t[0].item() > 0)
                delta = int(t[1].item())
                self.stop.requested = stop
        self.tokens_all += delta
        if self.warmup_step and state.global_step == self.session_start_step + 1:
            self.session_start_tokens, self.train_s = self.tokens_all, 0.0
        if stop:
            control.should_save = True
            control.should_training_stop = True
        if self.disk_error:
            control.should_training_stop = True
        return control

    def on_evaluate(self, args, state, control, **kw):
        # Eval batches go through the same collator: they are not training tokens.
        if self.collator is not None:
            self._tokens_local_synced = self.collator.tokens_seen

    def on_log(self, args, state, control, logs=None, **kw):
        if not state.is_world_process_zero or not logs or ("loss" not in logs and "eval_loss" not in logs):
            return  # the end-of-training summary log carries no step metric
        now = time.time()
        step = state.global_step
        ev: dict = {"step": step, "max_steps": self.max_steps}
        if "eval_loss" in logs:
            ev["eval_loss"] = float(logs["eval_loss"])
            self.last_eval_loss = ev["eval_loss"]
        if "loss" in logs:
            ev["loss"] = float(logs["loss"])
            self.last_loss = ev["loss"]
            if self.first_loss is None:
                self.first_loss = ev["loss"]
        if "learning_rate" in logs:
            ev["lr"] = float(logs["learning_rate"])
        if logs.get("grad_norm") is not None:
            ev["grad_norm"] = float(logs["grad_norm"])
        if state.epoch is not None:
            ev["epoch"] = round(float(state.epoch), 4)
        done = step - self.session_start_step
        dt = now - self.session_start_t
        if done > 0 and dt > 0:
            tokens = self.tokens_all - self.session_start_tokens
            if tokens > 0 and self.train_s > 0:
                self._tps = tokens / self.train_s
                ev["tokens_per_s"] = round(self._tps, 1)
                util = self._measure_mfu(self._tps)
                if util is not None:  # PaLM-convention MFU and hardware FLOPs utilisation, named apart
                    self._mfu, self._hfu = util["mfu"], util["hfu"]
                    ev["mfu"] = round(self._mfu, 4)
                    ev["hfu"] = round(self._hfu, 4)
            ev["eta_s"] = round(max(0, self.max_steps - step) * dt / done, 1)
        if self.device_mem:
            ev["gpu_mem_gb"] = round(self.peak_mem_gib(), 3)  # GiB, reserved + context (the estimate's scope)
        elapsed = self.rep.elapsed()
        ev["elapsed_s"] = round(elapsed, 2)
        cost = self.rep.cost_so_far(elapsed)
        if cost is not None:
            ev["cost_usd"] = round(cost, 6)
        self.rep.event("metric", **ev)
        if now - self.last_status_t >= STATUS_EVERY_S or step >= self.max_steps:
            self.last_status_t = now
            self.rep.status(step=step, total_steps=self.max_steps, train_elapsed_s=round(elapsed, 3),
                          train_tokens=self.total_tokens())
