"""The run: ask every question of a file through the assistant and judge the answers.

``evaluate("questions.jsonl")`` loads the questions (:mod:`.datasets`), judges
which passages of the index are relevant to each (:mod:`.judging`), asks them all
with :meth:`Assistant.ask_many_by_retriever` (the same path as :func:`qa.ask`:
there is no second retrieval path) and returns an
:class:`~qa.evaluation.results.EvaluationReport`. If the run is interrupted
(Ctrl-C), the report covers the questions done so far and says it was interrupted.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Sequence

from ..config import RETRIEVERS, Settings
from ..errors import EvaluationError, QuestionError
from ..index import ConsoleProgress, Progress, library_versions
from ..search import Answer
from .datasets import Dataset, Format, Question, load_questions
from .judging import judge_relevance
from .metrics import HIT_CUTOFFS, RANK_CUTOFF
from .results import EvaluationReport, QuestionResult, RetrieverResult

if TYPE_CHECKING:
    from ..assistant import Assistant
    from ..embed import Embedder

#: How many questions go to ``ask_many`` at once: how often progress is reported, and the
#: most work an interruption can lose.
QUESTIONS_PER_BATCH = 32
#: Libraries whose versions the report's configuration lists.
REPORTED_LIBRARIES: tuple[str, ...] = ("qa-assistant", "ir-measures", "pytrec-eval-terrier")

#: Progress callback for questions: (questions done, questions in all).
QuestionProgress = Callable[[int, int], None]

_ABSOLUTE_PATH = re.compile(r"(?:[A-Za-z]:)?[\\/][^\s'\"]*[\\/]([^\s'\"\\/]+)")


def without_folders(text: str) -> str:
    """``text`` with every absolute path cut to its last part: reports never show server folders."""
    return _ABSOLUTE_PATH.sub(lambda m: m.group(1), text)


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
    from ..assistant import Assistant

    if dataset.format == "squad":
        if corpus:
            raise EvaluationError(f"{dataset.name}: a SQuAD file is its own corpus; do not give a corpus with it")
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


def _settings_without_folders(settings: Settings) -> dict[str, Any]:
    """The settings as a dict, the cache and index folders cut to their names."""
    d = settings.to_dict()
    for key in ("cache_dir", "index_dir"):
        d[key] = Path(d[key]).name
    d["model"] = without_folders(str(d["model"]))
    return d


def _config(dataset: Dataset, assistant: Assistant, k: int, retrievers: Sequence[str]) -> dict[str, Any]:
    docs = assistant.documents
    titles = ", ".join(d.title for d in docs[:2]) + (" …" if len(docs) > 2 else "")
    description = (f"{dataset.name} 的上下文 contexts ({len(docs)} 段 passages)" if dataset.format == "squad"
                   else f"{titles} ({len(docs)} 个文档 document(s), {len(assistant.passages)} 段 passages)")
    return {
        "k": k,
        "retrievers": list(retrievers),
        "questions": dataset.name,
        "format": dataset.format,
        "corpus": [dataset.name] if dataset.format == "squad" else [Path(d.source).name for d in docs],
        "corpus_description": description,
        "n_documents": len(docs),
        "n_passages": len(assistant.passages),
        "model": without_folders(str(assistant.settings.model)),
        "model_identity": {k: without_folders(v) if isinstance(v, str) else v
                           for k, v in (getattr(assistant.embedder, "identity", {}) or {}).items()},
        "index_status": without_folders(str(getattr(assistant, "index_status", ""))),
        "relevance": ("own context (SQuAD)" if dataset.format == "squad" else
                      "normalized evidence (any string) is a substring of the normalized passage text "
                      "with its headings, "
                      "or the passage id is listed; judged over all passages of the index"),
        "metric_cutoffs": {"hit": sorted(set(HIT_CUTOFFS) | {k}), "mrr_ndcg": RANK_CUTOFF},
        "settings": _settings_without_folders(assistant.settings),
        "versions": library_versions(REPORTED_LIBRARIES),
    }


def evaluate(questions: str | Path, *, corpus: Sequence[str | Path] | None = None, format: Format = "auto",
             k: int = 10, retrievers: Sequence[str] | str = ("hybrid",), settings: Settings | None = None,
             assistant: Assistant | None = None, embedder: Embedder | None = None,
             progress: QuestionProgress | None | Literal[False] = None, index_progress: Progress | None = None,
             strict: bool = False, max_questions: int | None = None,
             spread: Callable[[Assistant], Any] | None = None) -> EvaluationReport:
    """Evaluate retrieval on a questions file: ``qa.evaluate("dev.jsonl", retrievers=("hybrid", "dense"))``.

    ``corpus`` (files/folders) or ``assistant`` give the corpus of a JSONL file
    (default: the bundled essay); a SQuAD file is its own corpus (a given assistant
    then lends only its settings and model). ``progress`` is called with (done,
    total) questions; ``None`` shows tqdm bars on stderr, ``False`` shows nothing.
    ``index_progress`` is called with (stage, fraction) while a corpus's index is
    built (a SQuAD file's can take minutes). ``strict`` stops at the first bad line instead of
    skipping it. Ctrl-C during
    the questions returns the report of what was done, marked ``interrupted``.
    ``max_questions`` (``None``: no limit; the web UI passes ``Settings.max_eval_questions``)
    refuses a larger file with :class:`EvaluationError` before any index is built or question asked.
    ``spread`` wraps the assistant the questions are asked through (the one given, or the one built for
    the corpus or the SQuAD file's contexts) in something with the same ``ask_many_by_retriever``;
    ``qa eval --ray`` passes a Ray actor pool (:class:`qa.stores.ray_eval.RaySpread`).
    """
    started = time.perf_counter()
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise EvaluationError(f"k must be a positive whole number, not {k!r}")
    retrievers = list(dict.fromkeys([retrievers] if isinstance(retrievers, str) else retrievers))
    bad = [r for r in retrievers if r not in RETRIEVERS]
    if not retrievers or bad:
        raise EvaluationError(f"retrievers must be among {', '.join(RETRIEVERS)}, not {bad or retrievers}")
    if max_questions is not None and (isinstance(max_questions, bool) or not isinstance(max_questions, int)
                                      or max_questions < 1):
        raise EvaluationError(f"max_questions must be a positive whole number or None, not {max_questions!r}")
    dataset = load_questions(questions, format, strict=strict, max_questions=max_questions)
    warns = list(dataset.warnings)
    n_skipped = dataset.n_skipped
    if k < max(HIT_CUTOFFS):
        warns.append(f"k={k}: metrics at cutoffs above {k} only see the top {k} passages")

    show = progress is None
    assistant = _make_assistant(dataset, corpus, settings, assistant, embedder, show, index_progress)
    asker = spread(assistant) if spread is not None else assistant

    # Questions the assistant would refuse (too long, only control characters) are skipped here,
    # so that one bad question cannot stop a batch.
    from ..assistant import clean_question

    usable: list[Question] = []
    for q in dataset.questions:
        try:
            clean_question(q.text, assistant.settings)
        except QuestionError as exc:
            if strict:
                raise EvaluationError(f"{dataset.name}: {q.where} ({q.id}): {exc}") from None
            warns.append(f"{q.where} ({q.id}): {exc}; skipped")
            n_skipped += 1
            continue
        usable.append(q)
    if not usable:
        raise EvaluationError(f"{dataset.name}: no question can be asked ({warns[-1] if warns else ''})")
    relevant, relevance_warnings = judge_relevance(usable, assistant.passages, assistant.index.normalized_texts)
    if strict and relevance_warnings:
        raise EvaluationError(f"{dataset.name}: {relevance_warnings[0]}")
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
            answers = asker.ask_many_by_retriever([q.text for q in batch], retrievers, k)
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
        dataset=dataset.name, path=dataset.name, format=dataset.format, k=k, results=results,
        warnings=warns, config=_config(dataset, assistant, k, retrievers), n_skipped=n_skipped,
        interrupted=interrupted, elapsed_s=time.perf_counter() - started,
    )
