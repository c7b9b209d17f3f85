"""`evaluate_run`: generate answers for a run's eval split with its model, score them, write the results.

Writes `predictions.jsonl` (or `predictions_baseline.jsonl`) one line per example as answers arrive, so a
killed evaluation continues at the first missing index and a hosted call already paid for is never repeated;
then `metrics.json` (the baseline under its `baseline` key), `eval` events, and for hosted runs `cost.json`'s
`eval_usd`. Local models: batched greedy generation (adapter applied; baseline = the adapter disabled or the
base alone). Hosted models: chat completions with bounded concurrency through the hosted serving client.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ftwizard.errors import RunFailed, UsageError
from ftwizard.fmt import usd
from ftwizard.runs.directory import RunDirectory, iso
from ftwizard.tasks.base import strip_reasoning


def predictions_path(run: RunDirectory, baseline: bool, local: bool = False) -> Path:
    """predictions.jsonl (the run's model), predictions_baseline.jsonl, or predictions_local.jsonl (a hosted
    run's downloaded adapter, evaluated on this machine)."""
    if local:
        return run.path / "predictions_local.jsonl"
    return run.path / ("predictions_baseline.jsonl" if baseline else "predictions.jsonl")


def read_predictions(path: Path) -> dict[int, dict]:
    """index -> record of the complete lines; a torn last line (a killed writer) is cut off the file."""
    out: dict[int, dict] = {}
    if not path.exists():
        return out
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as f:
            f.truncate(end)
    for line in data[:end].splitlines():
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):  # damaged on disk: that example is asked again
            continue
        if isinstance(rec, dict) and isinstance(rec.get("index"), int):
            out[rec["index"]] = rec
    return out


class _Appender:
    """Appends whole lines (one write each, O_APPEND) from any thread."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()

    def write(self, records: list[dict]) -> None:
        if not records:
            return
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
        with self.lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)


def _record(task, task_name: str, index: int, row: dict, prompt: str, raw: str, reference: str, *,
            latency_s: float, prompt_tokens: int, completion_tokens: int, **extra: Any) -> dict:
    prediction = task.extract_answer(strip_reasoning(raw))
    context = row.get("context") if task_name == "sql" else None
    verdicts, details = task.score(prediction, reference, {**row, "input": prompt})
    rec = {"index": index, "input": prompt, "raw": raw, "prediction": prediction, "reference": reference}
    if context is not None:
        rec["context"] = context  # so the file can be scored again with `ftwizard score --task sql`
    rec.update(verdicts=verdicts, **details, latency_s=round(latency_s, 4), prompt_tokens=prompt_tokens,
               completion_tokens=completion_tokens, **extra)
    return rec


def evaluate_after_training(run: RunDirectory, *, log: Callable[[str], None], **engine: Any) -> str | None:
    """The evaluation a worker runs once training is done, and how its failure is reported - one way for local
    and hosted runs: an FtwizardError (eval data, a refused endpoint, a reference a metric cannot read) is an
    `error` event of kind eval and `eval_error` in status.json, with the command that evaluates again; the run
    still succeeds (its training is done and paid for). Predictions are untrusted input that every metric scores
    without raising; any other exception is a bug and propagates to the worker, which records it as the run's
    failure (never a `succeeded` run without metrics). Returns the failure's message, None when all went well.
    `engine`: `evaluate_run`'s model / tokenizer / confirm_cost."""
    from ftwizard.errors import FtwizardError

    recipe = run.recipe()
    try:
        evaluate_run(run, **engine)
        if recipe.eval.baseline:
            log("evaluating the base model (eval.baseline = true)")
            evaluate_run(run, baseline=True, **engine)
    except FtwizardError as e:
        from ftwizard.retry import redact

        message = redact(str(e))
        run.append_event("error", message=f"evaluation: {message}", kind="eval",
                         advice=[f"the trained model is kept; evaluate it again with `ftwizard eval {run.path}`"])
        run.update_status(eval_error=message.splitlines()[0])
        return message
    run.update_status(eval_error=None)
    return None


