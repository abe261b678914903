"""Cleaning what users type or send, for every entry point (CLI, Python, HTTP, evaluation files).

One place decides what a question, a ``k`` or a JSON line may be, so that bad
input ends in a :class:`QAError` with a one-line message everywhere, never a
traceback, and text from a corpus never drives the terminal it is printed to.
"""

from __future__ import annotations

import json
import math
import numbers
import operator
import re
import unicodedata
from typing import TYPE_CHECKING, Any

from .errors import QAError, QuestionError

if TYPE_CHECKING:
    from .config import Settings

__all__ = ["JSONInputError", "MAX_JSON_DEPTH", "check_k", "clean_question", "loads_json", "terminal_safe"]

#: Nesting deeper than this is refused before parsing (real questions and SQuAD files nest under 10 levels).
MAX_JSON_DEPTH = 64

# Format characters (category Cf: bidi embeddings/overrides/isolates, zero-width spaces and joiners,
# the word joiner, soft hyphen, BOM, tag characters …) change how text looks, never what it asks: dropped.
# Control characters (Cc) and line/paragraph separators become spaces, then whitespace runs collapse.
_SPACE_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Zs"})
#: A question must contain at least one character of these categories (letters, numbers, punctuation, symbols).
_VISIBLE_PREFIXES = ("L", "N", "P", "S")
_WHITESPACE = re.compile(r"\s+")
#: Raw text longer than this many times the limit is refused before it is cleaned (bounded work per request).
_RAW_LENGTH_FACTOR = 4
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _surrogate_message(text: str, what: str) -> str:
    m = _SURROGATE.search(text)
    assert m is not None
    cp = ord(m.group())
    if 0xDC80 <= cp <= 0xDCFF:  # how Python carries an undecodable byte from argv or a file name
        detail = f"byte 0x{cp - 0xDC00:02X}, which is not valid UTF-8,"
    else:
        detail = f"a lone UTF-16 surrogate (U+{cp:04X}), which is not a character,"
    return (f"{what} contains {detail} at position {m.start() + 1}; "
            "retype it or check that your terminal or client sends UTF-8")


def clean_question(question: object, settings: Settings) -> str:
    """The question as it will be searched, or :class:`QuestionError` saying why it cannot be.

    Control characters become spaces and invisible formatting characters (bidi
    overrides and isolates, zero-width characters, U+2060, BOM) are dropped;
    lone surrogates and undecodable bytes are refused, as is a question with
    nothing visible left (only marks or formatting characters).
    """
    if not isinstance(question, str):
        raise QuestionError(f"a question must be text, not {type(question).__name__}")
    if len(question) > _RAW_LENGTH_FACTOR * settings.max_question_chars:  # not worth cleaning: refused at once
        raise _too_long(len(question), settings)
    if _SURROGATE.search(question):
        raise QuestionError(_surrogate_message(question, "the question"))
    kept: list[str] = []
    visible = dropped = False
    for ch in question:
        cat = unicodedata.category(ch)
        if cat == "Cf":
            dropped = True
            continue
        if cat in _SPACE_CATEGORIES:
            kept.append(" ")
            continue
        if cat.startswith(_VISIBLE_PREFIXES):
            visible = True
        kept.append(ch)
    text = _WHITESPACE.sub(" ", "".join(kept)).strip()
    if not text:
        only = " (it has only invisible formatting characters)" if dropped else ""
        raise QuestionError(f"the question is empty{only}; type a question")
    if not visible:
        raise QuestionError("the question has no visible characters (only combining marks or unassigned "
                            "characters); type a question")
    if len(text) > settings.max_question_chars:
        raise _too_long(len(text), settings)
    return text


def _too_long(length: int, settings: Settings) -> QuestionError:
    return QuestionError(f"the question is {length:,} characters long; the limit is "
                         f"{settings.max_question_chars:,}. Ask about one thing at a time.")


