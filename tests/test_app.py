"""The web app through its API (gradio_client), its handlers and its command line.

One app over the bundled essay is served per module on a free local port.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import app  # noqa: E402
from qa.errors import QuestionError  # noqa: E402
from qa.evaluation.plots import RANK_PLOT  # noqa: E402

#: (question, a string the top passage contains): questions written for these tests, not the dev set's.
QUESTIONS: tuple[tuple[str, str], ...] = (
    ("社区工作者的待遇怎么保障？", "完善报酬待遇常规增长机制"),
    ("街道党组织的主责主业是什么？", "明确街道党组织主责主业"),
    ("怎样整合党建信息平台？", "政务网络服务平台"),
    ("市、区、街道、社区四级联动机制是什么？", "四级联动协调机制"),
    ("社區黨組織怎樣為群眾服務？", "社区工作清单"),
)
CONCURRENT_CALLS = 20
#: Generous: 20 questions on 2 shared cores, each a model call.
CONCURRENT_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def served(essay):
    """(demo, url) of the app over the essay, launched once for this module."""
    demo = app.build_app(essay)
    url = app.start(demo)
    yield demo, url
    demo.close()


@pytest.fixture(scope="module")
def client(served):
    from gradio_client import Client

    return Client(served[1], verbose=False)


# -- the API -------------------------------------------------------------------------------------------------------

def test_named_endpoints_are_listed(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/ask", "/ask_html", "/evaluate"} <= set(endpoints)


def test_ask_endpoint_returns_the_answer_as_json(client, essay):
    question, evidence = QUESTIONS[0]
    result = client.predict(question, 3, api_name="/ask")
    assert isinstance(result, dict)
    json.dumps(result)  # JSON-able all the way down
    assert result["question"] == question and result["found"] is True
    assert len(result["hits"]) == 3
    top = result["hits"][0]
    assert evidence in top["text"]
    assert top["passage_id"] == essay.ask(question, 3).hits[0].passage_id
    assert top["breadcrumb"] and isinstance(top["heading_path"], list)
    for start, end in top["highlights"]:
        assert 0 <= start < end <= len(top["text"])
    assert {"dense", "lexical", "fused"} <= set(top["scores"])
    assert 0 <= top["confidence"] <= 1 and result["latency_ms"] > 0


def test_ask_endpoint_uses_the_default_k(client, essay):
    result = client.predict(QUESTIONS[1][0], api_name="/ask")
    assert len(result["hits"]) == essay.settings.k


@pytest.mark.parametrize("k, expected", [(2.0, 2), (1, 1), (2.4, 2)])
def test_ask_endpoint_takes_k_from_a_client(client, k, expected):
    result = client.predict(QUESTIONS[1][0], k, api_name="/ask")
    assert len(result["hits"]) == expected


@pytest.mark.parametrize("k, expected", [(999, app.MAX_K), (app.MAX_K + 1, app.MAX_K), (2.6, 3), (1, 1),
                                         (None, 7), ("", 7)])
def test_k_is_a_whole_number_up_to_max_k(k, expected):
    assert app._clamp_k(k, 7) == expected


@pytest.mark.parametrize("k", [0, 0.4, -3, math.nan, "many", [3]])
def test_k_below_one_or_not_a_number_is_refused(k):
    with pytest.raises(QuestionError, match="k must be a whole number"):
        app._clamp_k(k, 7)


@pytest.mark.parametrize("question, k, message", [("   ", 3, "empty"), ("问题", 0, "k must be"),
                                                   ("问" * 5000, 3, "limit")])
def test_ask_endpoint_bad_input_is_a_clear_error(client, question, k, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        client.predict(question, k, api_name="/ask")


def test_ask_html_endpoint_returns_cards_with_highlights(client):
    question, evidence = QUESTIONS[2]
    out = client.predict(question, 2, api_name="/ask_html")
    assert out.count('class="qa-card"') == 2 and "<mark>" in out and evidence in out


def test_ask_html_empty_question_is_a_friendly_notice(client):
    out = client.predict("", 3, api_name="/ask_html")
    assert "qa-notice" in out and "Please type a question" in out and "qa-card" not in out


def test_concurrent_api_calls_each_get_their_own_answer(served, essay):
    """~20 users at once: every call returns its own question's expected top passage."""
    from gradio_client import Client

    expected = {q: essay.ask(q, 3).hits[0].passage_id for q, _ in QUESTIONS}
    for q, evidence in QUESTIONS:
        assert evidence in essay.passage(expected[q]).text
    jobs = [QUESTIONS[i % len(QUESTIONS)][0] for i in range(CONCURRENT_CALLS)]
    url = served[1]
    local = threading.local()

    def call(question: str) -> tuple[str, dict]:
        if not hasattr(local, "client"):
            local.client = Client(url, verbose=False)
        return question, local.client.predict(question, 3, api_name="/ask")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CONCURRENT_CALLS) as pool:
        results = list(pool.map(call, jobs, timeout=CONCURRENT_TIMEOUT_S))
    elapsed = time.perf_counter() - started
    assert len(results) == CONCURRENT_CALLS
    for question, result in results:
        assert result["question"] == question
        assert result["hits"][0]["passage_id"] == expected[question], question
    print(f"{CONCURRENT_CALLS} concurrent /ask calls in {elapsed:.1f} s")


