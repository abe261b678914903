"""Scale-benchmark corpora of real Chinese text, built deterministically from the SQuAD-format eval sets.

Source: every context of ``shared/eval/cmrc2018_trial.json`` (256, simplified) and
``shared/eval/drcd_test.json`` (1,000, traditional), about 12.8 sentences of ~40
characters each. What is done to them:

1. **Base passages.** Each context is cut at sentence boundaries
   (:func:`qa.passages.sentence_spans`) into consecutive chunks of 3 to 6 sentences
   (chunk sizes drawn with a fixed seed), i.e. paragraph-sized passages of ~160
   characters and ~3.9 sentences. Whitespace runs inside a chunk become one space,
   and a space that :func:`qa.passages.split_document` would read as a paragraph
   break is removed;
   chunks that would start with a heading marker (``一、``, ``(1)``…) are left out.
   This gives 3,536 base passages, their text otherwise unchanged.
2. **Questions.** Each CMRC/DRCD question is kept with the base passage that holds
   its first answer whole (questions whose answer straddles two chunks or falls in a
   left-out chunk, and one empty question, are dropped: 4,466 of 4,495 kept), so a question's passage is in
   every corpus that holds its base passage.
3. **Tiling to the target count.** A corpus of ``n`` passages holds the first
   ``min(n, base)`` base passages (contexts in file order, CMRC first). The rest are
   variants, made with ``random.Random(seed)``: half are a base passage with its
   sentence order shuffled; half take the first half of one base passage's sentences
   and the rest from a base passage of another context, shuffled together. A variant
   identical to an earlier passage, or starting with a heading marker, is drawn
   again, so no two passages have the same text and none gets a heading path.
4. **Documents.** Passages are grouped 50 to a document
   (:func:`qa.corpus.document_from_text`, passages joined by ``"\\n"``), so each line
   becomes exactly one passage; :func:`check` confirms this with ``split_document``.

``extra_document`` makes one more 50-passage document (variants from another seed),
for the incremental-add measurement.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from qa.corpus import Document, document_from_text
from qa.passages import _PARAGRAPH_BREAK, sentence_spans, split_document, split_heading

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
SOURCES = ("cmrc2018_trial.json", "drcd_test.json")
PASSAGES_PER_DOCUMENT = 50
SEED = 20261129


@dataclass(frozen=True)
class BasePassage:
    context: int  # index of the source context
    sentences: tuple[str, ...]

    @property
    def text(self) -> str:
        return "".join(self.sentences)


@dataclass(frozen=True)
class Question:
    text: str
    base: int  # index of the gold base passage
    source: str  # "cmrc" or "drcd"


def _clean(sentence: str) -> str:
    s = re.sub(r"\s+", " ", sentence).strip()
    return _PARAGRAPH_BREAK.sub("", s)


def base_passages(eval_dir: Path = EVAL, seed: int = SEED) -> tuple[list[BasePassage], list[Question]]:
    """The base passages of the eval sets' contexts and the questions mapped to them."""
    rng = random.Random(seed)
    passages: list[BasePassage] = []
    questions: list[Question] = []
    context_no = 0
    for name in SOURCES:
        data = json.loads((eval_dir / name).read_text(encoding="utf-8"))["data"]
        for article in data:
            for para in article["paragraphs"]:
                ctx = para["context"]
                spans = sentence_spans(ctx)
                chunks: list[tuple[int, int, int]] = []  # (char start, char end, passage index or -1)
                i = 0
                while i < len(spans):
                    size = rng.randint(3, 6)
                    group = spans[i:i + size]
                    i += size
                    sents = tuple(c for c in (_clean(ctx[s:e]) for s, e in group) if c)
                    text = "".join(sents)
                    if not text or split_heading(text) is not None or "#" in text[:1]:
                        chunks.append((group[0][0], group[-1][1], -1))
                        continue
                    chunks.append((group[0][0], group[-1][1], len(passages)))
                    passages.append(BasePassage(context_no, sents))
                for qa in para["qas"]:
                    if not qa.get("answers") or not qa["question"].strip():
                        continue
                    ans = qa["answers"][0]
                    a0, a1 = int(ans["answer_start"]), int(ans["answer_start"]) + len(ans["text"])
                    for s, e, idx in chunks:
                        if s <= a0 and a1 <= e and idx >= 0:
                            questions.append(Question(qa["question"].strip(), idx, name[:4]))
                            break
                context_no += 1
    return passages, questions


