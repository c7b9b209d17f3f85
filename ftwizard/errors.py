"""Exit codes and the errors that map to them; nothing here imports anything heavy."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    RUN_FAILED = 1
    USAGE = 2
    INTERRUPTED = 130


class FtwizardError(Exception):
    """Base class: an error with a message meant for the user, never a traceback."""

    exit_code: ExitCode = ExitCode.RUN_FAILED


class UsageError(FtwizardError):
    """Bad input from the user: a recipe, a flag, a data file. Exit code 2.

    Carries one or more problems; each is one line naming the file, line or key.
    """

    exit_code = ExitCode.USAGE

    def __init__(self, problems: str | list[str], *, source: str | None = None):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        head = f"{self.source}: " if self.source else ""
        if len(self.problems) == 1:
            return head + self.problems[0]
        lines = [f"{head}{len(self.problems)} problems:"] if head else [f"{len(self.problems)} problems:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def naming_the_recipe(e: UsageError, recipe_path: str) -> UsageError:
    """`e` with the recipe file named in front when none of its problems names a file already (a problem with a
    recipe key, e.g. `prompt.answer_field is required`, found after loading): the user sees which file to edit."""
    if e.source or any(("/" in p) or any(ext in p for ext in (".toml", ".jsonl", ".json", ".csv")) for p in e.problems):
        return e
    return UsageError(e.problems, source=recipe_path)


class RunFailed(FtwizardError):
    """A run (training, evaluation, a hosted job) failed. Exit code 1."""

    exit_code = ExitCode.RUN_FAILED


def did_you_mean(word: str, choices, n: int = 1) -> str:
    """' (did you mean `x`?)' or '' — the suffix used in every unknown-name message."""
    import difflib

    matches = difflib.get_close_matches(word, list(choices), n=n, cutoff=0.6)
    if not matches:
        return ""
    return " (did you mean " + " or ".join(f"`{m}`" for m in matches) + "?)"
