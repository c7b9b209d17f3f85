"""One rule says what a valid chat example is (`ftwizard.chatfile.chat_problem`), with each destination's extras
as options (`ChatRules`): data loading, the hosted preflight's file check, prepare's report, the importer and
Tinker ask it and say the same words, naming file and line. Each case below was accepted by one of the four
former validators and refused by another."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftwizard.backends.hosted.job import check_chat_file
from ftwizard.datasource import chat_rows, read_records as load_records
from ftwizard.errors import UsageError

GOOD = [{"role": "system", "content": "Sort the ticket."}, {"role": "user", "content": "my order is late"},
        {"role": "assistant", "content": "shipping"}]


def write(path: Path, bad: dict, n_good: int = 11) -> Path:
    """A chat file of good examples with `bad` on line 3."""
    rows = [{"messages": GOOD}] * 2 + [bad] + [{"messages": GOOD}] * (n_good - 2)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def hosted_problems(path: Path, provider: str = "openai", model: str = "gpt-4o-mini-2024-07-18") -> list[str]:
    with pytest.raises(UsageError) as e:
        check_chat_file(path, model, provider)
    return e.value.problems


def loader_problems(path: Path) -> list[str]:
    with pytest.raises(UsageError) as e:
        chat_rows(load_records(path))
    return e.value.problems


@pytest.mark.parametrize("bad, says", [
    # the loader refused these; the hosted file check (the cookbook's script) let them through to the provider
    ({"messages": [*GOOD[:2], {"role": "assistant", "content": "shipping", "weight": 2}]},
     "message 3: `weight` must be 0 or 1, got 2"),
    ({"messages": [GOOD[0], {"role": "user", "content": "late", "weight": 0}, GOOD[2]]},
     "message 2 (user): `weight` is only for assistant messages"),
    ({"messages": GOOD, "tools": [{"type": "function"}]},
     "`tools`: tool and function definitions are not supported"),
    ({"messages": [*GOOD[:2], {"role": "assistant", "content": "shipping", "weight": 0}]},
     "every assistant message has `weight: 0`: nothing to learn"),
])
def test_the_loader_and_the_hosted_check_refuse_the_same_row_in_the_same_words(tmp_path, bad, says):
    path = write(tmp_path / "chat.jsonl", bad)
    assert f"{path}: line 3: " + says in "\n".join(loader_problems(path))
    assert f"{path}: line 3: " + says in "\n".join(hosted_problems(path))


def test_an_empty_answer_is_an_option_the_cookbook_refuses_and_local_training_takes(tmp_path):
    """OpenAI's format counts "" as missing content; a local run trains on the turn as it is."""
    path = write(tmp_path / "chat.jsonl", {"messages": [*GOOD[:2], {"role": "assistant", "content": ""}]})
    assert len(chat_rows(load_records(path))) == 12
    assert f"{path}: line 3: message 3 (assistant) has empty `content`" in hosted_problems(path)


@pytest.mark.parametrize("bad, says", [
    ({"messages": [GOOD[0], GOOD[1], {"role": "user", "content": "hello?"}, GOOD[2]]},
     "message 3 (user): the conversation must start with system or user, then alternate user and assistant"),
    ({"messages": [GOOD[0], {"role": "assistant", "content": "hi"}, *GOOD[1:]]},
     "message 2 (assistant): the conversation must start with system or user"),
    ({"messages": [*GOOD, {"role": "function", "name": "f", "content": "{}"}]},
     "message 4: unknown role `function`"),
])
def test_together_takes_its_own_documented_turns_before_anything_is_uploaded(tmp_path, bad, says):
    """Together's conversational format: system, user, assistant, alternating after an optional system; the
    cookbook check it was given before let these through to be refused after upload."""
    path = write(tmp_path / "chat.jsonl", bad)
    assert f"{path}: line 3: " + says in "\n".join(hosted_problems(path, "together", "Qwen/Qwen3-8B"))
    check_chat_file(write(tmp_path / "ok.jsonl", {"messages": GOOD}), "gpt-4o-mini-2024-07-18", "openai")
    assert chat_rows(load_records(path))  # loading the same rows for a local run is fine


def test_tinker_names_the_file_and_line_of_an_example_without_a_final_answer(tmp_path):
    from ftwizard.backends.hosted.tinker import TinkerProvider
    from ftwizard.recipe import validate_dict

    data = write(tmp_path / "d.jsonl", {"messages": [*GOOD, {"role": "user", "content": "and?"}]})
    recipe = validate_dict({"name": "t", "task": "custom",
                            "data": {"source": "files", "format": "chat", "train": str(data),
                                     "eval": str(write(tmp_path / "e.jsonl", {"messages": GOOD}))},
                            "hosted": {"provider": "tinker", "model": "Qwen/Qwen3-8B"}})
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UsageError) as e:
        TinkerProvider._check_chat(recipe, out)
    assert any(p.startswith("train chat file (") and ": line 3: the last message is not a non-empty assistant "
               "answer" in p for p in e.value.problems), e.value.problems


def test_prepare_reports_the_destinations_errors_by_the_same_rule(tmp_path):
    """prepare's hosted report counts what the hosted preflight will refuse (one error type per example)."""
    from ftwizard.chatfile import COOKBOOK, TOGETHER, check_chat_examples, chat_problem
    from ftwizard.tokens import TokenCounter

    row = {"messages": [GOOD[0], GOOD[1], {"role": "user", "content": "?"}, GOOD[2]]}
    assert chat_problem(row) is None and chat_problem(row, COOKBOOK) is None
    assert chat_problem(row, TOGETHER).kind == "turn_order"
    rep = check_chat_examples([row] * 3, TokenCounter("cl100k_base"), rules=TOGETHER)
    assert rep.errors["turn_order"] == 3 and not rep.ok
    assert rep.to_dict()["error_lines"][0] == {"line": 1, "error": "turn_order", "message": str(chat_problem(row, TOGETHER))}
