"""Questions files: JSONL (one question a line) and SQuAD (CMRC 2018, DRCD), parsed defensively.

* **JSONL**, one object a line: ``id``, ``question``, and ``evidence`` (strings a
  relevant passage contains; ``[]`` = the corpus does not answer the question)
  and/or ``passage_ids`` (ids of relevant passages).
* **SQuAD**: every distinct context of the file is one passage of the corpus, and a
  question's relevant passage is its own context. SQuAD 2.0 questions marked
  ``is_impossible`` are unanswerable.

Bad input: a problem with the whole file (missing, empty, a SQuAD file that is not
UTF-8 or not JSON, no usable question, more questions than allowed) stops with
:class:`~qa.errors.EvaluationError`. A problem with one line or question (invalid
UTF-8, invalid JSON, nesting deeper than :data:`MAX_JSON_DEPTH`, a lone surrogate,
no question, a duplicate id, wrong types) skips it with a warning naming its line;
unknown fields are ignored with a warning. ``strict=True`` turns every warning into
an error. Messages name the file, never its folder (they reach web users).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..corpus import Document, document_from_text
from ..errors import CorpusError, EvaluationError

Format = Literal["auto", "jsonl", "squad"]
FORMATS: tuple[str, ...] = ("auto", "jsonl", "squad")
#: Fields a JSONL question may have; any other field is ignored with a warning.
JSONL_FIELDS: frozenset[str] = frozenset({"id", "question", "evidence", "passage_ids"})
#: Length of the context hash used as a doc id when a SQuAD paragraph has no usable id.
CONTEXT_ID_CHARS = 12
#: Deepest nesting of arrays/objects accepted in a line or file (SQuAD needs 6): deeper is refused
#: before parsing, so a hostile line cannot exhaust the parser's recursion.
MAX_JSON_DEPTH = 32

_BOM = b"\xef\xbb\xbf"
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SAFE_ID = re.compile(r"[^\w\-]+")


@dataclass(frozen=True)
class Question:
    """One question to evaluate and what makes a passage relevant to it."""

    id: str
    text: str
    evidence: tuple[str, ...] = ()
    passage_ids: tuple[str, ...] = ()
    doc_ids: tuple[str, ...] = ()
    """SQuAD: the document(s) made from the question's own context."""
    where: str = ""
    """Where the question is in its file, for messages (``line 4``)."""

    @property
    def expects_answer(self) -> bool:
        """Whether the file says the corpus answers it."""
        return bool(self.evidence or self.passage_ids or self.doc_ids)


@dataclass
class Dataset:
    """The questions of one file, the corpus it brings (SQuAD), and what was wrong with it."""

    name: str
    path: Path
    format: str
    questions: list[Question]
    documents: list[Document] | None = None
    warnings: list[str] = field(default_factory=list)
    n_skipped: int = 0


class _Problems:
    """Collects per-line problems: warnings normally, an error at the first one when strict."""

    def __init__(self, name: str, strict: bool) -> None:
        self.name, self.strict = name, strict
        self.warnings: list[str] = []
        self.skipped = 0

    def warn(self, message: str) -> None:
        if self.strict:
            raise EvaluationError(f"{self.name}: {message}")
        self.warnings.append(message)

    def skip(self, message: str) -> None:
        self.skipped += 1
        self.warn(f"{message}; skipped")


# -- safe JSON ----------------------------------------------------------------------------------------------

