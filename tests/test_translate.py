"""Dictionary renderings of English questions (small hand-made dictionaries, plus the real one once)."""

import json

import pytest

from qa.translate import Dictionary, english_content_words, english_terms, stem_words, word_renderings

SMALL = Dictionary({
    "parti": ["党", "聚会"],
    "build": ["建", "建设"],
    "busi": ["业务", "商业"],
    "work": ["工作"],
    "parti member": ["党员"],
    "email": ["电子邮件"],
})


def test_content_words_drop_stop_and_question_words():
    assert english_content_words("How can the party's members stop being separate?") == [
        "party", "members", "stop", "separate"]


def test_stems_fold_inflections():
    assert stem_words(["building", "builds", "members"]) == ["build", "build", "member"]


def test_terms_carry_renderings_and_the_words_they_stand_for():
    terms = english_terms("How can business work go on?", SMALL, vocabulary=set())
    by_english = {t.english: t for t in terms}
    assert by_english["business"].chinese == ("业务", "商业") and by_english["business"].positions == (0,)
    assert by_english["work"].positions == (1,)


def test_phrases_the_dictionary_knows_become_one_term():
    terms = english_terms("What should party members do?", SMALL, vocabulary=set())
    assert ("party members", ("党员",), (0, 1)) in [(t.english, t.chinese, t.positions) for t in terms]


def test_adjacent_one_character_renderings_join_only_into_words_of_the_corpus():
    with_word = english_terms("party building", SMALL, vocabulary={"#党建"})
    assert ("party building", ("党建",), (0, 1)) in [(t.english, t.chinese, t.positions) for t in with_word]
    without = english_terms("party building", SMALL, vocabulary={"#聚会"})
    assert all(len(t.positions) == 1 for t in without)


def test_questions_with_chinese_are_not_translated():
    assert english_terms("party 党建 building", SMALL, vocabulary={"#党建"}) == []


def test_word_renderings_leave_out_single_characters():
    terms = english_terms("party email", SMALL, vocabulary=set())
    assert word_renderings(terms) == [frozenset({"聚会"}), frozenset({"电子邮件"})]


@pytest.mark.slow  # builds the whole CC-CEDICT reverse index (≈ 10 s each)
def test_dictionary_is_built_from_cc_cedict_and_cached_as_json(tmp_path):
    first = Dictionary.load(tmp_path)
    assert "党员" in first.get("parti member") and "密码" in first.get("password")
    assert "品牌" in first.get("brand")  # from the two-word gloss "brand name"
    stored = list(tmp_path.glob("cedict-reverse-*.json"))
    assert len(stored) == 1 and json.loads(stored[0].read_text(encoding="utf-8"))["password"]
    assert Dictionary.load(tmp_path).renderings == first.renderings


@pytest.mark.slow  # builds the whole CC-CEDICT reverse index (≈ 10 s each)
def test_a_corrupted_dictionary_cache_is_rebuilt(tmp_path):
    Dictionary.load(tmp_path)
    stored = next(tmp_path.glob("cedict-reverse-*.json"))
    stored.write_bytes(b"\x00not json")
    assert "密码" in Dictionary.load(tmp_path).get("password")
    assert json.loads(stored.read_text(encoding="utf-8"))["password"]


@pytest.mark.parametrize("question", ["", "???", "the of and"])
def test_questions_without_content_words_have_no_terms(question):
    assert english_terms(question, SMALL, vocabulary=set()) == []




@pytest.mark.slow  # builds the whole CC-CEDICT reverse index (≈ 10 s each)
def test_an_unwritable_cache_folder_still_gives_a_dictionary(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert "密码" in Dictionary.load(blocker / "cache").get("password")
    assert blocker.read_text() == "not a folder"
