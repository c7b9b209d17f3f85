"""LLM-as-judge for custom tasks (`eval.metric = "judge"`): any OpenAI-compatible chat endpoint grades each
prediction against its reference under the recipe's rubric.

Endpoint: FTWIZARD_JUDGE_BASE_URL (default: the OpenAI SDK's own OPENAI_BASE_URL, else api.openai.com); key:
FTWIZARD_JUDGE_API_KEY, else OPENAI_API_KEY. Each answer is cached on disk (FTWIZARD_CACHE_DIR/judge/) keyed by
(model, rubric, prompt, prediction, reference), so scoring the same file again makes no calls and costs
nothing. Each call is priced from the catalog (base models: catalog/inference_prices.toml; fine-tuned `ft:` models:
their serving rates in hosted_models.toml), else reported unpriced.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftwizard.errors import UsageError
from ftwizard.fsutil import atomic_write_json, read_json

JUDGE_SYSTEM = (
    "You grade the answer of a model against a reference answer, following the rubric. Reply with one JSON "
    'object and nothing else: {"pass": true or false, "reason": "<one short sentence>"}.'
)
DEFAULT_RUBRIC = ("Pass when the model's answer means the same as the reference answer and contains nothing "
                  "wrong; wording, order and formatting may differ.")
CACHE_VERSION = 1


def judge_messages(rubric: str, prompt: str, prediction: str, reference: str) -> list[dict[str, str]]:
    user = (f"Rubric:\n{rubric}\n\n"
            + (f"Task given to the model:\n{prompt}\n\n" if prompt else "")
            + f"Reference answer:\n{reference}\n\nModel's answer:\n{prediction}")
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def cache_key(model: str, rubric: str, prompt: str, prediction: str, reference: str) -> str:
    blob = json.dumps([CACHE_VERSION, model, rubric, prompt, prediction, reference], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


_PASS = re.compile(r"\W*(pass|fail)\b", re.I)  # a reply that opens with the word ("PASS - ...", "**Fail**")


def read_verdict(text: str) -> tuple[bool | None, str]:
    """(passed, reason) from the judge's reply; passed is None when the reply says neither."""
    from ftwizard.evaluation.jsontext import parse_json

    start = text.find("{")
    if start >= 0:
        value, _problem, _ = parse_json(text[start:])
        if isinstance(value, dict):  # the asked-for object: its `pass` or nothing
            reason = value.get("reason", "")
            return ((value["pass"] if isinstance(value.get("pass"), bool) else None),
                    (reason if isinstance(reason, str) else "")[:200])
    if text.lstrip().startswith(("{", "[", "`")):
        return None, text.strip()[:200]  # JSON it could not read: its key `"pass"` is not a verdict
    m = _PASS.match(text)  # not search: "this does not pass" must not read as a pass
    if m:
        return m.group(1).lower() == "pass", text.strip()[:200]
    return None, text.strip()[:200]


