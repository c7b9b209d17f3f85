"""`evaluate_run`: generate answers for a run's eval split with its model, score them, write the results.

Writes `predictions.jsonl` (or `predictions_baseline.jsonl`) one line per example as answers arrive, so a
killed evaluation continues at the first missing index and a hosted call already paid for is never repeated;
then `metrics.json` (the baseline under its `baseline` key), `eval` events, and for hosted runs `cost.json`'s
`eval_usd`. The answers come from the run's backend (`Backend.generator`: local generation, a provider's chat
completions, Tinker's completions); evaluation extracts, scores and writes them, whatever answered.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ftwizard.backends import backend_for
from ftwizard.errors import RunFailed
from ftwizard.backends.base import Answer
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
    # The backend hands out what answers (its generator); evaluation never asks which backend it is.
    gen = backend_for(recipe).generator(run, baseline=baseline, home=local, model=model, tokenizer=tokenizer,
                                        client=client, confirm_cost=confirm_cost)
    which = "baseline" if baseline else ("local" if gen.home else "finetuned")
    path = predictions_path(run, baseline, gen.home)
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

    model_name = gen.model_name()
    references = {i: task.reference(rows[i], recipe) for i in pending}
    appender = _Appender(path)

    def on_answers(answers: list[Answer]) -> None:
        appender.write([_record(task, recipe.task, a.index, rows[a.index], a.prompt, a.raw, references[a.index],
                                latency_s=a.latency_s, prompt_tokens=a.prompt_tokens,
                                completion_tokens=a.completion_tokens, **a.extra) for a in answers])
        advanced(len(answers))

    try:
        if pending:
            gen.generate(task, templates, rows, pending, references, on_answers)
    finally:
        if gen.bills_answers:
            _update_eval_cost(run)

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
               "served": gen.served}
    if gen.home:
        st = run.status()
        section.update(provider=recipe.hosted.provider, job_id=st.get("job_id"),
                       hosted_model=st.get("fine_tuned_model"), adapter=str(run.adapter_dir))
    breakdown = task.breakdown(scored)
    if breakdown is not None:
        section["breakdown"] = breakdown
    def merge(current: dict) -> dict:
        if gen.home or baseline:
            current.setdefault("task", recipe.task)
            current["local" if gen.home else "baseline"] = section
            return current
        keep = {k: current[k] for k in ("baseline", "local") if k in current}
        return {**section, **keep}

    run.update_metrics(merge)
    run.append_event("eval", phase="done", which=which, done=total, total=total,
                     **{name: round(m["value"], 6) for name, m in metrics.items()})
    return section


# ---------------------------------------------------------------------------------------------------
# Billed answers

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
