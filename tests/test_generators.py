"""Evaluation asks the run's backend for its generator (`Backend.generator`) and never which backend it is: what
serves the answers, whether they are billed, where their section goes are the generator's to say."""

from __future__ import annotations

import json

import pytest

from ftwizard import backends
from ftwizard.backends.base import Answer, Backend, Generator
from ftwizard.errors import UsageError
from ftwizard.recipe import validate_dict
from ftwizard.runs.directory import RunDirectory


class EchoGenerator(Generator):
    """Answers each example with its reference, 2 prompt + 3 completion tokens, 25 cents an answer."""

    served = "hosted"
    bills_answers = True
    asked: list[list[int]] = []

    def __init__(self, run, *, baseline=False, **engine):
        self.run, self.baseline, self.engine = run, baseline, engine

    def model_name(self) -> str:
        return "echo-base" if self.baseline else "echo-tuned"

    def generate(self, task, templates, rows, pending, references, on_answers) -> None:
        EchoGenerator.asked.append(list(pending))
        for i in pending:
            on_answers([Answer(i, f"prompt {i}", references[i], latency_s=0.01, prompt_tokens=2,
                               completion_tokens=3, extra={"model": self.model_name(), "usd": 0.25})])


class EchoBackend(Backend):
    name = "echo"

    def preflight(self, recipe) -> None: ...
    def launch(self, run, recipe) -> None: ...
    def resume(self, run) -> None: ...
    def cancel(self, run) -> None: ...
    def is_alive(self, run) -> bool:
        return False

    def generator(self, run, *, baseline=False, home=False, **engine) -> Generator:
        return EchoGenerator(run, baseline=baseline, **engine)


def _run(tmp_path, limit=5, **extra) -> RunDirectory:
    recipe = validate_dict({"name": "echo", "task": "sql", "data": {"eval": "val"}, "eval": {"limit": limit},
                            **extra})
    return RunDirectory.create(tmp_path / "runs", "echo", recipe.to_toml())


def test_evaluate_run_scores_whatever_the_backends_generator_answers(tmp_path, monkeypatch):
    """A backend registered under the recipe's name ("local") that serves remotely and bills per answer: evaluation
    writes, scores and prices its answers as they come - had it branched on the name, it would have loaded a local
    model (none exists here) and written no cost."""
    from ftwizard.evaluation.runner import evaluate_run

    monkeypatch.setitem(backends.BACKENDS, "local", f"{__name__}:EchoBackend")
    EchoGenerator.asked = []
    run = _run(tmp_path)
    section = evaluate_run(run)
    assert section["served"] == "hosted" and section["model"] == "echo-tuned" and section["which"] == "finetuned"
    assert section["metrics"]["exact_match"]["value"] == 1.0  # the references themselves, scored by the task
    preds = [json.loads(x) for x in run.predictions_path.read_text().splitlines()]
    assert [p["index"] for p in preds] == list(range(5)) and all(p["usd"] == 0.25 for p in preds)
    assert json.loads(run.cost_path.read_text())["eval_usd"] == pytest.approx(1.25)
    # the baseline: its own file and section, from the generator's model; nothing asked twice on a second call
    base = evaluate_run(run, baseline=True)
    assert base["model"] == "echo-base" and json.loads(run.cost_path.read_text())["eval_usd"] == pytest.approx(2.5)
    evaluate_run(run)
    assert EchoGenerator.asked == [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4]]
    assert json.loads(run.metrics_path.read_text())["baseline"]["model"] == "echo-base"


def test_a_local_generator_bills_nothing(tmp_path, monkeypatch):
    """The same answers from a generator that does not bill: cost.json gets no evaluation dollars."""
    from ftwizard.evaluation.runner import evaluate_run

    class Unbilled(EchoGenerator):
        served = "local"
        bills_answers = False

    class UnbilledBackend(EchoBackend):
        def generator(self, run, *, baseline=False, home=False, **engine):
            return Unbilled(run, baseline=baseline)

    monkeypatch.setattr(backends, "get_backend", lambda name: UnbilledBackend())
    run = _run(tmp_path, limit=3)
    assert evaluate_run(run)["served"] == "local"
    cost = json.loads(run.cost_path.read_text()) if run.cost_path.exists() else {}
    assert "eval_usd" not in cost


def test_a_fine_tune_served_only_on_a_users_deployment_is_refused_before_any_request(tmp_path):
    """Azure serves a fine-tune only through a deployment the user names: with none recorded, evaluation says how
    to make one (the provider's `unserved_refusal`) before a client exists."""
    from ftwizard.evaluation.runner import evaluate_run

    run = _run(tmp_path, backend="hosted", hosted={"provider": "azure", "model": "gpt-4o-mini-2024-07-18"})
    run.update_status(state="succeeded", backend="hosted", fine_tuned_model="gpt-4o-mini-2024-07-18.ft-abc")
    with pytest.raises(UsageError, match="only through a deployment and none is recorded.*--deployment NAME"):
        evaluate_run(run)
    assert not run.predictions_path.exists()


def test_the_verdicts_availability_cell_is_the_providers_to_say(monkeypatch):
    """The table's 'open' cell comes from the provider's capabilities (Azure's says it is not OpenAI's wind-down),
    not from a list of provider names: a provider that declares its own cell gets it."""
    import dataclasses
    from types import SimpleNamespace

    from ftwizard.backends.hosted.together import TogetherProvider
    from ftwizard.verdict.availability import availability_cell

    row = SimpleNamespace(backend="hosted", provider="together")
    assert availability_cell(row, {"state": "open"}) == "open"
    monkeypatch.setattr(TogetherProvider, "capabilities",
                        dataclasses.replace(TogetherProvider.capabilities, open_cell="open (dedicated)"))
    assert availability_cell(row, {"state": "open"}) == "open (dedicated)"
    assert availability_cell(SimpleNamespace(backend="hosted", provider="azure"), {"state": "open"}) == "open (Azure)"