def evaluate_run(run: RunDirectory, *, baseline: bool = False, model=None, tokenizer=None, limit: int | None = None,
                 client=None, confirm_cost: Callable[[dict], bool] | None = None,
                 on_progress: Callable[[], None] | None = None, local: bool = False) -> dict:
    """Evaluate the run's model (or, with `baseline`, its base model) on the eval split; returns metrics.json's
    section for it: {task, n, metrics, model, backend, which, evaluated_at}.

    `model`/`tokenizer`: an already loaded local model (the training worker passes its own). `client`: a hosted
    serving client (default: `ServingClient(recipe)`). `confirm_cost(estimate)`: asked before a hosted baseline
    spends money; returning False stops with RunFailed and nothing spent. `on_progress()`: called after each
    batch or answer (the CLI shows the new `eval` events). `local` (a hosted run whose adapter came home): the
    downloaded adapter on `model.base`, evaluated on this machine; its section goes under metrics.json's `local`
    key, beside the hosted evaluation of the same weights.
    """
    from ftwizard.tasks import get_task

    recipe = run.recipe()
    task = get_task(recipe.task, recipe)
    templates = task.templates(recipe)
    rows = task.load_split(recipe, "eval").rows
    n_limit = recipe.eval.limit if limit is None else limit
    if n_limit:
        rows = rows[:n_limit]
    task.use_references([task.reference(r, recipe) for r in rows])
    local_weights = local and recipe.backend == "hosted"
    if local_weights and baseline:
        raise UsageError("--local evaluates the downloaded adapter; for the base model use --baseline alone")
    which = "baseline" if baseline else ("local" if local_weights else "finetuned")
    path = predictions_path(run, baseline, local_weights)
    done = {i: r for i, r in read_predictions(path).items() if i < len(rows)}
    total = len(rows)
    pending = [i for i in range(total) if i not in done]
    run.append_event("eval", phase="start", which=which, done=len(done), total=total)
    if on_progress is not None:
        on_progress()
    if done and pending:
        run.log(f"evaluation ({which}) resumes at example {pending[0]}: {len(done)} of {total} already done",
                source="eval")

    progress = {"done": len(done), "last": 0.0}
    plock = threading.Lock()

    def advanced(k: int) -> None:
        with plock:
            progress["done"] += k
            now = time.time()
            if now - progress["last"] >= 1.0 or progress["done"] == total:
                progress["last"] = now
                run.append_event("eval", phase="progress", which=which, done=progress["done"], total=total)
            if on_progress is not None:
                on_progress()

    if recipe.backend == "hosted" and not local_weights:
        model_name = _hosted_model_name(run, recipe, baseline)
        if pending:
            _eval_hosted(run, recipe, task, templates, rows, pending, path, model_name, baseline=baseline,
                         client=client, confirm_cost=confirm_cost, advanced=advanced)
        _update_eval_cost(run)
    else:
        model_name = recipe.model.base + ("" if baseline else " + LoRA adapter")
        if pending:
            _eval_local(run, recipe, task, templates, rows, pending, path, baseline=baseline, model=model,
                        tokenizer=tokenizer, advanced=advanced)

    records = read_predictions(path)
    missing = [i for i in range(total) if i not in records]
    if missing:
        raise RunFailed(f"evaluation ({which}) is missing {len(missing)} of {total} answers (first: example "
                        f"{missing[0]}); run `ftwizard eval {run.path}{' --baseline' if baseline else ''}` "
                        "again to finish it (answers already received are kept)")
    scored = [records[i] for i in range(total)]
    if list(records) != list(range(len(records))):  # answers arrived out of order: store them by index
        from ftwizard.fsutil import atomic_write_text

        ordered = [records[i] for i in sorted(records)]
        atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ordered))
    metrics = task.aggregate(scored)
    section = {"task": recipe.task, "n": total, "metrics": metrics, "primary_metric": task.primary_metric(),
               "model": model_name, "backend": recipe.backend, "which": which, "evaluated_at": iso(),
               "predictions": path.name,
               "served": "hosted" if (recipe.backend == "hosted" and not local_weights) else "local"}
    if local_weights:
        st = run.status()
        section.update(provider=recipe.hosted.provider, job_id=st.get("job_id"),
                       hosted_model=st.get("fine_tuned_model"), adapter=str(run.adapter_dir))
    breakdown = task.breakdown(scored)
    if breakdown is not None:
        section["breakdown"] = breakdown
    def merge(current: dict) -> dict:
        if local_weights or baseline:
            current.setdefault("task", recipe.task)
            current["local" if local_weights else "baseline"] = section
            return current
        keep = {k: current[k] for k in ("baseline", "local") if k in current}
        return {**section, **keep}

    run.update_metrics(merge)
    run.append_event("eval", phase="done", which=which, done=total, total=total,
                     **{name: round(m["value"], 6) for name, m in metrics.items()})
    return section


