"""Retriever legs and search end to end on the fast lane (fake embedder, small documents)."""

import numpy as np
import pytest

from qa import Assistant
from qa.corpus import document_from_text
from qa.legs import DenseLeg, LexicalLeg, make_legs, prepare_question

DOC = document_from_text(
    "一、组织 街道党工委统筹辖区资源。社区党组织服务群众。\n"
    "二、经费 党建经费按人头拨付。专项经费接受审计监督。\n"
    "三、人才 社区工作者待遇逐年提高。优秀社区工作者可以考录公务员。\n"
    "四、其他 本办法自公布之日起施行。", "doc", source="doc.txt")


@pytest.fixture()
def small(fake_settings, fake_embedder):
    return Assistant([DOC], fake_settings, embedder=fake_embedder)


def test_dense_candidates_are_exact_and_sentence_aware(small):
    index = small.index
    q = small.embedder.encode_questions(["专项经费接受审计监督"])[0]
    leg = DenseLeg(index, small.settings)
    cands = leg.candidates(prepare_question(index, "专项经费接受审计监督", q, small.settings), 10)
    assert len(cands) == index.size
    # a passage's dense score is the best of its whole-text cosine and its sentences' cosines
    from qa.index import embedding_text
    from qa.normalize import to_simplified

    for row, score in zip(cands.rows.tolist(), cands.scores.tolist()):
        p = index.passages_at([row])[0]
        texts = [embedding_text(p)] + [to_simplified(p.text[s:e]) for s, e in p.sentences()]
        best = max(float(v @ q) for v in small.embedder.encode_passages(texts))
        assert score == pytest.approx(best, abs=1e-5)
    assert index.passages_at(cands.rows[:1])[0].heading_path == ("二、经费",)


def test_a_bigger_corpus_uses_candidates_not_every_passage(fake_settings, fake_embedder):
    docs = [document_from_text(f"第{i}号文件讲第{i}件事情。它和第{i + 1}号文件有关。", f"d{i}", source=f"d{i}.txt")
            for i in range(60)]
    settings = fake_settings.with_(normalisation_sample=16, candidate_depth=5)
    assistant = Assistant(docs, settings, embedder=fake_embedder)
    q = fake_embedder.encode_questions(["第7号文件讲什么"])[0]
    leg = DenseLeg(assistant.index, settings)
    calls = []
    original = leg.score_rows
    leg.score_rows = lambda rows, v: calls.append(len(rows)) or original(rows, v)
    cands = leg.candidates(prepare_question(assistant.index, "第7号文件讲什么", q, settings), 5)
    assert len(cands) == 5 and max(calls) < assistant.index.size
    everything = original(assistant.index.live_rows, q)
    assert cands.scores[0] == pytest.approx(everything.max())  # the exact best is among the candidates


def test_lexical_leg_returns_only_passages_sharing_a_word(small):
    q = prepare_question(small.index, "审计监督", small.embedder.encode_questions(["审计监督"])[0], small.settings)
    cands = LexicalLeg(small.index).candidates(q, 10)
    assert len(cands) == 1 and "审计" in small.index.passages_at(cands.rows)[0].text


def test_hits_are_keyed_by_leg_and_highlight_the_passage_own_sentence(small):
    answer = small.ask("专项经费接受审计监督", k=2)
    top = answer[0]
    assert set(top.scores) == {"dense", "lexical", "dictionary", "coverage", "fused"}
    assert top.highlighted_text == ["专项经费接受审计监督。"]
    assert top.heading_path == ("二、经费",)
    assert [h.rank for h in answer] == [1, 2]


def test_each_retriever_names_its_legs(small):
    for retriever in ("hybrid", "dense", "lexical"):
        answer = small.ask("社区工作者待遇", k=3, retriever=retriever)
        assert answer.retriever == retriever and len(answer) >= 1
        assert "社区工作者待遇" in answer[0].text


def test_legs_can_be_weighted_in_settings(fake_settings, fake_embedder):
    only_dense = Assistant([DOC], fake_settings.with_(leg_weights={"lexical": 0.0, "dictionary": 0.0}),
                           embedder=fake_embedder)
    dense = only_dense.ask("审计", k=4, retriever="dense")
    hybrid = only_dense.ask("审计", k=4)
    assert [h.passage_id for h in hybrid] == [h.passage_id for h in dense]
    with pytest.raises(ValueError, match="unknown legs"):
        fake_settings.with_(leg_weights={"reranker": 1.0})


