"""Search an index and fuse the legs: dense (sentence and passage vectors) and lexical (BM25).

The dense leg scores a passage by its best sentence or its whole text, whichever
matches the question better; the lexical leg is BM25 over Chinese words and
bigrams; an English question on a Chinese corpus is matched lexically through
dictionary renderings of its words (see :mod:`qa.translate`). The legs are fused
by adding their standardised scores (z-scores; the weights are settings), and a
lexical leg that found nothing adds nothing, so a question with no words in common
with the corpus keeps the dense order. Whether the corpus answers the question at
all is a calibrated confidence (see ``Settings.confidence_weights``).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from .config import Retriever, Settings
from .index import Index
from .normalize import content_bigrams, has_cjk, lexical_tokens
from .passages import PATH_SEPARATOR
from .translate import Term, dictionary, english_terms, word_renderings


@dataclass(frozen=True)
class Hit:
    """One passage returned for a question, with where it comes from and why it ranked."""

    rank: int
    passage_id: str
    doc_id: str
    title: str
    heading_path: tuple[str, ...]
    text: str
    source: str
    start: int
    end: int
    highlights: tuple[tuple[int, int], ...]
    """Spans (relative to ``text``) of the sentences that match the question best."""
    scores: dict[str, float]
    """``dense`` (cosine with the question), ``lexical`` (BM25), ``coverage`` (share of the question's
    Chinese bigrams, or of its dictionary-rendered English words, in the passage), ``fused`` (what the
    ranking used)."""
    confidence: float
    """0..1: how likely this passage answers the question."""
    page: int | None = None
    """1-based PDF page the passage starts on."""
    paragraph: int | None = None
    """1-based Word paragraph number."""

    @property
    def breadcrumb(self) -> str:
        return PATH_SEPARATOR.join(self.heading_path)

    @property
    def highlighted_text(self) -> list[str]:
        """The highlighted sentences themselves."""
        return [self.text[s:e] for s, e in self.highlights]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["heading_path"] = list(self.heading_path)
        d["highlights"] = [list(h) for h in self.highlights]
        d["breadcrumb"] = self.breadcrumb
        return d

    def __str__(self) -> str:
        where = self.breadcrumb or self.title
        if self.page is not None or self.paragraph is not None:  # p. 3 (PDF page) or ¶ 12 (Word paragraph)
            where += f" · p. {self.page}" if self.page is not None else f" · ¶ {self.paragraph}"
        marked = self.text
        for s, e in sorted(self.highlights, reverse=True):
            marked = f"{marked[:s]}【{marked[s:e]}】{marked[e:]}"
        return (f"#{self.rank} [{self.passage_id}] {where}\n"
                f"   confidence {self.confidence:.0%} · dense {self.scores['dense']:.3f} · "
                f"lexical {self.scores['lexical']:.2f} · fused {self.scores['fused']:.3f}\n   {marked}")


@dataclass(frozen=True)
class Answer:
    """The ranked hits for a question, and whether the corpus seems to answer it at all.

    Behaves like a list of :class:`Hit` (``answer[0]``, ``len(answer)``, iteration).
    """

    question: str
    hits: list[Hit]
    found: bool
    """False when the corpus does not seem to answer the question (hits are then only the nearest passages)."""
    confidence: float
    retriever: str
    latency_ms: float = 0.0
    notes: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)

    def __getitem__(self, i: int) -> Hit:
        return self.hits[i]

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "found": self.found, "confidence": self.confidence,
                "retriever": self.retriever, "latency_ms": self.latency_ms, "notes": list(self.notes),
                "hits": [h.to_dict() for h in self.hits]}

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    def __str__(self) -> str:
        head = (f"Q: {self.question}\n" + ("" if self.found else
                "⚠ The document does not seem to answer this question; nearest passages:\n"))
        return head + "\n".join(str(h) for h in self.hits)


@dataclass
class LegScores:
    """Per-passage scores of each leg for one question (arrays over all passages)."""

    dense: np.ndarray
    lexical: np.ndarray


def _dense_scores(index: Index, q: np.ndarray) -> np.ndarray:
    """A passage's dense score: the better of its whole-text cosine and its best sentence's."""
    n = index.size
    q = q.reshape(1, -1).astype(np.float32)
    sims, ids = index.passage_vectors.search(q, n)
    dense = np.full(n, -1.0, dtype=np.float64)
    ok = ids[0] >= 0
    dense[ids[0][ok]] = sims[0][ok]
    n_sent = index.sentence_vectors.ntotal
    if n_sent:
        s_sims, s_ids = index.sentence_vectors.search(q, n_sent)
        ok = s_ids[0] >= 0
        np.maximum.at(dense, index.sentences[s_ids[0][ok], 0], s_sims[0][ok].astype(np.float64))
    return dense


@functools.lru_cache(maxsize=1 << 16)
def _rendering_tokens(chinese: str) -> tuple[str, ...]:
    """A dictionary rendering's BM25 tokens; the same renderings recur in every English question."""
    return tuple(lexical_tokens(chinese))


