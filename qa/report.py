"""Evaluation results: per-question rows, ranx metrics, summaries, report folders and comparisons.

:mod:`qa.evaluate` runs questions through the assistant and hands the answers to
this module; everything here is pure (no model, no index), so metrics can be
checked on hand-made ranked lists. Metrics come from ranx, fed with scores made
from the assistant's ranks (``k - rank + 1``): ties in fused score are broken by
the order the assistant returned, never again by ranx.

The JSON form (:meth:`EvaluationReport.to_dict`) keeps, per question, the ranks of
every relevant passage and how many there are, which is all hit@k, MRR and nDCG
need; :func:`compare` rebuilds per-question scores from two such files and tests
the differences with a paired test.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Collection, Iterable, Mapping, Sequence

import numpy as np

from .errors import EvaluationError
from .passages import PATH_SEPARATOR

#: Cutoffs reported as hit@k whatever ``k`` is (hit@k for the run's own ``k`` is added).
HIT_CUTOFFS: tuple[int, ...] = (1, 3, 5, 10)
#: Cutoff of MRR and nDCG.
RANK_CUTOFF = 10
#: Version of the JSON layout written by :meth:`EvaluationReport.to_dict`.
SCHEMA_VERSION = 1
#: A difference is called significant when the paired test's p-value is at most this.
SIGNIFICANCE_LEVEL = 0.05
#: Paired tests :func:`compare` offers (both from ranx).
STAT_TESTS: tuple[str, ...] = ("student", "fisher")
#: Random permutations drawn by the Fisher randomization test.
FISHER_PERMUTATIONS = 10_000
#: Seed of the randomization test, so that a comparison prints the same p-value every time.
FISHER_SEED = 42
#: Percentiles of per-question latency that are reported.
LATENCY_PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 50.0), ("p95", 95.0))
#: At most this many warnings are listed in a text summary (the JSON and report folder have all).
MAX_WARNINGS_SHOWN = 10
#: At most this many failures per retriever are shown in ``index.html`` (the CSV/JSONL have all).
HTML_MAX_ROWS = 300
#: Size of the report's plots, in inches, and their resolution.
#: File name of the plot of where the first relevant passage was ranked.
RANK_PLOT = "ranks.png"
PLOT_SIZE = (7.0, 3.2)
PLOT_DPI = 110
#: Font size of the counts written on the rank-distribution bars.
BAR_LABEL_SIZE = 7
#: Room above the tallest bar of the log-scale plot (a factor), for its count label.
LOG_HEADROOM = 8

#: Outcomes from worst to best: the order rows are listed in ("failures first").
OUTCOMES: tuple[str, ...] = ("missed", "answered_unanswerable", "wrongly_not_found", "low_rank", "unjudged", "ok")
OUTCOME_HELP: dict[str, str] = {
    "missed": "answerable, but no relevant passage in the top k",
    "answered_unanswerable": "the corpus does not answer it, yet the assistant said it found an answer",
    "wrongly_not_found": "a relevant passage was returned, yet the assistant said the corpus does not answer it",
    "low_rank": "a relevant passage was returned, but not first",
    "unjudged": "the file says it is answerable, but its evidence is in no passage (left out of the metrics)",
    "ok": "relevant passage first (or, for an unanswerable question, flagged as not found)",
}


# -- metrics ---------------------------------------------------------------------------------------------

def metric_names(k: int | None = None) -> list[str]:
    """The metric keys reported: hit@1/3/5/10 (and hit@k), mrr@10, ndcg@10."""
    cutoffs = sorted(set(HIT_CUTOFFS) | ({k} if k else set()))
    return [f"hit@{c}" for c in cutoffs] + [f"mrr@{RANK_CUTOFF}", f"ndcg@{RANK_CUTOFF}"]


def _ranx_name(metric: str) -> str:
    """Our metric name as ranx spells it ("hit@k" is a share here; ranx's "hits@k" is a count)."""
    name, _, cutoff = metric.partition("@")
    return f"hit_rate@{cutoff}" if name == "hit" else metric


def per_query_scores(relevant: Mapping[str, Collection[str]], ranked: Mapping[str, Sequence[str]],
                     metrics: Sequence[str]) -> dict[str, dict[str, float]]:
    """Each metric's score for each query, computed by ranx: ``{metric: {query id: score}}``.

    ``relevant`` maps a query to its relevant passage ids (queries with none are
    skipped: metrics are over answerable questions); ``ranked`` maps it to the ids
    returned, best first. Scores given to ranx come from the rank alone, so
    passages the assistant tied keep the assistant's order.
    """
    queries = [q for q, rel in relevant.items() if rel]
    if not queries:
        return {m: {} for m in metrics}
    from ranx import Qrels, Run, evaluate  # slow to import (numba): only when there is something to score

    missing = [q for q in queries if q not in ranked]
    if missing:
        raise ValueError(f"no ranked list for {len(missing)} judged question(s), e.g. {missing[0]!r}")
    qrels = Qrels({q: {pid: 1 for pid in relevant[q]} for q in queries})
    run_dict: dict[str, dict[str, float]] = {}
    for q in queries:
        ids = list(dict.fromkeys(ranked[q]))  # a passage listed twice counts at its first rank
        run_dict[q] = {pid: float(len(ids) - i) for i, pid in enumerate(ids)}
    run = Run(run_dict)
    names = list(dict.fromkeys(metrics))
    ranx_names = [_ranx_name(m) for m in names]
    # ranx returns a bare array for a single metric: always ask for at least two.
    asked = ranx_names if len(ranx_names) > 1 else ranx_names + [f"mrr@{RANK_CUTOFF}"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's type-safety notes are not the user's concern
        scores = evaluate(qrels, run, asked, return_mean=False, save_results_in_run=False, threads=1)
    return {m: {q: float(v) for q, v in zip(queries, scores[r])} for m, r in zip(names, ranx_names)}


def mean_scores(per_query: Mapping[str, Mapping[str, float]]) -> dict[str, float | None]:
    """Mean of each metric over its queries (``None`` when there are none)."""
    return {m: (float(np.mean(list(s.values()))) if s else None) for m, s in per_query.items()}


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float | None]:
    """p50/p95 (and mean) of per-question latency in milliseconds."""
    if not latencies_ms:
        return {name: None for name, _ in LATENCY_PERCENTILES} | {"mean": None}
    values = np.asarray(latencies_ms, dtype=float)
    out: dict[str, float | None] = {name: round(float(np.percentile(values, p)), 2) for name, p in LATENCY_PERCENTILES}
    out["mean"] = round(float(values.mean()), 2)
    return out


# -- per-question results ----------------------------------------------------------------------------------

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
    def relevant_ranks(self) -> list[int]:
        """1-based ranks of every relevant passage returned."""
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
    def outcome(self) -> str:
        """One of :data:`OUTCOMES` (see :data:`OUTCOME_HELP`)."""
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


#: Columns of ``questions.csv`` (flat: scores spread over their own columns).
CSV_COLUMNS: tuple[str, ...] = (
    "retriever", "id", "question", "outcome", "rank", "relevant_breadcrumb", "relevant_passage_id",
    "top_passage_id", "top_breadcrumb", "top_dense", "top_lexical", "top_fused",
    "found", "confidence", "latency_ms", "n_relevant", "where",
)


def _csv_row(row: QuestionResult) -> dict[str, Any]:
    d = row.to_dict()
    for name in ("dense", "lexical", "fused"):
        d[f"top_{name}"] = row.top_scores.get(name)
    return {c: ("" if d.get(c) is None else d.get(c)) for c in CSV_COLUMNS}


@dataclass
class RetrieverResult:
    """All questions' results for one retriever, and the metrics over them."""

    retriever: str
    rows: list[QuestionResult]
    k: int

    def __post_init__(self) -> None:
        self.rows = sorted(self.rows, key=QuestionResult.sort_key)
        self._per_query: dict[str, dict[str, float]] | None = None

    @property
    def judged(self) -> list[QuestionResult]:
        return [r for r in self.rows if r.answerable]

    @property
    def failures(self) -> list[QuestionResult]:
        return [r for r in self.rows if not r.ok]

    def per_query(self) -> dict[str, dict[str, float]]:
        """ranx's score of every metric for every answerable question."""
        if self._per_query is None:
            judged = self.judged
            self._per_query = per_query_scores({r.id: r.relevant_ids for r in judged},
                                               {r.id: r.ranked_ids for r in judged}, metric_names(self.k))
        return self._per_query

    @property
    def metrics(self) -> dict[str, float | None]:
        return {m: (None if v is None else round(v, 6)) for m, v in mean_scores(self.per_query()).items()}

    @property
    def not_found(self) -> dict[str, int]:
        """How the "does the corpus answer it?" verdict did on unanswerable and answerable questions."""
        unanswerable = [r for r in self.rows if not r.answerable and not r.expects_answer]
        return {
            "unanswerable": len(unanswerable),
            "flagged_unanswerable": sum(1 for r in unanswerable if not r.found),
            "answerable_flagged": sum(1 for r in self.judged if not r.found),
        }

    @property
    def latency_ms(self) -> dict[str, float | None]:
        return latency_summary([r.latency_ms for r in self.rows])

    def rank_counts(self) -> dict[str, int]:
        """Answerable questions by rank of their first relevant passage (``"none"``: not returned)."""
        counts = {str(i): 0 for i in range(1, self.k + 1)} | {"none": 0}
        for r in self.judged:
            counts[str(r.rank) if r.rank is not None else "none"] += 1
        return counts

    def to_dict(self, *, per_question: bool = True) -> dict[str, Any]:
        outcomes = Counter(r.outcome for r in self.rows)
        d: dict[str, Any] = {"n_questions": len(self.rows), "n_answerable": len(self.judged),
                             "metrics": self.metrics, "not_found": self.not_found, "latency_ms": self.latency_ms,
                             "outcomes": {o: outcomes[o] for o in OUTCOMES}}
        if per_question:
            d["per_question"] = [r.compact() for r in self.rows]
        return d


# -- the report --------------------------------------------------------------------------------------------

@dataclass
class EvaluationReport:
    """The result of :func:`qa.evaluate`: metrics per retriever, per-question rows, warnings.

    ``to_dict()`` is the JSON object ``qa eval --json`` prints; ``summary()`` the
    text table; ``write(folder)`` the report folder (CSV, JSONL, HTML, plots).
    """

    dataset: str
    path: str
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

    # -- access ---------------------------------------------------------------------------------------------
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

    # -- JSON -------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The ``qa eval --json`` object: the first retriever's figures at top level, each in ``by_retriever``."""
        by = {name: res.to_dict() for name, res in self.results.items()}
        head = next(iter(by.values()), None) or RetrieverResult("", [], self.k).to_dict()
        n_answerable = head["n_answerable"]
        rows = self.rows
        return {
            "schema_version": SCHEMA_VERSION,
            "dataset": self.dataset,
            "path": self.path,
            "format": self.format,
            "n_questions": head["n_questions"],
            "n_answerable": n_answerable,
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

    # -- text -------------------------------------------------------------------------------------------------
    def summary(self) -> str:
        """A readable table: one row per metric, one column per retriever."""
        return summary_text(self.to_dict())

    # -- report folder ----------------------------------------------------------------------------------------
    def write(self, folder: str | Path) -> Path:
        """Write summary.json, questions.jsonl/.csv, the plots and index.html into ``folder``; return it."""
        folder = Path(folder).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            data = self.to_dict()
            (folder / "summary.json").write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
            all_rows = [row for res in self.results.values() for row in res.rows]
            with open(folder / "questions.jsonl", "w", encoding="utf-8") as f:
                for row in all_rows:
                    f.write(json.dumps(row.to_dict(), ensure_ascii=False) + "\n")
            # utf-8-sig: spreadsheet programs then read the Chinese text correctly
            with open(folder / "questions.csv", "w", encoding="utf-8-sig", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(CSV_COLUMNS))
                writer.writeheader()
                writer.writerows(_csv_row(r) for r in all_rows)
            plots = _plots(self)
            for name, png in plots.items():
                (folder / name).write_bytes(png)
            (folder / "index.html").write_text(_html(self, data, plots), encoding="utf-8")
        except OSError as exc:
            raise EvaluationError(f"{folder}: cannot write the report ({exc.strerror or exc})") from None
        return folder


# -- text rendering ----------------------------------------------------------------------------------------

def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for r in [header, *rows]:
        cells = [str(r[0]).ljust(widths[0])] + [str(c).rjust(w) for c, w in zip(r[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


#: How the not-found counts are labelled in tables.
NOT_FOUND_LABELS: dict[str, str] = {"unanswerable": "unanswerable questions",
                                     "flagged_unanswerable": "  of which flagged not found",
                                     "answerable_flagged": "answerable flagged not found"}


def _figure_rows(by: Mapping[str, Any]) -> list[list[str]]:
    """Metric, then not-found, then latency rows of a ``by_retriever`` mapping: a label and one cell per retriever."""
    names = list(by)
    first = by[names[0]]
    rows = [[m, *(_fmt(by[n]["metrics"].get(m)) for n in names)] for m in first["metrics"]]
    rows += [[NOT_FOUND_LABELS.get(k, k), *(_fmt(by[n]["not_found"].get(k)) for n in names)] for k in first["not_found"]]
    rows += [[f"latency {p} (ms)", *(_fmt(by[n]["latency_ms"].get(p), 1) for n in names)]
             for p, _ in LATENCY_PERCENTILES]
    return rows


def summary_text(data: Mapping[str, Any]) -> str:
    """The text summary of a ``to_dict()`` object (also of one read back from a ``--json`` file)."""
    by = data.get("by_retriever") or {}
    names = list(by)
    cfg = data.get("config") or {}
    head = (f"{data.get('dataset')} ({data.get('format')}): {data.get('n_questions')} questions, "
            f"{data.get('n_answerable')} answerable, {data.get('n_unanswerable')} unanswerable"
            + (f", {data['n_unjudged']} unjudged" if data.get("n_unjudged") else "")
            + (f", {data['n_skipped']} skipped" if data.get("n_skipped") else "")
            + f" · k={data.get('k')}")
    lines = [head]
    if cfg.get("corpus_description"):
        lines.append(f"corpus: {cfg['corpus_description']}")
    if not names:
        lines.append("no results")
    else:
        lines += ["", _table([""] + names, _figure_rows(by))]
        if len({by[n]["n_questions"] for n in names}) > 1:
            lines.append("(retrievers ran on different numbers of questions: "
                         + ", ".join(f"{n} {by[n]['n_questions']}" for n in names) + ")")
    if data.get("interrupted"):
        lines.append("\n⚠ interrupted: the figures cover only the questions done before the stop")
    warns = data.get("warnings") or []
    if warns:
        lines.append(f"\n{len(warns)} warning(s):")
        lines += [f"  {w}" for w in warns[:MAX_WARNINGS_SHOWN]]
        if len(warns) > MAX_WARNINGS_SHOWN:
            lines.append(f"  … and {len(warns) - MAX_WARNINGS_SHOWN} more (see the JSON output or --report)")
    return "\n".join(lines)


# -- plots and HTML -------------------------------------------------------------------------------------------

def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PLOT_DPI, bbox_inches="tight")
    return buf.getvalue()


#: Legend beside the plot, where it can never hide a bar.
_LEGEND: dict[str, Any] = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "frameon": False}


def _plots(report: EvaluationReport) -> dict[str, bytes]:
    """``ranks.png`` (where the first relevant passage was ranked) and, with several retrievers, ``metrics.png``."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    out: dict[str, bytes] = {}
    if not report.results:
        return out
    names = report.retrievers
    width = 0.8 / len(names)
    fig = Figure(figsize=PLOT_SIZE)
    ax = fig.add_subplot()
    labels = list(report.first.rank_counts())
    x = np.arange(len(labels))
    for i, name in enumerate(names):
        counts = report.results[name].rank_counts()
        bars = ax.bar(x + (i - (len(names) - 1) / 2) * width, [counts.get(lab, 0) for lab in labels], width,
                      label=name)
        ax.bar_label(bars, labels=[str(c) if c else "" for c in (counts.get(lab, 0) for lab in labels)],
                     fontsize=BAR_LABEL_SIZE, rotation=90 if len(names) > 1 else 0, padding=2)
    ax.set_xticks(x, labels)
    ax.set_xlabel("rank of the first relevant passage (none = not in the top k)")
    # Rank 1 usually dwarfs the rest: a log scale (linear near zero) keeps the tail readable.
    ax.set_yscale("symlog", linthresh=1)
    ax.set_ylim(0, max(max(r.rank_counts().values()) for r in report.results.values()) * LOG_HEADROOM + 1)
    ax.set_ylabel("answerable questions (log scale)")
    ax.set_title(f"{report.dataset}: rank distribution")
    if len(names) > 1:
        ax.legend(**_LEGEND)
    out[RANK_PLOT] = _png(fig)
    if len(names) > 1:
        fig = Figure(figsize=PLOT_SIZE)
        ax = fig.add_subplot()
        metric_keys = metric_names(report.k)
        x = np.arange(len(metric_keys))
        for i, name in enumerate(names):
            values = [report.results[name].metrics.get(m) or 0.0 for m in metric_keys]
            ax.bar(x + (i - (len(names) - 1) / 2) * width, values, width, label=name)
        ax.set_xticks(x, metric_keys)
        ax.set_ylim(0, 1)
        ax.set_ylabel("score")
        ax.set_title(f"{report.dataset}: metrics per retriever")
        ax.legend(**_LEGEND)
        out["metrics.png"] = _png(fig)
    return out


_CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;max-width:75em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .6em;vertical-align:top}
th{background:#f3f3f3;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.fail td:first-child{border-left:4px solid #c0392b}
.muted{color:#666}.warn{color:#a05a00}img{max-width:100%;border:1px solid #eee}
"""


def _e(value: Any) -> str:
    return html.escape(_fmt(value) if not isinstance(value, str) else value, quote=True)


def _html_table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, numeric_from: int = 1,
                row_class: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    tr = f'<tr class="{row_class}">' if row_class else "<tr>"
    body = []
    for r in rows:
        cells = "".join(f'<td class="num">{_e(c)}</td>' if i >= numeric_from else f"<td>{_e(c)}</td>"
                        for i, c in enumerate(r))
        body.append(f"{tr}{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _html(report: EvaluationReport, data: Mapping[str, Any], plots: Mapping[str, bytes]) -> str:
    """A self-contained page: no script, no stylesheet or font from the network; plots inlined."""
    by = data["by_retriever"]
    names = list(by)
    parts = [f"<h1>Evaluation: {_e(report.dataset)}</h1>",
             f'<p class="muted">{_e(data["n_questions"])} questions, {_e(data["n_answerable"])} answerable, '
             f'{_e(data["n_unanswerable"])} unanswerable · k={_e(report.k)} · {_e(report.created)} · '
             f'{_e(data["config"].get("corpus_description", ""))}</p>']
    if report.interrupted:
        parts.append('<p class="warn">Interrupted: the figures cover only the questions done before the stop.</p>')
    if names:
        rows = _figure_rows(by)
        n_metrics = len(by[names[0]]["metrics"])
        parts.append("<h2>Metrics</h2><p class=muted>Over answerable questions; hit@k is the share with a relevant "
                     "passage in the top k.</p>")
        parts.append(_html_table(["metric", *names], rows[:n_metrics]))
        parts.append("<h2>Not-found verdict and latency</h2>")
        parts.append(_html_table(["", *names], rows[n_metrics:]))
    for name, png in plots.items():
        parts.append(f'<p><img alt="{_e(name)}" src="data:image/png;base64,{base64.b64encode(png).decode()}"></p>')
    if report.warnings:
        parts.append(f"<h2>Warnings ({len(report.warnings)})</h2><ul>"
                     + "".join(f'<li class="warn">{_e(w)}</li>' for w in report.warnings) + "</ul>")
    parts.append("<h2>Failures</h2><p class=muted>"
                 + "; ".join(f"<b>{_e(o)}</b>: {_e(h)}" for o, h in OUTCOME_HELP.items() if o != "ok")
                 + '. All questions: <a href="questions.csv">questions.csv</a>, '
                   '<a href="questions.jsonl">questions.jsonl</a>; figures: <a href="summary.json">summary.json</a>.'
                 + "</p>")
    header = ["outcome", "id", "question", "rank", "relevant passage's headings", "top-1 passage",
              "top-1 headings", "dense", "lexical", "fused", "found"]
    for name, res in report.results.items():
        failures = res.failures
        shown = failures[:HTML_MAX_ROWS]
        parts.append(f"<h3>{_e(name)}: {len(failures)} of {len(res.rows)} questions</h3>")
        cells = ([r.outcome, r.id, r.question, d["rank"], d["relevant_breadcrumb"], d["top_passage_id"],
                  d["top_breadcrumb"], r.top_scores.get("dense"), r.top_scores.get("lexical"),
                  r.top_scores.get("fused"), r.found] for r in shown for d in (r.to_dict(),))
        parts.append(_html_table(header, cells, numeric_from=len(header), row_class="fail"))
        if len(failures) > len(shown):
            parts.append(f'<p class="muted">Showing {len(shown)} of {len(failures)}; see questions.csv.</p>')
    parts.append("<h2>Configuration</h2><pre>" + _e(json.dumps(data["config"], ensure_ascii=False, indent=2))
                 + "</pre>")
    return ("<!doctype html><html lang=zh><head><meta charset=utf-8>"
            f"<title>Evaluation: {_e(report.dataset)}</title><style>{_CSS}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")


# -- comparison ------------------------------------------------------------------------------------------------

def load_result(source: str | Path | Mapping[str, Any] | EvaluationReport) -> dict[str, Any]:
    """A ``to_dict()`` object from a report, a dict, or a ``qa eval --json`` file (or report folder)."""
    if isinstance(source, EvaluationReport):
        return source.to_dict()
    if isinstance(source, Mapping):
        return dict(source)
    path = Path(source).expanduser()
    if path.is_dir():
        path = path / "summary.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise EvaluationError(f"{path}: no such file") from None
    except OSError as exc:
        raise EvaluationError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise EvaluationError(f"{path}: not a JSON file ({exc})") from None
    if not isinstance(data, dict) or "by_retriever" not in data:
        raise EvaluationError(f"{path}: not the output of `qa eval --json` (no \"by_retriever\" key)")
    return data


def _pick(data: Mapping[str, Any], retriever: str | None, label: str) -> tuple[str, dict[str, Any]]:
    by = data.get("by_retriever") or {}
    if not by:
        raise EvaluationError(f"{label}: has no results")
    name = retriever or data.get("retriever") or next(iter(by))
    if name not in by:
        raise EvaluationError(f"{label}: no results for retriever {name!r} (it has {', '.join(by)})")
    if "per_question" not in by[name]:
        raise EvaluationError(f"{label}: no per-question results, so nothing can be paired")
    return name, by[name]


def _scores_from_ranks(per_question: Sequence[Mapping[str, Any]], ids: Sequence[str],
                       metrics: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-question metric scores rebuilt from saved ranks (relevant ranks + how many are relevant)."""
    by_id = {q["id"]: q for q in per_question}
    relevant: dict[str, list[str]] = {}
    ranked: dict[str, list[str]] = {}
    for qid in ids:
        q = by_id[qid]
        ranks = sorted(int(r) for r in q.get("relevant_ranks") or [])
        n_rel = max(int(q.get("n_relevant") or 0), len(ranks))
        relevant[qid] = [f"relevant-{i}" for i in range(n_rel)]
        ranked_list = [f"other-{r}" for r in range(1, (ranks[-1] if ranks else 0) + 1)]
        for i, r in enumerate(ranks):
            ranked_list[r - 1] = f"relevant-{i}"
        ranked[qid] = ranked_list
    scores = per_query_scores(relevant, ranked, metrics)
    return {m: np.array([scores[m][qid] for qid in ids], dtype=float) for m in metrics}


def paired_test(a: np.ndarray, b: np.ndarray, test: str = "student") -> float:
    """Two-sided p-value of a paired test (ranx's Student t-test or Fisher randomization test)."""
    from ranx.statistical_tests import fisher_randomization_test, paired_student_t_test

    if len(a) < 2 or np.allclose(a, b):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if test == "student":
            p, _ = paired_student_t_test(a, b, SIGNIFICANCE_LEVEL)
        elif test == "fisher":
            p, _ = fisher_randomization_test(a, b, FISHER_PERMUTATIONS, SIGNIFICANCE_LEVEL, FISHER_SEED)
        else:
            raise EvaluationError(f"test must be one of {', '.join(STAT_TESTS)}, not {test!r}")
    p = float(p)
    return 1.0 if math.isnan(p) else p


@dataclass
class Comparison:
    """Two evaluations paired question by question: per-metric difference (B − A) and p-value."""

    a: dict[str, Any]
    """``{"dataset", "retriever", "path"}`` of side A (likewise ``b``)."""
    b: dict[str, Any]
    n_paired: int
    test: str
    metrics: dict[str, dict[str, Any]]
    """``{metric: {"a", "b", "diff", "p_value", "significant"}}``."""
    not_found: dict[str, dict[str, Any]]
    latency_ms: dict[str, dict[str, Any]]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "n_paired": self.n_paired, "test": self.test,
                "test_description": TEST_DESCRIPTIONS[self.test], "alpha": SIGNIFICANCE_LEVEL,
                "metrics": self.metrics, "not_found": self.not_found, "latency_ms": self.latency_ms,
                "warnings": list(self.warnings)}

    def summary(self) -> str:
        lines = [f"A: {self.a['dataset']} [{self.a['retriever']}] {self.a.get('path') or ''}".rstrip(),
                 f"B: {self.b['dataset']} [{self.b['retriever']}] {self.b.get('path') or ''}".rstrip(),
                 f"{self.n_paired} answerable questions paired by id", ""]
        rows = [[m, _fmt(v["a"]), _fmt(v["b"]), _signed(v["diff"]),
                 (f"{v['p_value']:.4f}" if v["p_value"] is not None else "—") + (" *" if v["significant"] else "")]
                for m, v in self.metrics.items()]
        rows += [[NOT_FOUND_LABELS.get(k, k), _fmt(v["a"]), _fmt(v["b"]), _signed(v["diff"], 0), ""]
                 for k, v in self.not_found.items()]
        rows += [[f"latency {k} (ms)", _fmt(v["a"], 1), _fmt(v["b"], 1), _signed(v["diff"], 1), ""]
                 for k, v in self.latency_ms.items()]
        lines.append(_table(["", "A", "B", "B − A", "p"], rows))
        lines.append(f"\np: {TEST_DESCRIPTIONS[self.test]}; * p ≤ {SIGNIFICANCE_LEVEL}")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


TEST_DESCRIPTIONS = {
    "student": "two-sided paired Student's t-test over per-question scores (ranx.statistical_tests, scipy ttest_rel)",
    "fisher": f"two-sided Fisher randomization test, {FISHER_PERMUTATIONS:,} permutations (ranx.statistical_tests)",
}


def _signed(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:+.{digits}f}" if digits else f"{value:+d}"


def _diff(a: Any, b: Any) -> Any:
    return None if a is None or b is None else b - a


def compare(a: str | Path | Mapping[str, Any] | EvaluationReport, b: str | Path | Mapping[str, Any] | EvaluationReport,
            *, retriever_a: str | None = None, retriever_b: str | None = None,
            test: str = "student") -> Comparison:
    """Pair two evaluations by question id and test each metric's difference (B − A).

    Only questions answerable in both are paired; metrics are recomputed by ranx
    on exactly those questions, so the means can differ from each file's own
    headline figures when the question sets differ (a warning says so).
    """
    if test not in STAT_TESTS:
        raise EvaluationError(f"test must be one of {', '.join(STAT_TESTS)}, not {test!r}")
    da, db = load_result(a), load_result(b)
    label_a = str(a) if isinstance(a, (str, Path)) else "A"
    label_b = str(b) if isinstance(b, (str, Path)) else "B"
    name_a, ra = _pick(da, retriever_a, label_a)
    name_b, rb = _pick(db, retriever_b, label_b)
    qa_ = {q["id"]: q for q in ra["per_question"] if q.get("answerable")}
    qb_ = {q["id"]: q for q in rb["per_question"] if q.get("answerable")}
    ids = [qid for qid in qa_ if qid in qb_]
    warns = []
    only_a, only_b = len(qa_) - len(ids), len(qb_) - len(ids)
    if only_a or only_b:
        warns.append(f"{only_a} answerable question(s) only in A and {only_b} only in B were left out")
    if not ids:
        raise EvaluationError("the two evaluations have no answerable question id in common")
    if da.get("dataset") != db.get("dataset"):
        warns.append(f"different datasets: {da.get('dataset')} vs {db.get('dataset')}")
    metrics = [m for m in ra.get("metrics", {}) if m in rb.get("metrics", {})] or metric_names()
    sa = _scores_from_ranks(list(qa_.values()), ids, metrics)
    sb = _scores_from_ranks(list(qb_.values()), ids, metrics)
    table = {}
    for m in metrics:
        p = paired_test(sa[m], sb[m], test)
        mean_a, mean_b = float(sa[m].mean()), float(sb[m].mean())
        table[m] = {"a": round(mean_a, 6), "b": round(mean_b, 6), "diff": round(mean_b - mean_a, 6),
                    "p_value": round(p, 6), "significant": p <= SIGNIFICANCE_LEVEL}
    nf = {k: {"a": ra["not_found"].get(k), "b": rb["not_found"].get(k),
              "diff": _diff(ra["not_found"].get(k), rb["not_found"].get(k))} for k in ra.get("not_found", {})}
    lat = {p: {"a": ra["latency_ms"].get(p), "b": rb["latency_ms"].get(p),
               "diff": _diff(ra["latency_ms"].get(p), rb["latency_ms"].get(p))} for p, _ in LATENCY_PERCENTILES}
    for side, d in (("A", da), ("B", db)):
        if d.get("interrupted"):
            warns.append(f"{side} was interrupted: it covers only part of its questions")
    return Comparison(
        a={"dataset": da.get("dataset"), "retriever": name_a, "path": label_a if label_a != "A" else None},
        b={"dataset": db.get("dataset"), "retriever": name_b, "path": label_b if label_b != "B" else None},
        n_paired=len(ids), test=test, metrics=table, not_found=nf, latency_ms=lat, warnings=warns)
