"""qa.evaluation.metrics: hit@k, MRR@10, nDCG@10 against hand-computed values; latency; calibration."""

from __future__ import annotations

import math

import pytest

from qa.evaluation.metrics import (
    CALIBRATION_BINS,
    expected_calibration_error,
    latency_summary,
    metric_names,
    per_query_scores,
    reliability,
)

LOG2_3 = math.log2(3)


def test_metric_names_add_the_runs_own_k():
    assert metric_names(10) == ["hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "ndcg@10"]
    assert metric_names(4) == ["hit@1", "hit@3", "hit@4", "hit@5", "hit@10", "mrr@10", "ndcg@10"]


def test_per_query_scores_match_hand_computed_values():
    relevant = {"q1": {"a"}, "q2": {"b", "c"}, "q3": {"z"}}
    ranked = {"q1": ["a", "b", "c"], "q2": ["x", "b", "y", "c"], "q3": ["x", "y"]}
    s = per_query_scores(relevant, ranked, metric_names(10))
    assert s["hit@1"] == {"q1": 1.0, "q2": 0.0, "q3": 0.0}
    assert s["hit@3"] == {"q1": 1.0, "q2": 1.0, "q3": 0.0}
    assert s["mrr@10"] == pytest.approx({"q1": 1.0, "q2": 0.5, "q3": 0.0})
    # q2: relevant at ranks 2 and 4 of two relevant passages
    ideal = 1 + 1 / LOG2_3
    assert s["ndcg@10"]["q2"] == pytest.approx((1 / LOG2_3 + 1 / math.log2(5)) / ideal)
    assert s["ndcg@10"]["q1"] == pytest.approx(1.0)
    assert s["ndcg@10"]["q3"] == 0.0  # relevant passage not retrieved at all


@pytest.mark.parametrize("rank, mrr, hit10", [(10, 0.1, 1.0), (11, 0.0, 0.0), (15, 0.0, 0.0)])
def test_cutoffs_hold_below_rank_ten(rank, mrr, hit10):
    """trec_eval's reciprocal rank has no cutoff of its own: a first hit at rank 11 must score 0 in MRR@10."""
    ranked = [f"x{i}" for i in range(rank - 1)] + ["a"]
    s = per_query_scores({"q": {"a"}}, {"q": ranked}, ["mrr@10", "hit@10", "ndcg@10"])
    assert s["mrr@10"]["q"] == pytest.approx(mrr) and s["hit@10"]["q"] == hit10
    assert (s["ndcg@10"]["q"] > 0) == (rank <= 10)


def test_queries_without_relevant_passages_are_not_scored():
    s = per_query_scores({"q1": {"a"}, "u1": set()}, {"q1": ["b", "a"], "u1": ["a"]}, ["hit@1", "mrr@10"])
    assert s == {"hit@1": {"q1": 0.0}, "mrr@10": {"q1": 0.5}}
    assert per_query_scores({"u1": set()}, {"u1": ["a"]}, ["hit@1"]) == {"hit@1": {}}


def test_single_metric_duplicate_ids_and_empty_lists():
    s = per_query_scores({"q": {"a"}}, {"q": ["b", "b", "a"]}, ["mrr@10"])
    assert s == {"mrr@10": {"q": 0.5}}  # the repeated "b" counts once, at its first rank
    assert per_query_scores({"q": {"a"}}, {"q": []}, ["hit@1", "ndcg@10"]) == {"hit@1": {"q": 0.0},
                                                                              "ndcg@10": {"q": 0.0}}


def test_ties_follow_the_given_order_not_passage_ids():
    """trec_eval breaks score ties by document id; the ranks we pass are never tied."""
    s = per_query_scores({"q": {"a"}}, {"q": ["z", "a"]}, ["hit@1", "mrr@10"])
    assert s == {"hit@1": {"q": 0.0}, "mrr@10": {"q": 0.5}}


def test_unknown_metric_and_missing_ranked_list():
    with pytest.raises(ValueError, match="unknown metric"):
        per_query_scores({"q": {"a"}}, {"q": ["a"]}, ["map@10"])
    with pytest.raises(ValueError, match="no ranked list"):
        per_query_scores({"q": {"a"}}, {}, ["hit@1"])


def test_latency_summary():
    lat = latency_summary([10.0, 20.0, 30.0, 40.0, 100.0])
    assert lat["p50"] == 30.0 and lat["p95"] == pytest.approx(88.0) and lat["mean"] == 40.0
    assert latency_summary([])["p50"] is None


def test_reliability_bins_and_ece_by_hand():
    predicted = [0.05, 0.15, 0.15, 0.95, 1.0, 0.55]
    observed = [0, 0, 1, 1, 1, 0]
    table = reliability(predicted, observed)
    assert len(table) == CALIBRATION_BINS and [b["bin"] for b in table][:2] == [[0.0, 0.1], [0.1, 0.2]]
    by = {tuple(b["bin"]): b for b in table}
    assert by[(0.1, 0.2)] == {"bin": [0.1, 0.2], "mean_predicted": 0.15, "observed": 0.5, "count": 2}
    top = by[(0.9, 1.0)]
    assert top["count"] == 2 and top["mean_predicted"] == pytest.approx(0.975)  # 1.0 falls in the last bin
    assert by[(0.3, 0.4)] == {"bin": [0.3, 0.4], "mean_predicted": None, "observed": None, "count": 0}
    expected = (abs(0.05 - 0) + 2 * abs(0.15 - 0.5) + 2 * abs(0.975 - 1) + abs(0.55 - 0)) / 6
    assert expected_calibration_error(table) == pytest.approx(expected, abs=1e-6)


def test_calibration_edge_cases():
    assert expected_calibration_error(reliability([], [])) is None
    assert expected_calibration_error(reliability([0.25, 0.25], [0, 1])) == pytest.approx(0.25)
    assert expected_calibration_error(reliability([1.5, -1.0], [1, 0])) == 0.0  # clipped into 0..1
    with pytest.raises(ValueError, match="2 predictions but 1 observations"):
        reliability([0.1, 0.2], [1])
