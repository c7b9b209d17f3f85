"""`python -m ftwizard.workers.hosted RUN_DIR`: the hosted job's worker (OpenAI, Azure, Together, Fireworks), then
its evaluation."""

from __future__ import annotations

import sys

from ftwizard.backends.hosted.worker import main as follow
from ftwizard.evaluation.runner import evaluate_after_training


def main(argv: list[str] | None = None) -> int:
    return follow(argv, evaluate=evaluate_after_training)


if __name__ == "__main__":
    sys.exit(main())
