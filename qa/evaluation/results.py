"""The result model: one question's result, one retriever's results, the whole evaluation.

Pure data with derived figures (metrics via :mod:`.metrics`); rendering lives in
:mod:`.render`, the report folder in :mod:`.folder`. ``EvaluationReport.to_dict()``
is the ``qa eval --json`` object. It keeps, per question, the ranks of every
relevant passage and how many there are, which is all hit@k, MRR and nDCG need:
:func:`qa.evaluation.compare.compare` rebuilds per-question scores from it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import EvaluationError
from ..passages import PATH_SEPARATOR
from .labels import OUTCOMES
from .metrics import expected_calibration_error, latency_summary, mean_scores, metric_names, per_query_scores, \
    reliability

#: Version of the JSON layout written by :meth:`EvaluationReport.to_dict` (2: ``not_found.ece`` and
#: ``not_found.reliability`` added; paths are file names only).
SCHEMA_VERSION = 2
#: The not-found keys that are counts (the others are the calibration figures).
NOT_FOUND_COUNTS: tuple[str, ...] = ("unanswerable", "flagged_unanswerable", "answerable_flagged")


@dataclass(frozen=True)
class QuestionResult:
    """What one retriever returned for one question, judged against the question's relevant passages."""

    id: str
    question: str
    retriever: str
    relevant_ids: tuple[str, ...]
    """Every passage of the index judged relevant (empty: the corpus does not answer it)."""
    ranked_ids: tuple[str, ...]
    """The passage ids returned, best first."""
    found: bool
    """The assistant's own verdict: does the corpus answer the question?"""
    confidence: float
    """The answer's confidence (``Answer.confidence``) that the corpus answers the question."""
    latency_ms: float
    expects_answer: bool = True
    """What the questions file says (evidence or passage ids given); differs from
    ``answerable`` when the evidence is in no passage."""
    heading_paths: tuple[tuple[str, ...], ...] = ()
    """Heading path of each returned passage, in rank order."""
    top_scores: dict[str, float] = field(default_factory=dict)
    where: str = ""
    """Where the question is in its file (``line 4``, ``data[0].paragraphs[1].qas[2]``)."""

    @property
    def answerable(self) -> bool:
        return bool(self.relevant_ids)

    @property
    def answerability_known(self) -> bool:
        """Whether it is known if the corpus answers it (not an answerable question whose evidence matched nothing)."""
        return self.answerable or not self.expects_answer

    @property
    def relevant_ranks(self) -> list[int]:
        """1-based ranks of every relevant passage returned (a passage listed twice counts once)."""
        rel = set(self.relevant_ids)
        seen: set[str] = set()
        ranks = []
        for i, pid in enumerate(self.ranked_ids, start=1):
            if pid in rel and pid not in seen:
                ranks.append(i)
            seen.add(pid)
        return ranks

    @property
    def rank(self) -> int | None:
        """Rank of the first relevant passage returned, or ``None``."""
        ranks = self.relevant_ranks
        return ranks[0] if ranks else None

    @property
    def answered_at_top(self) -> bool:
        """The calibration target: the corpus answers it and the top hit is relevant."""
        return self.answerable and self.rank == 1

    @property
    def outcome(self) -> str:
        """One of :data:`~.labels.OUTCOMES` (see :data:`~.labels.OUTCOME_HELP`)."""
        if not self.answerable:
            if self.expects_answer:
                return "unjudged"
            return "answered_unanswerable" if self.found else "ok"
        if self.rank is None:
            return "missed"
        if not self.found:
            return "wrongly_not_found"
        return "low_rank" if self.rank > 1 else "ok"

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def top_passage_id(self) -> str | None:
        return self.ranked_ids[0] if self.ranked_ids else None

    @property
    def top_breadcrumb(self) -> str:
        return PATH_SEPARATOR.join(self.heading_paths[0]) if self.heading_paths else ""

    @property
    def relevant_heading_path(self) -> tuple[str, ...] | None:
        """Heading path of the first relevant passage returned."""
        r = self.rank
        return self.heading_paths[r - 1] if r is not None and r <= len(self.heading_paths) else None

    def sort_key(self) -> tuple[int, int]:
        """Failures first (worst outcome first), lower-ranked hits before better ones."""
        return OUTCOMES.index(self.outcome), -(self.rank or 0)

    def compact(self) -> dict[str, Any]:
        """What the JSON output keeps per question: enough to recompute every metric."""
        return {"id": self.id, "outcome": self.outcome, "answerable": self.answerable, "rank": self.rank,
                "relevant_ranks": self.relevant_ranks, "n_relevant": len(self.relevant_ids),
                "found": self.found, "confidence": self.confidence, "latency_ms": self.latency_ms,
                "top_passage_id": self.top_passage_id}

    def to_dict(self) -> dict[str, Any]:
        """Everything about the question, for the report folder's JSONL."""
        rel_path = self.relevant_heading_path
        return {
            "retriever": self.retriever, "id": self.id, "question": self.question, "where": self.where,
            "outcome": self.outcome, "ok": self.ok, "answerable": self.answerable, "rank": self.rank,
            "relevant_ranks": self.relevant_ranks, "n_relevant": len(self.relevant_ids),
            "relevant_heading_path": list(rel_path) if rel_path is not None else None,
            "relevant_breadcrumb": PATH_SEPARATOR.join(rel_path) if rel_path is not None else None,
            "relevant_passage_id": self.ranked_ids[self.rank - 1] if self.rank else None,
            "top_passage_id": self.top_passage_id, "top_breadcrumb": self.top_breadcrumb,
            "top_scores": dict(self.top_scores),
            "found": self.found, "confidence": self.confidence, "latency_ms": self.latency_ms,
            "relevant_ids": list(self.relevant_ids), "ranked_ids": list(self.ranked_ids),
        }


