"""Input cleaning for every entry point: questions, k, JSON and terminal output, on arbitrary Unicode.

Property-based (Hypothesis): whatever text comes in, the result is a clean string or a
QAError with a message, never another exception.
"""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from qa.config import Settings
from qa.corpus import document_from_text
from qa.errors import CorpusError, QAError, QuestionError
from qa.inputs import MAX_JSON_DEPTH, JSONInputError, check_k, clean_question, loads_json, terminal_safe
from qa.passages import split_document

SETTINGS = Settings()
ANY_TEXT = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=200)
#: Text biased towards the troublesome: controls, bidi, invisible, surrogates, marks, CJK, escapes.
NASTY = st.lists(st.sampled_from(
    ["\x00", "\x1b", "\x7f", "\x9b", "\t", "\n", "\r", "\u2028", "\u202e", "\u2066", "\u2069", "\u200b",
     "\u2060", "\ufeff", "\u0301", "\u20dd", "\ud800", "\udced", "\udfff", "\U000e0041", "\ufffe", "\ue000",
     "党", "建", "。", "一、", "（一）", "1.", "#", " ", "a", "?"]), max_size=60).map("".join)


# -- questions -------------------------------------------------------------------------------------

def _check_clean(question: str) -> None:
    try:
        text = clean_question(question, SETTINGS)
    except QuestionError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(text, str) and text == text.strip() and text
    text.encode("utf-8")  # no lone surrogate survives
    cats = {unicodedata.category(c) for c in text}
    assert not cats & {"Cc", "Cf", "Cs", "Zl", "Zp"}
    assert "  " not in text
    assert any(unicodedata.category(c)[0] in "LNPS" for c in text)


@given(ANY_TEXT)
def test_any_unicode_question_is_clean_text_or_a_question_error(question):
    _check_clean(question)


@given(NASTY)
def test_troublesome_questions_are_clean_text_or_a_question_error(question):
    _check_clean(question)


@pytest.mark.parametrize("question, message", [
    ("党建\ud800", "lone UTF-16 surrogate \\(U\\+D800\\).*position 3"),
    ("\udced\udca0\udc80党建", "byte 0xED, which is not valid UTF-8"),  # argv of qa ask $'\xed\xa0\x80党建'
    ("\u2060", "empty \\(it has only invisible formatting characters\\)"),
    ("\u200b\u200d\ufeff", "empty \\(it has only invisible"),
    ("\u0301\u0302", "no visible characters"),
    ("\x00\x01", "empty"),
    (None, "must be text, not NoneType"),
    (b"\xe5\x85\x9a", "must be text, not bytes"),
    ("党" * 1001, "1,001 characters long; the limit is 1,000"),
])
def test_bad_questions_are_refused_with_a_message(question, message):
    with pytest.raises(QuestionError, match=message):
        clean_question(question, SETTINGS)


@pytest.mark.parametrize("question, cleaned", [
    ("社区\u202e工作者\u202c的待遇", "社区工作者的待遇"),  # bidi override dropped
    ("\u2066党建\u2069 是什么", "党建 是什么"),  # isolates dropped
    ("如何\x00加强\x1b党风\t廉政\r\n建设？", "如何 加强 党风 廉政 建设？"),
    ("社区\u200b工作者", "社区工作者"),
    ("  e\u0301lan  ", "e\u0301lan"),  # a combining mark on a letter is kept
])
def test_harmless_characters_are_cleaned(question, cleaned):
    assert clean_question(question, SETTINGS) == cleaned


# -- k ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, k", [(3, 3), ("3", 3), (" 4 ", 4), (2.0, 2), ("2.0", 2), ("1e1", 10),
                                      (10**30, 10**30), ("12345678901234567890", 12345678901234567890)])
def test_k_accepts_whole_numbers(value, k):
    assert check_k(value) == k


def test_k_above_the_maximum_is_lowered_to_it():
    assert check_k(500, maximum=50) == 50
    assert check_k("inf".replace("inf", "60"), maximum=50) == 50


@pytest.mark.parametrize("value", [True, False, None, float("inf"), float("-inf"), float("nan"), "inf", "nan",
                                   "abc", "", 0, -1, "0", 2.5, "2.5", 1e400, "9" * 5000, [3], b"3",
                                   "\ud800"])
def test_k_refuses_what_is_not_a_positive_whole_number(value):
    with pytest.raises(QuestionError, match="k must be a whole number"):
        check_k(value, maximum=50)


@given(st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True), ANY_TEXT, st.booleans(),
                 st.none(), st.decimals(allow_nan=False, allow_infinity=False)))
def test_k_is_a_positive_int_or_a_question_error(value):
    try:
        k = check_k(value, maximum=100)
    except QuestionError:
        return
    assert type(k) is int and 1 <= k <= 100


# -- terminal output -------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, shown", [
    ("\x1b[31mred\x1b[0m", "red"),
    ("\x1b]0;owned title\x07after", "after"),
    ("\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\", "link"),
    ("\x1b]52;c;ZXZpbA==\x07clip", "clip"),  # OSC 52 writes the clipboard
    ("a\x9b2Jb", "ab"),  # 8-bit CSI: clear screen
    ("x\x1bPq#0;2;0;0;0\x1b\\y", "xy"),  # DCS (sixel)
    ("over\rwrite", "overwrite"),
    ("line\r\nnext\ttab", "line\nnext\ttab"),
    ("\u202eevil\u202c txt", "evil txt"),
    ("bad\ud800surrogate", "bad\ufffdsurrogate"),
    ("\x1b]unterminated OSC keeps the text", "unterminated OSC keeps the text"),
    ("党建：社区工作者", "党建：社区工作者"),
])
def test_terminal_output_is_stripped_of_escape_sequences(raw, shown):
    assert terminal_safe(raw) == shown