# ---------------------------------------------------------------------------------------------------
# Local models

def _load_local(recipe, adapter_dir: Path | None):
    from ftwizard.backends.local.modeling import load_for_inference

    return load_for_inference(recipe, adapter_dir)


def _eval_local(run, recipe, task, templates, rows, pending, path, *, baseline, model, tokenizer, advanced) -> None:
    import contextlib

    from ftwizard.evaluation.generate import generate, one_line_done
    from ftwizard.evaluation.vllm_generate import choose_engine

    engine = choose_engine(recipe)
    ctx = contextlib.nullcontext()
    if engine == "vllm":
        if not baseline and not (run.adapter_dir / "adapter_config.json").exists():
            raise RunFailed(f"{run.adapter_dir} holds no trained adapter: train the run first "
                            "(or evaluate the base model with --baseline)")
        if tokenizer is None:
            from ftwizard.backends.local.modeling import load_tokenizer

            tokenizer = load_tokenizer(recipe, padding_side="left")
    elif model is None:
        adapter = None
        if not baseline:
            if not (run.adapter_dir / "adapter_config.json").exists():
                raise RunFailed(f"{run.adapter_dir} holds no trained adapter: train the run first "
                                "(or evaluate the base model with --baseline)")
            adapter = run.adapter_dir
        model, tokenizer = _load_local(recipe, adapter)
    elif baseline:
        if hasattr(model, "disable_adapter"):
            ctx = model.disable_adapter()  # the same weights without LoRA: the base model
        else:
            model, tokenizer = _load_local(recipe, None)
    if tokenizer is None:
        raise ValueError("evaluate_run: a model was given without its tokenizer")
    references = [task.reference(rows[i], recipe) for i in pending]
    from ftwizard.backends.local.data import eval_prompt, prompt_keeps_trailing_space
    from ftwizard.evaluation.generate import generation_prompt

    # chat rows: the model's chat template, as in training; text prompts end where training's prompt tokens did
    keep = not templates.is_chat and prompt_keeps_trailing_space(tokenizer, templates,
                                                                 task.load_split(recipe, "train").rows)
    prompts = [generation_prompt(eval_prompt(tokenizer, templates, rows[i]), keep_trailing_space=keep)
               for i in pending]
    appender = _Appender(path)
    by_index = dict(zip(pending, zip(prompts, references)))

    def on_batch(gens) -> None:
        recs = []
        for g in gens:
            prompt, reference = by_index[g.index]
            recs.append(_record(task, recipe.task, g.index, rows[g.index], prompt, g.text, reference,
                                latency_s=g.latency_s, prompt_tokens=g.prompt_tokens,
                                completion_tokens=g.completion_tokens))
        appender.write(recs)
        advanced(len(recs))

    same = dict(indices=pending, max_new_tokens=recipe.eval.max_new_tokens, stop_strings=list(task.stop_strings()),
                stop_when=one_line_done if task.single_line_answers else None, on_batch=on_batch)
    if engine == "vllm":
        from ftwizard.evaluation.vllm_generate import generate_vllm

        generate_vllm(recipe, None if baseline else run.adapter_dir, tokenizer, prompts, **same)
        return
    with ctx:
        generate(model, tokenizer, prompts, batch_size=recipe.eval.batch_size, **same)


