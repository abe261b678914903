"""Batch evaluation: run a file of questions through the assistant and measure retrieval.

``evaluate("questions.jsonl")`` loads the questions, judges which passages of the
index are relevant to each, asks them all with :meth:`Assistant.ask_many` (the
same path as :func:`qa.ask`: there is no second retrieval path) and returns an
:class:`~qa.report.EvaluationReport`.

Two input formats:

* **JSONL**, one object a line: ``id``, ``question``, and ``evidence`` (strings a
  relevant passage contains, compared after :func:`qa.normalize.normalize`; a
  passage containing *any* of them, in its text or its headings, is relevant;
  ``[]`` = the corpus does not answer the question) and/or ``passage_ids`` (ids of relevant passages). The
  corpus is the bundled essay unless ``corpus`` names files or folders.
* **SQuAD** (CMRC 2018, DRCD): every distinct context of the file is one
  passage of the corpus, and a question's relevant passage is its own context.
  SQuAD 2.0 questions marked ``is_impossible`` are unanswerable.

Bad input: a problem with the whole file (missing, not UTF-8, not JSON, no usable
question) stops with :class:`~qa.errors.EvaluationError`. A problem with one line
or question (invalid JSON, no question, duplicate id, wrong types) skips that
question with a warning naming its line; unknown fields are ignored with a
warning. ``strict=True`` turns every such warning into an error. Warnings are
listed in the report. If the run is interrupted (Ctrl-C), the report covers the
questions done so far and says it was interrupted.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Sequence

from .config import RETRIEVERS, Settings
from .corpus import Document, document_from_text
from .errors import CorpusError, EvaluationError, QuestionError
from .index import ConsoleProgress, Progress, library_versions
from .normalize import normalize
from .passages import Passage
from .report import HIT_CUTOFFS, RANK_CUTOFF, Comparison, EvaluationReport, QuestionResult, RetrieverResult, compare
from .search import Answer

if TYPE_CHECKING:
    from .assistant import Assistant
    from .embed import Embedder

__all__ = [
    "Comparison", "Dataset", "EvaluationReport", "Question", "QuestionResult", "compare", "evaluate",
    "judge_relevance", "load_questions", "result_from_answer",
]

Format = Literal["auto", "jsonl", "squad"]
FORMATS: tuple[str, ...] = ("auto", "jsonl", "squad")
#: Fields a JSONL question may have; any other field is ignored with a warning.
JSONL_FIELDS: frozenset[str] = frozenset({"id", "question", "evidence", "passage_ids"})
#: How many questions go to ``ask_many`` at once: how often progress is reported, and the
#: most work an interruption can lose.
QUESTIONS_PER_BATCH = 32
#: Length of the context hash used as a doc id when a SQuAD paragraph has no usable id.
CONTEXT_ID_CHARS = 12

#: Progress callback for questions: (questions done, questions in all).
QuestionProgress = Callable[[int, int], None]


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

    def __init__(self, path: Path, strict: bool) -> None:
        self.path, self.strict = path, strict
        self.warnings: list[str] = []
        self.skipped = 0

    def warn(self, message: str) -> None:
        if self.strict:
            raise EvaluationError(f"{self.path}: {message}")
        self.warnings.append(message)

    def skip(self, message: str) -> None:
        self.skipped += 1
        self.warn(f"{message}; skipped")


# -- loading ----------------------------------------------------------------------------------------------

def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EvaluationError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise EvaluationError(f"{path}: is a folder; give a .jsonl or SQuAD .json file") from None
    except OSError as exc:
        raise EvaluationError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EvaluationError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None


def _is_squad(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("data"), list)


def load_questions(path: str | Path, format: Format = "auto", *, strict: bool = False) -> Dataset:
    """Read a JSONL or SQuAD questions file (see the module docstring for what is skipped or stops)."""
    if format not in FORMATS:
        raise EvaluationError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    path = Path(path).expanduser()
    text = _read(path)
    if not text.strip():
        raise EvaluationError(f"{path}: the file is empty")
    whole: Any = None  # the file as one JSON document, parsed once whether guessing the format or reading it
    error: ValueError | None = None
    if format == "squad" or (format == "auto" and text.lstrip().startswith("{")):
        try:
            whole = json.loads(text)
        except ValueError as exc:
            error = exc
    fmt = ("squad" if _is_squad(whole) else "jsonl") if format == "auto" else format
    problems = _Problems(path, strict)
    if fmt == "squad":
        if error is not None:
            raise EvaluationError(f"{path}: not valid JSON ({error.msg} at line {getattr(error, 'lineno', '?')} "
                                  f"column {getattr(error, 'colno', '?')})")
        questions, documents = _parse_squad(whole, path, problems)
    else:
        questions, documents = _parse_jsonl(text, problems), None
    if not questions:
        first = f" ({problems.warnings[0]}{' …' if len(problems.warnings) > 1 else ''})" if problems.warnings else ""
        raise EvaluationError(f"{path}: no usable question{first}")
    return Dataset(name=path.name, path=path, format=fmt, questions=questions, documents=documents,
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


def _parse_jsonl(text: str, problems: _Problems) -> list[Question]:
    questions: list[Question] = []
    first_line: dict[str, int] = {}
    unknown: dict[str, list[int]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {lineno}"
        try:
            obj = json.loads(line)
        except ValueError as exc:
            problems.skip(f"{where}: not valid JSON ({exc.msg} at column {getattr(exc, 'colno', '?')})")
            continue
        if not isinstance(obj, dict):
            problems.skip(f"{where}: expected a JSON object, got {type(obj).__name__}")
            continue
        for key in obj:
            if key not in JSONL_FIELDS:
                unknown.setdefault(key, []).append(lineno)
        qid = obj.get("id")
        if qid is None:
            problems.skip(f'{where}: no "id"')
            continue
        if isinstance(qid, bool) or not isinstance(qid, (str, int)) or not str(qid).strip():
            problems.skip(f'{where}: "id" must be a non-empty string or number, not {json.dumps(qid)}')
            continue
        qid = str(qid).strip()
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
    for key, lines in unknown.items():
        more = f" and {len(lines) - 1} more line(s)" if len(lines) > 1 else ""
        problems.warn(f'line {lines[0]}{more}: unknown field "{key}" ignored '
                      f"(known: {', '.join(sorted(JSONL_FIELDS))})")
    return questions


_SAFE_ID = re.compile(r"[^\w\-]+")


def context_doc_id(paragraph_id: Any, context: str) -> str:
    """A stable doc id for a SQuAD context: its paragraph id when it has one, else a hash of its text."""
    if isinstance(paragraph_id, (str, int)) and not isinstance(paragraph_id, bool):
        safe = _SAFE_ID.sub("_", str(paragraph_id)).strip("_")
        if safe:
            return safe
    return "ctx-" + hashlib.sha256(context.encode("utf-8")).hexdigest()[:CONTEXT_ID_CHARS]


def _parse_squad(data: Any, path: Path, problems: _Problems) -> tuple[list[Question], list[Document]]:
    if not _is_squad(data):
        raise EvaluationError(f'{path}: not a SQuAD file (expected an object with a "data" list)')
    source = str(path.resolve())
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
        for p, para in enumerate(article["paragraphs"]):
            where_p = f"data[{a}].paragraphs[{p}]"
            context = para.get("context") if isinstance(para, dict) else None
            if not isinstance(context, str) or not context.strip():
                problems.skip(f'{where_p}: no "context" text')
                continue
            key = context.strip()
            doc_id = by_text.get(key)
            if doc_id is None:
                doc_id = context_doc_id(para.get("id"), key)
                if doc_id in used_ids:  # the same paragraph id on two different texts
                    doc_id = context_doc_id(None, key)
                try:
                    doc = document_from_text(key, doc_id=doc_id, title=title or doc_id, source=f"{source}#{doc_id}")
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
                qid = qa.get("id")
                if isinstance(qid, bool) or not isinstance(qid, (str, int)) or not str(qid).strip():
                    problems.skip(f'{where}: no usable "id"')
                    continue
                qid = str(qid).strip()
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
        raise EvaluationError(f"{path}: no context to make a corpus from")
    return questions, documents


# -- relevance ----------------------------------------------------------------------------------------------

def judge_relevance(questions: Sequence[Question], passages: Sequence[Passage],
                    normalized_texts: Sequence[str] | None = None) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """Every passage relevant to each question, judged over all passages of the index.

    A passage is relevant when its normalized text, headings included (its
    ``context_text()``, what the retrievers see), contains any of the question's
    normalized evidence strings; when its id is listed in ``passage_ids``; or
    (SQuAD) when it comes from the question's own context. Headings count because
    they are never passages of their own: evidence quoting a heading makes the
    passages under it relevant instead of matching nothing. Returns the relevant
    ids per question id (in index order) and warnings about evidence or ids that
    match nothing. ``normalized_texts`` (an index's ``Index.normalized_texts``) spares
    normalising the passages again.
    """
    texts = normalized_texts if normalized_texts is not None else [normalize(p.context_text()) for p in passages]
    ids = {p.id for p in passages}
    by_doc: dict[str, list[str]] = {}
    for p in passages:
        by_doc.setdefault(p.doc_id, []).append(p.id)
    relevant: dict[str, tuple[str, ...]] = {}
    warns: list[str] = []
    for q in questions:
        found: set[str] = set()
        for ev in q.evidence:
            needle = normalize(ev)
            hits = {p.id for p, t in zip(passages, texts) if needle and needle in t}
            if not hits:
                warns.append(f'{q.where} ({q.id}): evidence "{ev[:40]}" is in no passage of the corpus')
            found |= hits
        for pid in q.passage_ids:
            if pid in ids:
                found.add(pid)
            else:
                warns.append(f'{q.where} ({q.id}): passage id "{pid}" is not in the index; ignored')
        for doc_id in q.doc_ids:
            found.update(by_doc.get(doc_id, ()))
        if q.expects_answer and not found:
            warns.append(f"{q.where} ({q.id}): no relevant passage in the corpus; left out of the metrics")
        relevant[q.id] = tuple(p.id for p in passages if p.id in found)
    return relevant, warns


# -- answers to rows ------------------------------------------------------------------------------------------

def result_from_answer(question: Question, answer: Answer, relevant_ids: Sequence[str],
                       retriever: str) -> QuestionResult:
    """Judge one answer: where its relevant passages rank, and its not-found verdict."""
    hits = list(answer.hits)
    top = hits[0] if hits else None
    return QuestionResult(
        id=question.id, question=question.text, retriever=retriever, relevant_ids=tuple(relevant_ids),
        ranked_ids=tuple(h.passage_id for h in hits), found=bool(answer.found), confidence=float(answer.confidence),
        latency_ms=float(answer.latency_ms), expects_answer=question.expects_answer,
        heading_paths=tuple(tuple(h.heading_path) for h in hits),
        top_scores=dict(top.scores) if top is not None else {}, where=question.where,
    )


# -- the run --------------------------------------------------------------------------------------------------

def _make_assistant(dataset: Dataset, corpus: Sequence[str | Path] | None, settings: Settings | None,
                    assistant: Assistant | None, embedder: Embedder | None, show_progress: bool,
                    index_progress: Progress | None = None) -> Assistant:
    """The assistant whose index the questions are asked against."""
    from .assistant import Assistant

    if dataset.format == "squad":
        if corpus:
            raise EvaluationError(f"{dataset.path}: a SQuAD file is its own corpus; do not give a corpus with it")
        # The file's contexts are the corpus, each one passage. A given assistant lends its settings and model.
        base = settings or (assistant.settings if assistant is not None else Settings())
        embedder = embedder or (assistant.embedder if assistant is not None else None)
        docs, ctx_settings = dataset.documents, base.with_(split_contexts=False)
    elif assistant is not None:
        if corpus:
            raise EvaluationError("give a corpus or an assistant, not both")
        if settings is None or settings == assistant.settings:
            return assistant
        # Explicit settings win, as for a SQuAD file: the assistant lends its corpus and model.
        docs, ctx_settings, embedder = assistant.documents, settings, embedder or assistant.embedder
    else:
        docs, ctx_settings = (list(corpus) if corpus else None), settings or Settings()
    bar = ConsoleProgress() if show_progress and index_progress is None else None
    try:
        return Assistant(docs, ctx_settings, embedder=embedder, progress=index_progress or bar)
    finally:
        if bar is not None:
            bar.close()


def _config(dataset: Dataset, assistant: Assistant, k: int, retrievers: Sequence[str]) -> dict[str, Any]:
    docs = assistant.documents
    titles = ", ".join(d.title for d in docs[:2]) + (" …" if len(docs) > 2 else "")
    description = (f"{dataset.name} contexts ({len(docs)} passages)" if dataset.format == "squad"
                   else f"{titles} ({len(docs)} document(s), {len(assistant.passages)} passages)")
    return {
        "k": k,
        "retrievers": list(retrievers),
        "questions": str(dataset.path),
        "format": dataset.format,
        "corpus": [str(dataset.path)] if dataset.format == "squad" else [d.source for d in docs],
        "corpus_description": description,
        "n_documents": len(docs),
        "n_passages": len(assistant.passages),
        "model": assistant.settings.model,
        "model_identity": dict(getattr(assistant.embedder, "identity", {}) or {}),
        "index_status": getattr(assistant, "index_status", ""),
        "relevance": ("own context (SQuAD)" if dataset.format == "squad" else
                      "normalized evidence (any string) is a substring of the normalized passage text "
                      "with its headings, "
                      "or the passage id is listed; judged over all passages of the index"),
        "metric_cutoffs": {"hit": sorted(set(HIT_CUTOFFS) | {k}), "mrr_ndcg": RANK_CUTOFF},
        "settings": assistant.settings.to_dict(),
        "versions": library_versions(("qa-assistant", "ranx")),
    }


def evaluate(questions: str | Path, *, corpus: Sequence[str | Path] | None = None, format: Format = "auto",
             k: int = 10, retrievers: Sequence[str] | str = ("hybrid",), settings: Settings | None = None,
             assistant: Assistant | None = None, embedder: Embedder | None = None,
             progress: QuestionProgress | None | Literal[False] = None, index_progress: Progress | None = None,
             strict: bool = False) -> EvaluationReport:
    """Evaluate retrieval on a questions file: ``qa.evaluate("dev.jsonl", retrievers=("hybrid", "dense"))``.

    ``corpus`` (files/folders) or ``assistant`` give the corpus of a JSONL file
    (default: the bundled essay); a SQuAD file is its own corpus (a given assistant
    then lends only its settings and model). ``progress`` is called with (done,
    total) questions; ``None`` shows tqdm bars on stderr, ``False`` shows nothing.
    ``index_progress`` is called with (stage, fraction) while a corpus's index is
    built (a SQuAD file's can take minutes). ``strict`` stops at the first bad line instead of skipping it. Ctrl-C during
    the questions returns the report of what was done, marked ``interrupted``.
    """
    started = time.perf_counter()
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise EvaluationError(f"k must be a positive whole number, not {k!r}")
    retrievers = list(dict.fromkeys([retrievers] if isinstance(retrievers, str) else retrievers))
    bad = [r for r in retrievers if r not in RETRIEVERS]
    if not retrievers or bad:
        raise EvaluationError(f"retrievers must be among {', '.join(RETRIEVERS)}, not {bad or retrievers}")
    dataset = load_questions(questions, format, strict=strict)
    warns = list(dataset.warnings)
    n_skipped = dataset.n_skipped
    if k < max(HIT_CUTOFFS):
        warns.append(f"k={k}: metrics at cutoffs above {k} only see the top {k} passages")

    show = progress is None
    assistant = _make_assistant(dataset, corpus, settings, assistant, embedder, show, index_progress)

    # Questions the assistant would refuse (too long, only control characters) are skipped here,
    # so that one bad question cannot stop a batch.
    from .assistant import clean_question

    usable: list[Question] = []
    for q in dataset.questions:
        try:
            clean_question(q.text, assistant.settings)
        except QuestionError as exc:
            if strict:
                raise EvaluationError(f"{dataset.path}: {q.where} ({q.id}): {exc}") from None
            warns.append(f"{q.where} ({q.id}): {exc}; skipped")
            n_skipped += 1
            continue
        usable.append(q)
    if not usable:
        raise EvaluationError(f"{dataset.path}: no question can be asked ({warns[-1] if warns else ''})")
    relevant, relevance_warnings = judge_relevance(usable, assistant.passages, assistant.index.normalized_texts)
    if strict and relevance_warnings:
        raise EvaluationError(f"{dataset.path}: {relevance_warnings[0]}")
    warns += relevance_warnings

    from tqdm import tqdm

    bar = tqdm(total=len(usable) * len(retrievers), desc="evaluating", unit="q", file=sys.stderr, leave=False,
               disable=not show)
    rows: dict[str, list[QuestionResult]] = {name: [] for name in retrievers}
    done = 0  # answers, one per question and retriever
    interrupted = False
    try:
        for start in range(0, len(usable), QUESTIONS_PER_BATCH):
            batch = usable[start:start + QUESTIONS_PER_BATCH]
            answers = assistant.ask_many_by_retriever([q.text for q in batch], retrievers, k)
            for name in retrievers:
                rows[name] += [result_from_answer(q, a, relevant[q.id], name) for q, a in zip(batch, answers[name])]
            done += len(batch) * len(retrievers)
            bar.update(len(batch) * len(retrievers))
            if callable(progress):
                progress(done, len(usable) * len(retrievers))
    except KeyboardInterrupt:
        interrupted = True
        warns.append(f"interrupted after {len(rows[retrievers[0]])} of {len(usable)} questions")
    finally:
        bar.close()
    results = {name: RetrieverResult(name, found, k) for name, found in rows.items() if found}

    return EvaluationReport(
        dataset=dataset.name, path=str(dataset.path), format=dataset.format, k=k, results=results,
        warnings=warns, config=_config(dataset, assistant, k, retrievers), n_skipped=n_skipped,
        interrupted=interrupted, elapsed_s=time.perf_counter() - started,
    )
