"""``qa eval`` and ``qa compare`` from the command line: output schema, errors, report folder."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from qa.cli import main

DATA = Path(__file__).resolve().parent / "data"
ESSAY_QUESTIONS = DATA / "essay_questions.jsonl"
MALFORMED = DATA / "malformed.jsonl"
SQUAD_SMALL = DATA / "squad_small.json"

METRIC_KEYS = {"hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "ndcg@10"}


@pytest.fixture
def shared_model(monkeypatch, embedder):
    """The CLI builds its own assistant; hand it the session's model instead of loading another copy."""
    monkeypatch.setattr("qa.assistant.load_embedder", lambda *args, **kwargs: embedder)


@pytest.fixture(scope="module")
def eval_run(tmp_path_factory, settings, embedder):
    """One `qa eval --json --report` over the essay questions with two retrievers: (json, stderr, folder)."""
    mp = pytest.MonkeyPatch()
    mp.setattr("qa.assistant.load_embedder", lambda *args, **kwargs: embedder)
    folder = tmp_path_factory.mktemp("eval") / "report"
    out = tmp_path_factory.mktemp("eval") / "out.json"
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(["eval", str(ESSAY_QUESTIONS), "--json", "--retriever", "hybrid", "lexical",
                         "--report", str(folder), "--index-dir", str(settings.index_dir)])
    finally:
        mp.undo()
    assert code == 0, stderr.getvalue()
    out.write_text(stdout.getvalue(), encoding="utf-8")
    return json.loads(stdout.getvalue()), stderr.getvalue(), folder, out


def _check_figures(block: dict) -> None:
    assert set(block["metrics"]) >= METRIC_KEYS
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in block["metrics"].values())
    nf = block["not_found"]
    assert set(nf) == {"unanswerable", "flagged_unanswerable", "answerable_flagged", "ece", "reliability"}
    assert all(isinstance(nf[k], int) for k in ("unanswerable", "flagged_unanswerable", "answerable_flagged"))
    assert isinstance(nf["ece"], float) and 0.0 <= nf["ece"] <= 1.0
    assert len(nf["reliability"]) == 10 and sum(b["count"] for b in nf["reliability"]) == 6
    assert isinstance(block["latency_ms"]["p50"], float) and isinstance(block["latency_ms"]["p95"], float)


@pytest.mark.slow
def test_eval_json_schema(eval_run):
    data, stderr, _, _ = eval_run
    assert data["dataset"] == "essay_questions.jsonl"
    assert isinstance(data["n_questions"], int) and data["n_questions"] == 6
    assert data["n_answerable"] == 5
    _check_figures(data)
    assert data["not_found"]["unanswerable"] == 1
    assert isinstance(data["config"], dict) and data["config"]["k"] == 10
    assert list(data["by_retriever"]) == ["hybrid", "lexical"]
    for block in data["by_retriever"].values():
        _check_figures(block)
    first = data["by_retriever"]["hybrid"]
    assert data["metrics"] == first["metrics"] and data["not_found"] == first["not_found"]
    assert {q["id"] for q in data["per_question"]} == {"e1", "e2", "e3", "e4", "e5", "u1"}
    assert "qa: report written to" in stderr


@pytest.mark.slow
def test_eval_report_folder(eval_run):
    _, _, folder, _ = eval_run
    assert (folder / "index.html").exists() and (folder / "ranks.png").exists() and (folder / "metrics.png").exists()
    assert (folder / "reliability.png").exists()
    summary = (folder / "summary.json").read_text(encoding="utf-8")
    assert str(ESSAY_QUESTIONS.parent) not in summary and str(folder) not in summary  # file names only
    rows = [json.loads(line) for line in (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 12 and {r["retriever"] for r in rows} == {"hybrid", "lexical"}
    hybrid = [r for r in rows if r["retriever"] == "hybrid"]
    order = ["missed", "answered_unanswerable", "wrongly_not_found", "low_rank", "unjudged", "ok"]
    assert [order.index(r["outcome"]) for r in hybrid] == sorted(order.index(r["outcome"]) for r in hybrid)
    for r in rows:
        assert {"id", "question", "rank", "relevant_breadcrumb", "top_passage_id", "top_breadcrumb",
                "top_scores", "found"} <= set(r)
    header = (folder / "questions.csv").read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    assert {"id", "question", "rank", "relevant_breadcrumb", "top_passage_id", "top_breadcrumb", "top_dense",
            "top_lexical", "top_fused", "found"} <= set(header)


@pytest.mark.slow
def test_eval_text_table_and_squad(shared_model, settings, capsys):
    code = main(["eval", str(SQUAD_SMALL), "--retriever", "dense", "lexical", "-k", "3",
                 "--index-dir", str(settings.index_dir)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("squad_small.json (squad): 8 问题 questions, 7 可回答 answerable, 1 无答案 unanswerable")
    header = next(line for line in out.splitlines() if "dense" in line and "lexical" in line)
    assert header.split()[-2:] == ["dense", "lexical"]
    assert "Hit@3 前3命中" in out and "k=3: metrics at cutoffs above 3" in out


@pytest.mark.slow
def test_compare_cli(eval_run, capsys):
    _, _, folder, out = eval_run
    assert main(["compare", str(out), str(folder), "--json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["n_paired"] == 5 and set(same["metrics"]) >= METRIC_KEYS
    assert all(v["diff"] == 0 for v in same["metrics"].values())
    assert main(["compare", str(out), str(out), "--retriever", "hybrid", "lexical"]) == 0
    text = capsys.readouterr().out
    assert "[hybrid]" in text and "[lexical]" in text and "paired Student's t-test" in text
    assert main(["compare", str(out), str(out), "--retriever", "hybrid", "lexical", "--test", "fisher"]) == 0
    assert "Fisher randomization test" in capsys.readouterr().out


def test_compare_cli_errors(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("not json", encoding="utf-8")
    assert main(["compare", str(bad), str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("qa: error:") and "not a JSON file" in err
    assert main(["compare", str(tmp_path / "none.json"), str(bad)]) == 1
    assert "no such file" in capsys.readouterr().err


def test_eval_bad_input_is_one_line_error(tmp_path, capsys):
    assert main(["eval", str(MALFORMED), "--strict"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("qa: error:") and "line 2: not valid JSON" in err and "Traceback" not in err
    assert main(["eval", str(tmp_path / "missing.jsonl")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["eval", str(SQUAD_SMALL), "--corpus", str(ESSAY_QUESTIONS)]) == 1
    assert "its own corpus" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", str(ESSAY_QUESTIONS), "--retriever", "bm25"])


def test_eval_hostile_lines_are_warnings_not_tracebacks(tmp_path, capsys):
    """Checked before any model loads: --strict stops at the hostile line with a one-line error."""
    f = tmp_path / "q.jsonl"
    f.write_bytes(b'{"id": "a", "question": "\\ud800\xe5\x85\x9a", "evidence": []}\n' + b"[" * 1000 + b"\n")
    assert main(["eval", str(f), "--strict"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("qa: error: q.jsonl: line 1: a lone surrogate") and "Traceback" not in err
    assert str(tmp_path) not in err
