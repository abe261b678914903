"""Comparison of two evaluations: per-question scores paired by id, and a paired significance test.

Works from ``qa eval --json`` objects (files, report folders, dicts or reports): the
saved ranks of each question's relevant passages give back every metric. Tests
come from scipy.stats: the paired Student's t-test (``ttest_rel``) and the Fisher
randomization test (``permutation_test`` swapping the two systems' scores within
each question, exact when there are few questions).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import EvaluationError
from .metrics import LATENCY_PERCENTILES, metric_names, per_query_scores
from .results import NOT_FOUND_COUNTS, EvaluationReport

#: A difference is called significant when the paired test's p-value is at most this.
SIGNIFICANCE_LEVEL = 0.05
#: Paired tests :func:`compare` offers.
STAT_TESTS: tuple[str, ...] = ("student", "fisher")
#: Random within-question swaps drawn by the Fisher randomization test.
FISHER_PERMUTATIONS = 10_000
#: Seed of the randomization test, so that a comparison prints the same p-value every time.
FISHER_SEED = 42
TEST_DESCRIPTIONS = {
    "student": "two-sided paired Student's t-test over per-question scores (scipy.stats.ttest_rel)",
    "fisher": f"two-sided Fisher randomization test, {FISHER_PERMUTATIONS:,} within-question swaps "
              "(scipy.stats.permutation_test; exact below that many arrangements)",
}


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


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def paired_test(a: np.ndarray, b: np.ndarray, test: str = "student") -> float:
    """Two-sided p-value of a paired test of per-question scores: Student's t-test or Fisher randomization."""
    if test not in STAT_TESTS:
        raise EvaluationError(f"test must be one of {', '.join(STAT_TESTS)}, not {test!r}")
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or np.allclose(a, b):
        return 1.0
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nearly constant differences: scipy's precision note
        p = _p_value(stats, a, b, test)
    return 1.0 if math.isnan(p) else min(p, 1.0)


def _p_value(stats: Any, a: np.ndarray, b: np.ndarray, test: str) -> float:
    if test == "student":
        return float(stats.ttest_rel(a, b, alternative="two-sided").pvalue)
    return float(stats.permutation_test((a, b), _mean_difference, permutation_type="samples", vectorized=True,
                                        n_resamples=FISHER_PERMUTATIONS, alternative="two-sided",
                                        rng=np.random.default_rng(FISHER_SEED)).pvalue)


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
        """A readable bilingual table: A, B, B − A and the p-value per figure."""
        from .render import comparison_text

        return comparison_text(self.to_dict())


def _diff(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    return round(b - a, 6) if isinstance(a, float) or isinstance(b, float) else b - a


def compare(a: str | Path | Mapping[str, Any] | EvaluationReport, b: str | Path | Mapping[str, Any] | EvaluationReport,
            *, retriever_a: str | None = None, retriever_b: str | None = None,
            test: str = "student") -> Comparison:
    """Pair two evaluations by question id and test each metric's difference (B − A).

    Only questions answerable in both are paired; metrics are recomputed
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
    nf_keys = [k for k in (*NOT_FOUND_COUNTS, "ece") if k in ra.get("not_found", {})]
    nf = {k: {"a": ra["not_found"].get(k), "b": rb["not_found"].get(k),
              "diff": _diff(ra["not_found"].get(k), rb["not_found"].get(k))} for k in nf_keys}
    lat = {p: {"a": ra["latency_ms"].get(p), "b": rb["latency_ms"].get(p),
               "diff": _diff(ra["latency_ms"].get(p), rb["latency_ms"].get(p))} for p, _ in LATENCY_PERCENTILES}
    for side, d in (("A", da), ("B", db)):
        if d.get("interrupted"):
            warns.append(f"{side} was interrupted: it covers only part of its questions")
    return Comparison(
        a={"dataset": da.get("dataset"), "retriever": name_a, "path": label_a if label_a != "A" else None},
        b={"dataset": db.get("dataset"), "retriever": name_b, "path": label_b if label_b != "B" else None},
        n_paired=len(ids), test=test, metrics=table, not_found=nf, latency_ms=lat, warnings=warns)