# -- handlers -------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def handlers(essay):
    return app.QAHandlers(essay)


def test_section_handler_shows_the_passages_under_a_heading(handlers, essay):
    root = handlers.outline[0]
    heading = root.children[-3] if len(root.children) >= 3 else root.children[0]
    out = handlers.section(heading.key)
    for p in (p for n in heading.walk() for p in n.passages):
        assert f'data-passage-id="{p.id}"' in out
    assert "Choose a heading" in handlers.section(None)
    assert "Choose a heading" in handlers.section("no-such-key")


def test_evaluate_without_a_file_asks_for_one(handlers):
    metrics, rows, plot, archive = handlers.evaluate(None)
    assert "Upload a questions file" in metrics and (rows, plot, archive) == ("", None, None)


def test_evaluate_rejects_a_file_over_the_upload_limit(handlers, tmp_path):
    big = tmp_path / "big.jsonl"
    with big.open("wb") as f:
        f.truncate(app.MAX_UPLOAD_BYTES + 1)  # sparse: nothing is written
    metrics, _, plot, archive = handlers.evaluate(str(big))
    assert f"limit is {app.MAX_UPLOAD_MB} MB" in metrics and plot is None and archive is None


def test_evaluate_reports_a_malformed_file_clearly(handlers, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('this is not json\n{"question": \n', encoding="utf-8")
    metrics, rows, plot, archive = handlers.evaluate(str(bad))
    assert "Cannot evaluate this file" in metrics and "qa-notice-error" in metrics
    assert (rows, plot, archive) == ("", None, None)


def test_evaluate_lists_skipped_lines_as_warnings(handlers, tmp_path):
    path = small_questions_file(tmp_path)
    with path.open("a", encoding="utf-8") as f:
        f.write("this line is not json\n")
    metrics, rows, plot, archive = handlers.evaluate(str(path))
    assert "qa-metrics" in metrics and "1 条警告 warnings" in metrics and "line 5" in metrics
    assert rows.count("<tr class=") == 4 and Path(plot).name == RANK_PLOT and archive.endswith(".zip")


def small_questions_file(folder: Path) -> Path:
    """Three answerable questions and one the essay cannot answer, as JSONL."""
    path = folder / "questions.jsonl"
    lines = [{"id": f"t{i}", "question": q, "evidence": [e]} for i, (q, e) in enumerate(QUESTIONS[:3])]
    lines.append({"id": "t-none", "question": "How do I bake sourdough bread?", "evidence": []})
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8")
    return path


def test_evaluate_endpoint_returns_metrics_plot_and_report(client, tmp_path):
    import zipfile

    from gradio_client import handle_file

    metrics, rows, plot, archive = client.predict(handle_file(str(small_questions_file(tmp_path))),
                                                  api_name="/evaluate")
    assert "qa-metrics" in metrics and "Hit@1" in metrics
    assert "qa-rows" in rows
    assert plot and Path(plot).stat().st_size > 0
    with zipfile.ZipFile(archive) as z:
        assert "index.html" in {Path(n).name for n in z.namelist()}


# -- offline, launch options and command line -------------------------------------------------------------------------

#: Run in a fresh interpreter whose environment says nothing about gradio's analytics.
OFFLINE_PROBE = """
import json
import app
from gradio import analytics
options = app.launch_options()
print(json.dumps({"analytics": analytics.analytics_enabled(),
                  "launch": {k: options[k] for k in ("share", "enable_monitoring", "mcp_server")}}))
"""


def test_app_is_offline():
    """Importing app turns gradio's analytics (and its version check) off; launching shares nothing."""
    env = {"HF_HUB_OFFLINE": "1", "PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "")}
    done = subprocess.run([sys.executable, "-c", OFFLINE_PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe == {"analytics": False, "launch": {"share": False, "enable_monitoring": False, "mcp_server": False}}


def test_host_and_port_come_from_flags_then_env(monkeypatch):
    monkeypatch.delenv("QA_HOST", raising=False)
    monkeypatch.delenv("QA_PORT", raising=False)
    args = app.build_parser().parse_args([])
    assert (args.host, args.port) == (app.DEFAULT_HOST, app.DEFAULT_PORT)
    monkeypatch.setenv("QA_HOST", "0.0.0.0")
    monkeypatch.setenv("QA_PORT", "8123")
    args = app.build_parser().parse_args([])
    assert (args.host, args.port) == ("0.0.0.0", 8123)
    args = app.build_parser().parse_args(["--host", "127.0.0.2", "--port", "9000", "--corpus", "a.txt", "b.md",
                                          "--model", "m"])
    assert (args.host, args.port, args.corpus, args.model) == ("127.0.0.2", 9000, ["a.txt", "b.md"], "m")


def test_bad_port_is_a_one_line_error(monkeypatch, capsys):
    monkeypatch.setenv("QA_PORT", "eighty")
    with pytest.raises(SystemExit, match="QA_PORT must be a port number"):
        app.build_parser()
    monkeypatch.delenv("QA_PORT")
    assert app.main(["--port", "70000"]) == 2
    assert "--port must be 1..65535" in capsys.readouterr().err


def test_missing_corpus_is_a_one_line_error(capsys, tmp_path):
    assert app.main(["--corpus", str(tmp_path / "nope.txt"), "--index-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "app: error:" in err and "nope.txt" in err