def _term_scores(index: Index, terms: Sequence[Term]) -> np.ndarray:
    """BM25 of dictionary-rendered terms: each term counts once, by its best-scoring rendering.

    A rendering counts only in passages that contain it whole, so a rendering the corpus
    lacks (辉格党, "Whig party") scores nothing through a common part of it (党).
    """
    vocab = index.lexical.vocab_dict
    total = np.zeros(index.size, dtype=np.float64)
    for term in terms:
        best = np.zeros(index.size, dtype=np.float64)
        for chinese in term.chinese:
            tokens = [t for t in _rendering_tokens(chinese) if t in vocab]
            if tokens:
                scores = np.asarray(index.lexical.get_scores(tokens), dtype=np.float64)
                for row in np.nonzero(scores)[0]:
                    if chinese not in index.normalized_texts[row]:
                        scores[row] = 0.0
                best = np.maximum(best, scores)
        total += best
    return total


def score_legs(index: Index, question_vector: np.ndarray, question_tokens: list[str],
               terms: Sequence[Term] = ()) -> LegScores:
    """Score every passage with each leg (``terms``: renderings of an English question's words)."""
    known = [t for t in question_tokens if t in index.lexical.vocab_dict]
    if known:
        lexical = np.asarray(index.lexical.get_scores(known), dtype=np.float64)
    elif terms:
        lexical = _term_scores(index, terms)
    else:
        lexical = np.zeros(index.size, dtype=np.float64)
    return LegScores(dense=_dense_scores(index, question_vector), lexical=lexical)


def _ranks(scores: np.ndarray, present: np.ndarray) -> np.ndarray:
    """1-based rank of each passage by score; passages a leg did not find get an infinite rank."""
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    ranks[~present] = np.inf
    return ranks


def _standardise(x: np.ndarray) -> np.ndarray:
    spread = x.std()
    return (x - x.mean()) / spread if spread > 0 else np.zeros_like(x)


def fuse(legs: LegScores, settings: Settings, retriever: Retriever) -> np.ndarray:
    """One score per passage for the chosen retriever (higher is better).

    A lexical leg that found nothing adds nothing, so it cannot drag the dense order down.
    """
    if retriever == "dense":
        return legs.dense.copy()
    if retriever == "lexical":
        return legs.lexical.copy()
    found = legs.lexical > 0
    if settings.fusion == "rrf":
        return (settings.dense_weight / (settings.rrf_k + _ranks(legs.dense, np.ones_like(found)))
                + settings.lexical_weight / (settings.rrf_k + _ranks(legs.lexical, found)))
    fused = settings.dense_weight * _standardise(legs.dense)
    if found.any():
        fused = fused + settings.lexical_weight * _standardise(legs.lexical)
    return fused


def _question_units(bigrams: list[str], terms: Sequence[Term]) -> list[frozenset[str]]:
    """What a passage must contain to cover the question: each Chinese content bigram, or each
    translatable English word (any of its renderings)."""
    return [frozenset((b,)) for b in bigrams] if bigrams else word_renderings(terms)


