"""`prepare`: render a recipe's data into training files and report on it, before a cent is spent.

Writes (into a folder built aside and renamed into place):
  train.jsonl, eval.jsonl                  local training / evaluation text: index, prompt, answer, text
  openai_train.jsonl, openai_validation.jsonl   hosted chat files, one {"messages": [...]} per line
  report.json                              the data report (also returned)
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftwizard import chatfile
from ftwizard.errors import UsageError
from ftwizard.fsutil import atomic_dir
from ftwizard.tasks import Split, get_task
from ftwizard.plan.tokens import ESTIMATE_ENCODING, TokenStats
from ftwizard.tokens import TokenCounter, hosted_encoding

if TYPE_CHECKING:
    from ftwizard.prompts import PromptTemplates
    from ftwizard.recipe import Recipe

# ---------------------------------------------------------------------------------------------
# Local tokenizer: the real one when its tokenizer.json is on disk (a model folder or the HF cache), else the
# estimator's one documented ratio per tokenizer family (ftwizard.estimate.tokens), so prepare and estimate agree.

class LocalLengths:
    """Token lengths of the local training text: real (tokenizers) or estimated (cl100k x the family's ratio)."""

    def __init__(self, recipe: "Recipe"):
        from ftwizard.estimate.tokens import local_tokenizer_file, model_family, tokenizer_ratio

        # Estimated lengths are counted in the encoding the family ratios were measured against, whatever the
        # hosted model bills in (the estimate does the same), so `stats.encoding` is the one that counted.
        self.counter = TokenCounter(ESTIMATE_ENCODING)
        self.path = local_tokenizer_file(recipe.model.base)
        self.family = model_family(recipe.model.catalog_id or recipe.model.base)
        self._tok = None
        ratio = tokenizer_ratio(self.family)
        self.stats = TokenStats.estimated(self.family, ratio,
                                          f"the tokenizer of `{recipe.model.base}` is not available offline")
        if self.path is not None:
            from tokenizers import Tokenizer

            try:
                self._tok = Tokenizer.from_file(str(self.path))
            except Exception as e:  # noqa: BLE001 - tokenizers raises a bare Exception for a bad file
                self.stats = TokenStats.estimated(self.family, ratio, f"tokenizer unreadable: {e}")
            else:
                self.stats = TokenStats.exact_from(str(self.path))

    @property
    def exact(self) -> bool:
        return self.stats.exact

    @property
    def source(self) -> str:
        return self.stats.source

    def lengths(self, rows: list[dict[str, str]], texts: list[str], template: str | None) -> list[int]:
        """Tokens per text including BOS and EOS (`ftwizard.estimate.tokens`: exact or estimated, one rule)."""
        from ftwizard.estimate.tokens import estimated_lengths, exact_lengths

        if self._tok is not None:
            return exact_lengths(self._tok, texts)
        if not template:  # chat rows: the conversation text itself
            return estimated_lengths(self.counter.count_many(texts), self.family)
        return estimated_lengths(self.counter.count_rendered(template, rows), self.family)


# ---------------------------------------------------------------------------------------------

def render_local(split: Split, templates: "PromptTemplates") -> list[dict[str, Any]]:
    out = []
    for i, row in enumerate(split.rows):
        prompt = templates.render_prompt(row)
        answer = templates.render_answer(row)
        out.append({"index": i, "prompt": prompt, "answer": answer, "text": prompt + answer})
    return out


def render_chat(split: Split, templates: "PromptTemplates") -> list[dict[str, Any]]:
    return [{"messages": templates.messages(row)} for row in split.rows]


def write_jsonl(path: Path, rows: list[dict[str, Any]], *, ascii_json: bool = False) -> None:
    # Chat files use json.dumps defaults, as OpenAI's examples (and the seed's files) do.
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(json.dumps(r, ensure_ascii=ascii_json) + "\n" for r in rows))


