"""Search an index and fuse the legs: dense (sentence and passage vectors) and lexical (BM25).

The dense leg scores a passage by its best sentence or its whole text, whichever
matches the question better; the lexical leg is BM25 over Chinese words and
bigrams. The legs are fused by weighted reciprocal rank, and a passage the
lexical leg did not find at all gets nothing from it, so a question with no
words in common with the corpus (an English question, say) keeps the dense order.
Whether the corpus answers the question at all is a calibrated confidence.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

import numpy as np

from .config import Retriever, Settings
from .index import Index
from .normalize import lexical_tokens
from .passages import PATH_SEPARATOR


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
    """``dense`` (cosine), ``lexical`` (BM25), ``fused`` (what the ranking used)."""
    confidence: float
    """0..1: how likely this passage answers the question."""

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
        marked = self.text
        for s, e in sorted(self.highlights, reverse=True):
            marked = f"{marked[:s]}【{marked[s:e]}】{marked[e:]}"
        return (f"#{self.rank} [{self.passage_id}] {where}\n"
                f"   confidence {self.confidence:.0%} · dense {self.scores['dense']:.3f} · "
                f"lexical {self.scores['lexical']:.2f} · fused {self.scores['fused']:.4f}\n   {marked}")


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
    sentence_sims: dict[int, float]  # sentence row -> cosine, for the sentences searched


def _ranks(scores: np.ndarray, present: np.ndarray) -> np.ndarray:
    """1-based rank of each passage by score (ties share the better rank); absent passages get inf."""
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    ranks[~present] = np.inf
    return ranks


def score_legs(index: Index, question_vector: np.ndarray, question_tokens: list[str],
               settings: Settings) -> LegScores:
    """Score every passage with each leg."""
    n = index.size
    q = question_vector.reshape(1, -1).astype(np.float32)
    p_sims, p_ids = index.passage_vectors.search(q, n)
    dense = np.full(n, -1.0, dtype=np.float64)
    dense[p_ids[0][p_ids[0] >= 0]] = p_sims[0][p_ids[0] >= 0]
    sentence_sims: dict[int, float] = {}
    n_sent = index.sentence_vectors.ntotal
    if n_sent:
        s_sims, s_ids = index.sentence_vectors.search(q, min(n_sent, max(settings.candidates * 4, 200)))
        for sim, sid in zip(s_sims[0], s_ids[0]):
            if sid < 0:
                continue
            sentence_sims[int(sid)] = float(sim)
            row = int(index.sentences[sid, 0])
            if sim > dense[row]:
                dense[row] = sim
    if question_tokens:
        known = [t for t in question_tokens if t in index.lexical.vocab_dict]
        lexical = (np.asarray(index.lexical.get_scores(known), dtype=np.float64) if known
                   else np.zeros(n, dtype=np.float64))
    else:
        lexical = np.zeros(n, dtype=np.float64)
    return LegScores(dense=dense, lexical=lexical, sentence_sims=sentence_sims)


def fuse(legs: LegScores, settings: Settings, retriever: Retriever) -> np.ndarray:
    """One score per passage for the chosen retriever (higher is better)."""
    if retriever == "dense":
        return legs.dense.copy()
    if retriever == "lexical":
        return legs.lexical.copy()
    dense_ranks = _ranks(legs.dense, np.ones(len(legs.dense), dtype=bool))
    lexical_ranks = _ranks(legs.lexical, legs.lexical > 0)
    return (settings.dense_weight / (settings.rrf_k + dense_ranks)
            + settings.lexical_weight / (settings.rrf_k + lexical_ranks))


def confidence_of(dense_score: float, settings: Settings) -> float:
    """A 0..1 confidence from a cosine, via a logistic calibrated on held-out questions."""
    z = (dense_score - settings.confidence_center) / settings.confidence_scale
    return 1.0 / (1.0 + math.exp(-z))


def _highlights(index: Index, row: int, question_vector: np.ndarray, sentence_vectors: np.ndarray,
                settings: Settings) -> tuple[tuple[int, int], ...]:
    rows = np.nonzero(index.sentences[:, 0] == row)[0]
    if len(rows) == 0:
        return ()
    sims = sentence_vectors[rows] @ question_vector
    best = np.argsort(-sims, kind="stable")[: settings.highlight_sentences]
    return tuple(sorted((int(index.sentences[rows[b], 1]), int(index.sentences[rows[b], 2])) for b in best))


def search(index: Index, question: str, question_vector: np.ndarray, settings: Settings,
           k: int | None = None, retriever: Retriever | None = None,
           sentence_vectors: np.ndarray | None = None) -> Answer:
    """Rank the index's passages for a question already embedded."""
    k = k or settings.k
    retriever = retriever or settings.retriever
    legs = score_legs(index, question_vector, lexical_tokens(question), settings)
    fused = fuse(legs, settings, retriever)
    order = np.argsort(-fused, kind="stable")[: min(k, index.size)]
    if sentence_vectors is None:
        sentence_vectors = index.sentence_vectors.reconstruct_n(0, index.sentence_vectors.ntotal)
    hits = []
    for rank, row in enumerate(order, start=1):
        p = index.passages[int(row)]
        hits.append(Hit(
            rank=rank, passage_id=p.id, doc_id=p.doc_id, title=p.title, heading_path=p.heading_path,
            text=p.text, source=p.source, start=p.start, end=p.end,
            highlights=_highlights(index, int(row), question_vector, sentence_vectors, settings),
            scores={"dense": round(float(legs.dense[row]), 6), "lexical": round(float(legs.lexical[row]), 6),
                    "fused": round(float(fused[row]), 6)},
            confidence=round(confidence_of(float(legs.dense[row]), settings), 4),
        ))
    top_conf = confidence_of(float(legs.dense.max()), settings) if index.size else 0.0
    return Answer(question=question, hits=hits, found=top_conf >= settings.min_confidence,
                  confidence=round(top_conf, 4), retriever=retriever)
