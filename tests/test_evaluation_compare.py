"""qa.evaluation.compare: pairing by question id, metrics rebuilt from saved ranks, scipy's paired tests."""

from __future__ import annotations

import json

import numpy as np
import pytest
from evaluation_helpers import report_of, row, toy_report

from qa import compare
from qa.errors import EvaluationError
from qa.evaluation.compare import paired_test


def test_compare_pairs_questions_and_tests_differences():
    rep = toy_report()
    same = compare(rep, rep)
    assert same.n_paired == 2
    assert all(v["diff"] == 0 and v["p_value"] == 1.0 for v in same.metrics.values())
    cross = compare(rep, rep, retriever_a="hybrid", retriever_b="dense")
    assert cross.metrics["hit@1"] == {"a": 0.5, "b": 0.0, "diff": -0.5, "p_value": pytest.approx(0.5),
                                      "significant": False}
    assert cross.metrics["mrr@10"]["b"] == pytest.approx(0.25)
    assert cross.not_found["flagged_unanswerable"] == {"a": 1, "b": 0, "diff": -1}
    assert set(cross.not_found) == {"unanswerable", "flagged_unanswerable", "answerable_flagged", "ece"}
    text = cross.summary()
    assert "B − A" in text and "首位命中" in text and "paired Student's t-test" in text


def test_compare_recomputes_metrics_from_saved_ranks():
    """The saved per-question ranks give back exactly the metrics computed from passage ids."""
    rows = [row("a1", ("p1", "p5"), ("p2", "p1", "p3", "p5")), row("a2", ("p3",), ("p1", "p2")),
            row("a3", ("p4", "p6", "p7"), ("p4", "p6"))]
    rep = report_of({"hybrid": rows})
    saved = json.loads(rep.to_json())
    result = compare(saved, saved)
    for m, v in result.metrics.items():
        assert v["a"] == pytest.approx(rep.metrics[m], abs=1e-6), m


def test_compare_warns_about_unpaired_questions_and_rejects_bad_input(tmp_path):
    a = report_of({"hybrid": [row("a1", ("p1",), ("p1",)), row("a2", ("p1",), ("p1",))]})
    b = report_of({"hybrid": [row("a1", ("p1",), ("p2", "p1")), row("b9", ("p1",), ("p1",))]})
    c = compare(a, b, test="fisher")
    assert c.n_paired == 1 and "1 answerable question(s) only in A and 1 only in B" in c.warnings[0]
    with pytest.raises(EvaluationError, match="no results for retriever 'dense'"):
        compare(a, b, retriever_a="dense")
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    with pytest.raises(EvaluationError, match="not the output of `qa eval --json`"):
        compare(bad, a)
    with pytest.raises(EvaluationError, match="no answerable question id in common"):
        compare(a, report_of({"hybrid": [row("zz", ("p1",), ("p1",))]}))
    with pytest.raises(EvaluationError, match="test must be one of"):
        compare(a, b, test="wilcoxon")


def test_paired_tests_against_known_values():
    from scipy import stats

    rng = np.random.default_rng(0)
    a = rng.random(40)
    b = a + 0.3 + rng.normal(0, 0.05, 40)
    assert paired_test(a, b, "student") == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert paired_test(a, b, "fisher") < 0.001  # every question better: no random swap reaches it
    assert paired_test(a, a, "fisher") == 1.0 and paired_test(a[:1], b[:1], "student") == 1.0
    noise = rng.permutation(a)
    assert paired_test(a, noise, "fisher") > 0.05
    # few questions: the exact test over every swap; 3 questions all +1 -> 2 of 8 arrangements as extreme
    assert paired_test(np.zeros(3), np.ones(3), "fisher") == pytest.approx(0.25)
    assert paired_test(a, b, "fisher") == paired_test(a, b, "fisher")  # seeded: the same p every time
