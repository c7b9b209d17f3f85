"""Token counts of a recipe's data (cached on disk): local lengths in the model's tokens, hosted billed tokens.

Local lengths are exact with the model's tokenizer when its tokenizer.json is on this machine, else cl100k_base
counts x one documented ratio per tokenizer family (`tokenizer_ratio`). `prepare` and `estimate` both call here.
"""

from __future__ import annotations

import hashlib
import json
import random
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from ftwizard.catalog import OpenModel
from ftwizard.errors import UsageError
from ftwizard.plan.tokens import ESTIMATE_ENCODING
from ftwizard.estimate.base import CACHE_VERSION, DEFAULT_TOKENIZER_RATIO, SPECIAL_TOKENS, TOKENIZER_RATIO
from ftwizard.settings import cache_dir

if TYPE_CHECKING:
    from ftwizard.catalog import HostedModel
    from ftwizard.recipe import Recipe

def _file_stamp(path: Path) -> list:
    try:
        st = path.stat()
        return [str(path.resolve()), st.st_size, st.st_mtime_ns]
    except OSError:
        return [str(path), None, None]


def _data_files(recipe: "Recipe", task) -> list:
    d = recipe.data
    from ftwizard.tasks.base import DATA_DIR

    out = []
    for split in (d.train, d.eval):
        if d.source == "bundled":
            rel = task.bundled.get(split)
            out.append(_file_stamp(DATA_DIR / rel) if rel else ["bundled", split])
        elif d.source == "files":
            out.append(_file_stamp(Path(split).expanduser()))
        else:
            out.append(["hf", d.hf_id, d.hf_config, split])
    return out


def local_tokenizer_file(base: str) -> Path | None:
    """A tokenizer.json for the recipe's model on this machine (its folder or the hub cache), if any."""
    p = Path(base).expanduser()
    if p.is_dir():
        return p / "tokenizer.json" if (p / "tokenizer.json").is_file() else None
    from ftwizard.catalog import hub_cache_file

    return hub_cache_file(base, "tokenizer.json") if "/" in base else None


def _hist(values: Iterable[int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return out


def _unhist(h: dict[str, int]) -> list[int]:
    out: list[int] = []
    for k, n in sorted(h.items(), key=lambda kv: int(kv[0])):
        out.extend([int(k)] * n)
    return out


def token_stats(recipe: "Recipe", hosted: "HostedModel", *, tokenizer_file: Path | None = None,
                use_cache: bool = True) -> dict:
    """Token counts of the recipe's train (and eval) data: local lengths, hosted billed tokens. Cached on disk,
    keyed on the data files' size and mtime, the templates, the hosted model's encoding and the tokenizer."""
    from ftwizard.tasks import get_task

    task = get_task(recipe.task)
    templates = task.templates(recipe)
    key_obj = {
        "v": CACHE_VERSION, "task": recipe.task, "data": recipe.data.model_dump(mode="json"),
        "files": _data_files(recipe, task),
        "templates": [templates.template, templates.system, templates.user, templates.assistant],
        "hosted": [hosted.encoding, hosted.max_tokens_per_example],
        "tokenizer": _file_stamp(tokenizer_file) if tokenizer_file else ESTIMATE_ENCODING,
        "eval": recipe.train.eval_every > 0,
    }
    key = hashlib.sha256(json.dumps(key_obj, sort_keys=True, default=str).encode()).hexdigest()[:24]
    path = cache_dir() / "tokenstats" / f"{key}.json"
    if use_cache:
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
            if cached.get("key") == key:
                cached["cached"] = True
                return cached
        except (OSError, ValueError):
            pass
    stats = _count_tokens(recipe, task, templates, hosted, tokenizer_file)
    stats["key"] = key
    try:
        from ftwizard.fsutil import atomic_write_json

        atomic_write_json(path, stats, indent=None)
    except OSError:
        pass  # a read-only home: estimates still work, only slower
    stats["cached"] = False
    return stats


def _count_tokens(recipe: "Recipe", task, templates, hosted: "HostedModel", tokenizer_file: Path | None) -> dict:
    from ftwizard.chatfile import billed_tokens
    from ftwizard.tokens import TokenCounter

    rows = task.load_split(recipe, "train").rows
    eval_rows: list = []
    if recipe.train.eval_every > 0:
        try:
            eval_rows = task.load_split(recipe, "eval", check_templates=False).rows
        except UsageError:
            eval_rows = []
    hosted_counter = TokenCounter(hosted.encoding)
    report = billed_tokens([templates.messages(r) for r in rows], hosted_counter, hosted.max_tokens_per_example)
    prompt_counts = [hosted_counter.count_messages(templates.messages(r, with_answer=False)) for r in rows[:2000]]
    if tokenizer_file is not None:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tokenizer_file))
        texts = [templates.render_text(r) for r in rows]
        eval_texts = [templates.render_text(r) for r in eval_rows]
        lengths = exact_lengths(tok, texts)
        eval_lengths = exact_lengths(tok, eval_texts)
        method = {"method": "exact", "tokenizer": str(tokenizer_file)}
    else:
        cl = hosted_counter if hosted.encoding == ESTIMATE_ENCODING else TokenCounter(ESTIMATE_ENCODING)
        if templates.is_chat:  # chat rows: the conversation in the default chat template
            lengths = cl.count_many([templates.render_text(r) for r in rows])
            eval_lengths = cl.count_many([templates.render_text(r) for r in eval_rows])
        else:
            lengths = cl.count_rendered(templates.template, rows)
            eval_lengths = cl.count_rendered(templates.template, eval_rows) if eval_rows else []
        method = {"method": "estimated", "tokenizer": ESTIMATE_ENCODING}
    return {
        "n_train": len(rows), "n_eval": len(eval_rows),
        "train_lengths": _hist(lengths), "eval_lengths": _hist(eval_lengths),
        "local_tokens": method,
        "hosted": {
            "encoding": hosted.encoding, "max_tokens_per_example": hosted.max_tokens_per_example,
            "billed_tokens_per_epoch": report["billed_tokens_per_epoch"],
            "tokens_mean": report["tokens_mean"],
            "assistant_mean": report["assistant_mean"],
            "prompt_mean": round(statistics.fmean(prompt_counts), 2) if prompt_counts else 0.0,
            "n_too_long": report["n_too_long"], "format_errors": 0,
        },
    }


