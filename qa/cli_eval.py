"""``qa eval`` and ``qa compare``: batch evaluation from the command line.

A thin layer over :func:`qa.evaluation.evaluate` and :func:`qa.evaluation.compare`.
stdout carries the result only (a table, or with ``--json`` exactly one JSON
object); progress bars, warnings and where the report was written go to stderr
whenever stdout is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable

from .config import RETRIEVERS, Settings

#: Exit code when a run was interrupted (its partial results are still printed/written).
EXIT_INTERRUPTED = 130
#: Default number of passages retrieved per question (the metrics look at the top 10).
DEFAULT_EVAL_K = 10


def _show_progress() -> bool:
    """Question bars only on a terminal (or when QA_PROGRESS=1), so piped JSON runs stay quiet."""
    return sys.stderr.isatty() or os.environ.get("QA_PROGRESS") == "1"


def _warn(message: str) -> None:
    print(f"qa: warning: {message}", file=sys.stderr)


def cmd_eval(args: argparse.Namespace, settings_fn: Callable[[argparse.Namespace], Settings]) -> int:
    """Run ``qa eval``: print the summary (or JSON), optionally write the report folder."""
    from .evaluation import evaluate

    from .cli import _collection

    collection = _collection(args)  # --collection, or the default collection once created
    settings = settings_fn(args)  # (a SQuAD file is its own corpus: its index goes where any corpus's goes)
    assistant, corpus = (collection.assistant() if collection else None), args.corpus
    spread = None
    if getattr(args, "ray", None) is not None:  # qa eval --ray [ADDRESS]: question batches over Ray actors
        from .stores.ray_eval import RaySpread

        spread = RaySpread(settings, args.ray or None, corpus=corpus)  # refuses a Lite file before any index
    try:
        report = evaluate(args.file, corpus=corpus, format=args.format, k=args.k, retrievers=args.retriever,
                          assistant=assistant, settings=settings, progress=None if _show_progress() else False,
                          strict=args.strict, spread=spread)
    finally:
        if spread is not None:
            spread.close()
    # Print first: a report folder that cannot be written must not cost the figures.
    if args.json:
        for w in report.warnings:
            _warn(w)
        print(report.to_json(indent=2), flush=True)
    else:
        print(report.summary(), flush=True)
    if args.report:
        index = report.write(args.report) / "index.html"
        if args.json:
            print(f"qa: report written to {index}", file=sys.stderr)
        else:
            print(f"\nreport: {index}")
    return EXIT_INTERRUPTED if report.interrupted else 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Run ``qa compare A.json B.json``."""
    from .errors import EvaluationError
    from .evaluation import compare

    chosen = args.retriever or []
    if len(chosen) > 2:
        raise EvaluationError("--retriever takes one name (for both files) or two (A's, then B's)")
    ra = chosen[0] if chosen else None
    rb = chosen[-1] if chosen else None
    result = compare(args.a, args.b, retriever_a=ra, retriever_b=rb, test=args.test)
    if args.json:
        for w in result.warnings:
            _warn(w)
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(result.summary())
    return 0


def register(sub: argparse._SubParsersAction, add_common: Callable[[argparse.ArgumentParser], None],
             settings_fn: Callable[[argparse.Namespace], Settings]) -> None:
    """Add ``eval`` and ``compare`` to the ``qa`` command's subcommands."""
    from .evaluation.compare import STAT_TESTS
    from .evaluation.datasets import FORMATS

    ev = sub.add_parser(
        "eval", help="evaluate retrieval on a file of questions (JSONL or SQuAD)",
        description="Ask every question of FILE and report hit@k, MRR@10, nDCG@10, the not-found verdict "
                    "and latency. JSONL: id, question, evidence (strings a relevant passage contains; [] = "
                    "unanswerable) and/or passage_ids. SQuAD (CMRC, DRCD): the file's contexts are the corpus. "
                    "Bad lines are skipped with a warning naming the line (--strict stops instead).")
    ev.add_argument("file", help="questions: .jsonl, or a SQuAD-format .json")
    ev.add_argument("--format", choices=FORMATS, default="auto", help="input format (default: guess from content)")
    ev.add_argument("-k", type=int, default=DEFAULT_EVAL_K, help=f"passages per question (default {DEFAULT_EVAL_K})")
    ev.add_argument("--retriever", nargs="+", choices=RETRIEVERS, default=["hybrid"],
                    help="one or more retrievers to run side by side (default: hybrid)")
    ev.add_argument("--report", metavar="DIR", help="write per-question CSV/JSONL, plots and index.html to DIR")
    ev.add_argument("--json", action="store_true", help="print one JSON object (save it for `qa compare`)")
    ev.add_argument("--strict", action="store_true", help="stop at the first bad line instead of skipping it")
    add_common(ev)
    ev.set_defaults(func=lambda args: cmd_eval(args, settings_fn))

    cmp = sub.add_parser(
        "compare", help="compare two saved `qa eval --json` outputs with a paired significance test",
        description="Pair two evaluations by question id; per metric, print A, B, B − A and the p-value of a "
                    "paired test over per-question scores (scipy.stats: t-test or Fisher randomization).")
    cmp.add_argument("a", metavar="A.json", help="baseline: `qa eval --json` output or a --report folder")
    cmp.add_argument("b", metavar="B.json", help="the run compared with it")
    cmp.add_argument("--retriever", nargs="+", metavar="NAME",
                     help="which retriever's results to compare: one name for both files, or A's and B's "
                          "(default: each file's first)")
    cmp.add_argument("--test", choices=STAT_TESTS, default="student",
                     help="student: paired t-test (default); fisher: randomization test")
    cmp.add_argument("--json", action="store_true", help="print one JSON object")
    cmp.set_defaults(func=cmd_compare)
