"""Reading examples from JSONL, CSV or a Hugging Face dataset, with errors that name the file and line.

Four formats of examples, detected from the data (`data.format = "auto"`) or named by the recipe:
- `chat`: OpenAI chat JSONL, one `{"messages": [{"role": ..., "content": ..., "weight": 0|1}, ...]}` per line
  (system, multi-turn, per-message weight): the format every hosted provider takes. Rows keep their messages.
- `prompt_completion`: `{"prompt": ..., "completion": ...}` (text in, text out).
- `alpaca`: `{"instruction": ..., "input": ..., "output": ...}`: read as a one-turn chat (instruction and input
  as the user message, output as the assistant's).
- `fields`: any columns, turned into text by the recipe's `[prompt]` templates.

Bad input is a UsageError naming the file, the line and the problem: text that is not UTF-8 (with its byte
offset), a line over `MAX_LINE_CHARS`, a CSV field over `CSV_FIELD_LIMIT`, broken JSON, a chat example without
an assistant turn or with an unknown role, a row without a column the templates need.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

from ftwizard.chatfile import chat_problem
from ftwizard.errors import UsageError, did_you_mean
from ftwizard.fsutil import not_utf8, open_user_file, read_user_text, require_user_file

Record = dict[str, str]

DATA_FILE = "data file"  # how messages name it
FORMATS = ("chat", "prompt_completion", "alpaca", "fields")
# Bounds on untrusted data files, named in the messages when exceeded.
MAX_LINE_CHARS = 8_000_000          # characters per line of a JSONL or CSV file
CSV_FIELD_LIMIT = 8_000_000         # characters per CSV field (Python's csv default is 131,072)
MAX_PROBLEMS = 10                   # broken lines reported before stopping


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
        if len(line) > MAX_LINE_CHARS:
            yield no, None, f"line is {len(line):,} characters long, over the limit of {MAX_LINE_CHARS:,} per line"
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            yield no, None, f"not valid JSON ({e.msg} at column {e.colno})"
            continue
        except RecursionError:
            yield no, None, "not valid JSON (nested too deeply)"
            continue
        except ValueError as e:  # e.g. an integer of more than 4,300 digits
            yield no, None, f"not readable JSON ({str(e).split(';')[0]})"
            continue
        if not isinstance(obj, dict):
            yield no, None, f"a JSON object was expected, got {type(obj).__name__}"
            continue
        yield no, obj, None


# ---------------------------------------------------------------------------------------------
# Files -> records (raw JSON objects or CSV rows) with their line numbers

class Records(list):
    """The records of one file (dicts), with `lines[i]` = the line record i came from and `source` its name."""

    def __init__(self, items: Iterable[dict] = (), *, lines: list[int] | None = None, source: str = ""):
        super().__init__(items)
        self.lines = lines if lines is not None else list(range(1, len(self) + 1))
        self.source = source

    def line_of(self, i: int) -> int:
        return self.lines[i] if 0 <= i < len(self.lines) else i + 1


def read_text(path: Path) -> str:
    """A data file's text; not UTF-8 (or unreadable) is a UsageError naming the line and byte offset."""
    return read_user_text(path, DATA_FILE)


def iter_lines(path: Path, *, keepends: bool = False, what: str = DATA_FILE) -> Iterator[str]:
    """A data file's lines, read one at a time (a file is never held whole, as bytes and as text): split on
    "\n" only (JSON strings may hold U+2028 and friends), a UTF-8 byte-order mark dropped. Not UTF-8 is a
    UsageError naming the line and byte offset; a line over MAX_LINE_CHARS stops the file, named, without
    being read whole."""
    cap = 4 * MAX_LINE_CHARS + 4  # bytes: at most 4 per character
    with open_user_file(path, what) as f:
        offset, no = 0, 0
        while True:
            raw = f.readline(cap)
            if not raw:
                return
            no += 1
            start = offset
            offset += len(raw)
            if no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw, start = raw[3:], 3
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise not_utf8(path, no, start + e.start, e.start + 1, raw[e.start:e.start + 4]) from None
            cut = len(raw) == cap and not raw.endswith(b"\n")
            if cut or len(line.rstrip("\r\n")) > MAX_LINE_CHARS:
                size = "more than " + f"{len(line):,}" if cut else f"{len(line.rstrip(chr(13) + chr(10))):,}"
                raise UsageError(f"{path}: line {no}: line is {size} characters long, over the limit of "
                                 f"{MAX_LINE_CHARS:,} per line")
            if not keepends:
                line = line[:-1] if line.endswith("\n") else line
                line = line[:-1] if line.endswith("\r") else line
            yield line


