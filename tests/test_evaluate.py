"""Batch evaluation: loading, relevance, metrics (hand-computed), reports, comparison, and end to end."""

from __future__ import annotations

import importlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from qa.errors import EvaluationError
from qa.evaluate import Question, evaluate, judge_relevance, load_questions, result_from_answer
from qa.report import (
    EvaluationReport,
    QuestionResult,
    RetrieverResult,
    compare,
    latency_summary,
    metric_names,
    per_query_scores,
)
from qa.normalize import normalize
from qa.passages import Passage
from qa.search import Answer, Hit

DATA = Path(__file__).resolve().parent / "data"
ESSAY_QUESTIONS = DATA / "essay_questions.jsonl"
MALFORMED = DATA / "malformed.jsonl"
SQUAD_SMALL = DATA / "squad_small.json"

LOG2_3 = math.log2(3)


# -- helpers ---------------------------------------------------------------------------------------------------

def hit(pid: str, rank: int, fused: float = 1.0, heading_path: tuple[str, ...] = ()) -> Hit:
    return Hit(rank=rank, passage_id=pid, doc_id=pid.split(":")[0], title="t", heading_path=heading_path,
               text="…", source="s", start=0, end=1, highlights=(),
               scores={"dense": 0.5, "lexical": 1.0, "fused": fused}, confidence=0.9)


def answer(pids: list[str], found: bool = True, fused: list[float] | None = None, latency: float = 10.0) -> Answer:
    fused = fused or [1.0 / (i + 1) for i in range(len(pids))]
    return Answer(question="q", hits=[hit(p, i + 1, f) for i, (p, f) in enumerate(zip(pids, fused))],
                  found=found, confidence=0.9 if found else 0.1, retriever="hybrid", latency_ms=latency)


def row(qid: str, relevant: tuple[str, ...], ranked: tuple[str, ...], found: bool = True,
        expects: bool | None = None, latency: float = 10.0) -> QuestionResult:
    return QuestionResult(id=qid, question=f"question {qid}", retriever="hybrid", relevant_ids=relevant,
                          ranked_ids=ranked, found=found, confidence=0.9 if found else 0.1, latency_ms=latency,
                          expects_answer=bool(relevant) if expects is None else expects,
                          heading_paths=tuple((f"H-{p}",) for p in ranked),
                          top_scores={"dense": 0.5, "lexical": 1.0, "fused": 0.03})


def report_of(rows_by_retriever: dict[str, list[QuestionResult]], k: int = 10) -> EvaluationReport:
    return EvaluationReport(dataset="toy.jsonl", path="/toy.jsonl", format="jsonl", k=k,
                            results={name: RetrieverResult(name, rows, k) for name, rows in rows_by_retriever.items()},
                            config={"corpus_description": "toy"})


def passage(pid: str, doc_id: str, text: str, heading_path: tuple[str, ...] = ()) -> Passage:
    return Passage(id=pid, doc_id=doc_id, title="t", heading_path=heading_path, text=text, start=0,
                   end=len(text), source="s")


# -- metrics from ranked lists (hand-computed) -------------------------------------------------------------------

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


def test_queries_without_relevant_passages_are_not_scored():
    s = per_query_scores({"q1": {"a"}, "u1": set()}, {"q1": ["b", "a"], "u1": ["a"]}, ["hit@1", "mrr@10"])
    assert s == {"hit@1": {"q1": 0.0}, "mrr@10": {"q1": 0.5}}
    assert per_query_scores({"u1": set()}, {"u1": ["a"]}, ["hit@1"]) == {"hit@1": {}}


def test_single_metric_and_duplicate_ids():
    s = per_query_scores({"q": {"a"}}, {"q": ["b", "b", "a"]}, ["mrr@10"])
    assert s == {"mrr@10": {"q": 0.5}}  # the repeated "b" counts once, at its first rank