def json_depth(text: str) -> int:
    """How deeply arrays/objects nest in ``text`` (brackets inside strings do not count)."""
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub('""', text)):
        depth += 1 if m.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def parse_json(text: str) -> Any:
    """``json.loads`` with a nesting limit: ``ValueError`` (never ``RecursionError``) for deeper input."""
    if json_depth(text) > MAX_JSON_DEPTH:
        raise ValueError(f"nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        return json.loads(text)
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise ValueError(f"nested more than {MAX_JSON_DEPTH} levels deep") from None


def _has_lone_surrogate(value: Any) -> bool:
    """Whether any string in ``value`` (keys too) holds a lone surrogate, which no text encoding can write."""
    if isinstance(value, str):
        return bool(_SURROGATE.search(value))
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def _error_text(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    return str(exc)


# -- loading ------------------------------------------------------------------------------------------------

def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise EvaluationError(f"{path.name}: no such file") from None
    except IsADirectoryError:
        raise EvaluationError(f"{path.name}: is a folder; give a .jsonl or SQuAD .json file") from None
    except OSError as exc:
        raise EvaluationError(f"{path.name}: cannot read ({exc.strerror or type(exc).__name__})") from None


def _is_squad(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("data"), list)


def _too_many(name: str, count: int, limit: int) -> EvaluationError:
    return EvaluationError(f"{name}: holds {count:,} questions; the limit is {limit:,}. "
                           "Split the file, or raise the limit (max_eval_questions).")


def load_questions(path: str | Path, format: Format = "auto", *, strict: bool = False,
                   max_questions: int | None = None) -> Dataset:
    """Read a JSONL or SQuAD questions file (see the module docstring for what is skipped or stops).

    ``max_questions`` (``None``: no limit) stops a file with more questions than
    that before any of them is parsed into a question or a corpus.
    """
    if format not in FORMATS:
        raise EvaluationError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    path = Path(path).expanduser()
    name = path.name
    data = _read(path)
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    if not data.strip():
        raise EvaluationError(f"{name}: the file is empty")
    whole: Any = None  # the file as one JSON document, parsed once whether guessing the format or reading it
    error: str | None = None
    if format == "squad" or (format == "auto" and data.lstrip().startswith(b"{")):
        try:
            whole = parse_json(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            error = f"not UTF-8 text (bad byte at offset {exc.start})"
        except ValueError as exc:
            error = ("not valid JSON (" + (f"{exc.msg} at line {exc.lineno} column {exc.colno}"
                                           if isinstance(exc, json.JSONDecodeError) else str(exc)) + ")")
    fmt = ("squad" if _is_squad(whole) else "jsonl") if format == "auto" else format
    problems = _Problems(name, strict)
    if fmt == "squad":
        if error is not None:
            raise EvaluationError(f"{name}: {error}")
        questions, documents = _parse_squad(whole, name, problems, max_questions)
    else:
        questions, documents = _parse_jsonl(data, name, problems, max_questions), None
    if not questions:
        first = f" ({problems.warnings[0]}{' …' if len(problems.warnings) > 1 else ''})" if problems.warnings else ""
        raise EvaluationError(f"{name}: no usable question{first}")
    return Dataset(name=name, path=path, format=fmt, questions=questions, documents=documents,
                   warnings=problems.warnings, n_skipped=problems.skipped)


def _strings(value: Any, name: str, where: str, problems: _Problems) -> tuple[str, ...] | None:
    """A list of non-empty strings (a lone string is a list of one), or None after a skip message."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.skip(f'{where}: "{name}" must be a list of strings, not {json.dumps(value, ensure_ascii=False)[:60]}')
        return None
    kept = tuple(v for v in value if v.strip())
    if value and not kept:
        problems.skip(f'{where}: "{name}" has only empty strings (use [] for a question the corpus does not answer)')
        return None
    if len(kept) < len(value):
        problems.warn(f'{where}: empty string(s) in "{name}" ignored')
    return kept


def _question_id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        return None
    return str(value).strip()


def _parse_jsonl(data: bytes, name: str, problems: _Problems, max_questions: int | None) -> list[Question]:
    lines = data.split(b"\n")
    if max_questions is not None:
        count = sum(1 for line in lines if line.strip())
        if count > max_questions:
            raise _too_many(name, count, max_questions)
    questions: list[Question] = []
    first_line: dict[str, int] = {}
    unknown: dict[str, list[int]] = {}
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        where = f"line {lineno}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.skip(f"{where}: not UTF-8 text (bad byte at column {exc.start + 1})")
            continue
        try:
            obj = parse_json(line)
        except ValueError as exc:
            problems.skip(f"{where}: not valid JSON ({_error_text(exc)})")
            continue
        if _has_lone_surrogate(obj):
            problems.skip(f"{where}: a lone surrogate escape (such as \\ud800) is not text")
            continue
        if not isinstance(obj, dict):
            problems.skip(f"{where}: expected a JSON object, got {type(obj).__name__}")
            continue
        for key in obj:
            if key not in JSONL_FIELDS:
                unknown.setdefault(key, []).append(lineno)
        if obj.get("id") is None:
            problems.skip(f'{where}: no "id"')
            continue
        qid = _question_id(obj.get("id"))
        if qid is None:
            problems.skip(f'{where}: "id" must be a non-empty string or number, not {json.dumps(obj["id"])[:60]}')
            continue
        question = obj.get("question")
        if not isinstance(question, str):
            problems.skip(f'{where} ({qid}): "question" must be text, not '
                          f'{"missing" if question is None else type(question).__name__}')
            continue
        if not question.strip():
            problems.skip(f"{where} ({qid}): empty question")
            continue
        if "evidence" not in obj and "passage_ids" not in obj:
            problems.skip(f'{where} ({qid}): no "evidence" or "passage_ids" '
                          '(use "evidence": [] for a question the corpus does not answer)')
            continue
        evidence = _strings(obj.get("evidence", []), "evidence", f"{where} ({qid})", problems)
        passage_ids = _strings(obj.get("passage_ids", []), "passage_ids", f"{where} ({qid})", problems)
        if evidence is None or passage_ids is None:
            continue
        if qid in first_line:
            problems.skip(f'{where}: duplicate id "{qid}" (first on line {first_line[qid]})')
            continue
        first_line[qid] = lineno
        questions.append(Question(id=qid, text=question, evidence=evidence, passage_ids=passage_ids, where=where))
    for key, where_lines in unknown.items():
        more = f" and {len(where_lines) - 1} more line(s)" if len(where_lines) > 1 else ""
        problems.warn(f'line {where_lines[0]}{more}: unknown field "{key}" ignored '
                      f"(known: {', '.join(sorted(JSONL_FIELDS))})")
    return questions


def context_doc_id(paragraph_id: Any, context: str) -> str:
    """A stable doc id for a SQuAD context: its paragraph id when it has one, else a hash of its text."""
    if isinstance(paragraph_id, (str, int)) and not isinstance(paragraph_id, bool):
        safe = _SAFE_ID.sub("_", str(paragraph_id)).strip("_")
        if safe:
            return safe
    return "ctx-" + hashlib.sha256(context.encode("utf-8")).hexdigest()[:CONTEXT_ID_CHARS]


def _count_squad_questions(data: dict[str, Any]) -> int:
    return sum(len(p["qas"]) for a in data["data"] if isinstance(a, dict) and isinstance(a.get("paragraphs"), list)
               for p in a["paragraphs"] if isinstance(p, dict) and isinstance(p.get("qas"), list))


def _parse_squad(data: Any, name: str, problems: _Problems,
                 max_questions: int | None) -> tuple[list[Question], list[Document]]:
    if not _is_squad(data):
        raise EvaluationError(f'{name}: not a SQuAD file (expected an object with a "data" list)')
    if max_questions is not None:
        count = _count_squad_questions(data)
        if count > max_questions:
            raise _too_many(name, count, max_questions)
    documents: list[Document] = []
    by_text: dict[str, str] = {}  # context -> doc id: the same context twice is one passage
    used_ids: set[str] = set()
    questions: list[Question] = []
    seen: dict[str, str] = {}
    for a, article in enumerate(data["data"]):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            problems.skip(f'data[{a}]: no "paragraphs" list')
            continue
        title = article.get("title") if isinstance(article.get("title"), str) else ""
        if _has_lone_surrogate(title):
            title = ""
        for p, para in enumerate(article["paragraphs"]):
            where_p = f"data[{a}].paragraphs[{p}]"
            context = para.get("context") if isinstance(para, dict) else None
            if not isinstance(context, str) or not context.strip():
                problems.skip(f'{where_p}: no "context" text')
                continue
            if _has_lone_surrogate(context):
                problems.skip(f"{where_p}: the context holds a lone surrogate escape (such as \\ud800), not text")
                continue
            key = context.strip()
            doc_id = by_text.get(key)
            if doc_id is None:
                doc_id = context_doc_id(para.get("id"), key)
                if doc_id in used_ids:  # the same paragraph id on two different texts
                    doc_id = context_doc_id(None, key)
                try:
                    doc = document_from_text(key, doc_id=doc_id, title=title or doc_id, source=f"{name}#{doc_id}")
                except CorpusError as exc:
                    problems.skip(f"{where_p}: {exc}")
                    continue
                documents.append(doc)
                by_text[key] = doc_id
                used_ids.add(doc_id)
            qas = para.get("qas")
            if not isinstance(qas, list):
                problems.warn(f'{where_p}: no "qas" list; its context is still part of the corpus')
                continue
            for i, qa in enumerate(qas):
                where = f"{where_p}.qas[{i}]"
                if not isinstance(qa, dict):
                    problems.skip(f"{where}: expected an object")
                    continue
                if _has_lone_surrogate(qa):
                    problems.skip(f"{where}: a lone surrogate escape (such as \\ud800) is not text")
                    continue
                qid = _question_id(qa.get("id"))
                if qid is None:
                    problems.skip(f'{where}: no usable "id"')
                    continue
                question = qa.get("question")
                if not isinstance(question, str) or not question.strip():
                    problems.skip(f"{where} ({qid}): empty or missing question")
                    continue
                if qid in seen:
                    problems.skip(f'{where}: duplicate id "{qid}" (first at {seen[qid]})')
                    continue
                seen[qid] = where
                impossible = qa.get("is_impossible") is True
                questions.append(Question(id=qid, text=question, doc_ids=() if impossible else (doc_id,),
                                          where=where))
    if not documents:
        raise EvaluationError(f"{name}: no context to make a corpus from")
    return questions, documents
