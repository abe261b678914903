"""qa.evaluation.folder: the report folder, spreadsheet-safe CSV, no server folders."""

from __future__ import annotations

import csv
import json

import pytest
from evaluation_helpers import report_of, row, toy_report

from qa.errors import EvaluationError
from qa.evaluation.folder import spreadsheet_safe


def test_write_report_folder(tmp_path):
    rep = toy_report()
    rep.warnings.append("line 9: <b>not markup</b>")
    folder = rep.write(tmp_path / "out")
    names = {p.name for p in folder.iterdir()}
    assert names == {"index.html", "questions.csv", "questions.jsonl", "summary.json", "ranks.png", "metrics.png",
                     "reliability.png"}  # and no temporary file left behind
    lines = (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert len(lines) == 6 and first["retriever"] == "hybrid" and first["outcome"] == "low_rank"  # failures first
    assert first["relevant_breadcrumb"] == "H-p3" and first["top_passage_id"] == "p1"
    csv_text = (folder / "questions.csv").read_text(encoding="utf-8-sig")
    assert csv_text.splitlines()[0].startswith("retriever,id,question,outcome,rank")
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and "&lt;b&gt;not markup" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page  # opens offline
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["n_questions"] == 3 and summary["not_found"]["reliability"]


@pytest.mark.parametrize("cell, safe", [
    ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
    ("普通问题", "普通问题"), ("a=b", "a=b"), (-0.5, -0.5), (3, 3), ("", ""),
])
def test_spreadsheet_safe(cell, safe):
    assert spreadsheet_safe(cell) == safe


def test_csv_cells_cannot_start_a_formula(tmp_path):
    rep = report_of({"hybrid": [row("=1+1", ("p1",), ("p1",), question="=HYPERLINK(\"http://evil\",\"x\")"),
                                row("@id", ("p1",), ("p1",), question="+cmd|' /C calc'!A0")]})
    folder = rep.write(tmp_path / "r")
    with open(folder / "questions.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for value in r.values():
            assert not value.startswith(("=", "+", "@", "\t", "\r")), value
    assert {r["question"] for r in rows} == {"'=HYPERLINK(\"http://evil\",\"x\")", "'+cmd|' /C calc'!A0"}
    assert {r["id"] for r in rows} == {"'=1+1", "'@id"}
    assert json.loads((folder / "questions.jsonl").read_text(encoding="utf-8").splitlines()[0])["id"] in ("=1+1", "@id")


def test_unwritable_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(EvaluationError, match="cannot write the report") as info:
        toy_report().write(blocker / "sub")
    assert str(tmp_path) not in str(info.value)