def coverage(units: Sequence[frozenset[str]], index: Index, row: int) -> float:
    """Share of the question's units found in a passage (with its headings)."""
    if not units:
        return 0.0
    text = index.normalized_texts[row]
    return sum(any(r in text for r in unit) for unit in units) / len(units)


def confidence_of(dense_score: float, question_coverage: float, has_terms: bool, settings: Settings) -> float:
    """0..1: how likely a passage answers the question (logistic model, see ``Settings.confidence_weights``)."""
    w0, w_dense, w_cov, w_has = settings.confidence_weights
    z = w0 + w_dense * dense_score + w_cov * question_coverage + w_has * float(has_terms)
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def _highlights(index: Index, row: int, question_vector: np.ndarray,
                settings: Settings) -> tuple[tuple[int, int], ...]:
    rows = np.nonzero(index.sentences[:, 0] == row)[0]
    if len(rows) == 0:
        return ()
    sims = index.sentence_matrix[rows] @ question_vector
    best = np.argsort(-sims, kind="stable")[: settings.highlight_sentences]
    return tuple(sorted((int(index.sentences[rows[b], 1]), int(index.sentences[rows[b], 2])) for b in best))


def search(index: Index, question: str, question_vector: np.ndarray, settings: Settings,
           k: int | None = None, retriever: Retriever | None = None) -> Answer:
    """Rank the index's passages for a question already embedded."""
    k = k or settings.k
    retriever = retriever or settings.retriever
    tokens = lexical_tokens(question)
    bigrams, terms = question_terms(index, question, settings)
    legs = score_legs(index, question_vector, tokens, terms)
    fused = fuse(legs, settings, retriever)
    order = np.argsort(-fused, kind="stable")
    if retriever == "lexical":  # passages sharing no word with the question were not found, whatever their order
        order = order[legs.lexical[order] > 0]
    order = order[:k]
    has_terms = bool(bigrams or terms)
    units = _question_units(bigrams, terms)
    hits = []
    for rank, row in enumerate(order, start=1):
        p = index.passages[int(row)]
        cov = coverage(units, index, int(row))
        conf = confidence_of(float(legs.dense[row]), cov, has_terms, settings)
        hits.append(Hit(
            rank=rank, passage_id=p.id, doc_id=p.doc_id, title=p.title, heading_path=p.heading_path,
            text=p.text, source=p.source, start=p.start, end=p.end,
            highlights=_highlights(index, int(row), question_vector, settings),
            scores={"dense": round(float(legs.dense[row]), 6), "lexical": round(float(legs.lexical[row]), 6),
                    "coverage": round(cov, 4), "fused": round(float(fused[row]), 6)},
            confidence=round(conf, 4), page=p.page, paragraph=p.paragraph,
        ))
    top_conf = hits[0].confidence if hits else 0.0
    return Answer(question=question, hits=hits, found=top_conf >= settings.min_confidence,
                  confidence=top_conf, retriever=retriever,
                  notes=_notes(index, question, terms, [int(r) for r in order]))


def question_terms(index: Index, question: str, settings: Settings) -> tuple[list[str], list[Term]]:
    """What the question is about, for coverage: its Chinese content bigrams, and for an English
    question on a Chinese corpus, its words' dictionary renderings."""
    if has_cjk(question) or not settings.translate_questions or not index.is_chinese:
        return content_bigrams(question), []
    return [], english_terms(question, dictionary(settings.cache_dir), index.lexical.vocab_dict)


def _notes(index: Index, question: str, terms: Sequence[Term], rows: Sequence[int]) -> list[str]:
    """What the user should know about how the question was matched (English questions only)."""
    if has_cjk(question) or not index.is_chinese:
        return []
    if not terms:
        return ["no Chinese word in the question: matched by meaning only (cross-language matching is weaker)"]
    texts = [index.normalized_texts[r] for r in rows]
    shown = []
    for term in terms:
        matched = [c for c in term.chinese if len(c) > 1 and any(c in t for t in texts)][:3]
        if matched:
            shown.append(f"{term.english} → {'/'.join(matched)}")
    return ["English question: matched by meaning and through dictionary renderings of its words"
            + (f" (in these passages: {', '.join(shown)})" if shown else "")]
