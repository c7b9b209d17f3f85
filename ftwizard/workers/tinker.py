"""`python -m ftwizard.workers.tinker RUN_DIR`: the Tinker training loop, then its evaluation."""

from __future__ import annotations

import sys

from ftwizard.backends.hosted.tinker_worker import main as train
from ftwizard.evaluation.runner import evaluate_after_training


def main(argv: list[str] | None = None) -> int:
    return train(argv, evaluate=evaluate_after_training)


if __name__ == "__main__":
    sys.exit(main())
