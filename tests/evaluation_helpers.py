"""Hand-made evaluation objects for the tests of qa.evaluation: no model, no index."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from qa.evaluation import EvaluationReport, QuestionResult, RetrieverResult
from qa.normalize import normalize
from qa.passages import Passage
from qa.search import Answer, Hit

DATA = Path(__file__).resolve().parent / "data"
ESSAY_QUESTIONS = DATA / "essay_questions.jsonl"
MALFORMED = DATA / "malformed.jsonl"
SQUAD_SMALL = DATA / "squad_small.json"


def hit(pid: str, rank: int, fused: float = 1.0, heading_path: tuple[str, ...] = ()) -> Hit:
    return Hit(rank=rank, passage_id=pid, doc_id=pid.split(":")[0], title="t", heading_path=heading_path,
               text="…", source="s", start=0, end=1, highlights=(),
               scores={"dense": 0.5, "lexical": 1.0, "fused": fused}, confidence=0.9)


def answer(pids: list[str], found: bool = True, fused: list[float] | None = None, latency: float = 10.0,
           confidence: float | None = None) -> Answer:
    fused = fused or [1.0 / (i + 1) for i in range(len(pids))]
    conf = confidence if confidence is not None else (0.9 if found else 0.1)
    return Answer(question="q", hits=[hit(p, i + 1, f) for i, (p, f) in enumerate(zip(pids, fused))],
                  found=found, confidence=conf, retriever="hybrid", latency_ms=latency)


def row(qid: str, relevant: tuple[str, ...], ranked: tuple[str, ...], found: bool = True,
        expects: bool | None = None, latency: float = 10.0, confidence: float | None = None,
        question: str | None = None) -> QuestionResult:
    return QuestionResult(id=qid, question=question or f"question {qid}", retriever="hybrid", relevant_ids=relevant,
                          ranked_ids=ranked, found=found,
                          confidence=confidence if confidence is not None else (0.9 if found else 0.1),
                          latency_ms=latency, expects_answer=bool(relevant) if expects is None else expects,
                          heading_paths=tuple((f"H-{p}",) for p in ranked),
                          top_scores={"dense": 0.5, "lexical": 1.0, "fused": 0.03})


def report_of(rows_by_retriever: dict[str, list[QuestionResult]], k: int = 10) -> EvaluationReport:
    return EvaluationReport(dataset="toy.jsonl", path="toy.jsonl", format="jsonl", k=k,
                            results={name: RetrieverResult(name, rows, k) for name, rows in rows_by_retriever.items()},
                            config={"corpus_description": "toy"})


def toy_report() -> EvaluationReport:
    hybrid = [row("a1", ("p1",), ("p1", "p2")), row("a2", ("p3",), ("p1", "p3")), row("u1", (), ("p2",), False)]
    dense = [row("a1", ("p1",), ("p2", "p1")), row("a2", ("p3",), ("p1", "p2")), row("u1", (), ("p2",), True)]
    return report_of({"hybrid": hybrid, "dense": dense})


def passage(pid: str, doc_id: str, text: str, heading_path: tuple[str, ...] = ()) -> Passage:
    return Passage(id=pid, doc_id=doc_id, title="t", heading_path=heading_path, text=text, start=0,
                   end=len(text), source="s")


@dataclass
class FakeAssistant:
    """Answers from a fixed table; raises KeyboardInterrupt after ``stop_after`` calls of ask_many."""

    passages: list[Passage]
    ranked: dict[str, list[str]]
    stop_after: int | None = None
    calls: list[tuple[int, int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        from qa import Settings

        self.settings = Settings()
        self.documents = [type("D", (), {"title": "fake", "source": "/srv/secret/folder/fake.txt"})()]
        self.embedder = None
        self.index_status = "loaded index from /srv/secret/index/abc123"
        self.index = type("I", (), {"normalized_texts": [normalize(p.context_text()) for p in self.passages]})()

    def ask_many_by_retriever(self, questions, retrievers, k=None):
        if self.stop_after is not None and len(self.calls) >= self.stop_after:
            raise KeyboardInterrupt
        self.calls.append((len(questions), k, tuple(retrievers)))
        return {r: [answer(self.ranked.get(q, ["d:000"])[:k], found=q != "无关的问题？") for q in questions]
                for r in retrievers}


def fake_questions(tmp_path: Path, n: int) -> Path:
    f = tmp_path / "q.jsonl"
    lines = [json.dumps({"id": f"q{i}", "question": f"问题{i}？", "evidence": ["目标"]}, ensure_ascii=False)
             for i in range(n)]
    lines.append(json.dumps({"id": "u", "question": "无关的问题？", "evidence": []}, ensure_ascii=False))
    f.write_text("\n".join(lines), encoding="utf-8")
    return f