def _variant(rng: random.Random, base: Sequence[BasePassage]) -> str:
    """A new passage from base passages; redrawn while it would start with a heading marker."""
    while True:
        text = _draw(rng, base)
        if split_heading(text) is None:
            return text


def _draw(rng: random.Random, base: Sequence[BasePassage]) -> str:
    p = base[rng.randrange(len(base))]
    sents = list(p.sentences)
    if rng.random() < 0.5 or len(base) < 2:
        rng.shuffle(sents)
    else:
        other = base[rng.randrange(len(base))]
        while other.context == p.context and len(base) > 50:
            other = base[rng.randrange(len(base))]
        half = max(1, len(sents) // 2)
        mixed = sents[:half] + list(other.sentences[: max(1, len(sents) - half)])
        rng.shuffle(mixed)
        sents = mixed
    return "".join(sents)


@dataclass
class Corpus:
    documents: list[Document]
    passage_texts: list[str]
    questions: list[tuple[str, str, str]]
    """(question, gold passage id, source set) for the questions whose passage is in the corpus."""
    base_count: int


def _documents(texts: Sequence[str], prefix: str) -> tuple[list[Document], list[str]]:
    docs, ids = [], []
    for d, start in enumerate(range(0, len(texts), PASSAGES_PER_DOCUMENT)):
        doc_id = f"{prefix}{d:05d}"
        chunk = texts[start:start + PASSAGES_PER_DOCUMENT]
        docs.append(document_from_text("\n".join(chunk), doc_id, source=f"scale/{doc_id}.txt"))
        ids.extend(f"{doc_id}:{i:03d}" for i in range(len(chunk)))
    return docs, ids


def make_corpus(n: int, seed: int = SEED, eval_dir: Path = EVAL) -> Corpus:
    """A corpus of exactly ``n`` passages in documents of 50 (see the module docstring)."""
    base, questions = base_passages(eval_dir, seed)
    used = base[:n]
    texts = [p.text for p in used]
    seen = set(texts)
    rng = random.Random(seed + n)
    while len(texts) < n:
        t = _variant(rng, base)
        if t not in seen:
            seen.add(t)
            texts.append(t)
    docs, ids = _documents(texts, "doc")
    qs = [(q.text, ids[q.base], q.source) for q in questions if q.base < len(used)]
    return Corpus(docs, texts, qs, len(used))


def extra_document(seed: int = SEED + 1, eval_dir: Path = EVAL, avoid: set[str] | None = None) -> Document:
    """One more document of 50 new variant passages (the incremental-add measurement)."""
    base, _ = base_passages(eval_dir, SEED)
    rng = random.Random(seed)
    avoid = avoid or set()
    texts: list[str] = []
    while len(texts) < PASSAGES_PER_DOCUMENT:
        t = _variant(rng, base)
        if t not in avoid and t not in texts:
            texts.append(t)
    docs, _ = _documents(texts, "extra")
    return docs[0]


def check(corpus: Corpus) -> int:
    """Passages ``split_document`` makes of the corpus (must equal the intended count)."""
    total = 0
    for doc in corpus.documents:
        passages = split_document(doc)
        lines = doc.text.split("\n")
        if len(passages) != len(lines) or any(p.heading_path for p in passages):
            raise AssertionError(f"{doc.doc_id}: {len(lines)} lines became {len(passages)} passages")
        total += len(passages)
    return total
