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
from .answer_kind import asked_kind, holds_kind
from .confidence import Decision, NullProfile, QuestionFeatures, decide, hit_relevance, question_language, specific_terms
from .fusion import Fused, fuse
from .index import Index
from .legs import Candidates, Leg, Question, Vocabulary, gather_candidates, make_legs, prepare_question
from .normalize import has_cjk, normalize
from .passages import PATH_SEPARATOR, Passage
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
    reason: str = ""
    """Why the assistant thinks the document does (not) answer, in one bilingual line."""

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)

    def __getitem__(self, i: int) -> Hit:
        return self.hits[i]

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "found": self.found, "confidence": self.confidence,
                "reason": self.reason, "retriever": self.retriever, "latency_ms": self.latency_ms, "notes": list(self.notes),
                "hits": [h.to_dict() for h in self.hits]}

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    def __str__(self) -> str:
        head = (f"Q: {self.question}\n" + ("" if self.found else
                "⚠ 文档似乎没有回答这个问题 · The document does not seem to answer this question; nearest passages:\n")
                + (f"  {self.reason}\n" if self.reason else ""))
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


@dataclass(frozen=True)
class Ranking:
    """One question ranked: the prepared question, each leg's candidates, the fused union, the features."""

    question: Question
    found: dict[str, Candidates]
    fused: Fused
    features: QuestionFeatures
    sentence_no: int


def rank(index: Index, question: str, question_vector: np.ndarray, settings: Settings,
         retriever: Retriever | None = None, legs: Mapping[str, Leg] | None = None, depth: int | None = None) -> Ranking:
    """Rank the index's passages for a question already embedded, and measure the evidence.

    Each leg of the retriever returns its candidates; fusion ranks their union. The
    features (:class:`qa.confidence.QuestionFeatures`) are what the not-found decision
    weighs; the null profile of a corpus is fitted from the same features of a bank of
    unrelated questions, so both are computed here, one way.
    """
    retriever = retriever or settings.retriever
    legs = legs or make_legs(index, settings)
    q = prepare_question(index, question, question_vector, settings)
    depth = max(settings.candidate_depth, depth or 0)
    found = gather_candidates(legs, RETRIEVER_LEGS[retriever], q, depth)
    ranking = fuse(found, settings.leg_weights, settings.fusion, settings.rrf_k)
    dense_leg = legs["dense"]
    dense = found.get("dense") or dense_leg.candidates(q, depth)  # type: ignore[attr-defined]
    if hasattr(dense_leg, "best_cosines"):
        passage_best, sentence_best = dense_leg.best_cosines(dense.rows, question_vector)
    else:  # a leg that only knows its combined score (another store): that score stands for both
        passage_best = sentence_best = float(dense.scores[0]) if len(dense) else -1.0
    lexical = found.get("lexical") or legs["lexical"].candidates(q, depth)
    specific = specific_terms(question)
    units = _question_units(q.bigrams, q.terms) + [frozenset((t,)) for t in specific if not has_cjk(t)]
    kind = asked_kind(question)
    # the top passage's text for coverage, and (a question asking for a quantity or a time) the next ones'
    evidence = index.normalized_at(ranking.rows[:settings.answer_kind_passages if kind else 1]) if len(ranking) else []
    where, sentence_no, cov = "", 0, 0.0
    if len(ranking):
        top = int(ranking.rows[0])
        cov = coverage(units, evidence[0])
        where = _short_label(index.passages_at([top])[0])
        sentence_no = _best_sentence(index, top, question_vector)
    vocabulary = Vocabulary(index) if hasattr(index, "segments") else None
    features = QuestionFeatures(
        sentence=sentence_best, passage=passage_best,
        lexical=float(lexical.scores[0]) if len(lexical) else 0.0, coverage=cov,
        legs_agree=bool(len(dense) and len(lexical) and dense.rows[0] == lexical.rows[0]),
        missing=tuple(t for t in specific if vocabulary is not None and not _in_corpus(vocabulary, t)),
        unmet=kind if kind and not any(holds_kind(kind, t) for t in evidence) else "",
        language=question_language(question), where=where, sentence_no=sentence_no)
    return Ranking(q, found, ranking, features, sentence_no)


