"""Bring an existing OpenAI fine-tuning job over: its files and settings, a local LoRA recipe, a run directory.

`import_openai_job(job_id, ...)` downloads the job's training and validation files and writes them, example for
example as the job had them (checked like any chat data; unusable lines left out and counted), as chat JSONL
next to a `custom`-task recipe with `data.format = "chat"`: the local model trains on its own chat template
with the loss on the assistant turns, and the recipe's hosted twin uploads the very same messages. It also
writes a run directory (backend hosted) recording the job - fine-tuned model, trained tokens, cost, metrics -
so the hosted model can be evaluated and compared with the local one. When anything fails, what the import
wrote (data folder, recipe, run directory) is removed again; library warnings become one-line notes.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftwizard.backends.hosted.providers import HostedError, ProviderConfig, provider_config, with_retries
from ftwizard.errors import RunFailed, UsageError
from ftwizard.fsutil import atomic_write_text, open_user_file
from ftwizard.runs.directory import RunDirectory

DEFAULT_OPEN_MODEL = "Qwen/Qwen2.5-7B-Instruct"
# How far our count of a local copy's tokens may be from the job's trained tokens (OpenAI counts with its own
# tokenizer build; the cookbook's count is what we have) before the copy is refused as not the job's file.
TOKEN_TOLERANCE = 0.02
STATE_OF_JOB = {"succeeded": "succeeded", "failed": "failed", "cancelled": "cancelled"}


@dataclass
class ImportResult:
    job_id: str
    job_status: str
    base_model: str
    fine_tuned_model: str | None
    trained_tokens: int | None
    training_usd: float | None
    recipe_path: Path
    run_dir: Path
    data_files: dict[str, Path]
    examples: dict[str, int]
    hyperparameters: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["recipe_path"] = str(self.recipe_path)
        d["run_dir"] = str(self.run_dir)
        d["data_files"] = {k: str(v) for k, v in self.data_files.items()}
        return d


def chat_lines(data: bytes, what: str) -> tuple[list[str], list[str]]:
    """The usable lines of a job's chat file, verbatim, and what was wrong with the others (for the warnings)."""
    from ftwizard.chatfile import chat_problem
    from ftwizard.datasource import iter_jsonl_objects

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise RunFailed(f"{what}: line {line} is not UTF-8 text (byte {e.start:,})") from None
    lines = text.split("\n")
    kept, problems = [], []
    for no, obj, problem in iter_jsonl_objects(lines):
        problem = problem or chat_problem(obj)
        if problem:
            problems.append(f"line {no}: {problem}")
        else:
            kept.append(lines[no - 1].rstrip("\r"))
    return kept, problems


def _name_for(job) -> str:
    ft = job.fine_tuned_model or ""
    parts = ft.split(":")
    suffix = parts[3] if len(parts) >= 5 and parts[3] else ""
    base = f"imported-{suffix}" if suffix else f"imported-{job.id.removeprefix('ftjob-')[:12]}"
    return re.sub(r"[^A-Za-z0-9._-]", "-", base)[:80]


def _hp(job) -> dict[str, Any]:
    hp: dict[str, Any] = {}
    method = getattr(job, "method", None)
    sup = getattr(method, "supervised", None) if method is not None else None
    for src in (getattr(sup, "hyperparameters", None), getattr(job, "hyperparameters", None)):
        if src is None:
            continue
        d = src.model_dump(exclude_none=True, warnings=False) if hasattr(src, "model_dump") else dict(src)
        for k, v in d.items():
            hp.setdefault(k, v)
    return hp


