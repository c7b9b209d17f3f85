"""The fake servers cannot drift from the SDKs: answers are validated against the SDK's own response types on
the way out, requests against its own parameter types, and a fake that cannot answer fails the test."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.fake_openai import DEFAULT_KEY, FakeOpenAI, file_json, job_json
from tests.fakes.base import FakeAnswerError, sdk_json, sdk_request


def _post(url: str, body: dict, headers: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def test_answers_are_the_sdks_types_or_the_fake_refuses_to_give_them():
    from openai.types.fine_tuning import FineTuningJob

    job = {"id": "ftjob-1", "object": "fine_tuning.job", "created_at": 1, "model": "gpt-4o-mini-2024-07-18",
           "organization_id": "org", "result_files": [], "seed": 1, "status": "running", "training_file": "file-1",
           "hyperparameters": {"n_epochs": 3}}
    assert job_json(job)["status"] == "running"
    with pytest.raises(FakeAnswerError, match="declares no \\['suffix'\\]"):  # a field the SDK does not know
        sdk_json(FineTuningJob, {**job, "suffix": "x"})
    with pytest.raises(FakeAnswerError, match="status"):  # a status the SDK does not know (Together's word)
        job_json({**job, "status": "compressing"})
    with pytest.raises(FakeAnswerError, match="training_file"):  # a required field missing
        job_json({k: v for k, v in job.items() if k != "training_file"})
    # Azure's file statuses are outside the SDK's Literal but are what Azure answers: they pass as themselves.
    f = {"id": "file-1", "object": "file", "bytes": 3, "created_at": 1, "filename": "a.jsonl", "purpose": "fine-tune"}
    assert file_json({**f, "status": "pending"})["status"] == "pending"
    with pytest.raises(FakeAnswerError):
        file_json({**f, "status": "sleeping"})


def test_requests_are_checked_against_the_sdks_parameter_types():
    from openai.types.fine_tuning.job_create_params import JobCreateParams

    assert sdk_request(JobCreateParams, {"model": "gpt-4o-mini", "training_file": "file-1"}) is None
    assert "training_file" in sdk_request(JobCreateParams, {"model": "gpt-4o-mini"})
    assert "n_epochs" in sdk_request(JobCreateParams, {"model": "m", "training_file": "f", "n_epochs": 3})
    with FakeOpenAI() as fake:
        status, body = _post(fake.url + "/fine_tuning/jobs", {"model": "gpt-4o-mini-2024-07-18"},
                             {"Authorization": f"Bearer {DEFAULT_KEY}"})
        assert status == 400 and "training_file" in body["error"]["message"] and fake.job_creates == 0
        status, body = _post(fake.url + "/chat/completions", {"model": "gpt-4o-mini"},
                             {"Authorization": f"Bearer {DEFAULT_KEY}"})
        assert status == 400 and "messages" in body["error"]["message"]


def test_a_fake_that_cannot_answer_fails_the_test():
    fake = FakeOpenAI().start()
    fake.jobs["ftjob-x"] = {"id": "ftjob-x", "status": "compressing"}  # a state the real service never has
    fake.job_order.append("ftjob-x")
    req = urllib.request.Request(fake.url + "/fine_tuning/jobs", headers={"Authorization": f"Bearer {DEFAULT_KEY}"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 500
    e.value.close()
    with pytest.raises(FakeAnswerError, match="could not answer as the real service"):
        fake.stop()
