"""Azure OpenAI against the fake OpenAI server's Azure routes (the real openai SDK's AzureOpenAI, and the
Azure management API for deployments): files awaited until processed, one job, evaluation through a
deployment - never the fine-tuned model id sent as a deployment name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftwizard.cli.main import main
from ftwizard.errors import UsageError
from ftwizard.runs.directory import RunDirectory
from tests.fake_openai import DEFAULT_KEY
from tests.test_hosted import assert_no_secret, fake, work  # noqa: F401 - the fake server fixture

REPO = Path(__file__).resolve().parent.parent
AZURE = REPO / "recipes" / "sql-azure.toml"
SMALL = ["data.limit_train=30", "data.limit_eval=10", "eval.limit=5"]


@pytest.fixture
def azure(fake, monkeypatch):  # noqa: F811
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", fake.endpoint)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", DEFAULT_KEY)
    for var, value in (("AZURE_SUBSCRIPTION_ID", "sub-1"), ("AZURE_RESOURCE_GROUP", "rg-1"),
                       ("AZURE_OPENAI_RESOURCE", "acct-1"), ("AZURE_MANAGEMENT_TOKEN", fake.mgmt_token),
                       ("AZURE_MANAGEMENT_ENDPOINT", fake.endpoint)):
        monkeypatch.setenv(var, value)
    return fake


def make_run(tmp_path: Path, overrides: list[str]) -> RunDirectory:
    from ftwizard.backends import backend_for
    from ftwizard.recipe import load_recipe

    recipe = load_recipe(AZURE, overrides)
    backend_for(recipe).preflight(recipe)
    run = RunDirectory.create(tmp_path / "runs", recipe.name, recipe.to_toml())
    run.update_status(backend="hosted")
    return run


def test_sql_azure_waits_for_files_creates_the_deployment_and_evaluates_through_it(azure, tmp_path, capfd):
    azure.file_processing_ticks = 3
    run = make_run(tmp_path, SMALL)
    assert work(run) == 0
    st = run.status()
    assert st["state"] == "succeeded" and st["provider"] == "azure" and azure.job_creates == 1
    job = azure.jobs[st["job_id"]]
    assert job["model"] == "gpt-4.1-mini-2025-04-14"
    # Every uploaded file was read until `processed` before the job was created.
    creates = [i for i, r in enumerate(azure.requests) if r == ("POST", "/fine_tuning/jobs")]
    reads = [i for i, (m, p) in enumerate(azure.requests) if m == "GET" and p.count("/") == 2
             and p.startswith("/files/")]
    assert len(creates) == 1 and len(reads) >= 6 and max(reads) < creates[0]
    # The deployment serves the fine-tuned model, and evaluation named the deployment.
    d = azure.deployments["sql-azure-ft"]
    assert d["model"] == st["fine_tuned_model"] and d["state"] == "Succeeded" and d["sku"]["name"] == "Standard"
    assert st["serving_model"] == "sql-azure-ft" and st["deployment_state"] == "Succeeded"
    assert ("POST", "/deployments/sql-azure-ft/chat/completions") in azure.requests
    assert not any(p.startswith(f"/deployments/{st['fine_tuned_model']}") for _, p in azure.requests)
    metrics = json.loads(run.metrics_path.read_text())
    assert metrics["n"] == 5 and metrics["metrics"]["execution_match"]["value"] == 1.0
    cost = json.loads(run.cost_path.read_text())
    assert cost["serving"]["kind"] == "deployment" and cost["serving"]["hosting_usd_per_hour"] == 1.70
    assert cost["training_usd"] == pytest.approx(job["trained_tokens"] * 5.0 / 1e6, abs=1e-4)
    assert cost["eval_usd"] > 0  # priced as the gpt-4.1-mini fine-tune it serves, not as an unknown name
    cap = capfd.readouterr()
    assert_no_secret(run, cap.out, cap.err)
    assert_no_secret(run, cap.out, cap.err, key=azure.mgmt_token)


def test_without_a_deployment_azure_evaluation_is_refused_before_anything(azure, tmp_path):
    with pytest.raises(UsageError) as e:
        make_run(tmp_path, SMALL + ["hosted.deployment=", "hosted.create_deployment=false"])
    assert "hosted.deployment" in str(e.value) and "--deployment NAME" in str(e.value)
    assert azure.requests == []


def test_eval_names_the_deployment_never_the_fine_tuned_model_id(azure, tmp_path, capfd):
    run = make_run(tmp_path, SMALL + ["hosted.deployment=", "hosted.create_deployment=false", "eval.enabled=false"])
    assert work(run) == 0
    ft = run.status()["fine_tuned_model"]
    with pytest.raises(UsageError, match="--deployment NAME"):
        main(["eval", str(run.path)])
    azure.deployments["my-own"] = {"model": ft, "state": "Succeeded", "sku": None}  # made in the portal
    assert main(["eval", str(run.path), "--deployment", "my-own", "--json"]) == 0
    assert json.loads(capfd.readouterr().out)["metrics"]["execution_match"]["value"] == 1.0
    assert ("POST", "/deployments/my-own/chat/completions") in azure.requests
    assert not any(p.startswith(f"/deployments/{ft}") for _, p in azure.requests)


@pytest.mark.parametrize("mode", ["lost", "error-after"])
def test_azure_create_whose_answer_is_lost_is_found_by_its_training_file(azure, tmp_path, monkeypatch, mode):
    monkeypatch.setenv("FTWIZARD_HOSTED_TIMEOUT_SECONDS", "1")
    azure.fail("jobs.create", 429, mode).fail("deployments.put", 500)
    run = make_run(tmp_path, SMALL)
    assert work(run) == 0
    assert azure.job_creates == 1 and azure.calls["jobs.create"] == 2
    assert any("answer was lost" in e["text"] for e in run.events(("log",)))
    assert len(azure.deployments) == 1


def test_a_management_token_that_is_refused_is_found_in_preflight(azure, tmp_path, monkeypatch):
    monkeypatch.setenv("AZURE_MANAGEMENT_TOKEN", "not-the-token-0123456789")
    with pytest.raises(UsageError) as e:
        make_run(tmp_path, SMALL)
    assert "401" in str(e.value) and "az account get-access-token" in str(e.value)
    assert "not-the-token-0123456789" not in str(e.value)
    assert azure.job_creates == 0 and not any(p.startswith("/files") for _, p in azure.requests)


@pytest.mark.parametrize("var,value,expect", [
    ("AZURE_OPENAI_RESOURCE", "", "AZURE_OPENAI_RESOURCE"),
    ("AZURE_RESOURCE_GROUP", "rg-typo", "404"),
])
def test_management_settings_are_checked_before_anything_is_billed(azure, tmp_path, monkeypatch, var, value, expect):
    monkeypatch.setenv(var, value)
    with pytest.raises(UsageError) as e:
        make_run(tmp_path, SMALL)
    assert expect in str(e.value) and azure.job_creates == 0 and not azure.files


def test_an_expired_static_token_is_refused_in_preflight(azure, tmp_path, monkeypatch):
    import base64
    import time

    claims = base64.urlsafe_b64encode(json.dumps({"exp": int(time.time()) - 60}).encode()).decode().rstrip("=")
    monkeypatch.setenv("AZURE_MANAGEMENT_TOKEN", f"eyJhbGciOiJSUzI1NiJ9.{claims}.c2ln")
    with pytest.raises(UsageError, match="AZURE_MANAGEMENT_TOKEN expired at"):
        make_run(tmp_path, SMALL)
    assert azure.job_creates == 0


def test_deployment_needs_no_httpx(azure, tmp_path, monkeypatch):
    """A core install has no `httpx` (openai 3.63 uses httpx2): the management calls must not import it."""
    import sys

    monkeypatch.setitem(sys.modules, "httpx", None)  # `import httpx` raises ImportError, as in a core install
    run = make_run(tmp_path, SMALL + ["eval.enabled=false"])
    assert work(run) == 0
    assert run.status()["deployment_state"] == "Succeeded" and len(azure.deployments) == 1


def test_tokens_come_from_azure_identity_and_are_renewed_when_they_expire(azure, tmp_path, monkeypatch):
    """No static token: azure-identity's DefaultAzureCredential (here through App Service's managed-identity
    endpoint, served by the fake) gives tokens that live one second; the deployment after training gets a new one."""
    import time

    pytest.importorskip("azure.identity")
    monkeypatch.delenv("AZURE_MANAGEMENT_TOKEN")
    for var in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE",
                "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", azure.endpoint + "/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "fake-identity-header")
    azure.mi_token_lifetime_s = 1.0
    run = make_run(tmp_path, SMALL + ["eval.enabled=false"])
    assert azure.calls["account.get"] == 1 and azure.mi_tokens_issued == 1  # preflight read the account
    time.sleep(1.2)  # the preflight's token has expired (as 60-90 minutes of training would make it)
    assert work(run) == 0
    assert run.status()["deployment_state"] == "Succeeded" and azure.mi_tokens_issued >= 2


def test_a_deployment_refused_after_training_names_the_command_that_finishes_the_run(azure, tmp_path, capfd,
                                                                                     monkeypatch):
    """The static token is valid at launch and expires during training: the run records the fine-tuned model and
    says the one command that deploys and evaluates it; that command, with a fresh token, does."""
    run = make_run(tmp_path, SMALL)
    orig = azure.advance

    def advance(jid):  # the token expires while the job trains
        orig(jid)
        if azure.jobs[jid]["status"] == "succeeded":
            azure.revoke_mgmt_tokens()

    azure.advance = advance
    assert work(run) == 1
    st = run.status()
    assert st["state"] == "failed" and st["error_kind"] == "auth" and "Expired" in st["error"]
    assert st["fine_tuned_model"] and st["job_status"] == "succeeded" and azure.deployments == {}
    err = [e for e in run.events(("error",))][-1]
    command = next(a for a in err["advice"] if "--create-deployment" in a).split("`")[1]
    assert command == f"ftwizard eval {run.path} --deployment sql-azure-ft --create-deployment"
    assert any("az account get-access-token" in a for a in err["advice"])
    fresh, _ = azure.issue_mgmt_token()
    monkeypatch.setenv("AZURE_MANAGEMENT_TOKEN", fresh)
    capfd.readouterr()
    assert main(command.split()[1:] + ["--json"]) == 0
    assert json.loads(capfd.readouterr().out)["metrics"]["execution_match"]["value"] == 1.0
    st = run.status()
    assert st["state"] == "succeeded" and st["serving_model"] == "sql-azure-ft" and azure.job_creates == 1
    assert azure.deployments["sql-azure-ft"]["model"] == st["fine_tuned_model"]
    assert json.loads(run.cost_path.read_text())["serving"]["kind"] == "deployment"
    assert_no_secret(run, key=fresh)


def test_an_azure_fine_tune_is_priced_as_its_base(azure, tmp_path):
    """Azure names a fine-tune `<base>.ft-<hex>`: gpt-4.1-mini's, priced as gpt-4.1-mini (not gpt-4.1, 3.75x)."""
    import re

    from ftwizard.catalog import get_hosted_model

    assert get_hosted_model("gpt-4.1-mini-2025-04-14.ft-0123456789abcdef0123456789abcdef", "azure").id == \
        "gpt-4.1-mini-2025-04-14"
    assert get_hosted_model("gpt-4o-mini-2024-07-18.ft-0123456789abcdef0123456789abcdef-sql", "azure").id == \
        "gpt-4o-mini-2024-07-18"
    run = make_run(tmp_path, SMALL)
    assert work(run) == 0
    ft = run.status()["fine_tuned_model"]
    assert re.fullmatch(r"gpt-4\.1-mini-2025-04-14\.ft-[0-9a-f]{32}-sql", ft)
    preds = [json.loads(line) for line in run.predictions_path.read_text().splitlines()]
    m = get_hosted_model("gpt-4.1-mini-2025-04-14", "azure")
    expected = sum(p["prompt_tokens"] * m.input_usd_per_1m + p["completion_tokens"] * m.output_usd_per_1m
                   for p in preds) / 1e6
    assert json.loads(run.cost_path.read_text())["eval_usd"] == pytest.approx(expected, rel=1e-6)