@given(ANY_TEXT)
def test_terminal_safe_text_has_no_control_characters_and_encodes(raw):
    out = terminal_safe(raw)
    out.encode("utf-8")
    assert all(c in "\n\t" or unicodedata.category(c) != "Cc" for c in out)
    assert not set(out) & set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


# -- JSON ------------------------------------------------------------------------------------------

def test_deep_json_is_refused_without_recursion_error():
    with pytest.raises(JSONInputError, match=f"nested more than {MAX_JSON_DEPTH} levels deep") as info:
        loads_json('{"id": "q1", "question": ' + "[" * 1000 + "]" * 1000 + "}")
    assert info.value.lineno == 1 and info.value.colno == 26 + MAX_JSON_DEPTH - 1
    assert isinstance(info.value, QAError) and isinstance(info.value, ValueError)
    with pytest.raises(JSONInputError):
        loads_json("[" * 100_000)  # unbalanced as well


def test_json_within_the_limit_parses_and_brackets_in_strings_do_not_count():
    assert loads_json('{"a": "[[[[[[[[[[{{{{{{{{{{\\"[["}', max_depth=1) == {"a": '[[[[[[[[[[{{{{{{{{{{"[['}
    assert loads_json("[[[1]]]", max_depth=3) == [[[1]]]
    with pytest.raises(JSONInputError):
        loads_json("[[[1]]]", max_depth=2)


@pytest.mark.parametrize("text, message", [
    ("{bad", "Expecting property name"),
    ("", "Expecting value"),
    ("1" * 5000, "digits"),
    (b"\xff{}", "not UTF-8"),
])
def test_invalid_json_is_a_json_input_error_with_a_place(text, message):
    with pytest.raises(JSONInputError, match=message) as info:
        loads_json(text)
    assert isinstance(info.value.msg, str)


@given(st.recursive(st.none() | st.booleans() | st.integers() | ANY_TEXT,
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
                    max_leaves=20))
def test_json_round_trips_within_the_depth_limit(value):
    assert loads_json(json.dumps(value)) == value


@given(ANY_TEXT)
def test_any_text_is_json_or_a_json_input_error(text):
    try:
        loads_json(text, max_depth=5)
    except JSONInputError:
        pass


# -- passages on arbitrary Unicode -----------------------------------------------------------------

@hsettings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(ANY_TEXT, NASTY, st.text(st.sampled_from("党建一二、（）()1.。！？# \n\u3000"), max_size=300)),
       st.integers(min_value=50, max_value=300))
def test_passage_splitting_never_raises_and_spans_are_consistent(text, limit):
    try:
        doc = document_from_text(text, "d")
    except CorpusError:
        assert not text.strip()
        return
    passages = split_document(doc, Settings(max_passage_chars=limit))
    previous_end = 0
    for i, p in enumerate(passages):
        assert p.id == f"d:{i:03d}"
        assert 0 <= p.start < p.end <= len(doc.text)
        assert p.text == doc.text[p.start:p.end]
        assert p.start >= previous_end  # in reading order, no overlap
        previous_end = p.end
        for s, e in p.sentences():
            assert 0 <= s < e <= len(p.text)


# -- the command line ------------------------------------------------------------------------------

def test_cli_refuses_undecodable_argv_in_one_line():
    """``qa ask $'\\xed\\xa0\\x80党建'``: exit 1 and one line on stderr, before any index is opened."""
    done = subprocess.run([sys.executable, "-m", "qa", "ask", b"\xed\xa0\x80" + "党建".encode()],
                          capture_output=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 1, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "not valid UTF-8" in err


def test_cli_prints_corpus_text_without_escape_sequences(monkeypatch, capsys):
    from qa import cli

    class FakeAssistant:
        def ask(self, question, k=None, *, retriever=None):
            return "#1 \x1b]0;pwned\x07\x1b[2J党建\x1b[31m红\x1b[0m"

    monkeypatch.setattr(cli, "_assistant", lambda args, rebuild=False: FakeAssistant())
    assert cli.main(["ask", "党建"]) == 0
    assert capsys.readouterr().out == "#1 党建红\n"


def test_cli_reports_an_unencodable_terminal_in_one_line(monkeypatch, capsys):
    """A terminal that cannot show the answer (e.g. PYTHONIOENCODING=ascii): exit 1, one line."""
    from qa import cli

    class AsciiTerminal:
        def ask(self, question, k=None, *, retriever=None):
            raise UnicodeEncodeError("ascii", "党", 0, 1, "ordinal not in range(128)")

    monkeypatch.setattr(cli, "_assistant", lambda args, rebuild=False: AsciiTerminal())
    assert cli.main(["ask", "党建"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("qa: error: text that cannot be encoded") and err.count("\n") == 1


def test_k_from_numpy_is_treated_like_python_numbers():
    import numpy as np
    assert check_k(np.int64(3)) == 3 and check_k(np.float32(4.0)) == 4
    for bad in (np.bool_(True), np.float64("nan"), np.float32(2.5), np.int32(0)):
        with pytest.raises(QuestionError):
            check_k(bad)


def test_a_huge_question_is_refused_before_it_is_cleaned(monkeypatch):
    import qa.inputs as inputs

    monkeypatch.setattr(inputs.unicodedata, "category", lambda ch: pytest.fail("cleaned a huge question"))
    with pytest.raises(QuestionError, match="10,000,000 characters long; the limit is 1,000"):
        clean_question("\u200b" * 10_000_000, SETTINGS)


def test_k_of_more_digits_than_python_prints_is_refused_with_a_message():
    with pytest.raises(QuestionError, match="not a number of more than 4,300 digits"):
        check_k(-10**5000)
    assert check_k(10**5000, maximum=7) == 7
