"""Relevance: which passages of the index answer each question, judged over every passage.

Judged once, before any question is asked, so the metrics never depend on what a
retriever happened to return.
"""

from __future__ import annotations

from typing import Sequence

from ..normalize import normalize
from ..passages import Passage
from .datasets import Question


def judge_relevance(questions: Sequence[Question], passages: Sequence[Passage],
                    normalized_texts: Sequence[str] | None = None) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """Every passage relevant to each question, judged over all passages of the index.

    A passage is relevant when its normalized text, headings included (its
    ``context_text()``, what the retrievers see), contains any of the question's
    normalized evidence strings; when its id is listed in ``passage_ids``; or
    (SQuAD) when it comes from the question's own context. Headings count because
    they are never passages of their own: evidence quoting a heading makes the
    passages under it relevant instead of matching nothing. Returns the relevant
    ids per question id (in index order) and warnings about evidence or ids that
    match nothing. ``normalized_texts`` (an index's ``Index.normalized_texts``) spares
    normalising the passages again.
    """
    texts = normalized_texts if normalized_texts is not None else [normalize(p.context_text()) for p in passages]
    ids = {p.id for p in passages}
    by_doc: dict[str, list[str]] = {}
    for p in passages:
        by_doc.setdefault(p.doc_id, []).append(p.id)
    relevant: dict[str, tuple[str, ...]] = {}
    warns: list[str] = []
    for q in questions:
        found: set[str] = set()
        for ev in q.evidence:
            needle = normalize(ev)
            hits = {p.id for p, t in zip(passages, texts) if needle and needle in t}
            if not hits:
                warns.append(f'{q.where} ({q.id}): evidence "{ev[:40]}" is in no passage of the corpus')
            found |= hits
        for pid in q.passage_ids:
            if pid in ids:
                found.add(pid)
            else:
                warns.append(f'{q.where} ({q.id}): passage id "{pid}" is not in the index; ignored')
        for doc_id in q.doc_ids:
            found.update(by_doc.get(doc_id, ()))
        if q.expects_answer and not found:
            warns.append(f"{q.where} ({q.id}): no relevant passage in the corpus; left out of the metrics")
        relevant[q.id] = tuple(p.id for p in passages if p.id in found)
    return relevant, warns
