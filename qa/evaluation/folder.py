"""The report folder: summary.json, questions.jsonl/.csv, the plots and index.html.

Each file is written to a temporary sibling and renamed into place, so a reader
never sees half a file. ``questions.csv`` is meant for spreadsheets: text cells
that a spreadsheet would run as a formula (starting with ``= + - @``, a tab or a
carriage return) are neutralised with a leading apostrophe. Nothing written names
a server folder: files are named by their file names only.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import EvaluationError
from .plots import plots
from .render import report_html
from .results import EvaluationReport, QuestionResult

#: Columns of ``questions.csv`` (flat: scores spread over their own columns).
CSV_COLUMNS: tuple[str, ...] = (
    "retriever", "id", "question", "outcome", "rank", "relevant_breadcrumb", "relevant_passage_id",
    "top_passage_id", "top_breadcrumb", "top_dense", "top_lexical", "top_fused",
    "found", "confidence", "latency_ms", "n_relevant", "where",
)
#: First characters that make a spreadsheet treat a cell as a formula (OWASP's list).
FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: text that could start a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_row(row: QuestionResult) -> dict[str, Any]:
    """One question's ``questions.csv`` row, every text cell spreadsheet-safe."""
    d = row.to_dict()
    for name in ("dense", "lexical", "fused"):
        d[f"top_{name}"] = row.top_scores.get(name)
    return {c: spreadsheet_safe("" if d.get(c) is None else d.get(c)) for c in CSV_COLUMNS}


def _write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(report: EvaluationReport, folder: str | Path) -> Path:
    """Write the report folder for ``report`` into ``folder`` (created if needed); return it."""
    folder = Path(folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        data = report.to_dict()
        _write(folder / "summary.json", json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8"))
        all_rows = [row for res in report.results.values() for row in res.rows]
        _write(folder / "questions.jsonl",
               "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in all_rows).encode("utf-8"))
        buf = io.StringIO(newline="")
        writer = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS))
        writer.writeheader()
        writer.writerows(csv_row(r) for r in all_rows)
        # utf-8-sig: spreadsheet programs then read the Chinese text correctly
        _write(folder / "questions.csv", buf.getvalue().encode("utf-8-sig"))
        pictures = plots(report)
        for name, png in pictures.items():
            _write(folder / name, png)
        _write(folder / "index.html", report_html(report, data, pictures).encode("utf-8"))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise EvaluationError(f"{folder.name}: cannot write the report ({reason})") from None
    return folder