def _count(value: Any) -> int:
    """A token count from a reply's usage: a whole number >= 0, else 0 (a server's garbage is not a crash)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def judge_price_model(model: str):
    """The prices a judge call is billed at, as a catalog HostedModel: a base model from
    catalog/inference_prices.toml, a fine-tuned one (`ft:...`) at its serving rates from hosted_models.toml;
    None when neither knows it (the call is reported unpriced)."""
    from ftwizard.catalog import HostedModel, get_hosted_model, load_toml

    for e in load_toml("inference_prices.toml").get("model", []):
        if model == e["id"] or model in e.get("aliases", ()):
            return HostedModel(id=e["id"], provider="openai", encoding="", training_usd_per_1m=0.0,
                               input_usd_per_1m=float(e["input_usd_per_1m"]),
                               output_usd_per_1m=float(e["output_usd_per_1m"]), max_tokens_per_example=0,
                               context_window=0, price_source=e["price_source"], price_date=e["price_date"])
    if model.startswith("ft:"):
        try:
            return get_hosted_model(model)
        except UsageError:
            return None
    return None


def call_price(model: str, prompt_tokens: int, completion_tokens: int) -> tuple[float | None, str]:
    """(usd, source) of one judge call; usd None when no catalog knows the model."""
    from ftwizard.pricing import hosted_token_cost

    m = judge_price_model(model)
    if m is None:
        return None, f"`{model}` has no price in the catalog: unpriced"
    usd = hosted_token_cost(m, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    if usd is None:  # a model that serves only on hourly hardware has no price per call
        return None, f"`{model}` is billed by the hour, not per token: unpriced"
    return usd, f"{m.price_source} ({m.price_date})"


@dataclass
class Judge:
    """Grades (prompt, prediction, reference) triples, through the disk cache; `calls` counts real requests."""

    model: str
    rubric: str = DEFAULT_RUBRIC
    cache_dir: Path | None = None
    client: Any = None
    calls: int = 0
    _memo: dict = field(default_factory=dict)
    _lock: Any = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not self.model:
            raise UsageError('eval.metric = "judge" needs eval.judge_model (the judge model\'s name at the '
                             "endpoint, e.g. gpt-4o-mini) - or --judge-model")
        if self.cache_dir is None:
            from ftwizard import settings

            self.cache_dir = settings.cache_dir() / "judge"

    def _client(self):
        with self._lock:
            return self._make_client()

    def _make_client(self):
        if self.client is None:
            import openai

            from ftwizard import settings

            key = settings.judge_api_key()
            if not key:
                raise UsageError("the judge needs an API key: set FTWIZARD_JUDGE_API_KEY (or OPENAI_API_KEY), and "
                                 "FTWIZARD_JUDGE_BASE_URL for an endpoint other than OpenAI's")
            # The SDK's retries off and a timeout on every call: retried by the one policy of provider calls
            # (`ftwizard.retry.with_retries`: transient errors, back-off with jitter, FTWIZARD_HOSTED_* settings).
            self.client = openai.OpenAI(api_key=key, base_url=settings.judge_base_url() or None, max_retries=0,
                                        timeout=settings.hosted_timeout_seconds())
        return self.client

    def grade(self, prompt: str, prediction: str, reference: str) -> dict:
        """{pass, reason, cached, prompt_tokens, completion_tokens, usd} for one example."""
        key = cache_key(self.model, self.rubric, prompt, prediction, reference)
        if key in self._memo:  # the same triple twice in one file: asked once
            return {**self._memo[key], "cached": True}
        path = self.cache_dir / key[:2] / f"{key}.json"
        try:
            hit = read_json(path, default=None)
        except (ValueError, OSError):  # a damaged cache entry is asked again (and rewritten)
            hit = None
        if isinstance(hit, dict) and isinstance(hit.get("pass"), bool):
            out = {**hit, "cached": True}
        else:
            out = self._call(prompt, prediction, reference)
            with self._lock:
                self.calls += 1
            if out["pass"] is None:
                return out  # an unreadable reply is a fail now, and asked again next time: never cached
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(path, {k: v for k, v in out.items() if k != "cached"})
        self._memo[key] = out
        return out

    def _call(self, prompt: str, prediction: str, reference: str) -> dict:
        from ftwizard import settings
        from ftwizard.retry import HostedError, with_retries

        client = self._client()
        messages = judge_messages(self.rubric, prompt, prediction, reference)
        try:
            resp = with_retries(lambda: client.chat.completions.create(model=self.model, messages=messages,
                                                                       temperature=0, max_tokens=200),
                                what="grading")
        except HostedError as e:
            key = settings.judge_api_key()
            message = e.message.replace(key, "***") if key else e.message  # some servers echo the key back
            status = f"{e.status_code} " if e.status_code else ""
            raise UsageError(f"the judge ({self.model}) at {client.base_url} failed: {status}{message}") from None
        choice = resp.choices[0] if resp.choices else None
        text = getattr(getattr(choice, "message", None), "content", None) or ""
        passed, reason = read_verdict(text if isinstance(text, str) else "")
        pt, ct = (_count(getattr(resp.usage, k, 0)) for k in ("prompt_tokens", "completion_tokens"))
        usd, _source = call_price(self.model, pt, ct)
        return {"pass": passed, "reason": reason, "cached": False, "prompt_tokens": pt, "completion_tokens": ct,
                "usd": usd}


def judge_breakdown(scored: list[dict], *, model: str, rubric: str) -> dict:
    """What the judge cost (calls made now vs answers from the cache, tokens, dollars) and how often it agrees
    with exact match (with a Wilson interval and Cohen's kappa): from the scored records, so a resumed
    evaluation or a second `ftwizard score` reports the same answers."""
    from ftwizard.evaluation.stats import proportion

    made = [s for s in scored if not s.get("judge_cached")]
    priced = [s for s in made if s.get("judge_usd") is not None]
    pairs = [(bool(s["verdicts"]["judge_pass"]), bool(s["verdicts"]["exact_match"])) for s in scored]
    table = {"judge pass, exact match": 0, "judge pass, not exact": 0, "judge fail, exact match": 0,
             "judge fail, not exact": 0}
    for j, e in pairs:
        table[f"judge {'pass' if j else 'fail'}, {'exact match' if e else 'not exact'}"] += 1
    n = len(pairs)
    agree = [j == e for j, e in pairs]
    po = sum(agree) / n if n else 0.0
    pj = sum(j for j, _ in pairs) / n if n else 0.0
    pe_ = sum(e for _, e in pairs) / n if n else 0.0
    expected = pj * pe_ + (1 - pj) * (1 - pe_)
    kappa = (po - expected) / (1 - expected) if n and expected < 1 else None
    return {
        "kind": "judge",
        "model": model,
        "rubric": rubric,
        "calls": len(made),
        "cached": n - len(made),
        "prompt_tokens": sum(int(s.get("judge_tokens", [0, 0])[0]) for s in made),
        "completion_tokens": sum(int(s.get("judge_tokens", [0, 0])[1]) for s in made),
        "usd": round(sum(float(s["judge_usd"]) for s in priced), 10) if priced or not made else None,
        "unpriced_calls": len(made) - len(priced),
        "price_source": call_price(model, 0, 0)[1],
        "unreadable": sum(1 for s in scored if s.get("judge_unreadable")),
        "agreement_with_exact_match": proportion(agree),
        "cohen_kappa": kappa,
        "agreement_table": table,
        "notes": ["calls: answers asked of the judge in this scoring; cached: answers read from "
                  "FTWIZARD_CACHE_DIR/judge (no call, no cost)",
                  "an unreadable judge reply counts as a fail"],
    }
