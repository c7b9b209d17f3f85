"""Tasks: bundled splits, prompts rendered exactly as the seed, answers extracted from raw output."""

from __future__ import annotations

import pytest

from ftwizard.errors import UsageError
from ftwizard.recipe import parse_recipe
from ftwizard.tasks import get_task
from ftwizard.tasks.sql import extract_sql
from ftwizard.tasks.viggo import extract_mr


def recipe(text: str):
    return parse_recipe('name = "t"\n' + text)


def test_bundled_split_sizes():
    sql, viggo = get_task("sql"), get_task("viggo")
    r = recipe('task = "sql"\n[data]\ntrain = "train"\neval = "val"\n')
    assert len(sql.load_split(r, "train")) == 3961 and len(sql.load_split(r, "eval")) == 568
    r = recipe('task = "viggo"\n')
    assert len(viggo.load_split(r, "train")) == 5103 and len(viggo.load_split(r, "eval")) == 1083
    r = recipe('task = "viggo"\n[data]\neval = "valid"\n')
    assert len(viggo.load_split(r, "eval")) == 714


def test_sql_training_text_is_the_seeds():
    r = recipe('task = "sql"\n[data]\neval = "val"\n')
    task = get_task("sql")
    row = task.load_split(r, "train").rows[0]
    text = task.templates(r).render_text(row)
    assert text == (
        "You are a powerful text-to-SQL model. Your job is to answer questions about a database. You are given a "
        "question and context regarding one or more tables.\n\nYou must output the SQL query that answers the "
        "question.\n\n### Input:\nHow many heads of the departments are older than 56 ?\n\n### Context:\n"
        "CREATE TABLE head (age INTEGER)\n\n### Response:\nSELECT count(*) FROM head WHERE age  >  56\n"
    )
    prompt = task.templates(r).render_prompt(row)
    assert prompt.endswith("### Response:\n") and text.startswith(prompt)


def test_viggo_chat_messages_are_the_seeds():
    r = recipe('task = "viggo"\n')
    task = get_task("viggo")
    row = task.load_split(r, "eval").rows[0]
    msgs = task.templates(r).messages(row)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant"]
    assert msgs[0]["content"].startswith("Given a target sentence construct the underlying meaning representation")
    assert "\n" not in msgs[0]["content"]
    assert msgs[1]["content"].startswith("I remember you saying you found Little Big Adventure to be average.")
    assert msgs[2]["content"] == ("verify_attribute(name[Little Big Adventure], rating[average], "
                                  "has_multiplayer[no], platforms[PlayStation])")


@pytest.mark.parametrize("raw,expected", [
    ("SELECT count(*) FROM head WHERE age  >  56", "SELECT count(*) FROM head WHERE age  >  56"),
    ("```sql\nSELECT name FROM singer;\n```\nThis query lists singers.", "SELECT name FROM singer"),
    ("Here is the SQL query:\n\nSELECT a FROM t WHERE b = 'x;y'; SELECT 2", "SELECT a FROM t WHERE b = 'x;y'"),
    ("SELECT a FROM t\n\n### Input:\nnext question", "SELECT a FROM t"),
    ("SELECT a\nFROM t\nWHERE b > 1</s>", "SELECT a FROM t WHERE b > 1"),
    ("I don't know", "I don't know"),
    ("", ""),
])
def test_extract_sql(raw, expected):
    assert extract_sql(raw) == expected


@pytest.mark.parametrize("raw,expected", [
    ("inform(name[Dirt: Showdown], esrb[E 10+ (for Everyone 10 and Older)])\n### Target sentence:",
     "inform(name[Dirt: Showdown], esrb[E 10+ (for Everyone 10 and Older)])"),
    # Leading chatter is dropped; text after the form on its line is kept, so meaning match can refuse it.
    ("The meaning representation is: request(specifier[weirdest]) and more(x[y])",
     "request(specifier[weirdest]) and more(x[y])"),
    ("foo(bar) then confirm(name[X])", "confirm(name[X])"),
    ("The answer is `inform(name[X])`.", "inform(name[X])."),  # the quotes go, the full stop stays (no match)
    ('"request(specifier[odd])"', "request(specifier[odd])"),
    ("inform(name[Half", "inform(name[Half"),
    ("nothing here", "nothing here"),
])
def test_extract_mr(raw, expected):
    assert extract_mr(raw) == expected


