"""`ftwizard import-openai-job`: bring an OpenAI fine-tuning job over: files, settings, a local recipe."""

from __future__ import annotations

from ftwizard.cli._stub import not_built

HELP = "bring an OpenAI fine-tuning job over: files, settings, a local recipe"


def register(sub) -> None:
    p = sub.add_parser("import-openai-job", help=HELP, description=HELP)
    p.add_argument("job_id", metavar="JOB_ID")
    p.set_defaults(handler=run)


run = not_built("import-openai-job")