def check_k(value: object, maximum: int | None = None) -> int:
    """``k`` (how many passages) as a positive whole number; values above ``maximum`` are lowered to it.

    Accepts ints and integral floats or strings (``3``, ``3.0``, ``"3"``, ``" 3 "``); refuses
    booleans, ``None``, non-integral, infinite or NaN values and anything below 1 with a
    :class:`QuestionError`.
    """
    def refuse() -> QuestionError:
        limit = f" from 1 to {maximum}" if maximum is not None else " of at least 1"
        try:
            shown = repr(value)
        except ValueError:  # an int too long to print
            shown = "a number of more than 4,300 digits"
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        return QuestionError(f"k must be a whole number{limit}, not {shown}")

    if type(value).__name__ in ("bool", "bool_") or value is None:  # Python's and numpy's booleans
        raise refuse()
    if isinstance(value, numbers.Integral):  # int, numpy integers
        k = operator.index(value)
    elif isinstance(value, (numbers.Real, str)):  # float, numpy floats, text
        try:
            number = float(value)
            if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
                k = int(value)  # exact, whatever its size
            elif math.isfinite(number) and number == int(number):
                k = int(number)
            else:
                raise refuse()
        except (ValueError, OverflowError):
            raise refuse() from None
    else:
        raise refuse()
    if k < 1:
        raise refuse()
    return min(k, maximum) if maximum is not None else k


# -- terminal output -----------------------------------------------------------------------------

# ESC/C1 sequences a terminal acts on: CSI (colours, cursor moves, clear screen), OSC (window title,
# hyperlinks, clipboard), DCS/SOS/PM/APC strings, and two-character escapes. 8-bit C1 forms included.
_TERMINAL_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI
    r"|(?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"  # OSC, DCS, SOS, PM, APC
    r"|\x1b[ -/]*[0-~]?"  # other escapes (and a lone ESC)
)
_TERMINAL_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """``text`` fit to print to a terminal: escape sequences, control characters (but newline and
    tab) and bidi overrides removed, lone surrogates shown as U+FFFD."""
    text = _TERMINAL_SEQUENCE.sub("", text.replace("\r\n", "\n"))
    text = _TERMINAL_UNSAFE.sub("", text)
    return _SURROGATE.sub("\ufffd", text)


# -- JSON ----------------------------------------------------------------------------------------


class JSONInputError(QAError, ValueError):
    """JSON that cannot be read: invalid, or nested too deeply. Carries ``msg``, ``lineno``, ``colno``
    like :class:`json.JSONDecodeError`, so callers can name the place."""

    def __init__(self, msg: str, lineno: int | None = None, colno: int | None = None) -> None:
        where = f" at line {lineno} column {colno}" if lineno is not None else ""
        super().__init__(f"not valid JSON: {msg}{where}")
        self.msg = msg
        self.lineno = lineno
        self.colno = colno


# Strings are skipped whole (brackets inside them do not nest); an unterminated one runs to the end.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.S)


def _too_deep(text: str, max_depth: int) -> int | None:
    """Where ``text`` first opens its ``max_depth + 1``-th nested array/object, or None."""
    depth = 0
    for m in _JSON_TOKEN.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > max_depth:
                return m.start()
        elif c in "]}":
            depth -= 1
    return None


def loads_json(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that refuses nesting deeper than ``max_depth`` (and any other failure) with
    :class:`JSONInputError` instead of ``RecursionError``, ``UnicodeDecodeError`` and friends."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise JSONInputError(f"byte {exc.start + 1} is not UTF-8") from None
    if not isinstance(text, str):
        raise JSONInputError(f"expected text, not {type(text).__name__}")
    at = _too_deep(text, max_depth)
    if at is not None:
        line = text.count("\n", 0, at) + 1
        raise JSONInputError(f"nested more than {max_depth} levels deep", line, at - text.rfind("\n", 0, at))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise JSONInputError(exc.msg, exc.lineno, exc.colno) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4,300 digits
        raise JSONInputError((str(exc).splitlines() or [type(exc).__name__])[0][:100]) from None