def test_custom_task_from_files(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text('{"q": "2+2", "a": "4"}\n{"q": "3+3", "a": "6"}\n')
    r = recipe(f'task = "custom"\n[data]\nsource = "files"\ntrain = "{f}"\neval = "{f}"\n'
               '[prompt]\ntemplate = "Q: {q}\\nA: {a}\\n"\nanswer_field = "a"\n')
    task = get_task("custom")
    split = task.load_split(r, "train")
    t = task.templates(r)
    assert t.render_text(split.rows[0]) == "Q: 2+2\nA: 4\n"
    assert t.render_prompt(split.rows[0]) == "Q: 2+2\nA: "
    assert t.messages(split.rows[1]) == [{"role": "user", "content": "Q: 3+3\nA:"}, {"role": "assistant", "content": "6"}]


def test_template_with_unknown_field_names_it(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("q,a\n1,2\n")
    r = recipe(f'task = "custom"\n[data]\nsource = "files"\ntrain = "{f}"\neval = "{f}"\n'
               '[prompt]\ntemplate = "Q: {qq}\\nA: {a}"\nanswer_field = "a"\n')
    with pytest.raises(UsageError) as ei:
        get_task("custom").load_split(r, "train")
    assert "unknown field `{qq}`" in str(ei.value) and "did you mean `q`" in str(ei.value)


def test_unknown_bundled_split():
    r = recipe('task = "sql"\n[data]\neval = "test"\n')
    with pytest.raises(UsageError, match="no bundled split .*val"):
        get_task("sql").load_split(r, "eval")


def test_hugging_face_dataset_offline_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache: nothing to fall back on
    r = recipe('task = "viggo"\n[data]\nsource = "hf"\nhf_id = "GEM/viggo"\ntrain = "train"\n')
    with pytest.raises(UsageError) as ei:
        get_task("viggo").load_split(r, "train")
    msg = str(ei.value)
    assert "cannot load Hugging Face dataset `GEM/viggo` split `train`" in msg and "Offline?" in msg
    assert "Traceback" not in msg


def test_columns_mapping_to_a_missing_csv_column_names_it(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("sentence,mr\nhello,inform(name[x])\n")
    r = recipe(f'task = "viggo"\n[data]\nsource = "files"\ntrain = "{f}"\neval = "{f}"\n'
               '[data.columns]\ntarget = "sentense"\nmeaning_representation = "mr"\n')
    with pytest.raises(UsageError) as ei:
        get_task("viggo").load_split(r, "train")
    msg = str(ei.value)
    assert "data.columns.target names column `sentense`" in msg and "did you mean `sentence`" in msg
    r = recipe(f'task = "viggo"\n[data]\nsource = "files"\ntrain = "{f}"\neval = "{f}"\n'
               '[data.columns]\ntarget = "sentence"\nmeaning_representation = "mr"\n')
    split = get_task("viggo").load_split(r, "train")
    assert split.rows[0]["target"] == "hello"


# -- answer extraction: up to end of sequence or a stop string, several lines kept ----------------------------

def _custom_recipe(tmp_path, template: str, answer: str = "label", extra: str = ""):
    f = tmp_path / "d.jsonl"
    f.write_text('{"text": "my card was charged twice", "label": "billing"}\n'
                 '{"text": "app crashes", "label": "bug"}\n')
    return recipe(f'task = "custom"\n[data]\nsource = "files"\ntrain = "{f}"\neval = "{f}"\n'
                  f'[prompt]\ntemplate = {template!r}\nanswer_field = "{answer}"\n' + extra)


def test_stop_strings_come_from_the_template_and_are_honoured(tmp_path):
    r = _custom_recipe(tmp_path, "Ticket: {text}\nCategory: {label}\n")
    task = get_task("custom", r)
    assert task.stop_strings() == ("\nTicket:",)  # the next example beginning
    # a label on the line after the prompt (the README example): the answer, not an empty first line
    assert task.extract_answer("\nbilling\nTicket: next one\nCategory: bug") == "billing"
    assert task.extract_answer("line one\nline two\n\nTicket: another\nCategory: x") == "line one\nline two"
    assert get_task("sql").stop_strings() == ("###",)
    assert get_task("custom", _custom_recipe(tmp_path, "Q: {text}\nA: {label}\n")).stop_strings() == ("\nQ:",)
    assert get_task("custom", _custom_recipe(tmp_path, "{text} => {label}\n")).stop_strings() == ()


def test_multi_line_answers_are_kept_whole(tmp_path):
    r = _custom_recipe(tmp_path, "Q: {text}\nA: {label}\n", extra='[eval]\nmetric = "exact"\n')
    task = get_task("custom", r)
    task.use_references(["Step 1: open settings\nStep 2: reset", "one line"])
    assert not task.single_line_answers
    raw = "Step 1: open settings\n\nStep 2: reset\n"
    assert task.extract_answer(raw) == "Step 1: open settings\n\nStep 2: reset"


def test_one_line_references_take_the_first_non_empty_line(tmp_path):
    task = get_task("custom", _custom_recipe(tmp_path, "{text} => {label}\n", extra='[eval]\nmetric = "choice"\n'))
    task.use_references(["billing", "bug"])
    assert task.single_line_answers
    assert task.extract_answer("\n  billing \nsomething else") == "billing"


def test_json_answers_are_kept_whole_even_when_references_are_one_line(tmp_path):
    task = get_task("custom", _custom_recipe(tmp_path, "{text}\n{label}\n", extra='[eval]\nmetric = "json"\n'))
    task.use_references(['{"category": "billing", "urgent": true}'])
    assert not task.single_line_answers
    raw = '{\n  "category": "billing",\n\n  "urgent": true\n}'
    answer = task.extract_answer(raw)
    assert answer == raw
    verdicts, _ = task.score(answer, '{"category": "billing", "urgent": true}')
    assert verdicts == {"json_match": True, "json_valid": True}


def test_each_task_declares_its_deciding_metric():
    sql = get_task("sql")
    assert sql.primary_metric() == "execution_match"
    assert {m.name: m.label for m in sql.metric_specs()}["exact_match"] == "string exact match (seed)"
    assert get_task("viggo").primary_metric() == "meaning_match"
    assert get_task("custom").primary_metric() == "exact_match"  # no recipe, no references: exact
    for name, metric in (("choice", "accuracy"), ("json", "json_match"), ("judge", "judge_pass")):
        task = get_task("custom", metric=name)
        assert task.primary_metric() == metric and sum(m.decides for m in task.metric_specs()) == 1


def test_the_generation_prompt_is_tokenized_as_in_training():
    """`Category: {label}`: training sees `Category`, `:`, `Ġbilling`; the generation prompt must stop at `:`
    (with the trailing space it ends in a lone `Ġ` the model never saw there, and it answers an empty line)."""
    from ftwizard.backends.local.data import IGNORE, encode_example
    from ftwizard.evaluation.generate import generation_prompt
    from tests.tinymodel import make_tokenizer

    tok = make_tokenizer()
    for prompt in ("Ticket: my card was charged twice\nCategory: ", "Ticket: my card\nCategory:\n"):
        ids, labels, _ = encode_example(tok, prompt, prompt + "billing\n", max_length=512, loss_on="answer")
        n_prompt = sum(1 for x in labels if x == IGNORE)
        assert tok(generation_prompt(prompt))["input_ids"] == ids[:n_prompt]
    assert tok("Category: ")["input_ids"] != tok(generation_prompt("Category: "))["input_ids"]


def test_generation_stops_at_the_tasks_stop_strings(tiny_model_dir):
    """A real tiny model: each sequence ends once its text holds a stop string (the rest of the batch goes on),
    and the extracted answer ends before it."""
    from ftwizard.evaluation.generate import generate
    from tests.tinymodel import load_lively

    model, tok = load_lively(tiny_model_dir, seed=3)
    prompts = [f"Ticket: order {i} is late\nCategory:" for i in range(4)]
    full = generate(model, tok, prompts, max_new_tokens=16, batch_size=4)
    # a stop string that some continuations reach and others do not: a piece of the first one's text
    stop = next(full[0].text[k:k + 2] for k in range(4, len(full[0].text) - 2)
                if full[0].text[k:k + 2].strip() and not all(full[0].text[k:k + 2] in f.text for f in full))

    class Stopping(type(get_task("custom"))):
        stop_markers = (stop,)

    task = Stopping()
    cut = generate(model, tok, prompts, max_new_tokens=16, batch_size=4, stop_strings=list(task.stop_strings()))
    for f, c in zip(full, cut):
        assert f.text.startswith(c.text)
        if stop in f.text:
            assert stop in c.text and c.completion_tokens < f.completion_tokens
            answer = task.extract_answer(c.text)
            assert stop not in answer and f.text.lstrip().startswith(answer)
        else:
            assert c.text == f.text
    assert stop in full[0].text and any(stop not in f.text for f in full)


def test_a_prompt_before_a_numeric_answer_keeps_its_trailing_space():
    """Llama 3 / Qwen tokenizers never merge a space into digits: training on `Answer: 5` saw `:`, `Ġ`, `5`, so
    the evaluation prompt must keep its space (stripped, the model is asked to continue after `:` as it never
    was). Words merge (`Ġbilling`): there the space goes, as before."""
    from ftwizard.backends.local.data import IGNORE, encode_example, prompt_keeps_trailing_space
    from ftwizard.evaluation.generate import generation_prompt
    from ftwizard.prompts import PromptTemplates
    from tests.test_chat_templates import tokenizer

    tok = tokenizer("llama-3.3-instruct")  # Llama 3's pre-tokenizer split
    tpl = PromptTemplates(template="{prompt}{completion}", answer_field="completion", system="", user="{prompt}",
                          assistant="{completion}")
    numbers = [{"prompt": f"Q: {i} + {i}\nAnswer: ", "completion": str(2 * i)} for i in range(1, 9)]
    words = [{"prompt": f"Ticket: case {i}\nCategory: ", "completion": "billing"} for i in range(8)]
    assert prompt_keeps_trailing_space(tok, tpl, numbers) is True
    assert prompt_keeps_trailing_space(tok, tpl, words) is False
    for rows in (numbers, words):
        keep = prompt_keeps_trailing_space(tok, tpl, rows)
        for row in rows:
            prompt = tpl.render_prompt(row)
            ids, labels, _ = encode_example(tok, prompt, tpl.render_text(row), max_length=512, loss_on="answer")
            n_prompt = sum(1 for x in labels if x == IGNORE)
            # the evaluation prompt is exactly the prompt tokens training saw
            assert tok(generation_prompt(prompt, keep_trailing_space=keep), add_special_tokens=False)["input_ids"] \
                == [i for i in ids[:n_prompt] if i != tok.bos_token_id]
    assert generation_prompt("Answer: ", keep_trailing_space=True) == "Answer: "
