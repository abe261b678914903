"""The not-found decision relative to a corpus's null profile, on plain numbers (no model)."""

import json

import numpy as np
import pytest

from qa import Settings
from qa.confidence import (Decision, NullProfile, QuestionFeatures, decide, hit_relevance,
                           missing_terms, question_language, specific_terms)


def _bank(n: int = 200, seed: int = 0, language: str = "zh", centre: float = 0.82) -> list[QuestionFeatures]:
    rng = np.random.default_rng(seed)
    return [QuestionFeatures(sentence=float(centre + 0.02 * rng.standard_normal()),
                             passage=float(centre - 0.01 + 0.02 * rng.standard_normal()),
                             lexical=float(max(0.0, rng.normal(0.5, 1.0))),
                             coverage=float(min(1.0, max(0.0, rng.normal(0.05, 0.08)))),
                             language=language) for _ in range(n)]


@pytest.fixture(scope="module")
def profile() -> NullProfile:
    return NullProfile.fit(_bank() + _bank(60, seed=1, language="en", centre=0.76))


def _question(sentence: float, passage: float | None = None, lexical: float = 3.0, coverage: float = 0.4,
              **kw) -> QuestionFeatures:
    return QuestionFeatures(sentence=sentence, passage=sentence - 0.01 if passage is None else passage,
                            lexical=lexical, coverage=coverage, where="1.明确…", sentence_no=2, **kw)


def test_profile_round_trips_through_json(profile: NullProfile) -> None:
    data = json.loads(json.dumps(profile.to_dict()))
    again = NullProfile.from_dict(data)
    assert again == profile
    q = _question(0.9)
    assert np.allclose(again.standardise(q), profile.standardise(q))


def test_profile_from_an_older_feature_list_is_refused(profile: NullProfile) -> None:
    data = profile.to_dict()
    data["features"] = ["sentence"]
    with pytest.raises(ValueError, match="features"):
        NullProfile.from_dict(data)


def test_profile_is_robust_to_a_few_answerable_bank_questions() -> None:
    clean = NullProfile.fit(_bank())
    spoiled = NullProfile.fit(_bank() + [_question(0.97, lexical=30.0, coverage=1.0)] * 8)
    assert abs(spoiled.stratum("zh").median[0] - clean.stratum("zh").median[0]) < 0.005


def test_constant_bank_feature_gets_a_floor_not_an_infinite_z() -> None:
    bank = [QuestionFeatures(sentence=0.8 + 0.001 * i, passage=0.8, lexical=0.0, coverage=0.0) for i in range(30)]
    z = NullProfile.fit(bank).standardise(_question(0.85, coverage=0.5))
    assert np.all(np.isfinite(z))


def test_far_above_the_null_is_found_with_a_reason(profile: NullProfile) -> None:
    d = decide(_question(0.95, lexical=12.0, coverage=0.8, legs_agree=True), profile, Settings())
    assert isinstance(d, Decision)
    assert d.found and d.confidence > 0.9
    assert "第2句" in d.reason and "sentence 2 of 1.明确…" in d.reason


def test_inside_the_null_is_not_found(profile: NullProfile) -> None:
    d = decide(_question(0.82, passage=0.81, lexical=0.5, coverage=0.05), profile, Settings())
    assert not d.found and d.confidence < 0.5
    assert "unrelated" in d.reason or "does not answer" in d.reason


def test_confidence_rises_with_each_piece_of_evidence(profile: NullProfile) -> None:
    settings = Settings()
    base = dict(sentence=0.85, passage=0.84, lexical=2.0, coverage=0.2)
    c0 = decide(QuestionFeatures(**base), profile, settings).confidence
    for name, more in (("sentence", 0.9), ("passage", 0.89), ("lexical", 8.0), ("coverage", 0.6)):
        assert decide(QuestionFeatures(**{**base, name: more}), profile, settings).confidence >= c0, name
    sweep = [decide(QuestionFeatures(**{**base, "sentence": s}), profile, settings).confidence
             for s in np.linspace(0.7, 0.98, 15)]
    assert all(a <= b for a, b in zip(sweep, sweep[1:]))
    assert sweep[-1] > sweep[0]


def test_missing_names_lower_the_confidence_and_say_so(profile: NullProfile) -> None:
    settings = Settings()
    q = dict(sentence=0.86, passage=0.85, lexical=3.0, coverage=0.3)
    plain = decide(QuestionFeatures(**q), profile, settings)
    missing = decide(QuestionFeatures(**q, missing=("上海市",)), profile, settings)
    assert missing.confidence < plain.confidence
    if not missing.found:
        assert "上海市" in missing.reason


def test_an_english_question_is_compared_with_english_bank_questions(profile: NullProfile) -> None:
    # 0.80 is ordinary for a Chinese question, well above the null for an English one
    zh = decide(_question(0.80, lexical=0.0, coverage=0.0, language="zh"), profile, Settings())
    en = decide(_question(0.80, lexical=0.0, coverage=0.0, language="en"), profile, Settings())
    assert en.confidence > zh.confidence


def test_hit_relevance_is_monotone_in_rank_and_starts_at_the_answer_confidence() -> None:
    fused = [3.1, 2.9, 2.95, 1.0, 0.2]  # a tie-breaking quirk may put a higher score lower
    rel = hit_relevance(fused, spread=1.0, answer_confidence=0.82, decay=1.0)
    assert rel[0] == 0.82
    assert all(a >= b for a, b in zip(rel, rel[1:]))
    assert rel[-1] < 0.2
    assert hit_relevance([], 1.0, 0.5, 1.0) == []


def test_specific_terms_and_which_are_missing() -> None:
    terms = specific_terms("上海市的GDP在2019年是多少？")
    assert "上海市" in terms and "gdp" in terms and "2019" in terms
    assert specific_terms("What is the GDP of Shanghai?") == []
    # names the dictionary knows as two-character common words are not names; unknown names still are
    assert specific_terms("卡里没用完的钱能退吗？") == [] and "太多" not in specific_terms("政务网站太多太乱了怎么办？")
    assert specific_terms("作者李扬在党校担任什么职务？") == ["李扬"]
    assert missing_terms(["上海市", "gdp"], ["长沙市委党校", "上海市的发展"]) == ("gdp",)
    assert question_language("這是什麼？") == "zh" and question_language("What?") == "en"


def test_an_unmet_kind_of_answer_lowers_the_confidence_and_says_so(profile: NullProfile) -> None:
    settings = Settings()
    plain = decide(_question(0.86, lexical=3.0, coverage=0.3), profile, settings)
    unmet = decide(_question(0.86, lexical=3.0, coverage=0.3, unmet="quantity"), profile, settings)
    assert unmet.confidence < plain.confidence and not unmet.found
    assert "数量" in unmet.reason and "a number" in unmet.reason


def test_an_unmet_kind_of_answer_vetoes_even_the_strongest_topic_evidence(profile: NullProfile) -> None:
    settings = Settings()
    strong = decide(_question(0.99, lexical=30.0, coverage=1.0, legs_agree=True), profile, settings)
    vetoed = decide(_question(0.99, lexical=30.0, coverage=1.0, legs_agree=True, unmet="count:户"), profile, settings)
    assert strong.found and strong.confidence > 0.9
    assert not vetoed.found and vetoed.confidence <= settings.unmet_confidence
    assert "“户”" in vetoed.reason and 'a count of "户"' in vetoed.reason