# ---------------------------------------------------------------------------------------------------
# Hosted models

def _hosted_model_name(run, recipe, baseline: bool) -> str:
    """The `model` a chat request names: the base model, or the fine-tune - with Azure OpenAI, the deployment
    that serves it (`serving_model`, recorded after training or by `ftwizard eval --deployment`); with Fireworks,
    `<model>#<deployment>` while ftwizard's evaluation deployment exists."""
    st = run.status()
    _refuse_shut_down(recipe.hosted.model if baseline else (st.get("fine_tuned_model") or recipe.hosted.model),
                      recipe.hosted.provider)
    if baseline:
        return recipe.hosted.model
    from ftwizard.backends import provider_capabilities

    if provider_capabilities(recipe.hosted.provider).serving == "deployment" and st.get("serving_model"):
        return st["serving_model"]  # a fine-tune served only on a deployment: its name (Azure), `<model>#<dep>` (Fireworks)
    if recipe.hosted.provider == "azure":  # the user names Azure's deployment (`eval --deployment`)
        if not st.get("serving_model"):
            raise UsageError(f"{run.path}: Azure serves the fine-tuned model only through a deployment and none is "
                             f"recorded: deploy {st.get('fine_tuned_model') or 'it'} and run "
                             f"`ftwizard eval {run.path} --deployment NAME`")
        return st["serving_model"]
    name = st.get("fine_tuned_model")
    if not name:
        raise RunFailed(f"{run.path}: status.json names no fine_tuned_model yet (the hosted job has not "
                        "succeeded); evaluate the base model with --baseline, or wait for the job")
    return name


def _refuse_shut_down(model_name: str, provider: str) -> None:
    """A fine-tune serves until its base model's shutdown date (the catalog's, judged on settings.as_of())."""
    from ftwizard import settings
    from ftwizard.catalog import get_hosted_model

    try:
        m = get_hosted_model(model_name, provider)
    except UsageError:
        return  # not in the catalog (a Together output name, a Tinker path): nothing announced
    today = settings.as_of()
    if m.shut_down(today):
        raise UsageError(f"{model_name} cannot be evaluated on {provider}: {m.id} and every fine-tune built on it "
                         f"were shut down on {m.shutdown_date}; the predictions already on record are kept")


def _prices(model_name: str, provider: str | None = None):
    from ftwizard.catalog import get_hosted_model

    try:
        m = get_hosted_model(model_name, provider)
    except UsageError:
        return None
    return m


