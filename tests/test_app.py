"""The web UI through Gradio's API (gradio_client), its handlers, and ``qa serve``/``python app.py``.

One server (UI + JSON API) over the bundled essay is started per module on a free local port.
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

from qa.errors import QuestionError
from qa.evaluation.plots import RANK_PLOT
from qa.web import ui

ROOT = Path(__file__).resolve().parents[1]

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
    """(server, url) of the app over the essay, started once for this module."""
    from qa.web.server import create_app, start

    running = start(create_app(essay))
    yield running, running.url
    running.close()


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


@pytest.mark.parametrize("k, expected", [(999, ui.MAX_K), (ui.MAX_K + 1, ui.MAX_K), (2.6, 3), (1, 1),
                                         (None, 7), ("", 7)])
def test_k_is_a_whole_number_up_to_max_k(k, expected):
    assert ui.clamp_k(k, 7) == expected


@pytest.mark.parametrize("k", [0, 0.4, -3, math.nan, math.inf, -math.inf, "inf", "many", [3]])
def test_k_below_one_or_not_a_number_is_refused(k):
    with pytest.raises(QuestionError, match="k must be a whole number"):
        ui.clamp_k(k, 7)


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
    return ui.QAHandlers(essay)


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
        f.truncate(ui.MAX_UPLOAD_BYTES + 1)  # sparse: nothing is written
    metrics, _, plot, archive = handlers.evaluate(str(big))
    assert f"limit is {ui.MAX_UPLOAD_MB} MB" in metrics and plot is None and archive is None


def test_evaluate_reports_a_malformed_file_clearly_without_server_paths(handlers, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('this is not json\n{"question": \n', encoding="utf-8")
    metrics, rows, plot, archive = handlers.evaluate(str(bad))
    assert "Cannot evaluate this file" in metrics and "qa-notice-error" in metrics and "bad.jsonl" in metrics
    assert str(tmp_path) not in metrics
    assert (rows, plot, archive) == ("", None, None)


def test_over_long_question_gets_the_cli_message_not_a_cut(handlers, essay):
    from qa import clean_question

    question = "党" * (essay.settings.max_question_chars + 1)
    with pytest.raises(QuestionError) as refused:
        clean_question(question, essay.settings)
    out = handlers.ask_html(question, 3)
    assert "qa-notice" in out and str(refused.value) in out and "qa-card" not in out


def test_evaluate_deletes_the_upload_and_says_so_on_a_second_run(handlers, tmp_path):
    path = small_questions_file(tmp_path)
    metrics, *_ = handlers.evaluate(str(path))
    assert "qa-metrics" in metrics and not path.exists()
    again, rows, plot, archive = handlers.evaluate(str(path))
    assert "upload the file again" in again and (rows, plot, archive) == ("", None, None)


def test_evaluation_while_another_runs_is_refused_as_busy(handlers, tmp_path):
    path = small_questions_file(tmp_path)
    with handlers.runner._lock:  # another run holds the server's one evaluation slot
        metrics, rows, plot, archive = handlers.evaluate(str(path))
    assert "busy, retry" in metrics and (rows, plot, archive) == ("", None, None)


def test_evaluation_report_zip_has_no_server_paths(handlers, essay, tmp_path):
    import zipfile

    from qa.config import PROJECT_ROOT

    *_, archive = handlers.evaluate(str(small_questions_file(tmp_path)))
    private = [str(tmp_path), str(essay.settings.index_dir), str(essay.settings.cache_dir), str(PROJECT_ROOT)]
    with zipfile.ZipFile(archive) as z:
        for name in z.namelist():
            text = z.read(name).decode("utf-8", "replace")
            assert not [p for p in private if p in text], name


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


# -- offline, mount options and command line ----------------------------------------------------------------------

#: Run in a fresh interpreter whose environment says nothing about gradio's analytics.
OFFLINE_PROBE = """
import json
from qa.web import ui
from gradio import analytics
options = ui.mount_options()
print(json.dumps({"analytics": analytics.analytics_enabled(),
                  "mount": {k: options[k] for k in ("enable_monitoring", "mcp_server", "ssr_mode")}}))
"""


def test_app_is_offline():
    """Importing the UI turns gradio's analytics (and its version check) off; serving shares nothing."""
    env = {"HF_HUB_OFFLINE": "1", "PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "")}
    done = subprocess.run([sys.executable, "-c", OFFLINE_PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe == {"analytics": False, "mount": {"enable_monitoring": False, "mcp_server": False,
                                                   "ssr_mode": False}}


def test_missing_corpus_is_a_one_line_error(capsys, tmp_path):
    from qa.cli import main
    from qa.web.server import free_port

    assert main(["serve", "--corpus", str(tmp_path / "nope.txt"), "--index-dir", str(tmp_path),
                 "--port", str(free_port())]) == 1
    err = capsys.readouterr().err
    assert "qa: error:" in err and "nope.txt" in err
