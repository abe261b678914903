"""qa.evaluation.datasets: JSONL and SQuAD files, bad lines skipped with a message, hostile input survived."""

from __future__ import annotations

import json

import pytest
from evaluation_helpers import ESSAY_QUESTIONS, MALFORMED, SQUAD_SMALL

from qa.errors import EvaluationError
from qa.evaluation.datasets import MAX_JSON_DEPTH, json_depth, load_questions, parse_json

GOOD = '{"id": "ok", "question": "问题？", "evidence": ["目标"]}'


def test_load_jsonl():
    ds = load_questions(ESSAY_QUESTIONS)
    assert ds.format == "jsonl" and ds.name == "essay_questions.jsonl" and not ds.warnings
    assert [q.id for q in ds.questions] == ["e1", "e2", "e3", "e4", "e5", "u1"]
    assert ds.questions[-1].expects_answer is False and ds.questions[0].where == "line 1"


def test_malformed_jsonl_skips_bad_lines_naming_them():
    ds = load_questions(MALFORMED)
    assert [q.id for q in ds.questions] == ["ok1", "ok2"]
    assert ds.n_skipped == 9
    text = "\n".join(ds.warnings)
    for expected in ("line 2: not valid JSON", "line 3: expected a JSON object", "line 4 (no-question)",
                     "line 5 (empty-question): empty question", 'line 6: duplicate id "ok1" (first on line 1)',
                     'line 8: unknown field "answer"', 'line 9 (bad-evidence): "evidence" must be a list',
                     'line 10 (no-evidence): no "evidence" or "passage_ids"', "line 11 (blank-evidence)",
                     'line 12: no "id"'):
        assert expected in text, expected
    assert "line 7" not in text  # blank lines are not a problem


def test_strict_stops_at_the_first_bad_line():
    with pytest.raises(EvaluationError, match=r"line 2: not valid JSON"):
        load_questions(MALFORMED, strict=True)


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"\xff\xfe\x00bad", "not UTF-8"),
    (b'{"id": 1, "question": "", "evidence": []}\n', "no usable question"),
    (b'{"data": "nope"}', "no usable question"),
])
def test_unusable_files_stop_with_a_message(tmp_path, content, message):
    f = tmp_path / "q.jsonl"
    f.write_bytes(content)
    with pytest.raises(EvaluationError, match=message):
        load_questions(f)


def test_missing_file_and_bad_format(tmp_path):
    with pytest.raises(EvaluationError, match="no such file") as info:
        load_questions(tmp_path / "none.jsonl")
    assert str(tmp_path) not in str(info.value), "messages name the file, not the server folder"
    with pytest.raises(EvaluationError, match="format must be"):
        load_questions(ESSAY_QUESTIONS, format="csv")  # type: ignore[arg-type]


# -- hostile lines: skipped with a warning naming the line, never a traceback ------------------------------------

def _hostile_file(tmp_path, bad: bytes):
    f = tmp_path / "hostile.jsonl"
    f.write_bytes(GOOD.encode() + b"\n" + bad + b"\n" + GOOD.replace('"ok"', '"ok2"').encode() + b"\n")
    return f


@pytest.mark.parametrize("bad, message", [
    (b'{"id": "s", "question": "\\ud800\xe5\x85\x9a\xe5\xbb\xba", "evidence": []}', "lone surrogate"),
    (b'{"id": "s", "question": "ok", "evidence": ["\\udfff"]}', "lone surrogate"),
    (b'{"id": "s", "question": "ok", "evidence": [], "\\ud800": 1}', "lone surrogate"),
    (b'{"id": "s", "question": "\xed\xa0\x80", "evidence": []}', "not UTF-8"),
    (b'{"id": "s", "question": "\xff\xfe", "evidence": []}', "not UTF-8"),
    (b"[" * 1000 + b"]" * 1000, f"nested more than {MAX_JSON_DEPTH} levels"),
    (b'{"a":' * 1000 + b"1" + b"}" * 1000, f"nested more than {MAX_JSON_DEPTH} levels"),
    (b"[" * 100_000, "nested more than"),
])
def test_hostile_lines_are_skipped_naming_the_line(tmp_path, bad, message):
    ds = load_questions(_hostile_file(tmp_path, bad))
    assert [q.id for q in ds.questions] == ["ok", "ok2"] and ds.n_skipped == 1
    assert ds.warnings[0].startswith("line 2: ") and message in ds.warnings[0]
    json.dumps(ds.warnings).encode("utf-8")  # every warning can be printed and saved
    with pytest.raises(EvaluationError, match="line 2: "):
        load_questions(_hostile_file(tmp_path, bad), strict=True)


def test_a_surrogate_pair_is_one_character_and_kept(tmp_path):
    f = tmp_path / "q.jsonl"
    f.write_text('{"id": "e", "question": "emoji \\ud83d\\ude00?", "evidence": []}', encoding="utf-8")
    assert load_questions(f).questions[0].text == "emoji \U0001F600?"