@dataclass
class RetrieverResult:
    """All questions' results for one retriever, and the figures over them."""

    retriever: str
    rows: list[QuestionResult]
    k: int

    def __post_init__(self) -> None:
        self.rows = sorted(self.rows, key=QuestionResult.sort_key)
        self._per_query: dict[str, dict[str, float]] | None = None

    @property
    def judged(self) -> list[QuestionResult]:
        """The answerable questions: the ones the metrics are over."""
        return [r for r in self.rows if r.answerable]

    @property
    def failures(self) -> list[QuestionResult]:
        return [r for r in self.rows if not r.ok]

    def per_query(self) -> dict[str, dict[str, float]]:
        """Every metric's score for every answerable question."""
        if self._per_query is None:
            judged = self.judged
            self._per_query = per_query_scores({r.id: r.relevant_ids for r in judged},
                                               {r.id: r.ranked_ids for r in judged}, metric_names(self.k))
        return self._per_query

    @property
    def metrics(self) -> dict[str, float | None]:
        return {m: (None if v is None else round(v, 6)) for m, v in mean_scores(self.per_query()).items()}

    def reliability(self) -> list[dict[str, Any]]:
        """Confidence against "answerable and its top hit relevant", by bin, over every judged question."""
        rows = [r for r in self.rows if r.answerability_known]
        return reliability([r.confidence for r in rows], [r.answered_at_top for r in rows])

    @property
    def not_found(self) -> dict[str, Any]:
        """How the "does the corpus answer it?" verdict did, and how well its confidence is calibrated."""
        unanswerable = [r for r in self.rows if not r.answerable and not r.expects_answer]
        table = self.reliability()
        return {
            "unanswerable": len(unanswerable),
            "flagged_unanswerable": sum(1 for r in unanswerable if not r.found),
            "answerable_flagged": sum(1 for r in self.judged if not r.found),
            "ece": expected_calibration_error(table),
            "reliability": table,
        }

    @property
    def latency_ms(self) -> dict[str, float | None]:
        return latency_summary([r.latency_ms for r in self.rows])

    def rank_counts(self) -> dict[str, int]:
        """Answerable questions by rank of their first relevant passage (``"none"``: not returned)."""
        counts = {str(i): 0 for i in range(1, self.k + 1)} | {"none": 0}
        for r in self.judged:
            counts[str(r.rank) if r.rank is not None and r.rank <= self.k else "none"] += 1
        return counts

    def to_dict(self, *, per_question: bool = True) -> dict[str, Any]:
        outcomes = Counter(r.outcome for r in self.rows)
        d: dict[str, Any] = {"n_questions": len(self.rows), "n_answerable": len(self.judged),
                             "metrics": self.metrics, "not_found": self.not_found, "latency_ms": self.latency_ms,
                             "outcomes": {o: outcomes[o] for o in OUTCOMES}}
        if per_question:
            d["per_question"] = [r.compact() for r in self.rows]
        return d