def _usd(price, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Dollars for one answer; None when unpriced (a model the catalog does not list, or one served only on hourly
    hardware: a dedicated endpoint, a deployment) - never $0, which would read as free."""
    from ftwizard.pricing import hosted_token_cost

    if price is None:
        return None
    return hosted_token_cost(price, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def _round(usd: float | None, digits: int) -> float | None:
    return None if usd is None else round(usd, digits)


def estimate_hosted_cost(recipe, model_name: str, messages: list[list[dict]], references: list[str]) -> dict:
    """What evaluating these examples will cost: prompt tokens counted offline, answers as long as the references."""
    from ftwizard.tokens import TokenCounter, encoding_name_for_model

    counter = TokenCounter(encoding_name_for_model(model_name))
    prompt_tokens = sum(counter.count_messages(m) for m in messages)
    completion_tokens = sum(counter.count(r) + 1 for r in references)
    price = _prices(model_name, recipe.hosted.provider)
    return {"model": model_name, "examples": len(messages), "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens, "usd": _round(_usd(price, prompt_tokens, completion_tokens), 6),
            "price_source": getattr(price, "price_source", "unknown model: not priced"),
            "price_date": getattr(price, "price_date", "")}


def _eval_hosted(run, recipe, task, templates, rows, pending, path, model_name, *, baseline, client, confirm_cost,
                 advanced) -> None:
    messages = {i: templates.messages(rows[i], with_answer=False) for i in pending}
    references = {i: task.reference(rows[i], recipe) for i in pending}
    if baseline:
        est = estimate_hosted_cost(recipe, model_name, list(messages.values()), list(references.values()))
        run.append_event("cost", usd=est["usd"], kind="estimated", what="evaluation",
                         detail=f"baseline {model_name}: {est['examples']} requests, ~{est['prompt_tokens']:,} prompt "
                                f"+ ~{est['completion_tokens']:,} completion tokens")
        if confirm_cost is not None and not confirm_cost(est):
            raise RunFailed(f"baseline evaluation of {model_name} not started (estimated {usd(est['usd'], unpriced='unpriced')}): declined")
    prompts: dict[int, str] = {}
    stop = None
    if recipe.hosted.provider == "tinker":
        # Tinker is asked through `/completions` with the prompt rendered here exactly as training rendered it.
        from ftwizard.backends.hosted.tinker import prompt_renderer

        render, stop = prompt_renderer(recipe)
        prompts = {i: render(templates, rows[i]) for i in pending}
    if client is None:
        from ftwizard.backends.hosted.serving import ServingClient

        client = ServingClient(recipe, stop=stop)
    # Priced as the fine-tune it serves (an Azure deployment name is not a model), at its provider's prices.
    # A fine-tune the catalog does not name (a `tinker://` sampler path, a Together output name) serves at its
    # base model's prices.
    price = (_prices(model_name if baseline else (run.status().get("fine_tuned_model") or model_name),
                     recipe.hosted.provider) or _prices(recipe.hosted.model, recipe.hosted.provider))
    appender = _Appender(path)
    failures: list[str] = []

    def on_done(index: int, completion) -> None:
        if isinstance(completion, BaseException) or getattr(completion, "error", None):
            failures.append(str(completion if isinstance(completion, BaseException) else completion.error))
            return
        raw = completion.text or ""
        pt, ct = int(completion.prompt_tokens or 0), int(completion.completion_tokens or 0)
        shown = prompts[index] if index in prompts else _messages_text(messages[index])
        rec = _record(task, recipe.task, index, rows[index], shown, raw, references[index],
                      latency_s=float(completion.latency_s or 0.0), prompt_tokens=pt, completion_tokens=ct,
                      model=model_name, usd=_round(_usd(price, pt, ct), 10))
        appender.write([rec])
        advanced(1)

    items = [(i, prompts.get(i) or messages[i]) for i in pending]
    try:
        client.complete_many(model_name, items, max_tokens=recipe.eval.max_new_tokens,
                             concurrency=recipe.eval.concurrency, on_done=on_done)
    finally:
        _update_eval_cost(run)
    if failures:
        run.append_event("error", message=f"{len(failures)} evaluation requests failed; first: {failures[0]}",
                         kind="api")


def _messages_text(messages: list[dict]) -> str:
    return "\n\n".join(f"[{m['role']}] {m['content']}" for m in messages)


def _update_eval_cost(run: RunDirectory) -> None:
    """cost.json's eval_usd = what every hosted answer on record cost (both predictions files); None (unpriced,
    with `eval_unpriced` answers counted) as soon as one answer on record has no price."""
    totals: dict[bool, float | None] = {}
    unpriced = 0
    for baseline in (False, True):
        recs = read_predictions(predictions_path(run, baseline))
        missing = sum(1 for r in recs.values() if r.get("usd") is None)
        unpriced += missing
        totals[baseline] = None if missing else round(sum(float(r["usd"]) for r in recs.values()), 10)
    both = None if unpriced else round(totals[False] + totals[True], 10)
    run.update_cost(eval_usd=both, eval_finetuned_usd=totals[False], eval_baseline_usd=totals[True],
                    eval_unpriced=unpriced)
