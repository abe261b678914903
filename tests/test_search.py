"""Search behaviour on the bundled essay with the real model: ranking, highlights, scores, not-found."""

import pytest

pytestmark = pytest.mark.slow

from qa import Answer, Hit, QuestionError

DISCIPLINE = "二、城市党建系统化创新融合路径 › (一)强化基层组织建设 › 1.明确街道社区党组织的职责功能定位"


def test_the_done_question_finds_its_paragraph_first(essay):
    answer = essay.ask("如何加强党风廉政建设？")
    top = answer[0]
    assert top.breadcrumb == DISCIPLINE
    assert answer.found
    assert any("党风廉政建设" in s for s in top.highlighted_text)


def test_hits_carry_rank_id_path_text_spans_and_scores(essay):
    answer = essay.ask("社区工作者的待遇怎么保障？", k=3)
    assert isinstance(answer, Answer) and len(answer) == 3
    assert [h.rank for h in answer] == [1, 2, 3]
    for h in answer:
        assert isinstance(h, Hit)
        assert set(h.scores) == {"dense", "lexical", "dictionary", "coverage", "fused"}
        assert 0.0 <= h.confidence <= 1.0
        for s, e in h.highlights:
            assert 0 <= s < e <= len(h.text)
        doc = essay.documents[0].text
        assert doc[h.start:h.end] == h.text
    fused = [h.scores["fused"] for h in answer]
    assert fused == sorted(fused, reverse=True)


def test_original_text_is_shown_not_the_normalised_one(essay):
    answer = essay.ask("社区党组织的力量配备怎样强化？", k=5)
    assert any("強化力量配备" in h.text for h in answer)  # the essay's own traditional character


@pytest.mark.parametrize("question", ["高血压应该如何治疗？", "上海地铁有多少条线路？", "How do I reset my email password?",
                                      "Which football team won the 2018 World Cup?"])
def test_out_of_scope_questions_are_flagged_with_nearest_passages(essay, question):
    answer = essay.ask(question, k=3)
    assert not answer.found
    assert len(answer) == 3


def test_traditional_question_finds_the_same_paragraph_as_its_simplified_twin(essay):
    simplified = essay.ask("党员的学习教育活动应该怎样开展？")
    traditional = essay.ask("黨員的學習教育活動應該怎樣開展？")
    assert traditional[0].passage_id == simplified[0].passage_id
    assert [h.passage_id for h in traditional] == [h.passage_id for h in simplified]


@pytest.mark.parametrize("english, chinese", [
    ("How should party members' study and education activities be carried out?", "党员的学习教育活动应该怎样开展？"),
    ("How should the use of special party-building funds be supervised?", "党建专项经费的使用怎样监管？"),
    ("What are the requirements for community committee elections?", "社区两委换届选举有什么要求？"),
])
def test_english_question_finds_its_chinese_twins_paragraph_in_the_top_three(essay, english, chinese):
    target = essay.ask(chinese)[0].passage_id
    answer = essay.ask(english, k=3)
    assert target in [h.passage_id for h in answer]
    assert answer.found
    assert "dictionary renderings" in answer.notes[0]


def test_english_question_is_matched_through_dictionary_renderings(essay):
    answer = essay.ask("How should the use of special party-building funds be supervised?", k=1)
    assert answer[0].scores["dictionary"] > 0 and answer[0].scores["coverage"] > 0.5
    assert "party building → 党建" in answer.notes[0] and "经费" in answer.notes[0]
    assert "经费" in answer[0].text  # the note names renderings found in the passages shown


def test_a_rendering_counts_only_in_passages_that_contain_it_whole(essay):
    from qa.legs import DictionaryLeg, Vocabulary
    from qa.normalize import lexical_tokens
    from qa.translate import Term

    index = essay.index
    assert any(t in Vocabulary(index) for t in lexical_tokens("辉格党"))  # its 党 is in the essay...
    assert not any("辉格党" in text for text in index.normalized_texts)  # ...the word itself is not
    leg = DictionaryLeg(index)
    partial = leg.term_scores([Term("whig party", ("辉格党",), (0,))])
    assert len(partial.rows) == 0
    whole = leg.term_scores([Term("party building", ("党建",), (0, 1))])
    assert len(whole.rows) and all(s > 0 for s in whole.scores)
    scored = set(whole.rows.tolist())
    assert all(("党建" in text) == (row in scored) for row, text in zip(index.live_rows.tolist(), index.normalized_texts))


