"""`ftwizard.plan`: each number has one home, and the copies that used to disagree now agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftwizard.catalog import get_gpu, get_hosted_model
from ftwizard.plan import fit_on, hosted_epochs, hosted_plan, local_schedule
from ftwizard.recipe import load_recipe

REPO = Path(__file__).resolve().parent.parent


def test_prepare_counts_estimated_local_lengths_in_the_encoding_it_names(tmp_path):
    """gpt-4o-mini bills in o200k_base; the local estimate is cl100k_base x the family ratio, and says so."""
    from ftwizard.prepare import data_report

    base = load_recipe(REPO / "recipes" / "sql-gpt35.toml").with_updates(
        {"data.limit_train": 200, "data.limit_eval": 20, "model.base": "Qwen/Qwen2.5-0.5B"})
    o200k = base.with_updates({"hosted.model": "gpt-4o-mini-2024-07-18"})
    a, b = data_report(base), data_report(o200k)
    assert b["hosted"]["encoding"] == "o200k_base" and a["hosted"]["encoding"] == "cl100k_base"
    assert not b["local"]["exact"] and "cl100k_base" in b["local"]["tokenizer"]
    assert b["local"]["encoding"] == "cl100k_base"
    # the local lengths do not depend on what the hosted model bills in
    assert b["splits"]["train"]["local"] == a["splits"]["train"]["local"]


def test_estimate_and_prepare_agree_on_local_lengths():
    from ftwizard.estimate import estimate_recipe
    from ftwizard.prepare import data_report

    r = load_recipe(REPO / "recipes" / "sql-gpt35.toml").with_updates(
        {"data.limit_train": 200, "data.limit_eval": 20, "model.base": "Qwen/Qwen2.5-0.5B",
         "hosted.model": "gpt-4o-mini-2024-07-18", "train.max_length": 4096})
    est = estimate_recipe(r, gpu="A40", runs_dir=None, use_cache=False).to_json()
    rep = data_report(r)
    assert est["local"]["breakdown"]["tokens"]["max_len"] == rep["splits"]["train"]["local"]["tokens_per_example"]["max"]


def test_hosted_epochs_one_rule_and_its_reason():
    assert hosted_epochs(1000) == (3, hosted_epochs(5)[1])
    assert hosted_epochs(10)[0] == 10 and hosted_epochs(20_000)[0] == 1
    assert hosted_epochs(1000, 2) == (2, "recipe hosted.epochs")
    assert hosted_epochs(1000, 2, override=1.5) == (1.5, "--epochs")


def test_an_unpriced_hosted_plan_keeps_its_epochs_and_is_not_free():
    """Together's create used to fall back to 1 epoch where the estimate assumed 3, when the catalog lacked the
    model: the plan's epochs no longer depend on a price."""
    p = hosted_plan("together", "someone/unlisted-model", None, examples=500, billed_tokens_per_epoch=1000)
    assert p.epochs == 3 and p.api_epochs == 3 and p.billed_tokens == 3000
    assert p.usd is None and not p.price.priced and "not in the price catalog" in p.price.source
    m = get_hosted_model("gpt-3.5-turbo-0125")
    q = hosted_plan("openai", m.id, m, examples=500, billed_tokens_per_epoch=1000)
    assert q.usd == pytest.approx(3000 * m.training_usd_per_1m / 1e6)


def test_job_plan_records_epochs_for_an_unlisted_model(tmp_path):
    from ftwizard.backends.hosted.job import job_plan

    class Report:
        n_examples, billed_tokens_per_epoch = 20, 400

    r = load_recipe(REPO / "recipes" / "sql-together.toml").with_updates({"hosted.model": "acme/not-in-catalog"})
    plan = job_plan(r, Report())
    assert plan.epochs == 5 and plan.usd is None  # 20 examples: 100 // 20 = 5 epochs, the estimate's rule


def test_one_fit_rule_for_the_estimate_and_the_model_chooser(monkeypatch):
    """The own-data chooser used 85% of the card, the estimate 94%: a model the estimate says fits was refused."""
    import ftwizard.estimate as est
    from ftwizard.localmodels import ModelSource, rank

    a40 = get_gpu("A40")
    need = 0.90 * a40.vram_gb  # between the old 85% budget and the 94% the estimate uses
    assert fit_on(a40, need).fits and not fit_on(a40, 0.95 * a40.vram_gb).fits
    monkeypatch.setattr(est, "estimate_vram", lambda *a, **k: {"vram_gb": need})
    choice = rank([ModelSource(base="Qwen/Qwen2.5-7B", where="hub", catalog_id="Qwen/Qwen2.5-7B")], "A40")[0]
    assert choice.fits and choice.quant == "none"


def test_fit_on_detected_memory_uses_it_whole():
    f = fit_on(get_gpu("A40"), 45.5, detected_gb=46.0)
    assert f.fits and f.detected and f.usable_gb == 46.0
    assert not fit_on(get_gpu("cpu"), 1.0).fits  # a CPU with no known memory fits nothing


def test_local_schedule_epochs_override():
    r = load_recipe(REPO / "recipes" / "sql-gpt35.toml").with_updates(
        {"train.max_steps": 100, "train.micro_batch_size": 4, "train.grad_accum": 2})
    assert local_schedule(r, 1000).steps == 100 and not local_schedule(r, 1000).from_epochs
    s = local_schedule(r, 1000, epochs=2)
    assert s.steps == 250 and s.from_epochs and s.examples_per_step == 8