def tokenizer_ratio(family: str) -> float:
    """Tokens of a model family's tokenizer per cl100k_base token (TOKENIZER_RATIO, docs/estimates.md)."""
    return TOKENIZER_RATIO.get(family, DEFAULT_TOKENIZER_RATIO)


def estimated_lengths(cl100k_counts: Iterable[int], family: str) -> list[int]:
    """Local lengths without the model's tokenizer: cl100k_base counts x the family's ratio + BOS and EOS."""
    ratio = tokenizer_ratio(family)
    return [int(round(n * ratio)) + SPECIAL_TOKENS for n in cl100k_counts]


def exact_lengths(tokenizer, texts: list[str]) -> list[int]:
    """Local lengths with the model's own `tokenizers.Tokenizer`: its special tokens (BOS where the model has one)
    plus the EOS the trainer appends."""
    return [len(e.ids) + 1 for e in tokenizer.encode_batch(texts)] if texts else []


def model_family(model_id: str) -> str:
    """The catalog family of a model id (or its config.json in the hub cache); 'unknown' when neither knows it."""
    from ftwizard.catalog import get_open_model

    try:
        return get_open_model(model_id, allow_hub=False).family
    except UsageError:
        return "unknown"


def local_lengths(stats: dict, model: OpenModel, which: str = "train") -> tuple[list[int], dict]:
    """Per-example lengths in the model's tokens (exact, or cl100k counts x the family's ratio + BOS/EOS)."""
    raw = _unhist(stats[f"{which}_lengths"])
    method = dict(stats["local_tokens"])
    if method["method"] == "exact":
        return raw, method
    ratio = tokenizer_ratio(model.family)
    method.update(ratio=ratio, note=f"estimated: cl100k_base counts x {ratio} + {SPECIAL_TOKENS} special tokens "
                  f"(the {model.family} tokenizer is not available offline)")
    return estimated_lengths(raw, model.family), method


def padded_tokens_per_sequence(lengths: list[int], micro_batch: int, *, group_by_length: bool, seed: int = 0
                               ) -> float:
    """Mean padded length of a sequence: micro-batches are padded to their longest example.

    group_by_length follows transformers' LengthGroupedSampler: megabatches of 50 micro-batches sorted by length.
    """
    if not lengths:
        return 0.0
    if micro_batch == 1:
        return statistics.fmean(lengths)
    order = list(lengths)
    random.Random(seed).shuffle(order)
    chunk = 50 * micro_batch if group_by_length else micro_batch
    total = 0
    for start in range(0, len(order), chunk):
        mega = order[start:start + chunk]
        if group_by_length:
            mega.sort(reverse=True)
        for b in range(0, len(mega), micro_batch):
            batch = mega[b:b + micro_batch]
            total += max(batch) * len(batch)
    return total / len(order)

