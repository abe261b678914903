"""Retriever legs: each returns its top candidates for a question, with scores.

A leg is anything with a ``name`` and ``candidates(question, depth)``; fusion
(:mod:`qa.fusion`) ranks the union of the legs' candidates. A leg's
:class:`Candidates` also carries the mean and spread of its scores over the whole
corpus (for z-score fusion) and, where the leg can, the exact score of any other
passage, so that a passage found by one leg is judged fairly by the others.

The legs here:

* ``dense``: a passage scores the better of its whole-text cosine and its best
  sentence's. Candidates come from the passage and sentence vector indexes (a
  sentence points to its parent passage) and are then scored exactly.
* ``lexical``: BM25 over Chinese words and character bigrams (:mod:`qa.lexical`).
* ``dictionary``: an English question on a Chinese corpus, matched through the
  CC-CEDICT renderings of its words (:mod:`qa.translate`); silent whenever the
  lexical leg finds the question's own words.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Mapping, Protocol, Sequence

import numpy as np

from .config import Settings
from .index import Index
from .lexical import SparseScores, bm25, combine, term_scores, top_order
from .normalize import content_bigrams, has_cjk, lexical_tokens
from .translate import Term, dictionary, english_terms
from .vectors import inner

#: Sentences asked of the sentence index per candidate passage wanted (several sentences share a passage).
SENTENCES_PER_CANDIDATE = 4
#: Above this many matching passages, a dictionary rendering is checked by its bigrams, not by reading texts.
MAX_TEXT_CHECKS = 5000


@dataclass(frozen=True)
class Question:
    """A question as the legs need it: its text, vector, BM25 tokens and (English) dictionary terms."""

    text: str
    vector: np.ndarray
    tokens: list[str]
    bigrams: list[str]
    """Chinese content bigrams (what the question is about), for coverage."""
    terms: list[Term] = field(default_factory=list)
    """Dictionary renderings of an English question's words (empty for Chinese questions)."""


def prepare_question(index: Index, text: str, vector: np.ndarray, settings: Settings) -> Question:
    """Everything the legs need to know about a question, computed once."""
    tokens = lexical_tokens(text)
    if has_cjk(text) or not settings.translate_questions or not index.is_chinese:
        return Question(text, vector, tokens, content_bigrams(text))
    return Question(text, vector, tokens, [], english_terms(text, dictionary(settings.cache_dir), Vocabulary(index)))


class Vocabulary:
    """``term in vocabulary`` over an index's segments (what :func:`english_terms` asks)."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self._known: dict[str, bool] = {}

    def __contains__(self, term: object) -> bool:
        if not isinstance(term, str):
            return False
        if term not in self._known:
            self._known[term] = any(term in s.postings.lookup([term]) for s in self.index.segments)
        return self._known[term]


@dataclass(frozen=True)
class Candidates:
    """A leg's top passages for one question, best first."""

    rows: np.ndarray  # global passage rows
    scores: np.ndarray
    mean: float = 0.0
    std: float = 0.0
    """Mean and population spread of the leg's score over every live passage (z-score fusion)."""
    score_of: Callable[[np.ndarray], np.ndarray] | None = None
    """Exact score of any rows; None when the leg cannot say (fusion then uses its lowest score)."""

    @classmethod
    def none(cls) -> "Candidates":
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0))

    def __len__(self) -> int:
        return len(self.rows)


class Leg(Protocol):
    name: str

    def candidates(self, question: Question, depth: int) -> Candidates:
        """The ``depth`` best passages for the question (fewer, or none, if it finds fewer)."""
        ...