def test_make_legs_names_every_leg(small):
    assert set(make_legs(small.index, small.settings)) == {"dense", "lexical", "dictionary"}
    assert np.isfinite(small.ask("街道", k=1)[0].scores["fused"])


def test_answers_carry_a_decision_reason_and_monotone_hit_confidence(small):
    answer = small.ask("专项经费接受审计监督", k=4)
    assert answer.reason and ("best evidence" in answer.reason or "nearest" in answer.reason)
    confidences = [h.confidence for h in answer]
    assert confidences == sorted(confidences, reverse=True) and confidences[0] == answer.confidence
    assert (small.index.folder / "null_profile.json").exists()  # fitted once, stored beside the index


def test_remembered_dense_scores_equal_fresh_exact_ones(fake_settings, fake_embedder):
    """Scores read back for a question (fusion, evidence) are the exact scores, for rows scored or not."""
    docs = [document_from_text(f"第{i}号文件讲第{i}件事情。它和第{i + 1}号文件有关。", f"d{i}", source=f"d{i}.txt")
            for i in range(40)]
    for sample in (8, 1024):  # candidates from the vector indexes; every passage scored as the sample
        settings = fake_settings.with_(normalisation_sample=sample, candidate_depth=5)
        assistant = Assistant(docs, settings, embedder=fake_embedder)
        index = assistant.index
        q = fake_embedder.encode_questions(["第7号文件讲什么"])[0]
        leg = DenseLeg(index, settings)
        cands = leg.candidates(prepare_question(index, "第7号文件讲什么", q, settings), 5)
        rows = np.concatenate([cands.rows, index.live_rows[::3]])
        fresh_p, fresh_s = DenseLeg(index, settings)._parts(rows, q.astype(np.float32))
        assert leg.score_rows(rows, q) == pytest.approx(np.maximum(fresh_p, fresh_s), abs=1e-6)
        assert cands.score_of(rows) == pytest.approx(np.maximum(fresh_p, fresh_s), abs=1e-6)
        best_p, best_s = leg.best_cosines(rows, q)
        assert (best_p, best_s) == pytest.approx((fresh_p.max(), fresh_s.max()), abs=1e-6)
        other = fake_embedder.encode_questions(["经费"])[0]  # another question is not served the first's scores
        assert leg.score_rows(rows[:3], other) == pytest.approx(
            np.maximum(*DenseLeg(index, settings)._parts(rows[:3], other.astype(np.float32))), abs=1e-6)


def test_legs_gathered_concurrently_give_what_they_give_one_by_one(small):
    from qa.legs import gather_candidates

    index, settings = small.index, small.settings
    legs = make_legs(index, settings)
    for text in ("专项经费接受审计监督", "社区工作者待遇", "How is funding audited?"):
        q = prepare_question(index, text, small.embedder.encode_questions([text])[0], settings)
        names = ("dense", "lexical", "dictionary")
        together = gather_candidates(legs, names, q, 5)
        alone = gather_candidates(legs, names, q, 5, concurrent=False)
        assert list(together) == list(names)
        for name in names:
            assert together[name].rows.tolist() == alone[name].rows.tolist()
            assert together[name].scores.tolist() == alone[name].scores.tolist()


def test_legs_not_marked_thread_safe_run_in_the_asking_thread(small):
    import threading

    from qa.legs import Candidates, gather_candidates

    class Recording:
        def __init__(self, name):
            self.name, self.threads = name, []

        def candidates(self, question, depth):
            self.threads.append(threading.get_ident())
            return Candidates.none()

    legs = {"dense": Recording("dense"), "lexical": Recording("lexical")}
    q = prepare_question(small.index, "经费", small.embedder.encode_questions(["经费"])[0], small.settings)
    found = gather_candidates(legs, ("dense", "lexical"), q, 5)
    assert set(found) == {"dense", "lexical"}
    assert legs["dense"].threads == legs["lexical"].threads == [threading.get_ident()]
