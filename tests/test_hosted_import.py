"""`ftwizard import-openai-job` against the fake server: files, settings, a local recipe, a run directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftwizard.cli.main import main
from ftwizard.recipe import load_recipe
from ftwizard.runs.directory import RunDirectory
from tests.fake_openai import DEFAULT_KEY
from tests.test_hosted import assert_no_secret, fake  # noqa: F401 - the fixture

SYSTEM = "You translate questions to SQL. Tables: {head(id, name, age)}."


def _examples(n: int, offset: int = 0) -> list[dict]:
    out = []
    for i in range(offset, offset + n):
        out.append({"messages": [{"role": "system", "content": SYSTEM},
                                 {"role": "user", "content": f"How many heads are older than {i}?"},
                                 {"role": "assistant", "content": f"SELECT count(*) FROM head WHERE age > {i}"}]})
    return out


def _hosted_job(fake, *, validation: bool = True) -> tuple[str, list[dict], list[dict]]:
    import openai

    client = openai.OpenAI(api_key=DEFAULT_KEY, base_url=fake.url, max_retries=0)
    train = _examples(14)
    train.append({"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "List names."},
                               {"role": "assistant", "content": "SELECT name FROM head"},
                               {"role": "user", "content": "Only the first."},
                               {"role": "assistant", "content": "SELECT name FROM head LIMIT 1"}]})
    valid = _examples(5, offset=100)
    blob = lambda rows: "".join(json.dumps(r) + "\n" for r in rows).encode()  # noqa: E731
    tf = client.files.create(file=("train.jsonl", blob(train)), purpose="fine-tune")
    kw = {}
    if validation:
        kw["validation_file"] = client.files.create(file=("valid.jsonl", blob(valid)), purpose="fine-tune").id
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=tf.id, suffix="heads",
                                         seed=7, method={"type": "supervised", "supervised": {
                                             "hyperparameters": {"n_epochs": 2, "batch_size": 4,
                                                                 "learning_rate_multiplier": 1.5}}}, **kw)
    while client.fine_tuning.jobs.retrieve(job.id).status not in ("succeeded", "failed"):
        pass
    return job.id, train, valid


def _copies(tmp_path: Path, train: list[dict], valid: list[dict] | None = None) -> dict[str, Path]:
    """The user's own copies of the files the job trained on (OpenAI does not give them back)."""
    out = {}
    for key, rows in (("train", train), ("validation", valid)):
        if rows is not None:
            out[key] = tmp_path / f"my-{key}.jsonl"
            out[key].write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


def _flags(copies: dict[str, Path]) -> list[str]:
    return [a for key, p in copies.items() for a in (f"--{key}-file", str(p))]


