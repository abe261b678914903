"""First evaluation in a fresh process and a fresh HOME: prints figures, asserts nothing.

    python benchmarks/eval_startup.py [--questions FILE] [--runs 2]

Each run starts a new Python process whose HOME is an empty temporary folder
(``QA_CACHE_DIR`` still points at the usual cache, so the model is not converted
again and the index is loaded, not built). In that process it loads the
assistant, asks the questions once to warm up, times the questions alone
(retrieval), then times ``qa.evaluate`` on the same assistant plus the JSON object
and the text summary (metrics computed for the first time in the process).
"Beyond retrieval" is the difference: parsing, relevance judging, the metrics
library's import and first use, the summary. It also times the whole ``qa eval
--json`` command in a fresh process, and lists every file written under the
fresh HOME (there should be none: the only place written is the cache folder).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "eval" / "essay_dev.jsonl"

#: Heavy modules whose presence after an evaluation is reported (ranx's old baggage).
HEAVY = ("ranx", "numba", "pandas", "seaborn", "ir_datasets", "matplotlib", "jinja2")

_CHILD = r"""
import json, sys, time
path = sys.argv[1]
t0 = time.perf_counter()
import qa
t_import = time.perf_counter() - t0
assistant = qa.Assistant()
t_load = time.perf_counter() - t0 - t_import
questions = [json.loads(l)["question"] for l in open(path, encoding="utf-8") if l.strip()]
assistant.ask_many_by_retriever(questions, ["hybrid"], 10)  # warm-up
t1 = time.perf_counter()
assistant.ask_many_by_retriever(questions, ["hybrid"], 10)
t_retrieval = time.perf_counter() - t1
before = {m for m in %(heavy)r if m in sys.modules}
t2 = time.perf_counter()
report = qa.evaluate(path, assistant=assistant, k=10, progress=False)
t_run = time.perf_counter() - t2
t3 = time.perf_counter()
data = report.to_dict()
report.summary()
t_metrics = time.perf_counter() - t3
heavy = [m for m in %(heavy)r if m in sys.modules]
by_evaluation = [m for m in heavy if m not in before]
print(json.dumps({"import_s": t_import, "assistant_load_s": t_load, "retrieval_s": t_retrieval,
                  "evaluate_s": t_run, "metrics_and_summary_s": t_metrics,
                  "beyond_retrieval_s": t_run + t_metrics - t_retrieval,
                  "hit@1": data["metrics"]["hit@1"], "heavy_modules_loaded": heavy,
                  "heavy_modules_first_loaded_by_evaluation": by_evaluation}))
"""


def _fresh_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    cache = env.get("QA_CACHE_DIR") or str(Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qa-assistant")
    env.update(HOME=str(home), QA_CACHE_DIR=cache, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    env.pop("XDG_CACHE_HOME", None)
    env.pop("NUMBA_CACHE_DIR", None)
    return env


def _written(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", default=str(DEV))
    parser.add_argument("--runs", type=int, default=2, help="fresh processes, each with its own fresh HOME")
    args = parser.parse_args()
    code = _CHILD % {"heavy": HEAVY}
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="qa-fresh-home-") as tmp:
            home = Path(tmp)
            env = _fresh_env(home)
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", code, args.questions], env=env, cwd=ROOT,
                                 capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if out.returncode != 0:
                print(out.stderr[-2000:], file=sys.stderr)
                raise SystemExit(f"run {run}: the child failed")
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"run {run} (in-process, fresh HOME): wall {wall:.2f} s")
            for key, value in figures.items():
                print(f"  {key:24s} {value:.3f}" if isinstance(value, float) else f"  {key:24s} {value}")
            print(f"  files written under HOME: {_written(home) or 'none'}")
        for extra in ([], ["--report"]):
            with tempfile.TemporaryDirectory(prefix="qa-fresh-home-") as tmp, \
                    tempfile.TemporaryDirectory(prefix="qa-report-") as out_dir:
                home = Path(tmp)
                command = ["eval", args.questions, "--json"] + (extra + [str(Path(out_dir) / "r")] if extra else [])
                t0 = time.perf_counter()
                out = subprocess.run([sys.executable, "-m", "qa", *command], env=_fresh_env(home), cwd=ROOT,
                                     capture_output=True, text=True)
                wall = time.perf_counter() - t0
                ok = out.returncode == 0 and json.loads(out.stdout).get("metrics")
                print(f"run {run}: `qa {' '.join(command[:1] + command[2:3])}{' --report DIR' if extra else ''}` "
                      f"in a fresh process: wall {wall:.2f} s ({'ok' if ok else 'FAILED: ' + out.stderr[-300:]}); "
                      f"files under HOME: {_written(home) or 'none'}")


if __name__ == "__main__":
    main()
