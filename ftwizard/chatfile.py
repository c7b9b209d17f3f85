"""What a valid chat example is, once, for every face and destination (`chat_problem` with a destination's
`ChatRules`), and OpenAI's cookbook report on a chat file: its error counts by that rule and its billed tokens (the
epochs rule is `ftwizard.plan.hosted`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ftwizard.errors import did_you_mean
from ftwizard.tokens import TokenCounter

# The cookbook's sets ("Chat fine-tuning data prep"): the roles and message keys OpenAI's format allows.
CHAT_ROLES = ("system", "user", "assistant", "function")
CHAT_MESSAGE_KEYS = ("role", "content", "name", "function_call", "weight")
# Next to `messages`, other keys (an id, a source) are left out; tool definitions would change what is trained.
TOOL_KEYS = ("tools", "functions", "parallel_tool_calls")

# The cookbook's error types, then ours (what `chat_problem` refuses that the cookbook's script does not see).
ERROR_TYPES = (
    "data_type",
    "missing_messages_list",
    "message_missing_key",
    "message_unrecognized_key",
    "unrecognized_role",
    "missing_content",
    "example_missing_assistant_message",
    "tool_definitions",
    "bad_weight",
    "nothing_to_learn",
    "turn_order",
    "no_final_answer",
)
MIN_EXAMPLES = 10
DEFAULT_MAX_TOKENS_PER_EXAMPLE = 16_385


@dataclass(frozen=True)
class ChatRules:
    """What one destination accepts in a chat example: the common rule of `chat_problem` plus these options."""
    roles: tuple[str, ...] = CHAT_ROLES
    text_required: bool = False     # every message has a `content` key, and "" is no content (the cookbook's
    #                                 missing_content); local training takes an empty turn as an empty turn
    alternating: bool = False       # system or user first, then user and assistant in turn
    ends_with_answer: bool = False  # the last message is a non-empty assistant answer (the turn that is learned)


LOCAL = ChatRules()
# OpenAI's cookbook checks: OpenAI, Azure OpenAI and Fireworks take OpenAI's chat format.
COOKBOOK = ChatRules(text_required=True)
# Together's conversational format (docs.together.ai/docs/fine-tuning/data-preparation, read 2026-12-07): roles
# system, user, assistant ("tool" too, which ftwizard's chat data does not carry); "the conversation must start
# with system or user and alternate user and assistant afterwards".
TOGETHER = ChatRules(roles=("system", "user", "assistant"), text_required=True, alternating=True)
# Tinker's loop learns each example's last assistant turn (tinker_worker): an example must end with one.
TINKER = ChatRules(ends_with_answer=True)


def rules_for(provider: str | None) -> ChatRules:
    """The chat rules of a hosted provider's training file (None: training here)."""
    return {None: LOCAL, "together": TOGETHER, "tinker": TINKER}.get(provider, COOKBOOK)


@dataclass(frozen=True)
class ChatProblem:
    """Why one example is not a valid chat example: `kind` one of ERROR_TYPES, `text` said for people."""
    kind: str
    text: str

    def __str__(self) -> str:
        return self.text


def chat_problem(rec: Any, rules: ChatRules = LOCAL) -> ChatProblem | None:
    """The first thing wrong with one chat example under `rules`, or None. The one statement of a valid chat
    example: data loading, prepare's report, the hosted preflight, the importer and Tinker all ask it."""
    def bad(kind: str, text: str) -> ChatProblem:
        return ChatProblem(kind, text)

    if not isinstance(rec, dict):
        return bad("data_type", f"a JSON object was expected, got {type(rec).__name__}")
    msgs = rec.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return bad("missing_messages_list",
                   "no `messages` list (a chat example is {\"messages\": [{\"role\": ..., \"content\": ...}, ...]})")
    tools = sorted(set(rec) & set(TOOL_KEYS))
    if tools:
        return bad("tool_definitions", f"`{tools[0]}`: tool and function definitions are not supported "
                                       "(only `messages` is read)")
    learned = 0
    for k, m in enumerate(msgs, start=1):
        if not isinstance(m, dict):
            return bad("message_missing_key", f"message {k} is not an object")
        if "role" not in m:
            return bad("message_missing_key", f"message {k} has no `role`")
        role = m["role"]
        if role not in rules.roles:
            return bad("unrecognized_role", f"message {k}: unknown role `{role}`{did_you_mean(str(role), rules.roles)}; "
                                            f"roles: {', '.join(rules.roles)}")
        unknown = [key for key in m if key not in CHAT_MESSAGE_KEYS]
        if unknown:
            return bad("message_unrecognized_key",
                       f"message {k}: unknown key `{unknown[0]}`{did_you_mean(unknown[0], CHAT_MESSAGE_KEYS)}; "
                       f"keys: {', '.join(CHAT_MESSAGE_KEYS)}")
        content = m.get("content")
        if content is not None and not isinstance(content, str):
            return bad("missing_content", f"message {k} ({role}): `content` must be a string, "
                                          f"got {type(content).__name__}")
        if rules.text_required and "content" not in m:
            return bad("message_missing_key", f"message {k} ({role}) has no `content`")
        if (not content if rules.text_required else content is None) and m.get("function_call") is None:
            return bad("missing_content", f"message {k} ({role}) has "
                                          + ("empty `content`" if content == "" else "no `content`"))
        if "weight" in m:
            if role != "assistant":
                return bad("bad_weight", f"message {k} ({role}): `weight` is only for assistant messages")
            if m["weight"] not in (0, 1) or isinstance(m["weight"], bool):
                return bad("bad_weight", f"message {k}: `weight` must be 0 or 1, got {m['weight']!r}")
        if role == "assistant" and m.get("weight", 1) == 1:
            learned += 1
    if not any(m["role"] == "assistant" for m in msgs):
        return bad("example_missing_assistant_message",
                   "no assistant message: a chat example needs the assistant's answer to learn")
    if not learned:
        return bad("nothing_to_learn", "every assistant message has `weight: 0`: nothing to learn")
    if rules.alternating:
        turns = [m["role"] for m in msgs[1:]] if msgs[0]["role"] == "system" else [m["role"] for m in msgs]
        for k, role in enumerate(turns):
            if role != ("user", "assistant")[k % 2]:
                where = k + 1 + (len(msgs) - len(turns))
                return bad("turn_order", f"message {where} ({role}): the conversation must start with system or "
                                         "user, then alternate user and assistant")
    if rules.ends_with_answer:
        last = msgs[-1]
        if last["role"] != "assistant" or not str(last.get("content") or "").strip():
            return bad("no_final_answer", "the last message is not a non-empty assistant answer (the turn learned)")
    return None


