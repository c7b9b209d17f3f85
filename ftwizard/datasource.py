"""Reading examples from JSONL, CSV or a Hugging Face dataset, with errors that name the file and line."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterator

from ftwizard.errors import UsageError, did_you_mean

Record = dict[str, str]


def _stringify(v) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else str(v)


def iter_jsonl_objects(lines) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line number, object, None) for each JSON object line, or (line number, None, problem); blank lines skipped."""
    for no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            yield no, None, f"not valid JSON ({e.msg} at column {e.colno})"
            continue
        if not isinstance(obj, dict):
            yield no, None, f"a JSON object was expected, got {type(obj).__name__}"
            continue
        yield no, obj, None


def read_jsonl(path: Path) -> list[Record]:
    rows: list[Record] = []
    problems = []
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"data file not found: {path}") from None
    with f:
        first = f.read(1)
        f.seek(0)
        if first == "[":  # a JSON array: accept it too
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise UsageError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
            if not all(isinstance(r, dict) for r in data):
                raise UsageError(f"{path}: a JSON array of objects was expected")
            return [{k: _stringify(v) for k, v in r.items()} for r in data]
        for no, obj, problem in iter_jsonl_objects(f):
            if problem:
                problems.append(f"{path}: line {no}: {problem}")
                if len(problems) >= 10:
                    problems.append(f"{path}: (stopped after 10 broken lines)")
                    break
                continue
            rows.append({k: _stringify(v) for k, v in obj.items()})
    if problems:
        raise UsageError(problems)
    return rows


def read_csv(path: Path) -> list[Record]:
    try:
        f = open(path, encoding="utf-8", newline="")
    except FileNotFoundError:
        raise UsageError(f"data file not found: {path}") from None
    with f:
        reader = csv.DictReader(f)
        if not reader.fieldnames:
            raise UsageError(f"{path}: empty CSV file (no header line)")
        header = list(reader.fieldnames)
        rows = []
        for row in reader:
            if None in row:
                raise UsageError(f"{path}: line {reader.line_num}: more values than the header's {len(header)} columns")
            rows.append({k: (v if v is not None else "") for k, v in row.items()})
    return rows


def read_file(path: str | Path) -> list[Record]:
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path} is a folder; name a .jsonl, .json or .csv file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return read_jsonl(path)
    if suffix in (".csv", ".tsv"):
        return read_csv(path)
    if not path.exists():
        raise UsageError(f"data file not found: {path}")
    raise UsageError(f"{path}: unknown data format `{suffix or '(none)'}`; use .jsonl, .json or .csv")


def read_hf(dataset_id: str, split: str, config: str = "") -> list[Record]:
    """Load a split from the Hugging Face Hub (or its local cache). Imports `datasets` only here."""
    try:
        import datasets  # noqa: PLC0415 - heavy, only when a recipe asks for the hub
    except ImportError:  # pragma: no cover
        raise UsageError("data.source = 'hf' needs the `datasets` package: pip install datasets") from None
    try:
        ds = datasets.load_dataset(dataset_id, config or None, split=split)
    except Exception as e:  # noqa: BLE001 - the hub raises many kinds; the user needs one message
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UsageError(
            f"cannot load Hugging Face dataset `{dataset_id}` split `{split}`: {msg}. "
            "Offline? Download it once where the hub is reachable (it is then cached), "
            "or export it to JSONL and use data.source = 'files'."
        ) from None
    return [{k: _stringify(v) for k, v in row.items()} for row in ds]


def rename_columns(rows: list[Record], columns: dict[str, str], *, source: str) -> list[Record]:
    """Apply `data.columns` (template field = dataset column): each field gets its column's value."""
    if not rows or not columns:
        return rows
    available = list(rows[0].keys())
    problems = []
    for field, col in columns.items():
        if col not in available:
            problems.append(f"data.columns.{field} names column `{col}`, which {source} does not have"
                            f"{did_you_mean(col, available)}; its columns: {', '.join(available)}")
    if problems:
        raise UsageError(problems)
    out = []
    for r in rows:
        nr = dict(r)
        for field, col in columns.items():
            nr[field] = r[col]
        out.append(nr)
    return out