def test_the_fake_enforces_azure_auth_and_api_version(azure):
    import urllib.error
    import urllib.request

    def status(url, headers):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    base = azure.endpoint + "/openai/files"
    assert status(base + "?api-version=2025-04-01-preview", {"api-key": DEFAULT_KEY}) == 200
    assert status(base + "?api-version=2025-04-01-preview", {"Authorization": f"Bearer {DEFAULT_KEY}"}) == 401
    assert status(base, {"api-key": DEFAULT_KEY}) == 404


def test_azure_spellings_and_dates_come_from_the_catalog(azure, tmp_path):
    from ftwizard.catalog import get_hosted_model
    from ftwizard.tokens import encoding_name_for_model

    assert encoding_name_for_model("gpt-35-turbo-0125") == "cl100k_base"
    assert get_hosted_model("gpt-4.1-mini", "azure").shutdown_date == "2027-10-14"
    with pytest.raises(UsageError, match="cannot be fine-tuned on azure"):
        make_run(tmp_path, SMALL + ["hosted.model=gpt-35-turbo-0125"])
    assert azure.requests == []


def test_azure_events_are_paged_and_recorded_once_through_5xx(azure, tmp_path):
    azure.steps, azure.steps_per_tick, azure.events_page_size = 12, 5, 3
    azure.file_processing_ticks = 2
    azure.fail("files.retrieve", 500, 502).fail("jobs.events", 503)
    run = make_run(tmp_path, SMALL + ["eval.enabled=false"])
    assert work(run) == 0
    assert [e["step"] for e in run.events(("metric",))] == list(range(1, 13))
    ids = [e["event_id"] for e in run.events(("log", "metric")) if e.get("event_id")]
    assert ids == [e["id"] for e in azure.events[run.status()["job_id"]]] and azure.job_creates == 1


def test_azure_job_that_fails_records_its_error_and_makes_no_deployment(azure, tmp_path):
    azure.outcome = "failed"
    azure.error = {"code": "server_error", "message": "The job failed due to an internal error.", "param": None}
    run = make_run(tmp_path, SMALL)
    assert work(run) == 1
    st = run.status()
    assert st["state"] == "failed" and "internal error" in st["error"] and azure.job_creates == 1
    assert azure.deployments == {} and azure.calls["deployments.put"] == 0