def _top(rows: np.ndarray, scores: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    order = top_order(rows, scores, depth)
    return rows[order], scores[order]


def normalisation_rows(live_rows: np.ndarray, settings: Settings) -> np.ndarray:
    """The passages whose dense scores give a leg's z-score mean and spread: all of them in a small
    corpus (so it ranks exactly as an exhaustive search), else ``normalisation_sample`` evenly spread."""
    if len(live_rows) <= settings.normalisation_sample:
        return live_rows
    return live_rows[np.linspace(0, len(live_rows) - 1, settings.normalisation_sample).astype(np.int64)]


class _Scored:
    """Exact dense scores already computed for one question: row -> (whole-passage cosine, best sentence
    cosine, -inf when the passage has no sentences). Fusion, the evidence and the hits ask again for rows
    the leg has just scored; they are read back, not recomputed."""

    def __init__(self) -> None:
        self.known: dict[int, tuple[float, float]] = {}

    def add(self, rows: np.ndarray, passage: np.ndarray, sentence: np.ndarray) -> None:
        self.known.update(zip(rows.tolist(), zip(passage.tolist(), sentence.tolist())))


#: Questions whose exact dense scores a leg remembers (concurrent questions each keep theirs).
REMEMBERED_QUESTIONS = 16


class DenseLeg:
    """Cosine of the question with a passage's whole text or its best sentence, whichever is higher."""

    name = "dense"
    thread_safe = True

    def __init__(self, index: Index, settings: Settings) -> None:
        self.index = index
        self._sample = normalisation_rows(index.live_rows, settings)
        self._matrix, self._n_sample, self._starts = self._gather(self._sample)
        self._recent: dict[bytes, _Scored] = {}
        self._lock = threading.Lock()

    def _gather(self, rows: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
        """The vectors of some passages and of all their sentences as one contiguous float32 matrix
        (passages first, then each passage's sentences in a run), built once so that scoring the
        normalisation sample is one matrix-vector product a question, not a gather from the memory maps."""
        passages, sentences, counts_all = [], [], []
        for seg, _, local in self.index.locate(rows):
            passages.append(np.asarray(seg.passage_vectors.vectors[local], dtype=np.float32))
            lo, hi = seg.sent_offsets[local], seg.sent_offsets[local + 1]
            counts = hi - lo
            first = np.concatenate([[0], np.cumsum(counts)[:-1]])
            sent_rows = np.repeat(lo - first, counts) + np.arange(int(counts.sum()))
            sentences.append(np.asarray(seg.sentence_vectors.vectors[sent_rows], dtype=np.float32))
            counts_all.append(counts)
        dim = self.index.dimension
        counts = np.concatenate(counts_all) if counts_all else np.zeros(0, np.int64)
        matrix = np.ascontiguousarray(np.concatenate(passages + sentences) if passages
                                      else np.zeros((0, dim), np.float32))
        return matrix, len(rows), np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def _sample_parts(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whole-passage and best-sentence cosines of the normalisation sample (-inf: no sentences)."""
        sims = inner(self._matrix, q)
        passage, sentences = sims[:self._n_sample].astype(np.float64), sims[self._n_sample:]
        best = np.full(self._n_sample, -np.inf)
        starts = self._starts
        has = starts[1:] > starts[:-1]
        if has.any():  # a passage's sentences are contiguous: the best of each run
            best[has] = np.maximum.reduceat(sentences, starts[:-1][has])
        return passage, best

    def _sample_scores(self, q: np.ndarray) -> np.ndarray:
        """Dense scores of the normalisation sample."""
        passage, sentence = self._sample_parts(q.astype(np.float32))
        return np.maximum(passage, sentence)

    def _parts(self, rows: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact whole-passage and best-sentence cosines of some global rows, read from the stored vectors."""
        passage = np.full(len(rows), -1.0)
        sentence = np.full(len(rows), -np.inf)
        for seg, pos, local in self.index.locate(rows):
            passage[pos] = seg.passage_vectors.exact(local, q)
            lo, hi = seg.sent_offsets[local], seg.sent_offsets[local + 1]
            counts = hi - lo
            has = counts > 0
            if has.any():
                counts_h = counts[has]
                starts = np.concatenate([[0], np.cumsum(counts_h)[:-1]])
                sent_rows = np.repeat(lo[has] - starts, counts_h) + np.arange(int(counts_h.sum()))
                sims = seg.sentence_vectors.exact(sent_rows, q)
                sentence[pos[has]] = np.maximum.reduceat(sims, starts)
        return passage, sentence

    def _scored(self, q: np.ndarray) -> _Scored:
        """The remembered scores of a question (a new, empty record for a question not seen lately)."""
        key = q.tobytes()
        with self._lock:
            scored = self._recent.get(key)
            if scored is None:
                scored = self._recent[key] = _Scored()
                while len(self._recent) > REMEMBERED_QUESTIONS:
                    self._recent.pop(next(iter(self._recent)))
            return scored

    def _exact_parts(self, rows: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_parts`, computing only the rows not already scored for this question."""
        rows = np.asarray(rows, dtype=np.int64)
        q = q.astype(np.float32)
        scored = self._scored(q)
        known = scored.known
        missing = np.array([r not in known for r in rows.tolist()], dtype=bool)
        if missing.any():
            new = np.unique(rows[missing])
            scored.add(new, *self._parts(new, q))
        got = [known[r] for r in rows.tolist()]
        return (np.array([g[0] for g in got], dtype=np.float64), np.array([g[1] for g in got], dtype=np.float64))

    def score_rows(self, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Exact dense scores of some global rows."""
        passage, sentence = self._exact_parts(rows, q)
        return np.maximum(passage, sentence)

    def best_cosines(self, rows: np.ndarray, q: np.ndarray) -> tuple[float, float]:
        """The best whole-passage cosine and the best sentence cosine among some passages (their evidence)."""
        if not len(rows):
            return -1.0, -1.0
        passage, sentence = self._exact_parts(rows, q)
        best_p, best_s = float(passage.max()), float(sentence.max())
        return best_p, (best_s if best_s > -1.0 else best_p)

    def candidates(self, question: Question, depth: int) -> Candidates:
        q = question.vector.astype(np.float32)
        passage, sentence = self._sample_parts(q)
        sample_scores = np.maximum(passage, sentence)
        mean, std = (float(sample_scores.mean()), float(sample_scores.std())) if len(sample_scores) else (0.0, 0.0)
        if len(self._sample) == self.index.size:  # a small corpus: every passage was just scored exactly
            self._scored(q).add(self._sample, passage, sentence)
            rows, scores = _top(self._sample, sample_scores, depth)
            return Candidates(rows, scores, mean, std, lambda r: self.score_rows(r, q))
        found: list[np.ndarray] = []
        for seg in self.index.segments:
            dead = int(seg.n_rows - seg.alive.sum())
            local, _ = seg.passage_vectors.search(q, depth + dead)
            found.append(local[seg.alive[local]] + seg.row_start)
            sent, _ = seg.sentence_vectors.search(q, SENTENCES_PER_CANDIDATE * depth + dead)
            parents = np.asarray(seg.sent_row[sent], dtype=np.int64)
            found.append(parents[seg.alive[parents]] + seg.row_start)
        rows = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
        rows, scores = _top(rows, self.score_rows(rows, q), depth)
        return Candidates(rows, scores, mean, std, lambda r: self.score_rows(r, q))


def _sparse_candidates(scores: SparseScores, depth: int) -> Candidates:
    if not len(scores.rows):
        return Candidates.none()
    rows, top = scores.top(depth)
    mean, std = scores.mean_std()
    return Candidates(rows, top, mean, std, scores.score_of)


class LexicalLeg:
    """BM25 of the question's own words and bigrams."""

    name = "lexical"
    thread_safe = True

    def __init__(self, index: Index) -> None:
        self.index = index

    def candidates(self, question: Question, depth: int) -> Candidates:
        return _sparse_candidates(bm25(self.index.lexical, question.tokens), depth)


@functools.lru_cache(maxsize=1 << 16)
def _rendering_tokens(chinese: str) -> tuple[str, ...]:
    """A dictionary rendering's BM25 tokens; the same renderings recur in every English question."""
    return tuple(lexical_tokens(chinese))


class DictionaryLeg:
    """An English question's words through their Chinese renderings: each word counts once, by its
    best-scoring rendering, and a rendering counts only in passages that contain it whole (so 辉格党,
    "Whig party", scores nothing through a common part of it, 党)."""

    name = "dictionary"
    thread_safe = True

    def __init__(self, index: Index) -> None:
        self.index = index

    def _contributions(self, tokens: Iterable[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each token's BM25 contribution (rows, scores) over the corpus (another store asks its engine)."""
        return term_scores(self.index.lexical, tokens)

    def _n_passages(self) -> int:
        return self.index.lexical.n_passages

    def term_scores(self, terms: Sequence[Term]) -> SparseScores:
        """The summed best-rendering scores of some terms over the passages they match."""
        n = self._n_passages()
        contributions = self._contributions(t for term in terms for c in term.chinese for t in _rendering_tokens(c))
        total: dict[int, float] = {}
        for term in terms:
            best: dict[int, float] = {}
            for chinese in term.chinese:
                scores = combine(contributions, _rendering_tokens(chinese), n)
                if not len(scores.rows):
                    continue
                keep = self._contains(scores.rows, chinese)
                for row, score in zip(scores.rows[keep].tolist(), scores.scores[keep].tolist()):
                    if score > best.get(row, 0.0):
                        best[row] = score
            for row, score in best.items():
                total[row] = total.get(row, 0.0) + score
        rows = np.array(sorted(total), dtype=np.int64)
        return SparseScores(rows, np.array([total[r] for r in rows.tolist()], dtype=np.float64), n)

    def _contains(self, rows: np.ndarray, chinese: str) -> np.ndarray:
        if len(rows) <= MAX_TEXT_CHECKS:
            return np.array([chinese in t for t in self.index.normalized_at(rows)], dtype=bool)
        # Too many to read: a passage must at least hold every bigram of the rendering.
        bigrams = [f"#{chinese[i:i + 2]}" for i in range(len(chinese) - 1)]
        keep = np.ones(len(rows), dtype=bool)
        for b in bigrams:
            keep &= bm25(self.index.lexical, [b]).score_of(rows) > 0
        return keep

    def candidates(self, question: Question, depth: int) -> Candidates:
        if not question.terms or len(bm25(self.index.lexical, question.tokens).rows):
            return Candidates.none()
        return _sparse_candidates(self.term_scores(question.terms), depth)


#: Threads that run a question's other legs while the asking thread runs the dense leg.
LEG_THREADS = 2
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
_FREE = threading.BoundedSemaphore(LEG_THREADS)


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=LEG_THREADS, thread_name_prefix="qa-leg")
        return _POOL


def _run_freed(leg: Leg, question: Question, depth: int) -> Candidates:
    try:
        return leg.candidates(question, depth)
    finally:
        _FREE.release()


def gather_candidates(legs: Mapping[str, Leg], names: Sequence[str], question: Question, depth: int,
                      concurrent: bool = True) -> dict[str, Candidates]:
    """Each named leg's candidates for a question, by name.

    With ``concurrent``, the dense leg runs in the calling thread while the others run on a
    small shared thread pool (FAISS, numpy and SQLite release the GIL, so on two cores the
    legs overlap); only when every leg says ``thread_safe`` (the legs here do; another
    store's legs, sharing one client, run one by one). A leg that finds the pool busy (many questions at once) runs in the
    calling thread instead of queueing. The results are the same either way.
    """
    names = list(names)
    if not concurrent or len(names) < 2 or not all(getattr(legs[n], "thread_safe", False) for n in names):
        return {name: legs[name].candidates(question, depth) for name in names}
    here = "dense" if "dense" in names else names[0]
    elsewhere = {}
    for name in names:
        if name != here and _FREE.acquire(blocking=False):
            elsewhere[name] = _pool().submit(_run_freed, legs[name], question, depth)
    found = {here: legs[here].candidates(question, depth)}
    for name in names:
        if name != here and name not in elsewhere:
            found[name] = legs[name].candidates(question, depth)
    found.update({name: future.result() for name, future in elsewhere.items()})
    return {name: found[name] for name in names}


def make_legs(index: Index, settings: Settings) -> dict[str, Leg]:
    """The legs over an index, by name."""
    return {"dense": DenseLeg(index, settings), "lexical": LexicalLeg(index), "dictionary": DictionaryLeg(index)}
