"""Text normalisation and tokens for matching.

The index and every comparison see normalised text (traditional -> simplified,
full-width -> half-width, case-folded, whitespace removed); what users see is
always the original text. Evidence matching in evaluation uses the very same
:func:`normalize`, so "contains the evidence" means the same thing everywhere.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

#: Bumped whenever :func:`lexical_tokens` changes, so that stored BM25 indexes are rebuilt.
LEXICAL_TOKENS_VERSION = 1

_WHITESPACE = re.compile(r"\s+")
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_LATIN_WORD = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")
_CJK_CHAR = re.compile(f"[{_CJK}]")

#: Question words and particles that say how something is asked, not what about.
#: General Chinese function words; not tuned to any dataset.
STOP_WORDS: frozenset[str] = frozenset(
    """
    的 了 是 在 和 与 及 或 也 都 就 而 并 被 把 对 从 为 以 之 其 这 那 哪 有 吗 呢 吧 啊 么
    什么 怎么 怎样 怎么样 如何 为何 为什么 哪些 哪个 哪里 哪儿 哪一 几 多少 是否 能否 可以 应该 需要 应当
    一个 一些 这个 那个 这些 那些 我们 你们 他们 它们 我 你 他 她 它 请问 请 吗 呢 有没有 是不是 要 会
    the a an of to in on for and or is are was were be been do does did how what which who whom why when where
    can could should would will shall may might must it its this that these those with by as at from about
    i me my you your we our they their he she his her not no any some there than then so if
    """.split()
)


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional Chinese characters to simplified (other text unchanged)."""
    return _t2s().convert(text) if _CJK_CHAR.search(text) else text


def fold(text: str) -> str:
    """Script- and width-folded text that keeps its length-free shape (spaces kept)."""
    return to_simplified(unicodedata.normalize("NFKC", text)).lower()


def normalize(text: str) -> str:
    """The canonical form used for matching: folded, with all whitespace removed."""
    return _WHITESPACE.sub("", fold(text))


@lru_cache(maxsize=1)
def _jieba():
    """jieba, initialised with its dictionary cache in ``<cache dir>/jieba`` (never the shared /tmp).

    If that folder cannot be written, a cache already there is still read; otherwise
    jieba builds its dictionary in memory each run (about a second), silently.
    """
    import logging
    import os

    import jieba

    from .config import _default_cache_dir

    folder = _default_cache_dir() / "jieba"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        writable = os.access(folder, os.W_OK | os.X_OK)
    except OSError:
        writable = False
    jieba.dt.tmp_dir = str(folder)
    # Unwritable: jieba would log its failed cache dump with a traceback; that is expected here.
    jieba.setLogLevel(logging.WARNING if writable else logging.CRITICAL)
    try:
        jieba.initialize()
    finally:
        jieba.setLogLevel(logging.WARNING)
    return jieba


def _content_segments(run: str) -> list[str]:
    """A Chinese run cut at its stop words (found by jieba): 文章的标题是什么 -> 文章, 标题.

    Bigrams are then taken inside each segment, so none straddles a particle or a
    question word (章的, 题是 match nothing the question is about).
    """
    segments = [""]
    for word in _jieba().cut(run):
        if word in STOP_WORDS:
            segments.append("")
        else:
            segments[-1] += word
    return [seg for seg in segments if seg]


def lexical_tokens(text: str) -> list[str]:
    """Tokens for the BM25 leg: jieba words plus character bigrams of Chinese runs, plus Latin words.

    Words give precision when segmentation agrees between question and passage;
    bigrams give recall when it does not (jieba splits 社区工作者 and 社区 differently).
    Stop words and question words are dropped so that 如何/什么 never decide a match.
    """
    folded = fold(text)
    tokens: list[str] = []
    for run in _CJK_RUN.findall(folded):
        for word in _jieba().cut(run):
            if len(word) > 1 and word not in STOP_WORDS:
                tokens.append(word)
        tokens.extend(f"#{run[i:i + 2]}" for i in range(len(run) - 1) if run[i:i + 2] not in STOP_WORDS)
        if len(run) == 1 and run not in STOP_WORDS:
            tokens.append(run)
    tokens.extend(w for w in _LATIN_WORD.findall(folded) if w not in STOP_WORDS)
    return tokens


def content_bigrams(text: str) -> list[str]:
    """The character bigrams of what a question is about: 作者在哪个城市工作 -> 作者, 城市, 市工, 工作.

    Taken inside the stretches between stop words, so that no bigram straddles a
    particle or a question word (章的, 题是 say nothing about the topic). Used to
    judge how much of a question a passage covers.
    """
    bigrams: list[str] = []
    for run in _CJK_RUN.findall(fold(text)):
        for segment in _content_segments(run):
            bigrams.extend(segment[i:i + 2] for i in range(len(segment) - 1))
    return bigrams


def has_cjk(text: str) -> bool:
    """Whether the text contains any Chinese character."""
    return _CJK_CHAR.search(text) is not None
