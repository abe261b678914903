"""BM25 over Chinese tokens, stored as postings that load by memory map and grow by segments.

Why not bm25s here: bm25s stores a finished score for every (term, passage) pair,
computed from corpus-wide statistics, so adding one document would change every
stored score and force a rebuild. We store raw term frequencies per segment and
score only the question's terms at query time, with the statistics (number of
live passages, their mean length, each term's document frequency) summed over all
segments' live passages. The formula is bm25s's default (Lucene BM25, k1 = 1.5,
b = 0.75, idf = ln(1 + (N - df + 0.5) / (df + 0.5))), so rankings stay what they were.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

K1 = 1.5
B = 0.75


@dataclass
class Postings:
    """Term frequencies of one segment: for term column ``c``, ``rows[indptr[c]:indptr[c+1]]`` and ``tf``."""

    indptr: np.ndarray  # (n_terms + 1,) int64
    rows: np.ndarray  # (nnz,) int32, local passage rows
    tf: np.ndarray  # (nnz,) float32
    lengths: np.ndarray  # (n_rows,) float32, tokens per passage
    lookup: Callable[[Sequence[str]], dict[str, int]]
    """Term columns of the given tokens (tokens absent from the segment are left out)."""


def build_postings(token_lists: Iterable[Sequence[str]]) -> tuple[dict[str, int], np.ndarray, np.ndarray,
                                                                   np.ndarray, np.ndarray]:
    """Postings of a list of token lists: (vocabulary term -> column, indptr, rows, tf, lengths)."""
    vocab: dict[str, int] = {}
    cols: list[int] = []
    rows: list[int] = []
    tfs: list[int] = []
    lengths: list[int] = []
    for row, tokens in enumerate(token_lists):
        lengths.append(len(tokens))
        for term, count in Counter(tokens).items():
            cols.append(vocab.setdefault(term, len(vocab)))
            rows.append(row)
            tfs.append(count)
    col_arr = np.asarray(cols, dtype=np.int64)
    order = np.argsort(col_arr, kind="stable")
    indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
    np.cumsum(np.bincount(col_arr, minlength=len(vocab)), out=indptr[1:])
    return (vocab, indptr, np.asarray(rows, dtype=np.int32)[order], np.asarray(tfs, dtype=np.float32)[order],
            np.asarray(lengths, dtype=np.float32))


@dataclass(frozen=True)
class SegmentView:
    """One segment as the scorer sees it: where its rows start and which are live."""

    row_start: int
    postings: Postings
    alive: np.ndarray  # (n_rows,) bool


@dataclass(frozen=True)
class SparseScores:
    """BM25 scores of the passages that match at least one token (every other passage scores 0)."""

    rows: np.ndarray  # global rows, sorted
    scores: np.ndarray
    n_passages: int
    """Live passages in the corpus (the denominator of mean and spread)."""

    @classmethod
    def empty(cls, n_passages: int) -> "SparseScores":
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0), n_passages)

    def mean_std(self) -> tuple[float, float]:
        """Mean and population spread over all live passages, zeros included."""
        n = max(self.n_passages, 1)
        mean = float(self.scores.sum()) / n
        var = max(float(np.square(self.scores).sum()) / n - mean * mean, 0.0)
        return mean, math.sqrt(var)

    def score_of(self, rows: np.ndarray) -> np.ndarray:
        """Scores of the given global rows (0 where nothing matched)."""
        rows = np.asarray(rows, dtype=np.int64)
        pos = np.searchsorted(self.rows, rows)
        pos = np.minimum(pos, max(len(self.rows) - 1, 0))
        found = (len(self.rows) > 0) & (self.rows[pos] == rows) if len(self.rows) else np.zeros(len(rows), bool)
        return np.where(found, self.scores[pos] if len(self.rows) else 0.0, 0.0)

    def top(self, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``depth`` best (rows, scores), best first; ties broken by row."""
        if len(self.rows) == 0:
            return self.rows, self.scores
        order = top_order(self.rows, self.scores, depth)
        return self.rows[order], self.scores[order]


def top_order(rows: np.ndarray, scores: np.ndarray, depth: int) -> np.ndarray:
    """Positions of the ``depth`` best scores, best first, ties by lower row: the first ``depth`` of a full
    sort, without sorting everything (only the scores at or above the ``depth``-th best are sorted)."""
    if depth <= 0:
        return np.zeros(0, dtype=np.int64)
    if len(scores) > 4 * depth:
        kth = np.partition(scores, len(scores) - depth)[len(scores) - depth]
        keep = np.flatnonzero(scores >= kth)  # every tie of the depth-th score, so ties break as in a full sort
        return keep[np.lexsort((rows[keep], -scores[keep]))][:depth]
    return np.lexsort((rows, -scores))[:depth]


