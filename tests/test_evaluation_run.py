"""qa.evaluation.run: the run with a stand-in assistant (no model), and end to end with the real one (slow)."""

from __future__ import annotations

import importlib
import json

import pytest
from evaluation_helpers import ESSAY_QUESTIONS, SQUAD_SMALL, FakeAssistant, fake_questions, passage

from qa import evaluate
from qa.errors import EvaluationError
from qa.evaluation.run import without_folders


def test_evaluate_asks_each_batch_once_for_all_retrievers(tmp_path):
    passages = [passage("d:000", "d", "无关。"), passage("d:001", "d", "这里有目标。")]
    fake = FakeAssistant(passages, {"问题0？": ["d:001", "d:000"], "问题1？": ["d:000", "d:001"]})
    seen = []
    rep = evaluate(fake_questions(tmp_path, 3), assistant=fake, k=2, retrievers=("hybrid", "lexical"),
                   progress=lambda done, total: seen.append((done, total)))
    assert fake.calls == [(4, 2, ("hybrid", "lexical"))]  # each question embedded once, not once per retriever
    assert seen == [(8, 8)]  # per batch: four questions, two retrievers
    d = rep.to_dict()
    assert d["n_questions"] == 4 and d["n_answerable"] == 3
    assert d["metrics"]["hit@1"] == pytest.approx(1 / 3) and d["metrics"]["hit@2"] == pytest.approx(2 / 3)
    nf = d["not_found"]
    assert (nf["unanswerable"], nf["flagged_unanswerable"], nf["answerable_flagged"]) == (1, 1, 0)
    assert "k=2: metrics at cutoffs above 2" in d["warnings"][0]
    assert d["config"]["n_passages"] == 2 and d["config"]["retrievers"] == ["hybrid", "lexical"]


def test_no_server_folder_in_the_json(tmp_path):
    fake = FakeAssistant([passage("d:000", "d", "这里有目标。")], {})
    fake.settings = fake.settings.with_(model="/srv/secret/models/my-model")
    fake.embedder = type("E", (), {"identity": {"model": "/srv/secret/models/my-model", "dimension": "384"}})()
    text = evaluate(fake_questions(tmp_path, 2), assistant=fake, progress=False).to_json()
    assert str(tmp_path) not in text and "/srv/secret" not in text
    d = json.loads(text)
    assert d["path"] == "q.jsonl" and d["config"]["questions"] == "q.jsonl"
    assert d["config"]["corpus"] == ["fake.txt"] and d["config"]["index_status"] == "loaded index from abc123"
    assert "/" not in d["config"]["settings"]["cache_dir"] + d["config"]["settings"]["index_dir"]
    assert d["config"]["model"] == d["config"]["settings"]["model"] == d["config"]["model_identity"]["model"] == "my-model"


def test_without_folders():
    assert without_folders("loaded index from /home/u/.cache/qa/index/ab12 ok") == "loaded index from ab12 ok"
    assert without_folders(r"C:\Users\me\q.jsonl") == "q.jsonl"
    assert without_folders("no path, 3/4 done") == "no path, 3/4 done"


def test_too_many_questions_stop_before_any_work(tmp_path):
    fake = FakeAssistant([passage("d:000", "d", "这里有目标。")], {})
    with pytest.raises(EvaluationError, match="holds 6 questions; the limit is 5"):
        evaluate(fake_questions(tmp_path, 5), assistant=fake, progress=False, max_questions=5)
    assert fake.calls == []
    rep = evaluate(fake_questions(tmp_path, 5), assistant=fake, progress=False, max_questions=6)
    assert len(rep.rows) == 6
    with pytest.raises(EvaluationError, match="max_questions must be"):
        evaluate(fake_questions(tmp_path, 1), assistant=fake, progress=False, max_questions=0)


def test_a_hostile_line_does_not_stop_the_run(tmp_path):
    f = fake_questions(tmp_path, 2)
    f.write_bytes(f.read_bytes() + b'\n{"id": "bad", "question": "\\ud800", "evidence": []}\n' + b"[" * 5000 + b"\n")
    fake = FakeAssistant([passage("d:000", "d", "这里有目标。")], {})
    rep = evaluate(f, assistant=fake, progress=False)
    assert len(rep.rows) == 3 and rep.n_skipped == 2
    assert any(w.startswith("line 4: a lone surrogate") for w in rep.warnings)
    assert any(w.startswith("line 5: not valid JSON (nested") for w in rep.warnings)
    rep.to_json().encode("utf-8")


def test_interrupted_run_keeps_what_was_done(tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.import_module("qa.evaluation.run"), "QUESTIONS_PER_BATCH", 2)
    passages = [passage("d:000", "d", "这里有目标。")]
    fake = FakeAssistant(passages, {}, stop_after=2)
    rep = evaluate(fake_questions(tmp_path, 5), assistant=fake, retrievers=("hybrid", "dense"), progress=False)
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
    assert 0.0 <= d["not_found"]["ece"] <= 1.0


@pytest.mark.slow
def test_explicit_settings_win_over_the_given_assistants(essay):
    plain = evaluate(ESSAY_QUESTIONS, assistant=essay, retrievers="hybrid", progress=False)
    dense_only = evaluate(ESSAY_QUESTIONS, assistant=essay, settings=essay.settings.with_(leg_weights={"lexical": 0.0}),
                          retrievers="hybrid", progress=False)
    assert dense_only.to_dict()["config"]["settings"]["leg_weights"]["lexical"] == 0.0
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