@dataclass
class EvaluationReport:
    """The result of :func:`qa.evaluate`: metrics per retriever, per-question rows, warnings.

    ``to_dict()`` is the JSON object ``qa eval --json`` prints; ``summary()`` the
    text table; ``write(folder)`` the report folder (CSV, JSONL, HTML, plots).
    """

    dataset: str
    path: str
    """The questions file's name (never a folder path: reports are shown to web users)."""
    format: str
    k: int
    results: dict[str, RetrieverResult]
    """One entry per retriever, in the order they were run; the first is the headline."""
    warnings: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    n_skipped: int = 0
    """Questions in the file that were not evaluated (see ``warnings`` for why)."""
    interrupted: bool = False
    """True when the run was stopped early: the results cover the questions done by then."""
    elapsed_s: float = 0.0
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @property
    def retrievers(self) -> list[str]:
        return list(self.results)

    @property
    def first(self) -> RetrieverResult:
        if not self.results:
            raise EvaluationError("the evaluation has no results (it was stopped before any question was done)")
        return next(iter(self.results.values()))

    @property
    def rows(self) -> list[QuestionResult]:
        """Per-question results of the first retriever, failures first."""
        return self.first.rows if self.results else []

    @property
    def metrics(self) -> dict[str, float | None]:
        return self.first.metrics if self.results else {m: None for m in metric_names(self.k)}

    def to_dict(self) -> dict[str, Any]:
        """The ``qa eval --json`` object: the first retriever's figures at top level, each in ``by_retriever``."""
        by = {name: res.to_dict() for name, res in self.results.items()}
        head = next(iter(by.values()), None) or RetrieverResult("", [], self.k).to_dict()
        rows = self.rows
        return {
            "schema_version": SCHEMA_VERSION,
            "dataset": self.dataset,
            "path": Path(self.path).name,
            "format": self.format,
            "n_questions": head["n_questions"],
            "n_answerable": head["n_answerable"],
            "n_unanswerable": head["not_found"]["unanswerable"],
            "n_unjudged": sum(1 for r in rows if r.outcome == "unjudged"),
            "n_skipped": self.n_skipped,
            "k": self.k,
            "retriever": self.retrievers[0] if self.results else None,
            "metrics": head["metrics"],
            "not_found": head["not_found"],
            "latency_ms": head["latency_ms"],
            "outcomes": head["outcomes"],
            "by_retriever": by,
            "per_question": head.get("per_question", []),
            "warnings": list(self.warnings),
            "interrupted": self.interrupted,
            "elapsed_s": round(self.elapsed_s, 2),
            "created": self.created,
            "config": self.config,
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    def summary(self) -> str:
        """A readable bilingual table: one row per figure, one column per retriever."""
        from .render import summary_text

        return summary_text(self.to_dict())

    def write(self, folder: str | Path) -> Path:
        """Write summary.json, questions.jsonl/.csv, the plots and index.html into ``folder``; return it."""
        from .folder import write_report

        return write_report(self, folder)
