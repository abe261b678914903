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

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from .config import DEFAULT_LEG_WEIGHTS, RETRIEVER_LEGS, Retriever, Settings
from .fusion import fuse
from .index import Index
from .legs import Leg, Question, make_legs, prepare_question
from .normalize import has_cjk
from .passages import PATH_SEPARATOR
from .translate import Term, word_renderings


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


def _question_units(bigrams: list[str], terms: Sequence[Term]) -> list[frozenset[str]]:
    """What a passage must contain to cover the question: each Chinese content bigram, or each
    translatable English word (any of its renderings)."""
    return [frozenset((b,)) for b in bigrams] if bigrams else word_renderings(terms)


def coverage(units: Sequence[frozenset[str]], text: str) -> float:
    """Share of the question's units found in a passage's normalised text (with its headings)."""
    if not units:
        return 0.0
    return sum(any(r in text for r in unit) for unit in units) / len(units)


def confidence_of(dense_score: float, question_coverage: float, has_terms: bool, settings: Settings) -> float:
    """0..1: how likely a passage answers the question (logistic model, see ``Settings.confidence_weights``)."""
    w0, w_dense, w_cov, w_has = settings.confidence_weights
    z = w0 + w_dense * dense_score + w_cov * question_coverage + w_has * float(has_terms)
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def _highlights(index: Index, row: int, question_vector: np.ndarray,
                settings: Settings) -> tuple[tuple[int, int], ...]:
    """The spans of the passage's sentences closest to the question (its own sentences, via the offset table)."""
    seg, lo, hi = index.sentence_spans(row)
    if hi <= lo:
        return ()
    sims = seg.sentence_vectors.exact(np.arange(lo, hi), question_vector)
    best = np.argsort(-sims, kind="stable")[: settings.highlight_sentences]
    return tuple(sorted((int(seg.sent_spans[lo + b][0]), int(seg.sent_spans[lo + b][1])) for b in best))


def search(index: Index, question: str, question_vector: np.ndarray, settings: Settings,
           k: int | None = None, retriever: Retriever | None = None,
           legs: Mapping[str, Leg] | None = None) -> Answer:
    """Rank the index's passages for a question already embedded.

    Each leg of the retriever returns its candidates; fusion ranks their union.
    ``legs`` lets a caller keep the legs (and their per-index state) between questions.
    """
    k = k or settings.k
    retriever = retriever or settings.retriever
    legs = legs or make_legs(index, settings)
    q = prepare_question(index, question, question_vector, settings)
    depth = max(settings.candidate_depth, k)
    found = {name: legs[name].candidates(q, depth) for name in RETRIEVER_LEGS[retriever]}
    ranking = fuse(found, settings.leg_weights, settings.fusion, settings.rrf_k)
    rows = ranking.rows[:k]
    has_terms = bool(q.bigrams or q.terms)
    units = _question_units(q.bigrams, q.terms)
    passages = index.passages_at(rows)
    texts = index.normalized_at(rows)
    hits = []
    for i, (row, p, text) in enumerate(zip(rows.tolist(), passages, texts)):
        cov = coverage(units, text)
        dense = float(ranking.legs["dense"][i]) if "dense" in ranking.legs else float(
            legs["dense"].score_rows(np.array([row]), question_vector)[0])  # type: ignore[attr-defined]
        conf = confidence_of(dense, cov, has_terms, settings)
        scores = {name: 0.0 for name in DEFAULT_LEG_WEIGHTS}
        scores.update({name: round(float(s[i]), 6) for name, s in ranking.legs.items()})
        scores["dense"] = round(dense, 6)
        scores.update(coverage=round(cov, 4), fused=round(float(ranking.fused[i]), 6))
        hits.append(Hit(
            rank=i + 1, passage_id=p.id, doc_id=p.doc_id, title=p.title, heading_path=p.heading_path,
            text=p.text, source=p.source, start=p.start, end=p.end,
            highlights=_highlights(index, row, question_vector, settings),
            scores=scores, confidence=round(conf, 4), page=p.page, paragraph=p.paragraph,
        ))
    top_conf = hits[0].confidence if hits else 0.0
    return Answer(question=question, hits=hits, found=top_conf >= settings.min_confidence,
                  confidence=top_conf, retriever=retriever, notes=_notes(index, q, texts))


def _notes(index: Index, q: Question, texts: Sequence[str]) -> list[str]:
    """What the user should know about how the question was matched (English questions only)."""
    if has_cjk(q.text) or not index.is_chinese:
        return []
    if not q.terms:
        return ["no Chinese word in the question: matched by meaning only (cross-language matching is weaker)"]
    shown = []
    for term in q.terms:
        matched = [c for c in term.chinese if len(c) > 1 and any(c in t for t in texts)][:3]
        if matched:
            shown.append(f"{term.english} → {'/'.join(matched)}")
    return ["English question: matched by meaning and through dictionary renderings of its words"
            + (f" (in these passages: {', '.join(shown)})" if shown else "")]