def _max_length(examples: list[dict], model: str) -> int:
    """Tokens a conversation needs locally (the cookbook's count as a stand-in for the open model's tokenizer)."""
    from ftwizard.tokens import TokenCounter, encoding_name_for_model

    counter = TokenCounter(encoding_name_for_model(model))
    longest = max((counter.count_messages(ex["messages"]) for ex in examples), default=0)
    need = int(longest * 1.15) + 32  # the chat template's own tokens, and a different tokenizer
    return max(256, min(8192, -(-need // 64) * 64))


def import_openai_job(job_id: str, *, runs_dir: str | Path = "runs", out_recipe: str | Path | None = None,
                      open_model: str = DEFAULT_OPEN_MODEL, provider: str = "openai",
                      cfg: ProviderConfig | None = None, client=None, train_file: str | Path | None = None,
                      validation_file: str | Path | None = None) -> ImportResult:
    """Import the job (see the module's doc). On any failure, the data folder, recipe and run directory this
    import created are removed again; warnings the libraries raise come back as one-line notes."""
    created: list[Path] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = _import(job_id, runs_dir=runs_dir, out_recipe=out_recipe, open_model=open_model,
                          provider=provider, cfg=cfg, client=client, created=created,
                          local={"train": train_file, "validation": validation_file})
    except BaseException:
        for path in reversed(created):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise
    for w in caught:
        first = (str(w.message).strip().splitlines() or [w.category.__name__])[0]
        note = f"{w.category.__name__} from {Path(w.filename).parent.name}: {first[:200]}"
        if note not in res.warnings:
            res.warnings.append(note)
    return res


def _download(client, file_id: str, what: str, cfg: ProviderConfig) -> bytes | str:
    """The file's bytes, or why the provider will not give them back: OpenAI refuses files of purpose
    `fine-tune` (400 "Not allowed to download files of purpose: fine-tune"); a 403 / 404 is the same for us."""
    from ftwizard.backends.hosted.providers import error_message, status_code

    def fetch() -> bytes | str:
        try:
            return client.files.content(file_id).content
        except Exception as exc:  # noqa: BLE001 - a refusal is returned, anything else goes to with_retries
            status = status_code(exc)
            if status in (403, 404) or (status == 400 and "download" in error_message(exc).lower()):
                return f"{status}: {error_message(exc)}"
            raise

    return with_retries(fetch, what=f"downloading the {what} file {file_id}", cfg=cfg)


def _checked_local_copy(path: Path, key: str, job, provider: str, notes: list[str], size: int | None) -> bytes:
    """The user's copy of the job's `key` file, refused when it cannot be the file the job trained on: its
    billed tokens x the job's epochs against the job's trained tokens (the training file), its size against
    the uploaded file's (a note only: line endings may differ)."""
    from ftwizard.backends.hosted.job import check_chat_file

    with open_user_file(path, f"--{'train' if key == 'train' else 'validation'}-file") as f:
        data = f.read()
    if size is not None and size != len(data):
        notes.append(f"{path.name} is {len(data):,} bytes; the job's uploaded {key} file was {size:,} bytes")
    epochs = (getattr(job.hyperparameters, "n_epochs", None) if getattr(job, "hyperparameters", None) else None)
    if key != "train" or not job.trained_tokens or not isinstance(epochs, int):
        return data
    report = check_chat_file(path, job.model, provider)
    ours = report.billed_tokens_per_epoch * epochs
    if abs(ours - job.trained_tokens) > TOKEN_TOLERANCE * job.trained_tokens:
        raise UsageError(f"--train-file {path}: {report.n_examples:,} examples of {report.billed_tokens_per_epoch:,} "
                         f"billed tokens x {epochs} epochs = {ours:,} tokens, but job {job.id} trained "
                         f"{job.trained_tokens:,}: this is not the file the job trained on")
    return data


def _import(job_id: str, *, runs_dir, out_recipe, open_model: str, provider: str, cfg: ProviderConfig | None,
            client, created: list[Path], local: dict[str, str | Path | None]) -> ImportResult:
    from ftwizard.backends.hosted.job import OpenAIJob, openai_job_view
    from ftwizard.recipe import validate_dict

    cfg = cfg or provider_config(provider)
    client = client or cfg.make_client()
    job = with_retries(lambda: client.fine_tuning.jobs.retrieve(job_id), what=f"reading job {job_id}", cfg=cfg)
    notes: list[str] = []
    validation_file = getattr(job, "validation_file", None)
    if local.get("validation") and not validation_file:
        raise UsageError(f"--validation-file: job {job_id} had no validation file")

    def file_bytes(file_id: str, what: str) -> int | None:
        try:
            fo = with_retries(lambda: client.files.retrieve(file_id), what=f"reading the {what} file {file_id}",
                              cfg=cfg)
        except HostedError:
            return None
        return getattr(fo, "bytes", None)

    raw: dict[str, bytes] = {}
    for key, file_id in (("train", job.training_file), ("validation", validation_file)):
        if not file_id:
            continue
        what = "training" if key == "train" else "validation"
        flag = f"--{'train' if key == 'train' else 'validation'}-file"
        if local.get(key):
            raw[key] = _checked_local_copy(Path(local[key]).expanduser(), key, job, cfg.provider, notes,
                                           file_bytes(file_id, what))
            continue
        got = _download(client, file_id, what, cfg)
        if isinstance(got, bytes):
            raw[key] = got
        else:
            why = (f"{cfg.label} does not give back the {what} file {file_id} of {job_id}: files uploaded for "
                   f"fine-tuning cannot be downloaded, only results can (it answered {got})")
            if key == "validation":
                notes.append(f"{why}; imported without it - pass your copy with {flag} PATH to keep it")
                validation_file = None
                continue
            tokens = f" (checked against the job's {job.trained_tokens:,} trained tokens)" if job.trained_tokens else ""
            raise UsageError([why, f"pass your local copy of it: `ftwizard import-openai-job {job_id} {flag} PATH"
                                   + (" --validation-file PATH" if validation_file else "") + f"`{tokens}"])

    name = _name_for(job)
    recipe_path = Path(out_recipe) if out_recipe else Path(f"{name}.toml")
    recipe_path = recipe_path.expanduser().resolve()
    data_dir = recipe_path.parent / f"{recipe_path.stem}-data"

    # The job's own chat examples, line for line (checked as any chat data: unusable lines are left out).
    lines: dict[str, list[str]] = {}
    examples: dict[str, int] = {}
    for key, data in raw.items():
        kept, problems = chat_lines(data, f"the {key} file of {job_id}")
        if problems:
            notes.append(f"{key} file: {len(problems)} unusable examples left out (first: {problems[0]})")
        if not kept:
            raise RunFailed(f"the {key} file of {job_id} holds no usable chat examples"
                            + (f" (first problem: {problems[0]})" if problems else ""))
        lines[key] = kept
        examples[key] = len(kept)
    if not data_dir.exists():
        created.append(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for key, kept in lines.items():
        files[key] = data_dir / f"{key}.jsonl"
        if not files[key].exists():
            created.append(files[key])
        atomic_write_text(files[key], "".join(line + "\n" for line in kept))
    if "validation" not in files:
        notes.append("the job had no validation file: the recipe holds out a seeded 10% of the training file "
                     "(data.eval = '') for evaluation, so the local run trains on the rest; the hosted job "
                     "trained on all of it")

    hp = _hp(job)
    suffix = (job.fine_tuned_model or "").split(":")[3] if (job.fine_tuned_model or "").count(":") >= 4 else ""
    epochs = hp.get("n_epochs")
    recipe_dict: dict[str, Any] = {
        "name": name,
        "description": f"imported from OpenAI fine-tuning job {job_id} ({job.model} -> {job.fine_tuned_model}); "
                       f"the same data as a LoRA recipe for an open model",
        "task": "custom",
        "backend": "local",
        "data": {"source": "files", "format": "chat", "train": str(files["train"]),
                 "eval": str(files["validation"]) if "validation" in files else ""},
        "model": {"base": open_model},
        "train": {"max_steps": 0, "epochs": float(epochs) if isinstance(epochs, (int, float)) else 3.0,
                  "max_length": _max_length([json.loads(x) for ls in lines.values() for x in ls], job.model)},
        "hosted": {"provider": cfg.provider, "model": job.model, "suffix": suffix[:64],
                   "validation": "validation" in files,
                   "epochs": epochs if isinstance(epochs, int) else "auto",
                   "batch_size": hp["batch_size"] if isinstance(hp.get("batch_size"), int) else "auto",
                   "lr_multiplier": (float(hp["learning_rate_multiplier"])
                                     if isinstance(hp.get("learning_rate_multiplier"), (int, float)) else "auto")},
    }
    if getattr(job, "seed", None) is not None:
        recipe_dict["hosted"]["seed"] = int(job.seed)
    try:
        from ftwizard.catalog import get_open_model

        get_open_model(open_model, allow_hub=False)
    except Exception:  # noqa: BLE001 - only the estimates need the catalog
        notes.append(f"{open_model} is not in the open-model catalog: set model.catalog_id for estimates")
    recipe = validate_dict(recipe_dict, source=f"import of {job_id}")
    header = (f"ftwizard run {recipe_path}\n"
              f"Imported by `ftwizard import-openai-job {job_id}` on {time.strftime('%Y-%m-%d')}.\n"
              f"The OpenAI job: {job.model} -> {job.fine_tuned_model}, hyperparameters {json.dumps(hp)}.\n"
              f"Its hosted twin: --set backend=hosted re-runs the same job settings ([hosted]).\n"
              f"The open model: change model.base (and lora/train) as you like.")
    if not recipe_path.exists():
        created.append(recipe_path)
    atomic_write_text(recipe_path, recipe.to_toml(header=header))

    # The run directory records the hosted job as a run of the hosted twin.
    twin = recipe.with_updates({"backend": "hosted", "name": f"{name}-hosted"})
    run = RunDirectory.create(runs_dir, twin.name, twin.for_run().to_toml(
        header=f"the OpenAI fine-tuning job {job_id}, imported by ftwizard import-openai-job"))
    created.append(run.path)
    for key, data in raw.items():
        atomic_write_text(run.data_dir / f"openai_{key}.jsonl", data.decode("utf-8", "replace"))
    state = STATE_OF_JOB.get(job.status, "running")
    run.update_status(backend="hosted", provider=cfg.provider, job_id=job.id, training_file_id=job.training_file,
                      validation_file_id=validation_file, job_status=job.status, job_status_seen=job.status,
                      base_model=job.model, hosted_model=job.model, hyperparameters=hp, imported=True,
                      imported_at=time.time(), estimated_finish=getattr(job, "estimated_finish", None))
    run.append_event("log", text=f"imported OpenAI job {job.id} ({job.status})", source="import")
    hj = OpenAIJob(run, twin, client, cfg)
    hj.pull_events(job.id, openai_job_view(job))
    if job.status == "succeeded":
        hj.record_success(openai_job_view(job))
    elif job.status == "failed":
        err = getattr(job, "error", None)
        run.update_status(error=(getattr(err, "message", None) or "the job failed"), error_kind="api")
    if state in ("succeeded", "failed", "cancelled"):
        run.update_status(state=state, started_at=job.created_at, finished_at=job.finished_at or time.time())
        run.append_event("status", state=state, detail=job.status, job_id=job.id)
    else:
        notes.append(f"the job is still {job.status}: follow it with `ftwizard run --resume {run.path}`")
    status = run.status()
    from ftwizard.fsutil import read_json

    cost = read_json(run.cost_path, default={}) or {}
    return ImportResult(job_id=job.id, job_status=job.status, base_model=job.model,
                        fine_tuned_model=job.fine_tuned_model, trained_tokens=status.get("trained_tokens"),
                        training_usd=cost.get("training_usd"), recipe_path=recipe_path, run_dir=run.path,
                        data_files=files, examples=examples, hyperparameters=hp, warnings=notes)