def test_import_writes_a_local_recipe_and_a_run_directory(fake, tmp_path, capfd):
    fake.result_base64 = True
    job_id, train, valid = _hosted_job(fake)
    recipe_path = tmp_path / "recipes" / "heads.toml"
    code = main(["import-openai-job", job_id, "--runs-dir", str(tmp_path / "runs"), "--out-recipe",
                 str(recipe_path), "--json"] + _flags(_copies(tmp_path, train, valid)))
    cap = capfd.readouterr()
    assert code == 0, cap.err
    res = json.loads(cap.out)
    job = fake.jobs[job_id]
    assert res["fine_tuned_model"] == job["fine_tuned_model"] and res["trained_tokens"] == job["trained_tokens"]
    assert res["examples"] == {"train": 15, "validation": 5}
    assert "Warning" not in cap.err and "warnings.warn" not in cap.err

    # The local recipe: custom task, chat format (no text template), an open model, the job's own examples.
    recipe = load_recipe(recipe_path)
    assert recipe.task == "custom" and recipe.backend == "local" and recipe.data.source == "files"
    assert recipe.data.format == "chat" and recipe.prompt.template == ""
    assert Path(recipe.data.train).read_text().splitlines() == [json.dumps(ex) for ex in train]
    assert recipe.model.base == "Qwen/Qwen2.5-7B-Instruct"
    assert recipe.hosted.model == "gpt-4o-mini-2024-07-18" and recipe.hosted.suffix == "heads"
    assert (recipe.hosted.epochs, recipe.hosted.batch_size, recipe.hosted.lr_multiplier) == (2, 4, 1.5)
    assert recipe.hosted.seed == 7 and recipe.train.epochs == 2.0 and recipe.train.max_steps == 0
    from ftwizard.tasks import get_task

    task = get_task("custom")
    templates = task.templates(recipe)
    rows = task.load_split(recipe, "train").rows
    assert templates.is_chat and [templates.messages(r) for r in rows] == [ex["messages"] for ex in train]
    assert task.reference(rows[14], recipe) == "SELECT name FROM head LIMIT 1"  # multi-turn kept whole
    eval_rows = task.load_split(recipe, "eval").rows
    assert [templates.messages(r) for r in eval_rows] == [ex["messages"] for ex in valid]
    assert recipe_path.read_text().startswith(f"# ftwizard run {recipe_path.resolve()}")

    # The run directory: the hosted job as a succeeded run of the recipe's hosted twin.
    run = RunDirectory(res["run_dir"])
    st = run.status()
    assert st["state"] == "succeeded" and st["backend"] == "hosted" and st["job_id"] == job_id
    assert st["fine_tuned_model"] == job["fine_tuned_model"] and st["trained_tokens"] == job["trained_tokens"]
    assert run.recipe().backend == "hosted"
    cost = json.loads(run.cost_path.read_text())
    assert cost["training_usd"] == pytest.approx(job["trained_tokens"] * 3.0 / 1e6, abs=1e-4)
    assert [m["step"] for m in run.events(("metric",))] == [1, 2, 3, 4, 5, 6]
    assert (run.path / "hosted_results.csv").read_text().startswith("step,")
    assert fake.job_creates == 1  # importing never creates a job
    assert_no_secret(run, cap.out, cap.err)


def test_imported_run_evaluates_through_the_serving_client(fake, tmp_path):
    """The imported run is a hosted run like any other: evaluation asks the fine-tuned model (the fake answers
    from the job's data, so every prediction is right)."""
    from ftwizard.evaluation import runner

    job_id, train, valid = _hosted_job(fake)
    from ftwizard.backends.hosted.importer import import_openai_job

    copies = _copies(tmp_path, train, valid)
    res = import_openai_job(job_id, runs_dir=tmp_path / "runs", out_recipe=tmp_path / "r.toml",
                            train_file=copies["train"], validation_file=copies["validation"])
    run = RunDirectory(res.run_dir)
    runner.evaluate_run(run)
    metrics = json.loads(run.metrics_path.read_text())
    assert metrics["n"] == 5 and metrics["metrics"]["exact_match"]["value"] == 1.0
    assert fake.calls["chat"] == 5


def test_import_without_validation_file_warns_and_job_not_found_is_clear(fake, tmp_path, capfd):
    job_id, train, _v = _hosted_job(fake, validation=False)
    assert main(["import-openai-job", job_id, "--runs-dir", str(tmp_path / "runs"), "--out-recipe",
                 str(tmp_path / "x.toml")] + _flags(_copies(tmp_path, train))) == 0
    cap = capfd.readouterr()
    assert "no validation file" in cap.err and "imported" in cap.out
    recipe = load_recipe(tmp_path / "x.toml")
    assert recipe.data.eval == "" and recipe.hosted.validation is False  # a held-out share of the training file
    from ftwizard.tasks import get_task

    task = get_task("custom")
    train_rows, eval_rows = task.load_split(recipe, "train").rows, task.load_split(recipe, "eval").rows
    assert len(train_rows) + len(eval_rows) == 15 and eval_rows and not [r for r in eval_rows if r in train_rows]
    from ftwizard.errors import RunFailed

    with pytest.raises(RunFailed, match="No such fine-tuning job"):
        main(["import-openai-job", "ftjob-missing", "--runs-dir", str(tmp_path / "runs")])


