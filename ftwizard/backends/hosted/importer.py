"""Bring an existing OpenAI fine-tuning job over: its files and settings, a local LoRA recipe, a run directory.

`import_openai_job(job_id, ...)` downloads the job's training and validation files, flattens each chat
example into fields (system / user / assistant), writes them as JSONL next to a `custom`-task recipe whose
chat templates rebuild the very same messages (its hosted twin) and whose text template trains an open
model on them; and it writes a run directory (backend hosted) recording the job - fine-tuned model, trained
tokens, cost, metrics - so the hosted model can be evaluated and compared with the local one.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftwizard.backends.hosted.providers import ProviderConfig, explain, provider_config, with_retries
from ftwizard.errors import RunFailed
from ftwizard.fsutil import atomic_write_text
from ftwizard.rundir import RunDirectory

DEFAULT_OPEN_MODEL = "Qwen/Qwen2.5-7B-Instruct"
TEMPLATE_WITH_SYSTEM = "{system}\n\n### Input:\n{user}\n\n### Response:\n{assistant}\n"
TEMPLATE_NO_SYSTEM = "### Input:\n{user}\n\n### Response:\n{assistant}\n"
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


def _content(message: dict) -> str:
    c = message.get("content")
    if isinstance(c, list):  # content parts: keep the text ones
        return "".join(p.get("text", "") for p in c if isinstance(p, dict))
    return c if isinstance(c, str) else ""


def flatten_example(ex: dict) -> tuple[dict[str, str] | None, bool]:
    """(system, user, assistant) fields of a chat example, and whether it was multi-turn.

    Single-turn examples come back exactly; in a multi-turn one the earlier turns are written into `user`
    as a transcript, and `assistant` is the last assistant message (the one a model learns to produce)."""
    msgs = [m for m in ex.get("messages") or [] if isinstance(m, dict)]
    last_assistant = max((i for i, m in enumerate(msgs) if m.get("role") == "assistant"), default=None)
    if last_assistant is None:
        return None, False
    system = "\n\n".join(_content(m) for m in msgs[:last_assistant] if m.get("role") == "system")
    turns = [m for m in msgs[:last_assistant] if m.get("role") != "system"]
    multi = len(turns) != 1 or turns[0].get("role") != "user"
    if multi:
        user = "\n\n".join(f"[{m.get('role')}]: {_content(m)}" for m in turns)
    else:
        user = _content(turns[0])
    return {"system": system, "user": user, "assistant": _content(msgs[last_assistant])}, multi


def _parse_jsonl(data: bytes, what: str) -> list[dict]:
    out = []
    for no, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise RunFailed(f"{what}: line {no} is not valid JSON ({e.msg})") from None
        if isinstance(obj, dict):
            out.append(obj)
    return out


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
        d = src.model_dump(exclude_none=True) if hasattr(src, "model_dump") else dict(src)
        for k, v in d.items():
            hp.setdefault(k, v)
    return hp


def _max_length(rows: list[dict[str, str]], model: str) -> int:
    """Tokens the local template needs (tiktoken's count as a stand-in for the open model's tokenizer)."""
    from ftwizard.tokens import TokenCounter, encoding_name_for_model

    counter = TokenCounter(encoding_name_for_model(model))
    longest = max((sum(counter.count_many([r["system"], r["user"], r["assistant"]])) for r in rows), default=0)
    need = int(longest * 1.15) + 32  # the template's own words, and a different tokenizer
    return max(256, min(8192, -(-need // 64) * 64))


def import_openai_job(job_id: str, *, runs_dir: str | Path = "runs", out_recipe: str | Path | None = None,
                      open_model: str = DEFAULT_OPEN_MODEL, provider: str = "openai",
                      cfg: ProviderConfig | None = None, client=None) -> ImportResult:
    from ftwizard.backends.hosted.job import HostedJob
    from ftwizard.recipe import validate_dict

    cfg = cfg or provider_config(provider)
    client = client or cfg.make_client()
    job = with_retries(lambda: client.fine_tuning.jobs.retrieve(job_id), what=f"reading job {job_id}", cfg=cfg)
    warnings: list[str] = []

    def download(file_id: str, what: str) -> bytes:
        try:
            return with_retries(lambda: client.files.content(file_id).content, what=f"downloading the {what} file "
                                f"{file_id}", cfg=cfg)
        except Exception as e:  # noqa: BLE001
            raise explain(e, what=f"downloading the {what} file {file_id}", cfg=cfg) from None

    raw = {"train": download(job.training_file, "training")}
    validation_file = getattr(job, "validation_file", None)
    if validation_file:
        raw["validation"] = download(validation_file, "validation")

    name = _name_for(job)
    recipe_path = Path(out_recipe) if out_recipe else Path(f"{name}.toml")
    recipe_path = recipe_path.expanduser().resolve()
    data_dir = recipe_path.parent / f"{recipe_path.stem}-data"
    data_dir.mkdir(parents=True, exist_ok=True)

    rows: dict[str, list[dict[str, str]]] = {}
    examples: dict[str, int] = {}
    for key, data in raw.items():
        chats = _parse_jsonl(data, f"{key} file of {job_id}")
        flat, skipped, multi = [], 0, 0
        for ex in chats:
            r, is_multi = flatten_example(ex)
            if r is None:
                skipped += 1
                continue
            multi += is_multi
            flat.append(r)
        if skipped:
            warnings.append(f"{key} file: {skipped} examples without an assistant message were left out")
        if multi:
            warnings.append(f"{key} file: {multi} multi-turn examples: earlier turns are written into `user` as a "
                            f"transcript (the local model learns the last assistant message)")
        if not flat:
            raise RunFailed(f"the {key} file of {job_id} holds no usable chat examples")
        rows[key] = flat
        examples[key] = len(flat)
    with_system = any(r["system"] for rs in rows.values() for r in rs)
    files = {}
    for key, rs in rows.items():
        files[key] = data_dir / f"{key}.jsonl"
        keep = ("system", "user", "assistant") if with_system else ("user", "assistant")
        atomic_write_text(files[key], "".join(json.dumps({k: r[k] for k in keep}, ensure_ascii=False) + "\n"
                                              for r in rs))
    if "validation" not in files:
        warnings.append("the job had no validation file: data.eval points at the training file, so evaluation "
                        "would score examples both models trained on; set data.eval to held-out examples")

    hp = _hp(job)
    suffix = (job.fine_tuned_model or "").split(":")[3] if (job.fine_tuned_model or "").count(":") >= 4 else ""
    epochs = hp.get("n_epochs")
    recipe_dict: dict[str, Any] = {
        "name": name,
        "description": f"imported from OpenAI fine-tuning job {job_id} ({job.model} -> {job.fine_tuned_model}); "
                       f"the same data as a LoRA recipe for an open model",
        "task": "custom",
        "backend": "local",
        "data": {"source": "files", "train": str(files["train"]), "eval": str(files.get("validation", files["train"]))},
        "prompt": {"template": TEMPLATE_WITH_SYSTEM if with_system else TEMPLATE_NO_SYSTEM,
                   "answer_field": "assistant", "system": "{system}" if with_system else "",
                   "user": "{user}", "assistant": "{assistant}"},
        "model": {"base": open_model},
        "train": {"max_steps": 0, "epochs": float(epochs) if isinstance(epochs, (int, float)) else 3.0,
                  "max_length": _max_length([r for rs in rows.values() for r in rs], job.model)},
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
        warnings.append(f"{open_model} is not in the open-model catalog: set model.catalog_id for estimates")
    recipe = validate_dict(recipe_dict, source=f"import of {job_id}")
    header = (f"ftwizard run {recipe_path}\n"
              f"Imported by `ftwizard import-openai-job {job_id}` on {time.strftime('%Y-%m-%d')}.\n"
              f"The OpenAI job: {job.model} -> {job.fine_tuned_model}, hyperparameters {json.dumps(hp)}.\n"
              f"Its hosted twin: --set backend=hosted re-runs the same job settings ([hosted]).\n"
              f"The open model: change model.base (and lora/train) as you like.")
    atomic_write_text(recipe_path, recipe.to_toml(header=header))

    # The run directory records the hosted job as a run of the hosted twin.
    twin = recipe.with_updates({"backend": "hosted", "name": f"{name}-hosted"})
    run = RunDirectory.create(runs_dir, twin.name, twin.to_toml(
        header=f"the OpenAI fine-tuning job {job_id}, imported by ftwizard import-openai-job"))
    for key, data in raw.items():
        atomic_write_text(run.data_dir / f"openai_{key}.jsonl", data.decode("utf-8", "replace"))
    state = STATE_OF_JOB.get(job.status, "running")
    run.update_status(backend="hosted", provider=cfg.provider, job_id=job.id, training_file_id=job.training_file,
                      validation_file_id=validation_file, job_status=job.status, job_status_seen=job.status,
                      base_model=job.model, hosted_model=job.model, hyperparameters=hp, imported=True,
                      imported_at=time.time(), estimated_finish=getattr(job, "estimated_finish", None))
    run.append_event("log", text=f"imported OpenAI job {job.id} ({job.status})", source="import")
    hj = HostedJob(run, twin, client, cfg)
    hj.pull_events(job.id, job)
    if job.status == "succeeded":
        hj.record_success(job)
    elif job.status == "failed":
        err = getattr(job, "error", None)
        run.update_status(error=(getattr(err, "message", None) or "the job failed"), error_kind="api")
    if state in ("succeeded", "failed", "cancelled"):
        run.update_status(state=state, started_at=job.created_at, finished_at=job.finished_at or time.time())
        run.append_event("status", state=state, detail=job.status, job_id=job.id)
    else:
        warnings.append(f"the job is still {job.status}: follow it with `ftwizard run --resume {run.path}`")
    status = run.status()
    from ftwizard.fsutil import read_json

    cost = read_json(run.cost_path, default={}) or {}
    return ImportResult(job_id=job.id, job_status=job.status, base_model=job.model,
                        fine_tuned_model=job.fine_tuned_model, trained_tokens=status.get("trained_tokens"),
                        training_usd=cost.get("training_usd"), recipe_path=recipe_path, run_dir=run.path,
                        data_files=files, examples=examples, hyperparameters=hp, warnings=warnings)