def _short_label(p: Passage) -> str:
    label = p.heading_path[-1] if p.heading_path else p.title
    return label if len(label) <= 16 else label[:15] + "…"


def _best_sentence(index: Index, row: int, question_vector: np.ndarray) -> int:
    seg, lo, hi = index.sentence_spans(row)
    if hi <= lo:
        return 0
    return int(np.argmax(seg.sentence_vectors.exact(np.arange(lo, hi), question_vector))) + 1


def _in_corpus(vocabulary: Vocabulary, term: str) -> bool:
    """Whether a name or number of the question occurs in the corpus (its Chinese bigrams, or itself, are
    words of the index's vocabulary): a look-up, never a scan of the texts."""
    term = normalize(term)
    if has_cjk(term):
        return all(f"#{term[i:i + 2]}" in vocabulary for i in range(len(term) - 1)) if len(term) > 1 else term in vocabulary
    return term in vocabulary


def search(index: Index, question: str, question_vector: np.ndarray, settings: Settings,
           k: int | None = None, retriever: Retriever | None = None,
           legs: Mapping[str, Leg] | None = None, profile: NullProfile | None = None) -> Answer:
    """The ``k`` best passages for a question already embedded, and whether the corpus answers it.

    ``profile`` is the corpus's null profile (see :mod:`qa.confidence`); without one the
    decision falls back to a fixed logistic of cosine and coverage (``Settings.confidence_weights``).
    """
    k = k or settings.k
    retriever = retriever or settings.retriever
    legs = legs or make_legs(index, settings)
    r = rank(index, question, question_vector, settings, retriever, legs, k)
    rows = r.fused.rows[:k]
    units = _question_units(r.question.bigrams, r.question.terms)
    passages = index.passages_at(rows)
    texts = index.normalized_at(rows)
    if profile is not None:
        decision = decide(r.features, profile, settings)
    else:
        top_cov = r.features.coverage
        conf = confidence_of(r.features.sentence, top_cov, bool(r.question.bigrams or r.question.terms), settings)
        decision = Decision(conf >= settings.min_confidence, round(conf, 4), "")
    spread = float(np.std(r.fused.fused)) if len(r.fused) > 1 else 1.0
    relevance = hit_relevance(r.fused.fused[:k], spread, decision.confidence, settings.relevance_decay)
    dense_leg = legs["dense"]
    hits = []
    for i, (row, p, text) in enumerate(zip(rows.tolist(), passages, texts)):
        cov = coverage(units, text)
        dense = float(r.fused.legs["dense"][i]) if "dense" in r.fused.legs else float(
            dense_leg.score_rows(np.array([row]), question_vector)[0])  # type: ignore[attr-defined]
        scores = {name: 0.0 for name in DEFAULT_LEG_WEIGHTS}
        scores.update({name: round(float(s[i]), 6) for name, s in r.fused.legs.items()})
        scores["dense"] = round(dense, 6)
        scores.update(coverage=round(cov, 4), fused=round(float(r.fused.fused[i]), 6))
        hits.append(Hit(
            rank=i + 1, passage_id=p.id, doc_id=p.doc_id, title=p.title, heading_path=p.heading_path,
            text=p.text, source=p.source, start=p.start, end=p.end,
            highlights=_highlights(index, row, question_vector, settings),
            scores=scores, confidence=relevance[i], page=p.page, paragraph=p.paragraph,
        ))
    return Answer(question=question, hits=hits, found=decision.found and bool(hits),
                  confidence=decision.confidence, retriever=retriever, notes=_notes(index, r.question, texts),
                  reason=decision.reason)


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