def test_without_translation_an_english_question_is_matched_by_meaning_only(essay):
    from qa import Assistant

    plain = Assistant(essay.documents, essay.settings.with_(translate_questions=False), embedder=essay.embedder)
    answer = plain.ask("How should the use of special party-building funds be supervised?", k=3)
    assert all(h.scores["lexical"] == h.scores["dictionary"] == 0.0 for h in answer)
    assert "meaning only" in answer.notes[0]


@pytest.mark.parametrize("retriever", ["hybrid", "dense", "lexical"])
def test_each_retriever_returns_k_ranked_hits(essay, retriever):
    answer = essay.ask("网格支部和驻区单位之间怎么结对？", k=4, retriever=retriever)
    assert answer.retriever == retriever and len(answer) == 4
    assert "网格支部与驻区单位结对共建" in answer[0].text


@pytest.mark.parametrize("bad", ["", "   \n\t", "\x00\x01\x02"])
def test_empty_questions_are_refused_clearly(essay, bad):
    with pytest.raises(QuestionError, match="empty"):
        essay.ask(bad)


def test_huge_question_is_refused_clearly(essay):
    with pytest.raises(QuestionError, match="100,000 characters"):
        essay.ask("党" * 100_000)


def test_control_characters_are_ignored(essay):
    assert essay.ask("如何加强\x00党风廉政\x1b建设？")[0].breadcrumb == DISCIPLINE


def test_bad_k_and_retriever(essay):
    with pytest.raises(QuestionError):
        essay.ask("党建", k=0)
    with pytest.raises(QuestionError):
        essay.ask("党建", retriever="magic")


def test_k_larger_than_corpus_returns_every_passage(essay):
    assert len(essay.ask("党建", k=500)) == len(essay.passages)


def test_answer_converts_to_dict_and_json_and_prints(essay):
    answer = essay.ask("作者是谁？", k=2)
    d = answer.to_dict()
    assert d["question"] == "作者是谁？" and len(d["hits"]) == 2
    assert d["hits"][0]["breadcrumb"] == answer[0].breadcrumb
    assert '"question": "作者是谁？"' in answer.to_json()
    assert "#1 [" in str(answer)


def test_front_and_back_matter_are_findable(essay):
    assert essay.ask("这篇文章的作者是谁？", k=3)[0].heading_path in (("作者 Author",), ("标题 Title",))
    top = essay.ask("这是哪个基金项目的成果？")[0]
    assert top.heading_path == ("基金项目 Funding",)


def test_lexical_retriever_returns_only_passages_sharing_a_word(essay):
    answer = essay.ask("How do I reset my email password?", k=5, retriever="lexical")
    assert len(answer) == 0 and not answer.found
    assert all(h.scores["lexical"] > 0 for h in essay.ask("网格支部", k=20, retriever="lexical"))


def test_confidence_never_rises_down_the_ranking(essay):
    for question in ("社区工作者的待遇怎么保障？", "How can party building be integrated with community governance?"):
        confidences = [h.confidence for h in essay.ask(question, k=10)]
        assert confidences == sorted(confidences, reverse=True)


@pytest.mark.parametrize("question", ["街道党工委如何统筹辖区资源？", "街道手里没有实权，文章建议怎么办？"])
def test_paraphrased_questions_are_answered_with_a_reason(essay, question):
    answer = essay.ask(question, k=3)
    assert answer.found
    assert "best evidence" in answer.reason and "最佳证据" in answer.reason


def test_a_question_that_only_shares_a_place_with_the_essay_is_flagged(essay):
    answer = essay.ask("作者所在城市的GDP是多少？", k=3)
    assert not answer.found and answer.reason
    assert answer.to_dict()["reason"] == answer.reason