def test_ties_keep_the_assistants_order():
    """Equal fused scores: evaluation follows the returned order, ranx never re-breaks the tie."""
    q = Question(id="q", text="问题", evidence=("x",))
    for position in (0, 5, 9):  # ranx reorders ties in lists this long if given them as scores
        pids = [f"p{i}" for i in range(20)]
        pids[position] = "rel"
        r = result_from_answer(q, answer(pids, fused=[0.5] * 20), ("rel",), "hybrid")
        res = RetrieverResult("hybrid", [r], 20)
        assert res.metrics["hit@1"] == (1.0 if position == 0 else 0.0)
        assert res.metrics["mrr@10"] == pytest.approx(1 / (position + 1), abs=1e-6)


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
    assert res.not_found == {"unanswerable": 2, "flagged_unanswerable": 1, "answerable_flagged": 1}
    assert [r.id for r in res.rows] == ["a3", "u1", "a4", "a2", "x1", "a1", "u2"]  # failures first
    assert [r.id for r in res.failures] == ["a3", "u1", "a4", "a2", "x1"]
    assert res.rank_counts()["1"] == 2 and res.rank_counts()["3"] == 1 and res.rank_counts()["none"] == 1
    assert rows[1].relevant_heading_path == ("H-p3",)
    assert rows[2].rank is None and rows[2].relevant_heading_path is None


def test_no_answerable_question_gives_empty_metrics():
    res = RetrieverResult("hybrid", [row("u1", (), ("p1",), found=False)], 10)
    assert all(v is None for v in res.metrics.values())
    assert res.not_found["flagged_unanswerable"] == 1


def test_latency_summary():
    lat = latency_summary([10.0, 20.0, 30.0, 40.0, 100.0])
    assert lat["p50"] == 30.0 and lat["p95"] == pytest.approx(88.0) and lat["mean"] == 40.0
    assert latency_summary([])["p50"] is None


# -- loading -------------------------------------------------------------------------------------------------

def test_load_jsonl():
    ds = load_questions(ESSAY_QUESTIONS)
    assert ds.format == "jsonl" and ds.name == "essay_questions.jsonl" and not ds.warnings
    assert [q.id for q in ds.questions] == ["e1", "e2", "e3", "e4", "e5", "u1"]
    assert ds.questions[-1].expects_answer is False and ds.questions[0].where == "line 1"


def test_malformed_jsonl_skips_bad_lines_naming_them():
    ds = load_questions(MALFORMED)
    assert [q.id for q in ds.questions] == ["ok1", "ok2"]
    assert ds.n_skipped == 9
    text = "\n".join(ds.warnings)
    for expected in ("line 2: not valid JSON", "line 3: expected a JSON object", "line 4 (no-question)",
                     "line 5 (empty-question): empty question", 'line 6: duplicate id "ok1" (first on line 1)',
                     'line 8: unknown field "answer"', 'line 9 (bad-evidence): "evidence" must be a list',
                     'line 10 (no-evidence): no "evidence" or "passage_ids"', "line 11 (blank-evidence)",
                     'line 12: no "id"'):
        assert expected in text, expected
    assert "line 7" not in text  # blank lines are not a problem


def test_strict_stops_at_the_first_bad_line():
    with pytest.raises(EvaluationError, match=r"line 2: not valid JSON"):
        load_questions(MALFORMED, strict=True)


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"\xff\xfe\x00bad", "not UTF-8"),
    (b'{"id": 1, "question": "", "evidence": []}\n', "no usable question"),
    (b'{"data": "nope"}', "no usable question"),
])
def test_unusable_files_stop_with_a_message(tmp_path, content, message):
    f = tmp_path / "q.jsonl"
    f.write_bytes(content)
    with pytest.raises(EvaluationError, match=message):
        load_questions(f)


def test_missing_file_and_bad_format(tmp_path):
    with pytest.raises(EvaluationError, match="no such file"):
        load_questions(tmp_path / "none.jsonl")
    with pytest.raises(EvaluationError, match="format must be"):
        load_questions(ESSAY_QUESTIONS, format="csv")  # type: ignore[arg-type]


