"""The Tinker training loop, detached: started as `python -m ftwizard.workers.tinker RUN_DIR`.

Renders the chat data with the base model's chat template (answer tokens weight 1, prompt tokens 0), sends
`forward_backward` + `optim_step` for every batch, saves Tinker's state every `train.save_every` steps (the
path in status.json the moment it exists, the step in the checkpoint's metadata), then sampler weights for
evaluation through Tinker's OpenAI-compatible endpoint, and the PEFT adapter into `adapter/`.

Started again on the same directory, it continues from the last state Tinker holds for this run (found by
listing the run's checkpoints on the server, not only from status.json): the steps that state holds are not
trained or billed again; those after it, lost with a killed worker (at most save_every - 1), are. The SDK sends every request with a sequence id and retries it with the same id, so a
response lost on the way is answered by the server, not applied twice; when the SDK gives up, the worker
stops and a resume starts from the saved state instead of repeating a step blindly.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from typing import Any, Callable

from ftwizard.backends.hosted.providers import HostedError
from ftwizard.backends.hosted.worker import HostedWorker
from ftwizard.backends.hosted.tinker import (
    EXTRA_HINT,
    KEY_ENV,
    PROVIDER,
    catalog_model,
    lr_at,
    steps_of_epoch,
    tokenizer_source,
    training_plan,
    write_training_cost,
)
from ftwizard.errors import UsageError
from ftwizard.runs.directory import RunDirectory
from ftwizard.runs.worker import EXIT_STOPPED, Ended, Evaluator, Failure, StopFlag

STATE_PREFIX = "ftwizard-step-"
EXPORT_TTL_S = 24 * 3600


def explain(exc: BaseException, what: str, run: RunDirectory) -> HostedError:
    """A Tinker SDK error as one clear HostedError (never the key)."""
    import tinker

    resume = f"continue with `ftwizard run --resume {run.path}` (it starts from the last saved state)"
    if isinstance(exc, tinker.AuthenticationError):
        return HostedError(f"{what}: Tinker rejected the API key in {KEY_ENV}", kind="auth",
                           advice=[f"check {KEY_ENV}"])
    if isinstance(exc, tinker.PermissionDeniedError):
        return HostedError(f"{what}: permission denied by Tinker ({exc})", kind="auth")
    if isinstance(exc, tinker.APIConnectionError):
        return HostedError(f"{what}: cannot reach Tinker at {os.environ.get('TINKER_BASE_URL') or 'its default URL'}",
                           kind="network", advice=[resume])
    if isinstance(exc, tinker.RequestFailedError):
        return HostedError(f"{what}: Tinker could not do it: {exc}", kind="api", advice=[resume])
    if isinstance(exc, tinker.APIStatusError):
        return HostedError(f"{what}: Tinker answered {exc.status_code}: {exc.message}", kind="api", advice=[resume])
    return HostedError(f"{what}: {type(exc).__name__}: {exc}", kind="api", advice=[resume])


# ---------------------------------------------------------------------------------------------
# Data: chat examples -> token ids and per-token loss weights

def load_examples(run: RunDirectory) -> list[list[dict]]:
    path = run.data_dir / "openai_train.jsonl"
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(json.loads(line)["messages"])
    return out


def render_tokens(tokenizer, messages: list[dict], max_length: int) -> tuple[list[int], list[float]]:
    """The conversation on the model's chat template, as the local backend renders it (one rule for both):
    token ids, and loss weights 1 on the assistant turns to learn, 0 on everything before them."""
    from ftwizard.backends.local.data import IGNORE, encode_chat

    ids, labels, _truncated, _counts = encode_chat(tokenizer, messages, max_length=max_length)
    return ids, [0.0 if label == IGNORE else 1.0 for label in labels]


def make_datum(tokens: list[int], weights: list[float]):
    """Inputs are the tokens but the last; targets the tokens but the first (next-token prediction)."""
    from tinker import types

    n = len(tokens) - 1
    return types.Datum(
        model_input=types.ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={"target_tokens": types.TensorData(data=tokens[1:], dtype="int64", shape=[n]),
                        "weights": types.TensorData(data=weights[1:], dtype="float32", shape=[n])})


# ---------------------------------------------------------------------------------------------
# The loop

class TinkerLoop:
    """`stop`: the worker's stop flag, polled between steps (a step is never cut in half); `evaluate(recipe)`: the
    worker's evaluation after training (None: a loop driven piece by piece, as tests do)."""

    def __init__(self, run: RunDirectory, recipe, *, stop: StopFlag | None = None,
                 evaluate: Callable[[Any], None] | None = None):
        self.run = run
        self.recipe = recipe
        self.stop = stop or StopFlag()
        self.evaluate = evaluate
        self.model = catalog_model(recipe)
        self.examples = load_examples(run)
        self.plan = training_plan(recipe, len(self.examples))
        self.meta = {"ftwizard_run": run.name}
        self._encoded: dict[int, tuple[list[int], list[float]]] = {}

    # -- setup ----------------------------------------------------------------------------------
    def _tokenizer(self):
        from transformers import AutoTokenizer

        src = tokenizer_source(self.recipe)
        try:
            tok = AutoTokenizer.from_pretrained(src)
        except OSError as e:
            raise UsageError(f"cannot load the tokenizer of {src} (it renders the chat data for Tinker): "
                             f"{str(e).splitlines()[0]}; set model.base to a local copy of the model") from None
        from ftwizard.backends.local.data import ensure_chat_template

        if ensure_chat_template(tok) == "default":
            self.run.log(f"the tokenizer of {src} has no chat template: the data is rendered with ftwizard's "
                         "default one (as a local run would)", level="warning", source=PROVIDER)
        return tok

    def _latest_state(self, rest, status: dict) -> tuple[str, int] | None:
        """The newest training state this run saved at Tinker: (tinker path, step), asked of the server."""
        best: tuple[str, int] | None = None
        for run_id in status.get("tinker_training_runs") or []:
            for ck in rest.list_checkpoints(run_id).result().checkpoints:
                meta = ck.user_metadata or {}
                if ck.checkpoint_type != "training" or meta.get("ftwizard_run") != self.run.name:
                    continue
                step = int(meta.get("step", -1))
                if best is None or step > best[1]:
                    best = (ck.tinker_path, step)
        return best

    def _datum(self, tokenizer, index: int):
        if index not in self._encoded:
            self._encoded[index] = render_tokens(tokenizer, self.examples[index], self.plan.max_length)
        tokens, weights = self._encoded[index]
        return make_datum(tokens, weights), len(tokens) - 1, sum(weights[1:])

    # -- the run --------------------------------------------------------------------------------
    def execute(self) -> str:
        import tinker

        run, plan = self.run, self.plan
        status = run.status()
        run.update_status(total_steps=plan.total_steps, hosted_model=self.model.id,
                          hyperparameters={"lora_rank": plan.rank, "learning_rate": plan.learning_rate,
                                           "batch_size": plan.batch_size, "epochs": plan.epochs,
                                           "max_length": plan.max_length, "save_every": plan.save_every})
        service = tinker.ServiceClient(user_metadata=dict(self.meta), display_name=f"ftwizard {run.name}")
        rest = tinker.RestClient()
        outcome = "errored"
        try:
            if not status.get("training_done"):
                self._train(service, rest, status)
                if self.stop.requested:
                    outcome = "interrupted"
                    return "cancelled" if run.status().get("cancel_requested") else "stopped"
            self._finish(service, rest)
            outcome = "success"
        finally:
            self._close(service, outcome)
        return "succeeded"

    def _close(self, service, outcome: str) -> None:
        """End the session at Tinker; a server that does not answer soon lets it expire (heartbeats stop)."""
        import concurrent.futures

        import tinker

        try:
            service.close(outcome).result(timeout=10)
        except (concurrent.futures.TimeoutError, tinker.TinkerError) as e:
            logging.getLogger(__name__).warning("closing the Tinker session: %s", e)

    def _check_supported(self, rest) -> None:
        caps = rest.get_server_capabilities().result()
        names = [m.model_name for m in caps.supported_models if m.model_name]
        if self.model.id not in names:
            raise HostedError(f"Tinker does not train {self.model.id} for this key", kind="model",
                              advice=["models it offers: " + ", ".join(names)])

    def _train(self, service, rest, status: dict) -> None:
        run, plan = self.run, self.plan
        tokenizer = self._tokenizer()
        self._check_supported(rest)
        state = self._latest_state(rest, status)
        if state is not None:
            path, start = state
            done = int(status.get("step") or 0)
            if done > start:
                run.log(f"steps {start + 1}-{done} were trained after the last saved state and are lost with the "
                        f"stopped worker; they are trained again from {path}", level="warning", source=PROVIDER)
            tc = service.create_training_client_from_state_with_optimizer(path, user_metadata=dict(self.meta)).result()
            run.log(f"continuing from step {start} ({path})", source=PROVIDER)
        else:
            if status.get("step"):
                run.log(f"no saved state at Tinker for this run: steps 1-{status['step']} are trained again",
                        level="warning", source=PROVIDER)
            start = 0
            tc = service.create_lora_training_client(base_model=self.model.id, rank=plan.rank,
                                                     seed=self.recipe.train.seed,
                                                     user_metadata=dict(self.meta)).result()
            run.log(f"training run {tc.model_id}: LoRA rank {plan.rank} on {self.model.id}", source=PROVIDER)
        runs = list(dict.fromkeys([*(status.get("tinker_training_runs") or []), tc.model_id]))
        run.update_status(state="running", tinker_model_id=tc.model_id, tinker_training_runs=runs, step=start,
                          job_status="training")
        run.append_event("status", state="running", detail=f"training at Tinker ({tc.model_id})")
        self.tc = tc
        trained = int(run.status().get("trained_tokens") or 0)
        t0, first = time.time(), start
        for step in range(start, plan.total_steps):
            if self.stop.requested:
                self._save_state(step, trained)
                return
            epoch, i = divmod(step, plan.steps_per_epoch)
            batch = steps_of_epoch(plan, epoch, self.recipe.train.seed)[i]
            data, tokens, weight = [], 0, 0.0
            for index in batch:
                d, n, w = self._datum(tokenizer, index)
                if w > 0:
                    data.append(d)
                    tokens += n
                    weight += w
            if not data:
                run.log(f"step {step + 1}: every example was cut to nothing by train.max_length", level="warning",
                        source=PROVIDER)
                continue
            lr = lr_at(plan, step)
            fb = tc.forward_backward(data, "cross_entropy")
            opt = tc.optim_step(tinker_adam(lr))
            out = fb.result()
            opt.result()
            trained += tokens
            loss = out.metrics.get("loss:sum", 0.0) / max(weight, 1e-9)
            done = step + 1
            elapsed = time.time() - t0
            eta = elapsed / (done - first) * (plan.total_steps - done)
            usd = write_training_cost(run, self.recipe, trained)["training_usd"]
            run.update_status(step=done, trained_tokens=trained)
            run.append_event("metric", step=done, max_steps=plan.total_steps, loss=round(loss, 6), lr=lr,
                             epoch=round(done / plan.steps_per_epoch, 4), tokens=tokens,
                             trained_tokens=trained, cost_usd=round(usd, 6), elapsed_s=round(elapsed, 2),
                             eta_s=round(eta, 1))
            if done % plan.save_every == 0 or done == plan.total_steps:
                self._save_state(done, trained)
        final = self.tc.save_weights_for_sampler(unique_name("final"), user_metadata=dict(self.meta)).result().path
        run.update_status(training_done=True, sampler_path=final, fine_tuned_model=final, job_status="trained")
        run.append_event("cost", usd=round(write_training_cost(run, self.recipe, trained)["training_usd"], 6),
                         kind="actual", what="training", detail=f"{trained:,} tokens through forward_backward")
        run.log(f"sampler weights {final}", source=PROVIDER)

    def _save_state(self, step: int, trained: int) -> str:
        meta = {**self.meta, "step": str(step), "trained_tokens": str(trained)}
        # A name of its own per save: `save_state` refuses an existing name (overwrite=False, the SDK's default),
        # and a stop right at a save step, or a resumed worker, saves the same step again.
        path = self.tc.save_state(unique_name(f"{STATE_PREFIX}{step:06d}"), user_metadata=meta).result().path
        self.run.update_status(tinker_state_path=path, tinker_state_step=step)
        self.run.log(f"saved state at step {step}: {path}", source=PROVIDER)
        return path

    def _finish(self, service, rest) -> None:
        """The adapter home (when asked) and the evaluation; both continue where a stopped worker left off."""
        run = self.run
        if self.recipe.hosted.download_adapter and not (run.adapter_dir / "adapter_config.json").exists():
            tc = getattr(self, "tc", None)
            if tc is None:  # a resumed worker after training: the final state, as recorded or as Tinker lists it
                status = run.status()
                path = status.get("tinker_state_path") or (self._latest_state(rest, status) or (None,))[0]
                if path is None:
                    raise HostedError("training is recorded as done but no saved state is found at Tinker to "
                                      "export the adapter from", kind="api")
                tc = service.create_training_client_from_state(path, user_metadata=dict(self.meta)).result()
            self._download_adapter(tc, rest)
        if self.evaluate is None:
            raise RuntimeError("the Tinker loop was started without its evaluation (ftwizard.workers.tinker)")
        self.evaluate(self.recipe)

    def _download_adapter(self, tc, rest) -> None:
        """The PEFT files of an external-weights export, each from its signed URL: https only (or the Tinker
        endpoint the user configured), within the size and file-count limits, transient drops retried, all
        into a staging folder that replaces adapter/ only when complete."""
        from ftwizard.backends.hosted.adapter_files import check_download_url, fetch_url, limits
        from ftwizard.backends.hosted.providers import RetryPolicy, tinker_base_url, with_retries

        run = self.run
        export = tc.save_weights_external(unique_name("ftwizard-adapter"), ttl_seconds=EXPORT_TTL_S).result().path
        run.update_status(adapter_export_path=export)
        urls = rest.get_external_weights_urls(export).result().urls
        max_bytes, max_files = limits()
        if len(urls) > max_files:
            raise HostedError(f"the adapter export {export} holds {len(urls):,} files, more than the limit of "
                              f"{max_files:,} (FTWIZARD_ADAPTER_MAX_FILES)", kind="api")
        for url in urls.values():
            check_download_url(url, trusted_base=tinker_base_url())
        tmp = run.path / ".adapter.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        size = 0
        policy = RetryPolicy()
        try:
            for name, url in sorted(urls.items()):
                dest = (tmp / name).resolve()
                if not dest.is_relative_to(tmp.resolve()) or dest == tmp.resolve():
                    raise HostedError(f"the adapter export names an unsafe file path: {name!r}", kind="api")
                dest.parent.mkdir(parents=True, exist_ok=True)
                size += with_retries(lambda: fetch_url(url, dest, max_bytes=max_bytes - size),
                                     what=f"downloading the adapter file {name}", policy=policy,
                                     on_retry=lambda n, exc, d: run.log(f"downloading {name}: {type(exc).__name__}; "
                                                                        f"retry {n} in {d:.1f}s", level="warning",
                                                                        source=PROVIDER))
            if not (tmp / "adapter_config.json").exists():
                raise HostedError(f"the adapter export {export} holds no adapter_config.json (files: "
                                  f"{', '.join(sorted(urls)) or 'none'})", kind="api")
            shutil.rmtree(run.adapter_dir, ignore_errors=True)
            os.replace(tmp, run.adapter_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        run.update_status(adapter_dir=str(run.adapter_dir), adapter_bytes=size)
        run.log(f"adapter downloaded into {run.adapter_dir} ({size:,} bytes, PEFT format)", source=PROVIDER)


def unique_name(prefix: str) -> str:
    """A checkpoint name no earlier save of this run used (Tinker keeps names; it never overwrites by default)."""
    import uuid

    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def tinker_adam(lr: float):
    from tinker import types

    return types.AdamParams(learning_rate=lr)


def _tinker_error(exc: BaseException) -> BaseException | None:
    """The SDK's own error behind `exc`: raised as is, or wrapped by a future in a ValueError("Error retrieving
    result ...") whose cause is the SDK's error."""
    import tinker

    while exc is not None:
        if isinstance(exc, tinker.TinkerError):
            return exc
        exc = exc.__cause__
    return None


class TinkerWorker(HostedWorker):
    """The Tinker loop, detached; its lifecycle is every worker's (`ftwizard.runs.worker`), its failures recorded
    as a hosted run's (`failed_phase`, the resume rule). SIGTERM sets the stop flag: the loop saves Tinker's
    state at the step it is on, then ends cancelled (a cancel asked for it) or stopped."""

    who = "tinker worker"
    stop_raises = False
    log_level = logging.INFO

    def running_fields(self) -> dict[str, Any]:
        return {"backend": "hosted", "provider": PROVIDER}

    def body(self) -> Ended:
        try:
            import tinker  # noqa: F401
        except ModuleNotFoundError:
            raise Failure(f"the Tinker SDK is not installed: {EXTRA_HINT}", kind="load") from None
        final = TinkerLoop(self.run, self.run.recipe(), stop=self.stop, evaluate=self.evaluate).execute()
        if final == "cancelled":
            return Ended("cancelled", "cancelled (Tinker's state is saved)", {"job_status": "cancelled"})
        if final == "stopped":
            raise Failure("the Tinker worker was stopped; its state is saved at Tinker: continue with "
                          "`ftwizard run --resume RUN_DIR`", kind="stopped", code=EXIT_STOPPED)
        return Ended("succeeded", "succeeded", {"job_status": "succeeded"})

    def explain(self, e: Exception) -> Failure | None:
        sdk_error = _tinker_error(e)
        if sdk_error is not None:  # a Tinker error explained (never the key)
            err = explain(sdk_error, "training at Tinker", self.run)
            return Failure(err.message, kind=err.kind, advice=err.advice)
        return super().explain(e)

    def stopped(self) -> Ended | Failure:
        return Failure("the Tinker worker was interrupted; continue with `ftwizard run --resume RUN_DIR`",
                       kind="stopped", code=EXIT_STOPPED)


def main(argv: list[str] | None, *, evaluate: Evaluator) -> int:
    """The worker process's life (`ftwizard.workers.tinker` hands it the evaluation)."""
    return TinkerWorker.main(argv, evaluate=evaluate)