def _first_char(path: Path) -> str:
    """The first character that is not white space (or a byte-order mark): '[' is a JSON array."""
    with open_user_file(path, DATA_FILE) as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1].decode("latin-1")


def read_jsonl_records(path: Path) -> Records:
    """The JSON objects of a JSONL file (or a JSON array of objects), values as they are."""
    if _first_char(path) == "[":  # a JSON array: accept it too (read whole: it is one value)
        text = read_text(path)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise UsageError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
        except RecursionError:
            raise UsageError(f"{path}: not valid JSON (nested too deeply)") from None
        except ValueError as e:
            raise UsageError(f"{path}: not readable JSON ({str(e).split(';')[0]})") from None
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise UsageError(f"{path}: a JSON array of objects was expected")
        return Records(data, source=str(path))
    rows, lines, problems = [], [], []
    for no, obj, problem in iter_jsonl_objects(iter_lines(path)):
        if problem:
            problems.append(f"{path}: line {no}: {problem}")
            if len(problems) >= MAX_PROBLEMS:
                problems.append(f"{path}: (stopped after {MAX_PROBLEMS} broken lines)")
                break
            continue
        rows.append(obj)
        lines.append(no)
    if problems:
        raise UsageError(problems)
    return Records(rows, lines=lines, source=str(path))


def read_csv_records(path: Path) -> Records:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    limit = csv.field_size_limit()
    csv.field_size_limit(CSV_FIELD_LIMIT)
    try:
        source = _CountedLines(iter_lines(path, keepends=True))
        reader = csv.DictReader(source, delimiter=delimiter)
        try:
            header = reader.fieldnames
        except csv.Error as e:
            raise UsageError(f"{path}: line 1: {_csv_problem(e)}") from None
        if not header:
            raise UsageError(f"{path}: empty CSV file (no header line)")
        if header[0].lstrip().startswith(("{", "[")):
            # JSON lines named .csv: its first record would become column names (and be shown as such)
            raise UsageError(f"{path}: line 1 is JSON, not a CSV header; a JSON lines file is read as such when "
                             "it is named .jsonl")
        rows, lines = [], []
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:  # the line it stopped on: the one read last
                raise UsageError(f"{path}: line {source.line_no}: {_csv_problem(e)}") from None
            if None in row:
                raise UsageError(f"{path}: line {reader.line_num}: more values than the header's {len(header)} columns")
            rows.append({k: (v if v is not None else "") for k, v in row.items()})
            lines.append(reader.line_num)
    finally:
        csv.field_size_limit(limit)
    return Records(rows, lines=lines, source=str(path))


def _csv_problem(e: csv.Error) -> str:
    msg = str(e)
    if "field larger than field limit" in msg:
        return f"a field is longer than the limit of {CSV_FIELD_LIMIT:,} characters per CSV field"
    return f"not valid CSV ({msg})"


class _CountedLines:
    """Lines for csv.reader, counted: the line a CSV problem is on."""

    def __init__(self, lines: Iterator[str]):
        self._it = lines
        self.line_no = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self._it)
        self.line_no += 1
        return line


def read_records(path: str | Path) -> Records:
    path = Path(path)
    st = require_user_file(path, DATA_FILE)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return _cached(path, st, read_jsonl_records)
    if suffix in (".csv", ".tsv"):
        return _cached(path, st, read_csv_records)
    raise UsageError(f"{path}: unknown data format `{suffix or '(none)'}`; use .jsonl, .json or .csv")


_CACHE: dict[tuple, Records] = {}


def _cached(path: Path, st: os.stat_result, reader) -> Records:
    """One parse per file version per process (the format is detected, then the split loaded, from one read)."""
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, reader.__name__)
    hit = _CACHE.get(key)
    if hit is None:
        hit = reader(path)
        if len(_CACHE) > 8:
            _CACHE.clear()
        _CACHE[key] = hit
    return hit


def read_jsonl(path: Path) -> list[Record]:
    return [{k: _stringify(v) for k, v in r.items()} for r in read_jsonl_records(Path(path))]