def test_load_squad():
    ds = load_questions(SQUAD_SMALL)
    assert ds.format == "squad" and not ds.warnings
    assert [d.doc_id for d in ds.documents[:3]] == ["P1", "P2", "P3"]
    assert ds.documents[3].doc_id.startswith("ctx-")  # no paragraph id: a hash of the context
    assert ds.documents[3].doc_id == "ctx-2caa2e8326d1"  # the same in every run and process (a content hash)
    assert ds.documents[0].source.endswith("squad_small.json#P1")
    by_id = {q.id: q for q in ds.questions}
    assert len(by_id) == 8 and by_id["P2_Q1"].doc_ids == ("P2",)
    assert by_id["P4_Q2"].expects_answer is False  # is_impossible


def test_squad_problems(tmp_path):
    f = tmp_path / "s.json"
    f.write_text('{"data": [\n  {"paragraphs": [\n    {"context": "x", "qas": [}\n]}', encoding="utf-8")
    with pytest.raises(EvaluationError, match=r"not valid JSON .* line 3"):
        load_questions(f, format="squad")
    ctx = "长江是亚洲第一长河。"
    data = {"data": [{"paragraphs": [
        {"id": "A", "context": ctx, "qas": [{"id": "1", "question": "长江多长？"}, {"id": "1", "question": "又问"},
                                             {"id": "2", "question": " "}]},
        {"id": "A", "context": "另一段不同的文字。", "qas": [{"id": "3", "question": "问？"}]},
        {"id": "B", "context": ctx, "qas": [{"id": "4", "question": "同一段？"}]},
        {"id": "C"}]}]}
    f.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    ds = load_questions(f)
    assert [d.doc_id for d in ds.documents] == ["A", ds.documents[1].doc_id]
    assert ds.documents[1].doc_id.startswith("ctx-")  # same paragraph id, different text
    by_id = {q.id: q for q in ds.questions}
    assert by_id["4"].doc_ids == ("A",)  # the same context twice is one passage
    assert ds.n_skipped == 3
    assert any("data[0].paragraphs[0].qas[1]: duplicate id" in w for w in ds.warnings)
    assert any("data[0].paragraphs[3]: no \"context\"" in w for w in ds.warnings)


# -- relevance -------------------------------------------------------------------------------------------------

def test_judge_relevance_over_all_passages():
    passages = [
        passage("d:000", "d", "党建引领 社会治理，就是要明确定位。"),
        passage("d:001", "d", "社区党組織要有條件為群眾服務。", ("一、总则",)),
        passage("d:002", "d", "别的内容。", ("一、总则", "（一）特色党建品牌扩散效应不强")),
        passage("e:000", "e", "另一个文档。"),
    ]
    questions = [
        Question("q1", "?", evidence=("党建引领社会治理",), where="line 1"),           # whitespace folded
        Question("q2", "?", evidence=("社区党组织要有条件为群众服务",), where="line 2"),  # traditional -> simplified
        Question("q3", "?", evidence=("一、总则",), where="line 3"),                    # a heading: passages under it
        Question("q4", "?", evidence=("不存在的证据",), passage_ids=("e:000", "zz:9"), where="line 4"),
        Question("q5", "?", doc_ids=("e",), where="data[0]"),
        Question("q6", "?", evidence=("没有",), where="line 6"),
        Question("u1", "?", where="line 7"),
    ]
    relevant, warns = judge_relevance(questions, passages)
    assert relevant["q1"] == ("d:000",)
    assert relevant["q2"] == ("d:001",)
    assert relevant["q3"] == ("d:001", "d:002")
    assert relevant["q4"] == ("e:000",)
    assert relevant["q5"] == ("e:000",)
    assert relevant["q6"] == () and relevant["u1"] == ()
    text = "\n".join(warns)
    assert 'line 4 (q4): evidence "不存在的证据" is in no passage' in text
    assert 'line 4 (q4): passage id "zz:9" is not in the index' in text
    assert "line 6 (q6): no relevant passage in the corpus; left out of the metrics" in text
    assert "u1" not in text


# -- the report ------------------------------------------------------------------------------------------------