def test_a_failed_import_leaves_nothing_behind(fake, tmp_path):
    """A training file without one usable example, and a runs folder that cannot be made: nothing the import
    wrote stays (no `-data/` folder, no recipe, no run directory)."""
    import openai

    from ftwizard.backends.hosted.importer import import_openai_job
    from ftwizard.errors import RunFailed, UsageError

    client = openai.OpenAI(api_key=DEFAULT_KEY, base_url=fake.url, max_retries=0)
    bad = "".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"}]}) + "\n" for i in range(3))
    tf = client.files.create(file=("train.jsonl", bad.encode()), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=tf.id)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.jsonl").write_text(bad)
    with pytest.raises(RunFailed, match="holds no usable chat examples .*no assistant message"):
        import_openai_job(job.id, runs_dir=tmp_path / "runs", out_recipe=tmp_path / "a.toml",
                          train_file=tmp_path / "in" / "bad.jsonl")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]

    job_id, train, valid = _hosted_job(fake)
    copies = _copies(tmp_path / "in", train, valid)
    (tmp_path / "runs-file").write_text("a file, not a folder")
    with pytest.raises((UsageError, RunFailed, OSError)):
        import_openai_job(job_id, runs_dir=tmp_path / "runs-file", out_recipe=tmp_path / "b.toml",
                          train_file=copies["train"], validation_file=copies["validation"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "runs-file"]


def test_library_warnings_become_one_line_notes(fake, tmp_path):
    import warnings

    import openai

    from ftwizard.backends.hosted.importer import import_openai_job

    job_id, train, valid = _hosted_job(fake)
    client = openai.OpenAI(api_key=DEFAULT_KEY, base_url=fake.url, max_retries=0)
    content = client.files.content

    def noisy(file_id):
        warnings.warn("Pydantic serializer warnings:\n  Expected `int` but got `str`\n  more detail", UserWarning)
        return content(file_id)

    client.files.content = noisy  # the result file is still downloaded
    copies = _copies(tmp_path, train, valid)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning that escaped the import would fail here
        res = import_openai_job(job_id, runs_dir=tmp_path / "runs", out_recipe=tmp_path / "r.toml", client=client,
                                train_file=copies["train"], validation_file=copies["validation"])
    notes = [w for w in res.warnings if "Pydantic serializer warnings" in w]
    assert len(notes) == 1 and "\n" not in notes[0] and notes[0].startswith("UserWarning")


def test_a_training_file_openai_will_not_give_back_is_asked_for(fake, tmp_path, capfd):
    """Files of purpose `fine-tune` cannot be downloaded (only results can): the import says so and asks for the
    local copy, which is checked against the job's trained tokens; a copy that is not the job's file is refused."""
    from ftwizard.errors import UsageError

    job_id, train, valid = _hosted_job(fake)
    args = ["import-openai-job", job_id, "--runs-dir", str(tmp_path / "runs"), "--out-recipe",
            str(tmp_path / "out" / "r.toml")]
    with pytest.raises(UsageError) as e:
        main(args)
    msg = str(e.value)
    assert "cannot be downloaded" in msg and "Not allowed to download files of purpose: fine-tune" in msg
    assert f"import-openai-job {job_id} --train-file PATH --validation-file PATH" in msg
    assert f"{fake.jobs[job_id]['trained_tokens']:,} trained tokens" in msg
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()

    other = _copies(tmp_path, _examples(14, offset=10**12) + [train[-1]])  # 15 examples, not the job's
    with pytest.raises(UsageError, match="this is not the file the job trained on"):
        main(args + _flags(other))
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()

    copies = _copies(tmp_path, train)  # the training file only: the validation file is left out, with a note
    capfd.readouterr()
    assert main(args + _flags(copies) + ["--json"]) == 0
    cap = capfd.readouterr()
    assert json.loads(cap.out)["examples"] == {"train": 15} and "imported without it" in cap.err


@pytest.mark.parametrize("status", [401, 403])
def test_a_key_without_the_fine_tuning_scope_is_not_the_wind_down(fake, tmp_path, status):
    from tests.test_hosted import SMALL, make_run, work

    fake.fail("jobs.create", (status, None, "You have insufficient permissions for this operation. Missing scopes: "
                                            "api.fine_tuning.jobs.write. Check that you have the correct role in "
                                            "your organization (Reader, Writer, Owner) and project (Member, Owner), "
                                            "and if you're using a restricted API key, that it has the necessary "
                                            "scopes."))
    run = make_run(tmp_path, SMALL)
    assert work(run) == 1
    st = run.status()
    assert st["error_kind"] == "permission" and "lacks the permission" in st["error"] and fake.job_creates == 0
    err = [e for e in run.events(("error",))][-1]
    assert any("not OpenAI's fine-tuning wind-down" in a for a in err["advice"])
    assert not any("2027-01-06" in a for a in err["advice"])
