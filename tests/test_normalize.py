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


# -- jieba's dictionary cache lives in QA_CACHE_DIR --------------------------------------------------

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

_TOKENISE = "from qa.normalize import lexical_tokens; print(' '.join(lexical_tokens('社区工作者的待遇怎么保障')))"


def _tokenise_in_a_fresh_process(tmp_path, cache_dir):
    temp = tmp_path / "tmp"
    temp.mkdir(exist_ok=True)
    env = {**os.environ, "QA_CACHE_DIR": str(cache_dir), "TMPDIR": str(temp)}
    done = subprocess.run([sys.executable, "-c", _TOKENISE], env=env, capture_output=True, text=True, timeout=300,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return done, temp


def test_jieba_cache_is_written_in_the_cache_dir_not_tmp(tmp_path):
    done, temp = _tokenise_in_a_fresh_process(tmp_path, tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    assert "社区" in done.stdout.split()
    assert (tmp_path / "cache" / "jieba" / "jieba.cache").stat().st_size > 1_000_000
    assert list(temp.iterdir()) == []  # nothing in the temp folder (was /tmp/jieba.cache)


def test_an_unwritable_cache_dir_still_tokenises_quietly(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    done, temp = _tokenise_in_a_fresh_process(tmp_path, blocker / "cache")  # cannot be created
    assert done.returncode == 0, done.stderr
    assert "社区" in done.stdout.split()
    assert "Traceback" not in done.stderr and "Dump cache file failed" not in done.stderr
    assert list(temp.iterdir()) == []
