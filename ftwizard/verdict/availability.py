"""Whether the hosted path is open on a given day: new jobs, and whether a fine-tune still serves (catalog dates)."""

from __future__ import annotations

from datetime import date

from ftwizard.backends import provider_capabilities
from ftwizard.errors import UsageError

CLOSING_SOON_DAYS = 60  # a provider's end of training this close is "closing", not "open"


def hosted_availability(today: date, provider: str = "openai", model: str | None = None) -> dict:
    """{state, date, detail, source, ...} for the hosted path on `today`.

    state: `open` (new jobs can be created), `closing` (they can, for now: OpenAI's staged wind-down, or the
    model's last training day within CLOSING_SOON_DAYS), `closed` (no new jobs; existing fine-tunes still serve
    until `shutdown_date`), `gone` (the model and its fine-tunes no longer serve). With `model`, that model's own
    dates on `provider` (catalog `training_available_until`, `shutdown_date`) count too.
    """
    from ftwizard.catalog import get_hosted_model, wind_down

    hm = None
    if model:
        try:
            hm = get_hosted_model(model, provider)
        except UsageError:
            hm = None  # not in the catalog: judged by the provider alone
    base = {"provider": provider, "model": hm.id if hm else model,
            "shutdown_date": hm.shutdown_date if hm else None, "source": "ftwizard catalog (hosted_models.toml)"}
    if hm is not None and hm.shut_down(today):
        return {**base, "state": "gone", "date": hm.shutdown_date,
                "detail": f"{hm.id} on {provider} was shut down on {hm.shutdown_date}, with every fine-tune built "
                          "on it: the hosted model no longer serves"}
    serves = (f"; existing fine-tunes serve until {hm.shutdown_date} "
              f"(in {(date.fromisoformat(hm.shutdown_date) - today).days} days)") if hm and hm.shutdown_date else ""
    if hm is not None and hm.training_closed_reason(today):
        return {**base, "state": "closed", "date": hm.training_available_until,
                "detail": hm.training_closed_reason(today) + serves}
    caps = provider_capabilities(provider)
    if caps.wind_down:
        wd = wind_down()
        out = {**base, "source": wd.get("source", base["source"])}
        never = date.fromisoformat(wd["never_fine_tuned"])
        inactive = date.fromisoformat(wd["inactive_60_days"])
        closed = date.fromisoformat(wd["all_jobs_closed"])
        out.update(never_fine_tuned=never.isoformat(), inactive_60_days=inactive.isoformat(),
                   all_jobs_closed=closed.isoformat())
        if today >= closed:
            return {**out, "state": "closed", "date": closed.isoformat(),
                    "detail": f"OpenAI closed self-serve fine-tuning to new jobs on {closed.isoformat()}"
                              + (serves or " (existing fine-tuned models keep serving until their base model retires)")}
        if today >= never:
            days = (closed - today).days
            steps = [f"closed since {never.isoformat()} for organisations that never fine-tuned"]
            if today >= inactive:
                steps.append(f"since {inactive.isoformat()} for those without fine-tuned-model inference in the "
                             "last 60 days")
            return {**out, "state": "closing", "date": closed.isoformat(), "days_left": days,
                    "detail": f"OpenAI fine-tuning closes to new jobs for everyone on {closed.isoformat()} "
                              f"(in {days} days; " + ", ".join(steps) + ")" + serves}
        return {**out, "state": "open", "date": None, "detail": "OpenAI fine-tuning open for new jobs"}
    if hm is not None and hm.training_available_until:
        days = (date.fromisoformat(hm.training_available_until) - today).days
        if days <= CLOSING_SOON_DAYS:
            return {**base, "state": "closing", "date": hm.training_available_until, "days_left": days,
                    "detail": f"{provider} takes fine-tuning jobs for {hm.id} until {hm.training_available_until} "
                              f"(in {days} days)" + serves}
    from ftwizard.catalog import provider_name

    detail = f"{provider_name(provider)} fine-tuning open for new jobs"
    if caps.open_note:
        detail += f" ({caps.open_note})"
    return {**base, "state": "open", "date": None, "detail": detail + serves}


def availability_cell(row, avail: dict) -> str:
    if row.backend == "local":
        return "yours (open weights)"
    state = avail["state"]
    if state == "gone":
        return f"shut down {avail['date']}"
    if state == "closed":
        return f"new jobs closed {avail['date']}" if avail.get("date") else "new jobs closed"
    if state == "closing":
        return f"new jobs close {avail['date']}"
    return provider_capabilities(row.provider).open_cell  # Azure's says it is not OpenAI's wind-down