def render_chat_files(recipe: "Recipe", out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write the hosted chat files (train, and validation when the recipe uploads one) into `out_dir`."""
    task = get_task(recipe.task)
    templates = task.templates(recipe)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"train": out / "openai_train.jsonl"}
    write_jsonl(paths["train"], render_chat(task.load_split(recipe, "train"), templates), ascii_json=True)
    if recipe.hosted.validation:
        paths["validation"] = out / "openai_validation.jsonl"
        write_jsonl(paths["validation"], render_chat(task.load_split(recipe, "eval"), templates), ascii_json=True)
    return paths


def _local_report(texts: list[dict], lengths: list[int], max_length: int, prompt_lengths: list[int]) -> dict:
    over = [n for n in lengths if n > max_length]
    answer_lost = sum(1 for p in prompt_lengths if p >= max_length)
    total = sum(lengths)
    return {
        "tokens_per_example": chatfile.token_stats(lengths),
        "max_length": max_length,
        "over_max_length": {
            "count": len(over),
            "percent": round(100.0 * len(over) / max(1, len(lengths)), 2),
            "tokens_lost": sum(n - max_length for n in over),
            "tokens_lost_percent": round(100.0 * sum(n - max_length for n in over) / max(1, total), 2),
            "answer_cut_entirely": answer_lost,
        },
    }


def data_report(recipe: "Recipe", *, splits: dict[str, Split] | None = None) -> dict[str, Any]:
    """Everything `prepare` reports, without writing files (the wizard calls this)."""
    t0 = time.perf_counter()
    task = get_task(recipe.task)
    templates = task.templates(recipe)
    if splits is None:
        splits = {w: task.load_split(recipe, w) for w in ("train", "eval")}  # type: ignore[misc]
    report, _ = _build(recipe, task, templates, splits)
    report["seconds"] = round(time.perf_counter() - t0, 3)
    return report


def _build(recipe: "Recipe", task, templates, splits: dict[str, Split]):
    from ftwizard.defaults import hosted_side

    recipe, hosted_note = hosted_side(recipe)  # a local recipe: billed as the hosted side it is weighed against
    hosted_model = recipe.hosted.model
    from ftwizard.catalog import get_hosted_model

    try:
        hm = get_hosted_model(hosted_model, recipe.hosted.provider)
    except UsageError:  # an unknown model still gets counted, without a price
        hm = None
    encoding = hosted_encoding(hosted_model, recipe.hosted.provider)
    max_tokens = hm.max_tokens_per_example if hm else chatfile.DEFAULT_MAX_TOKENS_PER_EXAMPLE
    counter = TokenCounter(encoding)
    local = LocalLengths(recipe)

    rendered: dict[str, dict[str, list]] = {}
    report: dict[str, Any] = {
        "recipe": recipe.name,
        "task": task.name,
        "backend": recipe.backend,
        "splits": {},
        "hosted": {"model": hosted_model, "provider": recipe.hosted.provider, "encoding": encoding,
                   **({"note": hosted_note} if hosted_note else {})},
        "local": {"model": recipe.model.base, "tokenizer": local.source, "exact": local.exact,
                  "encoding": local.stats.encoding},
        "problems": [],
    }
    fmt = task.data_format(recipe)
    report["format"] = fmt
    report["format_source"] = "data.format" if recipe.data.format != "auto" else "detected"
    p = recipe.prompt
    if templates.is_chat and (p.template or p.answer_field or any(x is not None for x in (p.system, p.user, p.assistant))):
        report["problems"].append(f"the [prompt] section is not used: {fmt} data carries its own messages")
    renderer = None
    if templates.is_chat:
        from ftwizard.chatmask import renderer_from_files

        renderer = renderer_from_files(recipe)  # the model's own template from its files, when they are here
        turns = recipe.train.train_on_turns
        report["local"]["chat_template"] = (
            f"{renderer.source}: loss on {'every' if turns == 'all' else 'the last'} assistant turn's content and "
            "end-of-turn token (weight 0 turns skipped); token counts of that rendering" if renderer is not None else
            "the model's own chat template, loss on assistant turns only (weight 0 turns skipped); the default "
            "template if the model has none. The model's files are not here: token counts are of the default "
            "template's text (the model's own adds a few tokens per turn) and rows are checked by the run")
    for which, split in splits.items():
        unlearnable: dict[str, list[int]] = {}
        if renderer is not None:
            from ftwizard.chatmask import describe_rows, plan_rows

            plans, unlearnable = plan_rows(renderer, split.rows, split.lines, train_on_turns=recipe.train.train_on_turns)
            local_rows = [{"index": i, "prompt": p.text[:p.prompt_chars], "answer": p.text[p.prompt_chars:],
                           "text": p.text} for i, p in enumerate(plans)]
            before_answer = [p.text[:p.spans[0][0]] if p.spans else "" for p in plans]  # unlearnable: said apart
        else:
            local_rows = render_local(split, templates)
            before_answer = [r["prompt"] for r in local_rows]
        chat_rows = render_chat(split, templates)
        rendered[which] = {"local": local_rows, "chat": chat_rows}
        chk = chatfile.check_chat_examples(chat_rows, counter, max_tokens, chatfile.rules_for(recipe.hosted.provider))
        template = None if templates.is_chat else templates.template
        lengths = local.lengths(split.rows, [r["text"] for r in local_rows], template)
        prefix = None if templates.is_chat else templates.template.split("{" + templates.answer_field + "}", 1)[0]
        prompt_lengths = [n - 1 for n in local.lengths(split.rows, before_answer, prefix)]
        answers_empty = sum(1 for row in split.rows if not templates.answer(row).strip())
        report["splits"][which] = {
            "name": split.name,
            "source": split.source,
            "examples": len(split),
            "empty_answers": answers_empty,
            "hosted": chk.to_dict(),
            "local": _local_report(local_rows, lengths, recipe.train.max_length, prompt_lengths),
        }
        if unlearnable:
            report["splits"][which]["local"]["cannot_train"] = {reason: lines for reason, lines in unlearnable.items()}
            report["problems"].extend(f"{which}: {line}" for line in describe_rows(unlearnable, where=split.source))
        if answers_empty:
            what = "last assistant message" if templates.is_chat else f"`{templates.answer_field}`"
            report["problems"].append(f"{which}: {answers_empty} examples have an empty {what}")
        if not chk.ok:
            bad = ", ".join(f"{k} x{v}" for k, v in chk.errors.items() if v)
            report["problems"].append(f"{which}: chat format errors: {bad}")
        for w in chk.warnings:
            report["problems"].append(f"{which}: {w}")
        ov = report["splits"][which]["local"]["over_max_length"]
        if ov["count"]:
            report["problems"].append(
                f"{which}: {ov['count']} examples ({ov['percent']}%) exceed max_length {recipe.train.max_length} "
                f"and lose {ov['tokens_lost']:,} tokens" + (" (estimated lengths)" if not local.exact else ""))
        if ov["answer_cut_entirely"]:
            report["problems"].append(f"{which}: {ov['answer_cut_entirely']} prompts alone fill max_length: "
                                      "their answers are cut off entirely")

    if "train" in splits:
        # The local run's schedule and the settings that cannot learn (warnings, not errors: ftwizard.defaults).
        from ftwizard.defaults import learning_warnings, train_schedule

        n = len(splits["train"])
        sched = train_schedule(recipe, n, world=recipe.hardware.nproc)
        report["local"]["schedule"] = {"steps": sched.steps, "warmup_steps": sched.warmup_steps,
                                       "epochs": sched.epochs, "from_epochs": sched.from_epochs,
                                       "examples_per_step": sched.examples_per_step}
        over = report["splits"]["train"]["local"]["over_max_length"]
        warns = learning_warnings(recipe, n_train=n, answer_cut_fraction=over["count"] / max(1, n),
                                  world=recipe.hardware.nproc)
        report["learning_warnings"] = warns
        report["problems"].extend(f"settings: {w}" for w in warns)

    if "train" in splits and "eval" in splits and task.name == "custom":
        # A classification answer set: its labels, and eval labels training never shows (the `choice` metric).
        from ftwizard.evaluation.custom_metrics import detect_metric, label_set

        refs = {w: [templates.answer(r) for r in splits[w].rows] for w in ("train", "eval")}
        metric = recipe.eval.metric if recipe.eval.metric != "auto" else detect_metric(refs["eval"])[0]
        if metric == "choice":
            report["labels"], label_problems = label_set(refs["train"], refs["eval"])
            report["problems"].extend(f"labels: {p}" for p in label_problems)

    if "train" in splits and "eval" in splits:
        train_inputs = {json.dumps(m["messages"][:-1]) for m in rendered["train"]["chat"]}
        overlap = sum(1 for m in rendered["eval"]["chat"] if json.dumps(m["messages"][:-1]) in train_inputs)
        report["train_eval_overlap"] = overlap
        if overlap:
            report["problems"].append(f"{overlap} eval examples have the same input as a training example (leakage)")

    # What the hosted run would bill (the plan estimate and the jobs read too).
    from ftwizard.plan.hosted import hosted_plan

    n_train = len(splits["train"]) if "train" in splits else 0
    per_epoch = report["splits"].get("train", {}).get("hosted", {}).get("billed_tokens_per_epoch", 0)
    plan = hosted_plan(recipe.hosted.provider, hosted_model, hm, examples=n_train, billed_tokens_per_epoch=per_epoch,
                       setting=recipe.hosted.epochs)
    hosted = report["hosted"]
    hosted.update({
        "examples": n_train,
        "epochs": plan.epochs,
        "epochs_rule": plan.epochs_rule,
        "billed_tokens_per_epoch": per_epoch,
        "billed_tokens": plan.billed_tokens,
        "max_tokens_per_example": max_tokens,
        "training_usd_per_1m": plan.price.usd_per_1m,
        "cost_usd": None if plan.usd is None else round(plan.usd, 2),
        "price_source": plan.price.source,
        "price_date": plan.price.date,
    })
    if hm is None:
        del hosted["training_usd_per_1m"]
    return report, rendered


def prepare(recipe: "Recipe", out_dir: str | os.PathLike) -> dict[str, Any]:
    """Render the recipe's data into `out_dir` (replaced only when everything succeeded) and report on it."""
    t0 = time.perf_counter()
    task = get_task(recipe.task)
    templates = task.templates(recipe)
    splits = {w: task.load_split(recipe, w) for w in ("train", "eval")}
    report, rendered = _build(recipe, task, templates, splits)
    with atomic_dir(out_dir) as tmp:
        write_jsonl(tmp / "train.jsonl", rendered["train"]["local"])
        write_jsonl(tmp / "eval.jsonl", rendered["eval"]["local"])
        write_jsonl(tmp / "openai_train.jsonl", rendered["train"]["chat"], ascii_json=True)
        write_jsonl(tmp / "openai_validation.jsonl", rendered["eval"]["chat"], ascii_json=True)
        report["files"] = {
            "train": "train.jsonl",
            "eval": "eval.jsonl",
            "openai_train": "openai_train.jsonl",
            "openai_validation": "openai_validation.jsonl",
            "report": "report.json",
        }
        report["seconds"] = round(time.perf_counter() - t0, 3)
        with open(tmp / "report.json", "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2, ensure_ascii=False)
            f.write("\n")
    return report