class CorpusStatistics:
    """Live-passage count and mean length over segments (computed once per loaded index)."""

    def __init__(self, segments: Sequence[SegmentView]) -> None:
        self.segments = list(segments)
        self.n_passages = int(sum(int(s.alive.sum()) for s in self.segments))
        total = sum(float(s.postings.lengths[s.alive].sum()) for s in self.segments)
        self.mean_length = total / self.n_passages if self.n_passages else 1.0
        self.n_rows = max((s.row_start + len(s.alive) for s in self.segments), default=0)
        """One past the highest global row (the size of a dense score accumulator)."""
        # Per segment, once: BM25's length norm of every row (the same float32 arithmetic as row by row)
        # and whether every row is live (then a term's postings need no live mask).
        self._norms = [K1 * (1 - B + B * np.asarray(s.postings.lengths) / self.mean_length) for s in self.segments]
        self._all_alive = [bool(s.alive.all()) for s in self.segments]


def term_scores(stats: CorpusStatistics, terms: Iterable[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each term's BM25 contribution to the live passages containing it: term -> (global rows, scores).

    Terms absent from the corpus are left out. A question's score is the sum over its tokens.
    """
    terms = list(dict.fromkeys(terms))
    if not terms or not stats.n_passages:
        return {}
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for seg, norms, all_alive in zip(stats.segments, stats._norms, stats._all_alive):
        p = seg.postings
        for term, col in p.lookup(terms).items():
            lo, hi = int(p.indptr[col]), int(p.indptr[col + 1])
            local = np.asarray(p.rows[lo:hi])
            tf = np.asarray(p.tf[lo:hi], dtype=np.float64)
            if not all_alive:
                live = seg.alive[local]
                local, tf = local[live], tf[live]
            parts.setdefault(term, []).append((local.astype(np.int64) + seg.row_start, tf / (tf + norms[local])))
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    n = stats.n_passages
    for term, pieces in parts.items():
        df = sum(len(r) for r, _ in pieces)
        if df:
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            out[term] = (np.concatenate([r for r, _ in pieces]), np.concatenate([t for _, t in pieces]) * idf)
    return out


def combine(contributions: dict[str, tuple[np.ndarray, np.ndarray]], tokens: Sequence[str],
            n_passages: int) -> SparseScores:
    """The BM25 scores of a token list from per-term contributions (a repeated token counts again)."""
    counts = Counter(t for t in tokens if t in contributions)
    if not counts:
        return SparseScores.empty(n_passages)
    rows = np.concatenate([contributions[t][0] for t in counts])
    scores = np.concatenate([contributions[t][1] * c for t, c in counts.items()])
    return SparseScores(*_accumulate(rows, scores), n_passages)


#: Above this many postings per corpus row, scores are summed in an array of every row (no sort).
DENSE_ACCUMULATION_SHARE = 1 / 64


def _accumulate(rows: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum the scores of equal rows: (sorted distinct rows, their sums), added in the order given.

    Many postings (a common term in a large corpus): one ``bincount`` over an array as long
    as the corpus, no sort. Few: sort the distinct rows. Both add a row's scores in the
    same order, so the sums are the same to the last bit. Every BM25 contribution is
    positive, so a row with postings never sums to 0 and the non-zero rows are the matched ones.
    """
    if not len(rows):
        return rows.astype(np.int64), scores.astype(np.float64)
    size = int(rows.max()) + 1
    if len(rows) >= size * DENSE_ACCUMULATION_SHARE:
        sums = np.bincount(rows, weights=scores, minlength=size)
        hit = np.flatnonzero(sums)
        return hit.astype(np.int64), sums[hit]
    uniq, inverse = np.unique(rows, return_inverse=True)
    return uniq, np.bincount(inverse, weights=scores)


def bm25(stats: CorpusStatistics, tokens: Sequence[str]) -> SparseScores:
    """BM25 of every live passage that contains at least one of ``tokens`` (repeated tokens count again)."""
    return combine(term_scores(stats, tokens), tokens, stats.n_passages)


def known_tokens(stats: CorpusStatistics, tokens: Sequence[str]) -> list[str]:
    """The tokens that occur in some segment's vocabulary (in the order given)."""
    found: set[str] = set()
    for seg in stats.segments:
        found.update(seg.postings.lookup(list(set(tokens) - found)))
    return [t for t in tokens if t in found]
