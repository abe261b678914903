"""Scaling out (issue 15): Milvus store parity and latency next to the embedded store; Ray embedding.

    python benchmarks/scale_out.py [--model fake|MODEL] [--datasets cmrc drcd] [--ray-passages 1000]

Prints (1) hybrid hit@1 / mrr@10 / not-found figures of the embedded and the Milvus
Lite store through ``qa.evaluate`` (the same path as ``qa eval --store milvus``);
(2) per-question search latency p50/p95 beyond encoding, on each store; (3) Ray Data
embedding of N passages in a local 2-CPU pool against one process: max abs vector
difference, wall time and start-up overhead. The default model is the fake embedder
(fast; the figures then measure the stores, not the model) — say which when quoting.
Needs the scale extra.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "eval"
DATASETS = {"cmrc": SHARED / "cmrc2018_trial.json", "drcd": SHARED / "drcd_test.json"}


def _metrics(result: dict) -> str:
    m, nf = result.get("metrics", {}), result.get("not_found", {})
    figures = [f"{k} {m[k]:.4f}" for k in ("hit@1", "mrr@10") if k in m]
    figures += [f"{k} {nf[k]}" for k in ("answerable_flagged", "flagged_unanswerable", "ece") if k in nf]
    return ", ".join(figures)


def _latency(assistant, questions: list[str]) -> tuple[float, float]:
    import numpy as np

    from qa.normalize import to_simplified
    from qa.search import search

    vectors = assistant.embedder.encode_questions([to_simplified(q) for q in questions])
    times = []
    for q, v in zip(questions, vectors):
        started = time.perf_counter()
        search(assistant.index, q, v, assistant.settings, k=10, legs=assistant.legs)
        times.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fake")
    parser.add_argument("--datasets", nargs="+", default=["cmrc"], choices=list(DATASETS))
    parser.add_argument("--ray-passages", type=int, default=1000)
    parser.add_argument("--latency-questions", type=int, default=200)
    args = parser.parse_args()

    import json

    import numpy as np

    from qa import Settings, evaluate
    from qa.embed import load_embedder

    work = Path(tempfile.mkdtemp(prefix="qa-scale-"))
    base = Settings(model=args.model, index_dir=work / "index", cache_dir=work / "cache")
    embedder = load_embedder(base)
    print(f"model: {args.model}")
    for name in args.datasets:
        print(f"\n== {name}: parity (hybrid, k=10)")
        assistants = {}
        for store in ("faiss", "milvus"):
            settings = base.with_(store=store, milvus_uri=str(work / f"{name}.db"))
            started = time.perf_counter()
            report = evaluate(DATASETS[name], k=10, retrievers=("hybrid",), settings=settings, embedder=embedder,
                              progress=False).to_dict()
            print(f"{store:7s} {_metrics(report['by_retriever']['hybrid'])}  ({time.perf_counter() - started:.0f} s)")
            from qa.evaluation.datasets import load_questions  # noqa: F401  (only to confirm the package loads)
        # latency beyond encoding: one assistant per store on the dataset's own contexts
        data = json.loads(DATASETS[name].read_text(encoding="utf-8"))
        from qa.corpus import document_from_text

        docs, questions = [], []
        for art in data["data"]:
            for i, para in enumerate(art["paragraphs"]):
                docs.append(document_from_text(para["context"], f"{art.get('id', art.get('title'))}-{i}",
                                               source=f"{art.get('id', art.get('title'))}-{i}.txt"))
                questions.extend(qa["question"] for qa in para["qas"])
        questions = questions[: args.latency_questions]
        from qa import Assistant

        for store in ("faiss", "milvus"):
            settings = base.with_(store=store, milvus_uri=str(work / f"{name}-latency.db"),
                                  index_dir=work / f"latency-{store}")
            assistants[store] = Assistant(docs, settings, embedder=embedder)
            p50, p95 = _latency(assistants[store], questions)
            print(f"{store:7s} search beyond encoding: p50 {p50:.1f} ms, p95 {p95:.1f} ms "
                  f"({assistants[store].index.size} passages, {len(questions)} questions)")
        for a in assistants.values():
            a.index.close()

    if args.ray_passages:
        from qa.stores.ray_ingest import embed_texts, start_ray

        data = json.loads(DATASETS[args.datasets[0]].read_text(encoding="utf-8"))
        texts = [p["context"][:400] for art in data["data"] for p in art["paragraphs"]]
        texts = (texts * (args.ray_passages // max(len(texts), 1) + 1))[: args.ray_passages]
        print(f"\n== Ray Data embedding of {len(texts)} passages (local, num_cpus=2, model {args.model})")
        started = time.perf_counter()
        single = embedder.encode_passages(texts)
        one = time.perf_counter() - started
        started = time.perf_counter()
        start_ray(None, num_cpus=2)
        init = time.perf_counter() - started
        started = time.perf_counter()
        pooled = embed_texts(texts, base)
        pool = time.perf_counter() - started
        started = time.perf_counter()
        embed_texts(texts[:2], base)
        overhead = time.perf_counter() - started
        print(f"single process {one:.2f} s; ray.init {init:.1f} s; pool (2 actors) {pool:.2f} s; "
              f"a 2-text job (start-up and scheduling overhead) {overhead:.2f} s; "
              f"max abs difference {float(np.abs(pooled - single).max()):.2e}")


if __name__ == "__main__":
    main()
