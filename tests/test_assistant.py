"""The Python entry point: one question, a batch, and a batch for several retrievers at once."""

import pytest

from qa import QuestionError

QUESTIONS = ["如何加强党风廉政建设？", "How should the use of special party-building funds be supervised?",
             "上海地铁有多少条线路？"]


def _ids(answer):
    return [h.passage_id for h in answer]


def test_a_batch_answers_as_single_questions_do(essay):
    batch = essay.ask_many(QUESTIONS, k=3)
    singles = [essay.ask(q, k=3) for q in QUESTIONS]
    assert [_ids(a) for a in batch] == [_ids(a) for a in singles]
    assert [a.found for a in batch] == [a.found for a in singles] == [True, True, False]
    assert all(a.latency_ms > 0 for a in batch)


def test_several_retrievers_answer_from_one_embedding(essay, monkeypatch):
    calls = []
    encode = essay.embedder.encode_questions
    monkeypatch.setattr(essay.embedder, "encode_questions", lambda texts: calls.append(len(texts)) or encode(texts))
    by_retriever = essay.ask_many_by_retriever(QUESTIONS, ("hybrid", "lexical"), k=3)
    assert calls == [len(QUESTIONS)]
    monkeypatch.undo()
    for retriever, answers in by_retriever.items():
        assert [a.retriever for a in answers] == [retriever] * len(QUESTIONS)
        assert [_ids(a) for a in answers] == [_ids(a) for a in essay.ask_many(QUESTIONS, k=3, retriever=retriever)]


def test_an_unknown_retriever_is_refused(essay):
    with pytest.raises(QuestionError, match="retriever must be one of"):
        essay.ask_many(QUESTIONS, retriever="bm25")
    with pytest.raises(QuestionError, match="retriever must be one of"):
        essay.ask_many_by_retriever(QUESTIONS, ("hybrid", "bm25"))