def test_json_depth_ignores_brackets_in_strings():
    assert json_depth('{"a": "[[[[{{{{", "b": [1, [2]]}') == 3
    assert json_depth('"\\"[[["') == 0
    assert parse_json('{"a": [[1]]}') == {"a": [[1]]}
    with pytest.raises(ValueError, match="nested"):
        parse_json("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))


def test_a_deep_squad_file_stops_with_a_message(tmp_path):
    f = tmp_path / "deep.json"
    f.write_text('{"data": ' + "[" * 1000 + "]" * 1000 + "}", encoding="utf-8")
    with pytest.raises(EvaluationError, match="nested more than"):
        load_questions(f)


# -- limits ---------------------------------------------------------------------------------------------------------

def test_max_questions_stops_before_parsing(tmp_path):
    f = tmp_path / "many.jsonl"
    f.write_text("\n".join(GOOD.replace('"ok"', f'"q{i}"') for i in range(7)) + "\n\n", encoding="utf-8")
    assert len(load_questions(f, max_questions=7).questions) == 7
    with pytest.raises(EvaluationError, match=r"many.jsonl: holds 7 questions; the limit is 6\. Split the file"):
        load_questions(f, max_questions=6)
    with pytest.raises(EvaluationError, match="the limit is 3"):
        load_questions(SQUAD_SMALL, max_questions=3)
    assert len(load_questions(SQUAD_SMALL, max_questions=8).questions) == 8


# -- SQuAD ----------------------------------------------------------------------------------------------------------

def test_load_squad():
    ds = load_questions(SQUAD_SMALL)
    assert ds.format == "squad" and not ds.warnings
    assert [d.doc_id for d in ds.documents[:3]] == ["P1", "P2", "P3"]
    assert ds.documents[3].doc_id.startswith("ctx-")  # no paragraph id: a hash of the context
    assert ds.documents[3].doc_id == "ctx-2caa2e8326d1"  # the same in every run and process (a content hash)
    assert ds.documents[0].source == "squad_small.json#P1"  # the file's name, never its folder
    by_id = {q.id: q for q in ds.questions}
    assert len(by_id) == 8 and by_id["P2_Q1"].doc_ids == ("P2",)
    assert by_id["P4_Q2"].expects_answer is False  # is_impossible


def test_squad_problems(tmp_path):
    f = tmp_path / "s.json"
    f.write_text('{"data": [\n  {"paragraphs": [\n    {"context": "x", "qas": [}\n]}', encoding="utf-8")
    with pytest.raises(EvaluationError, match=r"not valid JSON .* line 3"):
        load_questions(f, format="squad")
    ctx = "长江是亚洲第一长河。"
    data = {"data": [{"paragraphs": [
        {"id": "A", "context": ctx, "qas": [{"id": "1", "question": "长江多长？"}, {"id": "1", "question": "又问"},
                                             {"id": "2", "question": " "}, {"id": "5", "question": "坏\ud800"}]},
        {"id": "A", "context": "另一段不同的文字。", "qas": [{"id": "3", "question": "问？"}]},
        {"id": "B", "context": ctx, "qas": [{"id": "4", "question": "同一段？"}]},
        {"id": "D", "context": "坏的\udfff上下文", "qas": [{"id": "6", "question": "问？"}]},
        {"id": "C"}]}]}
    f.write_text(json.dumps(data, ensure_ascii=True), encoding="utf-8")
    ds = load_questions(f)
    assert [d.doc_id for d in ds.documents] == ["A", ds.documents[1].doc_id]
    assert ds.documents[1].doc_id.startswith("ctx-")  # same paragraph id, different text
    by_id = {q.id: q for q in ds.questions}
    assert set(by_id) == {"1", "3", "4"} and by_id["4"].doc_ids == ("A",)  # the same context twice is one passage
    assert ds.n_skipped == 5
    text = "\n".join(ds.warnings)
    assert "data[0].paragraphs[0].qas[1]: duplicate id" in text
    assert "data[0].paragraphs[0].qas[3]: a lone surrogate" in text
    assert "data[0].paragraphs[3]: the context holds a lone surrogate" in text
    assert 'data[0].paragraphs[4]: no "context"' in text


# -- property-based: any bytes, any Unicode -------------------------------------------------------------------------

hypothesis = pytest.importorskip("hypothesis")  # in the test extras; skipped only in a bare install
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _survives(path) -> None:
    """Loading ends in questions that can be written as UTF-8 JSON, or in an EvaluationError: nothing else."""
    try:
        ds = load_questions(path)
    except EvaluationError as exc:
        str(exc).encode("utf-8")
        return
    json.dumps([q.__dict__ for q in ds.questions] + ds.warnings, ensure_ascii=False).encode("utf-8")


@_SETTINGS
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_any_bytes_load_or_stop_cleanly(tmp_path, lines):
    f = tmp_path / "fuzz.jsonl"
    f.write_bytes(b"\n".join([GOOD.encode(), *lines]))
    _survives(f)


@_SETTINGS
@given(st.text(alphabet=st.characters(codec=None), max_size=60), st.text(max_size=20))
def test_any_unicode_question_loads_or_is_skipped(tmp_path, question, evidence):
    f = tmp_path / "fuzz.jsonl"
    line = json.dumps({"id": "x", "question": question, "evidence": [evidence]}, ensure_ascii=True)
    f.write_text(GOOD + "\n" + line + "\n", encoding="utf-8")
    ds = load_questions(f)
    ids = [q.id for q in ds.questions]
    usable = question.strip() != "" and evidence.strip() != "" and not any(
        "\ud800" <= ch <= "\udfff" for ch in question + evidence)
    assert ids[0] == "ok" and (ids[1:] == ["x"]) == usable
    json.dumps([q.text for q in ds.questions], ensure_ascii=False).encode("utf-8")


@_SETTINGS
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children,
                                                                                        max_size=3), max_leaves=20))
def test_any_json_value_as_a_squad_file(tmp_path, value):
    f = tmp_path / "fuzz.json"
    f.write_text(json.dumps({"data": [value]}), encoding="utf-8")
    _survives(f)
