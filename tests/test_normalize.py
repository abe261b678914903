from qa.normalize import fold, has_cjk, lexical_tokens, normalize, to_simplified


def test_traditional_becomes_simplified():
    assert to_simplified("黨員的學習教育活動") == "党员的学习教育活动"
    assert normalize("社區") == normalize("社区")
    assert normalize("強化") == "强化"


def test_full_width_folds_to_half_width_and_case():
    assert normalize("（作者单位：ＡＢＣ）") == "(作者单位:abc)"
    assert fold("Party Building") == "party building"


def test_whitespace_is_removed_for_matching():
    assert normalize(" 党建 \n 引领 ") == "党建引领"


def test_english_text_is_unchanged_apart_from_case():
    assert to_simplified("How do I reset my password?") == "How do I reset my password?"


def test_lexical_tokens_drop_question_words_and_keep_content():
    tokens = lexical_tokens("社区工作者的待遇怎么保障？")
    assert "怎么" not in tokens
    assert "待遇" in tokens
    assert "#社区" in tokens  # character bigrams give recall across segmentations


def test_lexical_tokens_of_traditional_and_simplified_agree():
    assert lexical_tokens("黨員的學習教育活動應該怎樣開展？") == lexical_tokens("党员的学习教育活动应该怎样开展？")


def test_lexical_tokens_latin_words():
    assert lexical_tokens("How do I reset my email password?") == ["reset", "email", "password"]


def test_has_cjk():
    assert has_cjk("abc党") and not has_cjk("abc")