def _toy_report() -> EvaluationReport:
    hybrid = [row("a1", ("p1",), ("p1", "p2")), row("a2", ("p3",), ("p1", "p3")), row("u1", (), ("p2",), False)]
    dense = [row("a1", ("p1",), ("p2", "p1")), row("a2", ("p3",), ("p1", "p2")), row("u1", (), ("p2",), True)]
    return report_of({"hybrid": hybrid, "dense": dense})


def test_report_dict_has_the_documented_schema():
    d = _toy_report().to_dict()
    json.dumps(d)  # serialisable
    assert d["dataset"] == "toy.jsonl" and d["n_questions"] == 3 and d["n_answerable"] == 2
    assert set(d["metrics"]) >= {"hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "ndcg@10"}
    assert d["metrics"]["hit@1"] == 0.5 and d["metrics"]["mrr@10"] == 0.75
    assert d["not_found"] == {"unanswerable": 1, "flagged_unanswerable": 1, "answerable_flagged": 0}
    assert set(d["latency_ms"]) >= {"p50", "p95"}
    assert list(d["by_retriever"]) == ["hybrid", "dense"]
    assert d["by_retriever"]["dense"]["metrics"]["hit@1"] == 0.0
    assert d["by_retriever"]["hybrid"]["metrics"] == d["metrics"]
    assert {q["id"]: q["rank"] for q in d["per_question"]} == {"a1": 1, "a2": 2, "u1": None}
    assert isinstance(d["config"], dict)


def test_summary_has_one_column_per_retriever():
    text = _toy_report().summary()
    header = next(line for line in text.splitlines() if "hybrid" in line)
    assert header.split() == ["hybrid", "dense"]
    assert any(line.startswith("hit@1") and line.split()[1:] == ["0.500", "0.000"] for line in text.splitlines())


def test_write_report_folder(tmp_path):
    rep = _toy_report()
    rep.warnings.append("line 9: <b>not markup</b>")
    folder = rep.write(tmp_path / "out")
    names = {p.name for p in folder.iterdir()}
    assert names >= {"index.html", "questions.csv", "questions.jsonl", "summary.json", "ranks.png", "metrics.png"}
    lines = (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert len(lines) == 6 and first["retriever"] == "hybrid" and first["outcome"] == "low_rank"  # failures first
    assert first["relevant_breadcrumb"] == "H-p3" and first["top_passage_id"] == "p1"
    csv_text = (folder / "questions.csv").read_text(encoding="utf-8-sig")
    assert csv_text.splitlines()[0].startswith("retriever,id,question,outcome,rank")
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and "&lt;b&gt;not markup" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page  # opens offline
    assert json.loads((folder / "summary.json").read_text(encoding="utf-8"))["n_questions"] == 3


def test_empty_report_still_serialises():
    rep = report_of({})
    rep.interrupted = True
    d = rep.to_dict()
    assert d["n_questions"] == 0 and d["metrics"]["hit@1"] is None and d["interrupted"] is True
    assert "interrupted" in rep.summary()


# -- comparison -------------------------------------------------------------------------------------------------

def test_compare_pairs_questions_and_tests_differences():
    rep = _toy_report()
    same = compare(rep, rep)
    assert same.n_paired == 2
    assert all(v["diff"] == 0 and v["p_value"] == 1.0 for v in same.metrics.values())
    cross = compare(rep, rep, retriever_a="hybrid", retriever_b="dense")
    assert cross.metrics["hit@1"] == {"a": 0.5, "b": 0.0, "diff": -0.5, "p_value": pytest.approx(0.5),
                                      "significant": False}
    assert cross.metrics["mrr@10"]["b"] == pytest.approx(0.25)
    assert cross.not_found["flagged_unanswerable"] == {"a": 1, "b": 0, "diff": -1}
    assert "B − A" in cross.summary()


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


# -- the run, with a stand-in assistant (no model) ----------------------------------------------------------------

@dataclass
class FakeAssistant:
    """Answers from a fixed table; raises KeyboardInterrupt after ``stop_after`` calls of ask_many."""

    passages: list[Passage]
    ranked: dict[str, list[str]]
    stop_after: int | None = None
    calls: list[tuple[int, int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        from qa import Settings

        self.settings = Settings()
        self.documents = [type("D", (), {"title": "fake", "source": "fake.txt"})()]
        self.embedder = None
        self.index_status = "fake"
        self.index = type("I", (), {"normalized_texts": [normalize(p.context_text()) for p in self.passages]})()

    def ask_many_by_retriever(self, questions, retrievers, k=None):
        if self.stop_after is not None and len(self.calls) >= self.stop_after:
            raise KeyboardInterrupt
        self.calls.append((len(questions), k, tuple(retrievers)))
        return {r: [answer(self.ranked.get(q, ["d:000"])[:k], found=q != "无关的问题？") for q in questions]
                for r in retrievers}


def _fake_questions(tmp_path: Path, n: int) -> Path:
    f = tmp_path / "q.jsonl"
    lines = [json.dumps({"id": f"q{i}", "question": f"问题{i}？", "evidence": ["目标"]}, ensure_ascii=False)
             for i in range(n)]
    lines.append(json.dumps({"id": "u", "question": "无关的问题？", "evidence": []}, ensure_ascii=False))
    f.write_text("\n".join(lines), encoding="utf-8")
    return f


def test_evaluate_asks_each_batch_once_for_all_retrievers(tmp_path):
    passages = [passage("d:000", "d", "无关。"), passage("d:001", "d", "这里有目标。")]
    fake = FakeAssistant(passages, {"问题0？": ["d:001", "d:000"], "问题1？": ["d:000", "d:001"]})
    seen = []
    rep = evaluate(_fake_questions(tmp_path, 3), assistant=fake, k=2, retrievers=("hybrid", "lexical"),
                   progress=lambda done, total: seen.append((done, total)))
    assert fake.calls == [(4, 2, ("hybrid", "lexical"))]  # each question embedded once, not once per retriever
    assert seen == [(8, 8)]  # per batch: four questions, two retrievers
    d = rep.to_dict()
    assert d["n_questions"] == 4 and d["n_answerable"] == 3
    assert d["metrics"]["hit@1"] == pytest.approx(1 / 3) and d["metrics"]["hit@2"] == pytest.approx(2 / 3)
    assert d["not_found"] == {"unanswerable": 1, "flagged_unanswerable": 1, "answerable_flagged": 0}
    assert "k=2: metrics at cutoffs above 2" in d["warnings"][0]
    assert d["config"]["n_passages"] == 2 and d["config"]["retrievers"] == ["hybrid", "lexical"]


def test_interrupted_run_keeps_what_was_done(tmp_path, monkeypatch):
    # by module object: once qa/__init__ exports the function, "qa.evaluate" as a dotted name is the function
    monkeypatch.setattr(importlib.import_module("qa.evaluate"), "QUESTIONS_PER_BATCH", 2)
    passages = [passage("d:000", "d", "这里有目标。")]
    fake = FakeAssistant(passages, {}, stop_after=2)
    rep = evaluate(_fake_questions(tmp_path, 5), assistant=fake, retrievers=("hybrid", "dense"), progress=False)
    assert rep.interrupted and list(rep.results) == ["hybrid", "dense"]
    assert len(rep.rows) == 4 and len(rep.results["dense"].rows) == 4  # two batches of two, out of six questions
    assert any("interrupted after 4 of 6 questions" in w for w in rep.warnings)
    assert rep.to_dict()["interrupted"] is True


def test_evaluate_rejects_bad_arguments(tmp_path):
    with pytest.raises(EvaluationError, match="k must be"):
        evaluate(ESSAY_QUESTIONS, k=0)
    with pytest.raises(EvaluationError, match="retrievers must be"):
        evaluate(ESSAY_QUESTIONS, retrievers=("bm25",))
    with pytest.raises(EvaluationError, match="its own corpus"):
        evaluate(SQUAD_SMALL, corpus=[ESSAY_QUESTIONS], progress=False)


def test_questions_the_assistant_refuses_are_skipped(tmp_path):
    f = tmp_path / "q.jsonl"
    f.write_text(json.dumps({"id": "long", "question": "长" * 5000, "evidence": []}) + "\n"
                 + json.dumps({"id": "ok", "question": "问题？", "evidence": ["目标"]}), encoding="utf-8")
    fake = FakeAssistant([passage("d:000", "d", "目标")], {})
    rep = evaluate(f, assistant=fake, progress=False)
    assert [r.id for r in rep.rows] == ["ok"] and rep.n_skipped == 1
    assert "line 1 (long)" in rep.warnings[0]


# -- end to end, with the real model ----------------------------------------------------------------------------

@pytest.mark.slow
def test_evaluate_essay_end_to_end(essay):
    rep = evaluate(ESSAY_QUESTIONS, assistant=essay, retrievers=("hybrid", "lexical"), progress=False)
    d = rep.to_dict()
    assert d["n_questions"] == 6 and d["n_answerable"] == 5 and d["n_unanswerable"] == 1 and not d["warnings"]
    assert set(d["by_retriever"]) == {"hybrid", "lexical"}
    assert all(len(r.ranked_ids) == 10 for r in rep.results["hybrid"].rows)
    assert all(len(r.ranked_ids) <= 10 for r in rep.results["lexical"].rows)  # only passages sharing a word
    by_id = {r.id: r for r in rep.rows}
    assert len(by_id["e4"].relevant_ids) > 1  # evidence quoting a heading: every passage under it
    title = "推进城市党建系统化引领社会治理体制机制创新融合发展"
    assert [essay.passage(p).text for p in by_id["e1"].relevant_ids] == [title]  # judged over all passages
    assert by_id["u1"].relevant_ids == () and by_id["u1"].outcome in ("ok", "answered_unanswerable")
    assert 0.0 <= d["metrics"]["hit@10"] <= 1.0


@pytest.mark.slow
def test_explicit_settings_win_over_the_given_assistants(essay):
    plain = evaluate(ESSAY_QUESTIONS, assistant=essay, retrievers="hybrid", progress=False)
    dense_only = evaluate(ESSAY_QUESTIONS, assistant=essay, settings=essay.settings.with_(lexical_weight=0.0),
                          retrievers="hybrid", progress=False)
    assert dense_only.to_dict()["config"]["settings"]["lexical_weight"] == 0.0
    dense = evaluate(ESSAY_QUESTIONS, assistant=essay, retrievers="dense", progress=False)
    assert [r.ranked_ids for r in dense_only.rows] == [r.ranked_ids for r in dense.rows]
    assert [r.ranked_ids for r in dense_only.rows] != [r.ranked_ids for r in plain.rows]


@pytest.mark.slow
def test_evaluate_squad_end_to_end(settings, embedder, essay):
    rep = evaluate(SQUAD_SMALL, settings=settings, embedder=embedder, progress=False)
    d = rep.to_dict()
    assert d["format"] == "squad" and d["n_questions"] == 8 and d["n_answerable"] == 7
    assert d["config"]["n_passages"] == 4 and d["config"]["settings"]["split_contexts"] is False
    assert all(len(r.relevant_ids) == 1 for r in rep.rows if r.answerable)
    assert d["metrics"]["hit@10"] == 1.0  # only four passages: every context is in the top 10
    again = evaluate(SQUAD_SMALL, settings=settings, assistant=essay, progress=False)  # reuses the index
    assert again.config["index_status"].startswith("loaded index")


@pytest.mark.slow
def test_index_progress_is_reported_while_a_squad_corpus_is_indexed(settings, embedder, tmp_path):
    stages = []
    evaluate(SQUAD_SMALL, settings=settings.with_(index_dir=tmp_path), embedder=embedder, progress=False,
             index_progress=lambda stage, fraction: stages.append((stage, fraction)))
    assert stages[0][1] == 0.0 and stages[-1] == ("index ready", 1.0)
    assert [f for _, f in stages] == sorted(f for _, f in stages)
