"""Retrieval metrics (hit@k, MRR@10, nDCG@10), latency percentiles and confidence calibration.

Metrics come from ir-measures with its pytrec_eval (trec_eval) provider: compiled C,
no just-in-time compile step, nothing written to disk. They are fed scores made
from the assistant's ranks (``n - rank``), all distinct, so passages the assistant
tied keep the order it returned them in: trec_eval would otherwise break ties by
passage id. Everything here is pure: metrics can be checked on hand-made lists.
"""

from __future__ import annotations

from typing import Any, Collection, Mapping, Sequence

import numpy as np

#: Cutoffs reported as hit@k whatever ``k`` is (hit@k for the run's own ``k`` is added).
HIT_CUTOFFS: tuple[int, ...] = (1, 3, 5, 10)
#: Cutoff of MRR and nDCG.
RANK_CUTOFF = 10
#: Percentiles of per-question latency that are reported.
LATENCY_PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 50.0), ("p95", 95.0))
#: Equal-width bins of the reliability table and the expected calibration error.
CALIBRATION_BINS = 10


def metric_names(k: int | None = None) -> list[str]:
    """The metric keys reported: hit@1/3/5/10 (and hit@k), mrr@10, ndcg@10."""
    cutoffs = sorted(set(HIT_CUTOFFS) | ({k} if k else set()))
    return [f"hit@{c}" for c in cutoffs] + [f"mrr@{RANK_CUTOFF}", f"ndcg@{RANK_CUTOFF}"]


def _measure(metric: str) -> tuple[Any, int | None]:
    """Our metric name as (ir-measures measure, length the run is cut to first, if any).

    hit@k is Success@k and ndcg@k is nDCG@k. trec_eval's reciprocal rank has no
    cutoff (ir-measures' pytrec_eval provider silently ignores one), so mrr@k is RR
    over the run cut to its top k: a first relevant passage below rank k scores 0.
    """
    import ir_measures

    name, _, cutoff = metric.partition("@")
    if name not in ("hit", "mrr", "ndcg") or not cutoff.isdigit() or int(cutoff) < 1:
        raise ValueError(f"unknown metric {metric!r} (known: hit@k, mrr@k, ndcg@k)")
    k = int(cutoff)
    if name == "mrr":
        return ir_measures.RR, k
    return (ir_measures.Success if name == "hit" else ir_measures.nDCG) @ k, None


def per_query_scores(relevant: Mapping[str, Collection[str]], ranked: Mapping[str, Sequence[str]],
                     metrics: Sequence[str]) -> dict[str, dict[str, float]]:
    """Each metric's score for each query: ``{metric: {query id: score}}``.

    ``relevant`` maps a query to its relevant passage ids (queries with none are
    skipped: metrics are over answerable questions); ``ranked`` maps it to the ids
    returned, best first (a passage listed twice counts at its first rank).
    """
    names = list(dict.fromkeys(metrics))
    measures = {m: _measure(m) for m in names}
    queries = [q for q, rel in relevant.items() if rel]
    if not queries:
        return {m: {} for m in names}
    missing = [q for q in queries if q not in ranked]
    if missing:
        raise ValueError(f"no ranked list for {len(missing)} judged question(s), e.g. {missing[0]!r}")
    import ir_measures

    qrels = {q: {pid: 1 for pid in relevant[q]} for q in queries}
    lists = {q: list(dict.fromkeys(ranked[q])) for q in queries}
    out: dict[str, dict[str, float]] = {m: {q: 0.0 for q in queries} for m in names}
    for cut in dict.fromkeys(c for _, c in measures.values()):  # one trec_eval call per run length
        group = {measure: m for m, (measure, c) in measures.items() if c == cut}
        run = {q: {pid: float(len(ids) - i) for i, pid in enumerate(ids[:cut])} for q, ids in lists.items()}
        for result in ir_measures.pytrec_eval.iter_calc(list(group), qrels, run):
            out[group[result.measure]][result.query_id] = float(result.value)
    return out


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


def reliability(predicted: Sequence[float], observed: Sequence[bool | int],
                bins: int = CALIBRATION_BINS) -> list[dict[str, Any]]:
    """The reliability table: per equal-width bin of predicted probability, its mean and the observed share.

    Bin ``i`` holds predictions in ``[i/bins, (i+1)/bins)``, the last one including
    1.0; predictions outside 0..1 are clipped into it. Empty bins are listed with a
    count of 0 and no means, so the table always has ``bins`` rows.
    """
    p = np.clip(np.asarray(predicted, dtype=float), 0.0, 1.0)
    o = np.asarray(observed, dtype=float)
    if p.shape != o.shape:
        raise ValueError(f"{len(p)} predictions but {len(o)} observations")
    which = np.minimum((p * bins).astype(int), bins - 1)
    table = []
    for i in range(bins):
        mask = which == i
        n = int(mask.sum())
        table.append({"bin": [round(i / bins, 6), round((i + 1) / bins, 6)],
                      "mean_predicted": round(float(p[mask].mean()), 6) if n else None,
                      "observed": round(float(o[mask].mean()), 6) if n else None,
                      "count": n})
    return table


def expected_calibration_error(table: Sequence[Mapping[str, Any]]) -> float | None:
    """ECE of a :func:`reliability` table: the count-weighted mean of |mean predicted − observed share|."""
    total = sum(row["count"] for row in table)
    if not total:
        return None
    return round(sum(row["count"] * abs(row["mean_predicted"] - row["observed"]) for row in table if row["count"])
                 / total, 6)
