"""qa.evaluation.results: outcomes, per-retriever figures, calibration, and the `qa eval --json` object."""

from __future__ import annotations

import json

import pytest
from evaluation_helpers import report_of, row, toy_report

from qa.evaluation import RetrieverResult
from qa.evaluation.labels import OUTCOME_LABELS, OUTCOMES


def test_retriever_result_metrics_outcomes_and_not_found():
    rows = [
        row("a1", ("p1",), ("p1", "p2")),                        # ok
        row("a2", ("p3",), ("p1", "p2", "p3")),                  # low_rank (3)
        row("a3", ("p9",), ("p1", "p2")),                        # missed
        row("a4", ("p1",), ("p1",), found=False),                # wrongly_not_found
        row("u1", (), ("p1",), found=True),                      # answered_unanswerable
        row("u2", (), ("p2",), found=False),                     # ok (correctly flagged)
        row("x1", (), ("p1",), expects=True),                    # unjudged: evidence in no passage
    ]
    res = RetrieverResult("hybrid", rows, 10)
    m = res.metrics
    assert m["hit@1"] == pytest.approx(2 / 4)
    assert m["hit@3"] == pytest.approx(3 / 4)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 3 + 0 + 1) / 4)
    nf = res.not_found
    assert {k: nf[k] for k in ("unanswerable", "flagged_unanswerable", "answerable_flagged")} == {
        "unanswerable": 2, "flagged_unanswerable": 1, "answerable_flagged": 1}
    assert [r.id for r in res.rows] == ["a3", "u1", "a4", "a2", "x1", "a1", "u2"]  # failures first
    assert [r.id for r in res.failures] == ["a3", "u1", "a4", "a2", "x1"]
    assert res.rank_counts()["1"] == 2 and res.rank_counts()["3"] == 1 and res.rank_counts()["none"] == 1
    assert rows[1].relevant_heading_path == ("H-p3",)
    assert rows[2].rank is None and rows[2].relevant_heading_path is None


def test_calibration_target_is_answerable_with_a_relevant_top_hit():
    rows = [
        row("a1", ("p1",), ("p1",), confidence=0.95),               # observed 1
        row("a2", ("p1",), ("p2", "p1"), confidence=0.92),          # relevant, but not first: observed 0
        row("u1", (), ("p1",), found=False, confidence=0.15),       # unanswerable: observed 0
        row("u2", (), ("p1",), found=True, confidence=0.12),        # unanswerable: observed 0
        row("x1", (), ("p1",), expects=True, confidence=0.5),       # unjudged: left out
    ]
    res = RetrieverResult("hybrid", rows, 10)
    nf = res.not_found
    bins = {tuple(b["bin"]): b for b in nf["reliability"]}
    assert bins[(0.9, 1.0)] == {"bin": [0.9, 1.0], "mean_predicted": pytest.approx(0.935), "observed": 0.5,
                                "count": 2}
    assert bins[(0.1, 0.2)]["count"] == 2 and bins[(0.1, 0.2)]["observed"] == 0.0
    assert bins[(0.5, 0.6)]["count"] == 0  # the unjudged question is not counted
    assert nf["ece"] == pytest.approx((2 * abs(0.935 - 0.5) + 2 * 0.135) / 4, abs=1e-6)
    assert [r.answered_at_top for r in rows] == [True, False, False, False, False]


def test_no_answerable_question_gives_empty_metrics():
    res = RetrieverResult("hybrid", [row("u1", (), ("p1",), found=False)], 10)
    assert all(v is None for v in res.metrics.values())
    assert res.not_found["flagged_unanswerable"] == 1


def test_report_dict_has_the_documented_schema():
    d = toy_report().to_dict()
    json.dumps(d)  # serialisable
    assert d["dataset"] == "toy.jsonl" and d["n_questions"] == 3 and d["n_answerable"] == 2
    assert set(d["metrics"]) >= {"hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "ndcg@10"}
    assert d["metrics"]["hit@1"] == 0.5 and d["metrics"]["mrr@10"] == 0.75
    nf = d["not_found"]
    assert {k: nf[k] for k in ("unanswerable", "flagged_unanswerable", "answerable_flagged")} == {
        "unanswerable": 1, "flagged_unanswerable": 1, "answerable_flagged": 0}
    assert isinstance(nf["ece"], float) and len(nf["reliability"]) == 10
    assert set(nf["reliability"][0]) == {"bin", "mean_predicted", "observed", "count"}
    assert sum(b["count"] for b in nf["reliability"]) == 3
    assert set(d["latency_ms"]) >= {"p50", "p95"}
    assert list(d["by_retriever"]) == ["hybrid", "dense"]
    assert d["by_retriever"]["dense"]["metrics"]["hit@1"] == 0.0
    assert d["by_retriever"]["hybrid"]["metrics"] == d["metrics"]
    assert {q["id"]: q["rank"] for q in d["per_question"]} == {"a1": 1, "a2": 2, "u1": None}
    assert isinstance(d["config"], dict)


def test_report_path_is_a_file_name():
    rep = toy_report()
    rep.path = "/srv/uploads/tmp123/questions.jsonl"
    assert rep.to_dict()["path"] == "questions.jsonl"


def test_empty_report_still_serialises():
    rep = report_of({})
    rep.interrupted = True
    d = rep.to_dict()
    assert d["n_questions"] == 0 and d["metrics"]["hit@1"] is None and d["interrupted"] is True
    assert d["not_found"]["ece"] is None
    assert "interrupted" in rep.summary()


def test_every_outcome_has_a_bilingual_label():
    assert set(OUTCOME_LABELS) == set(OUTCOMES)
    for label in OUTCOME_LABELS.values():
        zh, _, en = label.partition(" ")
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh) and en.isascii() and en