def format_errors(examples: list, rules: ChatRules = COOKBOOK) -> tuple[Counter, list[tuple[int, str, str]]]:
    """Counts of each error type (one per broken example, by `chat_problem`), and (line number, type, text) for
    the first few."""
    errors: Counter = Counter()
    where: list[tuple[int, str, str]] = []
    for i, ex in enumerate(examples):
        problem = chat_problem(ex, rules)
        if problem is None:
            continue
        errors[problem.kind] += 1
        if len(where) < 20:
            where.append((i + 1, problem.kind, problem.text))
    return errors, where


def _stats(values: list[int]) -> dict:
    if not values:
        return {"n": 0, "min": 0, "mean": 0.0, "p50": 0, "p95": 0, "max": 0, "total": 0}
    s = sorted(values)
    n = len(s)

    def q(p: float) -> int:
        return s[min(n - 1, int(round(p * (n - 1))))]

    return {"n": n, "min": s[0], "mean": round(sum(s) / n, 2), "p50": q(0.5), "p95": q(0.95), "max": s[-1],
            "total": sum(s)}


token_stats = _stats


@dataclass
class ChatFileReport:
    n_examples: int
    errors: dict[str, int]
    error_lines: list[tuple[int, str, str]]  # (line, error type, what is wrong)
    n_missing_system: int
    n_missing_user: int
    n_too_long: int
    messages_per_example: dict
    tokens_per_example: dict
    assistant_tokens_per_example: dict
    billed_tokens_per_epoch: int
    max_tokens_per_example: int
    encoding: str
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(self.errors.values())

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["error_lines"] = [{"line": line, "error": kind, "message": text} for line, kind, text in self.error_lines]
        d["ok"] = self.ok
        return d


def check_chat_examples(examples: list, counter: TokenCounter,
                        max_tokens_per_example: int = DEFAULT_MAX_TOKENS_PER_EXAMPLE,
                        rules: ChatRules = COOKBOOK) -> ChatFileReport:
    errors, where = format_errors(examples, rules)
    n_missing_system = n_missing_user = 0
    n_messages, convo_lens, assistant_lens = [], [], []
    for ex in examples:
        msgs = ex.get("messages") if isinstance(ex, dict) else None
        if not isinstance(msgs, list):
            continue
        msgs = [m for m in msgs if isinstance(m, dict)]
        if not any(m.get("role") == "system" for m in msgs):
            n_missing_system += 1
        if not any(m.get("role") == "user" for m in msgs):
            n_missing_user += 1
        n_messages.append(len(msgs))
        convo_lens.append(counter.count_messages(msgs))
        assistant_lens.append(counter.count_assistant(msgs))
    n_too_long = sum(1 for n in convo_lens if n > max_tokens_per_example)
    warnings = []
    if len(examples) < MIN_EXAMPLES:
        warnings.append(f"only {len(examples)} examples: OpenAI requires at least {MIN_EXAMPLES}")
    if n_missing_system:
        warnings.append(f"{n_missing_system} examples have no system message")
    if n_missing_user:
        warnings.append(f"{n_missing_user} examples have no user message")
    if n_too_long:
        warnings.append(f"{n_too_long} examples exceed {max_tokens_per_example:,} tokens and will be truncated")
    return ChatFileReport(
        n_examples=len(examples),
        errors={k: errors.get(k, 0) for k in ERROR_TYPES},
        error_lines=where,
        n_missing_system=n_missing_system,
        n_missing_user=n_missing_user,
        n_too_long=n_too_long,
        messages_per_example=_stats(n_messages),
        tokens_per_example=_stats(convo_lens),
        assistant_tokens_per_example=_stats(assistant_lens),
        billed_tokens_per_epoch=sum(min(max_tokens_per_example, n) for n in convo_lens),
        max_tokens_per_example=max_tokens_per_example,
        encoding=counter.encoding_name,
        warnings=warnings,
    )


def billed_tokens(messages_per_example: list[list[dict]], counter: TokenCounter,
                  max_tokens_per_example: int = DEFAULT_MAX_TOKENS_PER_EXAMPLE) -> dict:
    """The cookbook's billing count alone, for messages we rendered ourselves (so well-formed): what `estimate`
    needs, without the format checks and statistics of `check_chat_examples` (same numbers, ~2x faster)."""
    total = too_long = 0
    sum_tokens = sum_assistant = 0
    for msgs in messages_per_example:
        n = counter.count_messages(msgs)
        total += min(max_tokens_per_example, n)
        too_long += n > max_tokens_per_example
        sum_tokens += n
        sum_assistant += counter.count_assistant(msgs)
    k = max(1, len(messages_per_example))
    return {"billed_tokens_per_epoch": total, "n_too_long": too_long, "tokens_mean": round(sum_tokens / k, 2),
            "assistant_mean": round(sum_assistant / k, 2)}
