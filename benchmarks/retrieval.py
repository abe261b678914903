"""Retrieval quality side by side: each leg and the hybrid, on both dev sets, in one run.

    python benchmarks/retrieval.py [--fusion zscore rrf] [--datasets essay english paraphrase ebike cmrc drcd]

Prints one table per dataset (columns: dense, lexical, and the hybrid with each
fusion asked for). It goes through ``qa.evaluate`` exactly as ``qa eval`` does;
nothing here is a second retrieval path. The CMRC trial set is read from
``../shared`` and never copied into the project.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "eval"
DATASETS = {"essay": SHARED / "essay_dev.jsonl", "cmrc": SHARED / "cmrc2018_trial.json",
            # English renderings of the essay questions and English out-of-scope questions, written for this
            # project to measure cross-language retrieval (see benchmarks/data/README.md).
            "english": ROOT / "benchmarks" / "data" / "essay_english.jsonl",
            "drcd": SHARED / "drcd_test.json",
            # paraphrased questions sharing few words with their passage, and word-sharing unanswerable ones,
            # on the essay and on a second document of another kind (benchmarks/data/README.md)
            "paraphrase": ROOT / "benchmarks" / "data" / "essay_paraphrase.jsonl",
            "ebike": ROOT / "benchmarks" / "data" / "ebike_charging_measures_paraphrase.jsonl"}
#: The corpus of a JSONL set that is not about the bundled essay.
CORPORA = {"ebike": [ROOT / "benchmarks" / "data" / "ebike_charging_measures.txt"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fusion", nargs="+", default=["zscore", "rrf"], choices=["zscore", "rrf"])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    args = parser.parse_args()

    from qa import Settings, evaluate
    from qa.embed import load_embedder
    from qa.evaluation.render import summary_text

    embedder = load_embedder(Settings())
    for name in args.datasets:
        columns: dict[str, dict] = {}
        started = time.perf_counter()
        for i, fusion in enumerate(args.fusion):
            retrievers = ("hybrid", "dense", "lexical") if i == 0 else ("hybrid",)
            report = evaluate(DATASETS[name], corpus=CORPORA.get(name), k=10, retrievers=retrievers,
                              settings=Settings(fusion=fusion), embedder=embedder, progress=False).to_dict()
            for retriever, result in report["by_retriever"].items():
                columns[f"hybrid ({fusion})" if retriever == "hybrid" else retriever] = result
        print(f"\n== {name} ({time.perf_counter() - started:.0f} s)")
        print(summary_text({**report, "by_retriever": columns}))


if __name__ == "__main__":
    main()