def read_csv(path: Path) -> list[Record]:
    return list(read_csv_records(Path(path)))


def read_file(path: str | Path) -> list[Record]:
    """Field rows (every value a string) of a JSONL/CSV file."""
    return [{k: _stringify(v) for k, v in r.items()} for r in read_records(path)]


def read_hf_records(dataset_id: str, split: str, config: str = "") -> Records:
    """Load a split from the Hugging Face Hub (or its local cache), once per process. Imports `datasets` only here."""
    key = ("hf", dataset_id, split, config)
    if key not in _CACHE:
        if len(_CACHE) > 8:
            _CACHE.clear()
        _CACHE[key] = _load_hf(dataset_id, split, config)
    return _CACHE[key]


def _load_hf(dataset_id: str, split: str, config: str) -> Records:
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
    return Records([dict(row) for row in ds], source=f"hf:{dataset_id}:{split}")


def read_hf(dataset_id: str, split: str, config: str = "") -> list[Record]:
    return [{k: _stringify(v) for k, v in row.items()} for row in read_hf_records(dataset_id, split, config)]


# ---------------------------------------------------------------------------------------------
# Formats

def detect_format(records: list[dict], *, has_template: bool = False) -> str:
    """The format of a file's records: chat when they hold `messages`; with a `[prompt]` template, fields;
    else prompt_completion or alpaca by their columns; else fields."""
    if not records:
        return "fields"
    keys = set(records[0])
    if "messages" in keys:
        return "chat"
    if has_template:
        return "fields"
    if {"prompt", "completion"} <= keys:
        return "prompt_completion"
    if {"instruction", "output"} <= keys:
        return "alpaca"
    return "fields"


def chat_rows(records: Records) -> list[dict[str, Any]]:
    """Validated chat examples `{"messages": [...]}`, each message exactly as in the file."""
    problems: list[str] = []
    out: list[dict[str, Any]] = []
    for i, rec in enumerate(records):
        problem = chat_problem(rec)
        if problem:
            problems.append(f"{records.source}: line {records.line_of(i)}: {problem}")
            if len(problems) >= MAX_PROBLEMS:
                problems.append(f"{records.source}: (stopped after {MAX_PROBLEMS} broken examples)")
                break
            continue
        out.append({"messages": rec["messages"]})
    if problems:
        raise UsageError(problems)
    return out


def alpaca_rows(records: Records) -> list[dict[str, Any]]:
    """Instruction / input / output records as one-turn chats (an optional `system` column kept)."""
    problems: list[str] = []
    out = []
    for i, rec in enumerate(records):
        missing = [k for k in ("instruction", "output") if not isinstance(rec.get(k), str)]
        if missing:
            problems.append(f"{records.source}: line {records.line_of(i)}: no `{missing[0]}` text (alpaca format: "
                            "instruction, input, output)")
            if len(problems) >= MAX_PROBLEMS:
                break
            continue
        user = rec["instruction"]
        extra = rec.get("input")
        if isinstance(extra, str) and extra.strip():
            user = f"{user}\n\n{extra}"
        msgs = []
        if isinstance(rec.get("system"), str) and rec["system"]:
            msgs.append({"role": "system", "content": rec["system"]})
        msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": rec["output"]}]
        out.append({"messages": msgs})
    if problems:
        raise UsageError(problems)
    return out


def field_rows(records: Records) -> list[Record]:
    return [{k: _stringify(v) for k, v in r.items()} for r in records]


def check_fields_present(records: Records, rows: list[Record], fields: Iterable[str]) -> None:
    """Every row must hold every field the templates use: a row without one is named by file and line."""
    fields = list(dict.fromkeys(fields))
    problems = []
    for i, r in enumerate(rows):
        for f in fields:
            if f not in r:
                problems.append(f"{records.source}: line {records.line_of(i)}: no `{f}` (the templates use "
                                f"{{{f}}}; this row has: {', '.join(r) or 'nothing'})")
                break
        if len(problems) >= MAX_PROBLEMS:
            problems.append(f"{records.source}: (stopped after {MAX_PROBLEMS} incomplete rows)")
            break
    if problems:
        raise UsageError(problems)


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
            if col in r:
                nr[field] = r[col]
        out.append(nr)
    return out
