"""One settings object: FTWIZARD_AS_OF is the day of every command and of the wizard."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys

from tests.fixtures_runs import seed_sql_pair


def test_compare_judges_availability_on_ftwizard_as_of(tmp_path, monkeypatch):
    from ftwizard.verdict import build_verdict

    hosted, local = seed_sql_pair(tmp_path / "runs")
    monkeypatch.setenv("FTWIZARD_AS_OF", "2031-01-02")
    v = build_verdict([hosted.path, local.path])
    assert v.today == datetime.date(2031, 1, 2)
    p = subprocess.run([sys.executable, "-m", "ftwizard", "compare", str(hosted.path), str(local.path), "--json",
                        "--no-report"], capture_output=True, text=True, timeout=120,
                       env={**__import__("os").environ, "FTWIZARD_AS_OF": "2031-01-02"})
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["today"] == "2031-01-02"


def test_the_wizards_hardware_step_reads_ftwizard_as_of(monkeypatch):
    from ftwizard.tui.screens.hardware import HardwareScreen

    monkeypatch.setenv("FTWIZARD_AS_OF", "2030-06-30")

    class App:
        today = None

    screen = HardwareScreen.__new__(HardwareScreen)
    monkeypatch.setattr(HardwareScreen, "app", property(lambda self: App()))
    assert screen.today == datetime.date(2030, 6, 30)


def test_the_redaction_list_is_derived_from_the_settings_secrets(monkeypatch):
    """Every SecretStr of the settings is redacted, the judge's key included (it used to be missing)."""
    from ftwizard import settings
    from ftwizard.retry import redact

    assert set(settings.PROVIDER_KEY_ENV.values()) <= set(settings.secret_env_vars())
    assert settings.JUDGE_KEY_ENV in settings.secret_env_vars()
    monkeypatch.setenv("FTWIZARD_JUDGE_API_KEY", "judge-only-secret-42")
    assert "judge-only-secret-42" not in redact("the judge said 401 for key judge-only-secret-42")


def test_every_ftwizard_variable_is_declared_once_and_bad_values_name_the_variable(monkeypatch):
    import pytest

    from ftwizard import settings
    from ftwizard.errors import UsageError

    doc = settings.documented()
    assert "FTWIZARD_AS_OF" in doc and "FTWIZARD_PRICE_PER_HOUR" in doc and all(doc.values())
    monkeypatch.setenv("FTWIZARD_HOSTED_MAX_ATTEMPTS", "0")
    with pytest.raises(UsageError, match="FTWIZARD_HOSTED_MAX_ATTEMPTS"):
        settings.hosted_max_attempts()
    monkeypatch.delenv("FTWIZARD_HOSTED_MAX_ATTEMPTS")
    monkeypatch.setenv("FTWIZARD_AS_OF", "2026-13-01")
    with pytest.raises(UsageError, match="FTWIZARD_AS_OF"):
        settings.as_of()


def test_the_readme_lists_every_setting():
    from pathlib import Path

    from ftwizard import settings

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert [v for v in settings.documented() if v not in readme] == []
