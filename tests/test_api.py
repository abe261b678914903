"""The JSON HTTP API over real HTTP: each route, each error status, the OpenAPI schema, bounded evaluations.

One server (UI + API, the real model, the bundled essay) is started per module on
a free local port, over the session's one assistant, and driven with httpx.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

httpx = pytest.importorskip("httpx")

#: (question, a string the top passage contains): written for these tests.
QUESTIONS: tuple[tuple[str, str], ...] = (
    ("社区工作者的待遇怎么保障？", "完善报酬待遇常规增长机制"),
    ("街道党组织的主责主业是什么？", "明确街道党组织主责主业"),
    ("怎样整合党建信息平台？", "政务网络服务平台"),
)
#: Generous: a request may wait for the model on 2 shared cores.
TIMEOUT_S = 180


@pytest.fixture(scope="module")
def server(essay):
    """(base URL, the FastAPI app) of one server over the essay for this module."""
    from qa.web.server import create_app, start

    app = create_app(essay)
    running = start(app)
    yield running.url, app
    running.close()


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server[0], timeout=TIMEOUT_S) as client:
        yield client


def private_paths(essay) -> list[str]:
    """Server paths no response may contain."""
    import tempfile

    from qa.config import PROJECT_ROOT

    s = essay.settings
    return [str(s.index_dir), str(s.cache_dir), str(PROJECT_ROOT), tempfile.gettempdir() + os.sep,
            *(d.source for d in essay.documents)]


def assert_no_private_path(text: str, essay) -> None:
    leaked = [p for p in private_paths(essay) if p in text]
    assert not leaked, f"server paths in a response: {leaked}"


def questions_file(folder: Path, copies: int = 1, name: str = "qs.jsonl") -> Path:
    """Three answerable questions and one the essay cannot answer, ``copies`` times (unique ids), as JSONL."""
    rows = []
    for c in range(copies):
        rows += [{"id": f"q{c}-{i}", "question": q, "evidence": [e]} for i, (q, e) in enumerate(QUESTIONS)]
        rows.append({"id": f"q{c}-none", "question": "How do I bake sourdough bread?", "evidence": []})
    path = folder / name
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def error_of(response, status: int) -> str:
    """The ``error`` message of a JSON error response with ``status`` (and nothing else in the body)."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and body["error"]
    assert "Traceback" not in body["error"]
    return body["error"]


# -- /api/ask ------------------------------------------------------------------------------------------------------

def test_ask_returns_the_answer_as_json(http, essay):
    question, evidence = QUESTIONS[0]
    r = http.post("/api/ask", json={"question": question, "k": 3})
    assert r.status_code == 200
    data = r.json()
    expected = essay.ask(question, 3)
    assert data["question"] == question and data["found"] is True and len(data["hits"]) == 3
    assert [h["passage_id"] for h in data["hits"]] == [h.passage_id for h in expected.hits]
    top = data["hits"][0]
    assert evidence in top["text"] and top["breadcrumb"] and top["heading_path"]
    assert top["source"] == Path(essay.documents[0].source).name
    assert_no_private_path(r.text, essay)


def test_ask_defaults_and_retriever(http, essay):
    r = http.post("/api/ask", json={"question": QUESTIONS[1][0], "retriever": "lexical"})
    assert r.status_code == 200
    data = r.json()
    assert len(data["hits"]) == essay.settings.k and data["retriever"] == "lexical"


@pytest.mark.parametrize("body, fragment", [
    ({"question": "社区", "k": "inf"}, "k"),
    ({"question": "社区", "k": "abc"}, "k"),
    ({"question": "社区", "k": "3"}, "k"),
    ({"question": "社区", "k": 2.5}, "k"),
    ({"question": "社区", "k": 0}, "k"),
    ({"question": "社区", "k": 21}, "k"),
    ({"question": "社区", "k": True}, "k"),
    ({"question": "社区", "retriever": "bm25"}, "retriever"),
    ({"question": "   "}, "empty"),
    ({"question": "党" * 5000}, "the limit is 1,000"),
    ({"k": 3}, "question"),
    ({"question": "社区", "extra": 1}, "extra"),
])
def test_ask_bad_input_is_400_with_a_message(http, body, fragment):
    assert fragment in error_of(http.post("/api/ask", json=body), 400)


@pytest.mark.parametrize("raw", [b'{"question": "x", "k": Infinity}', b'{"question": "x", "k": NaN}',
                                 b'{"question": "\\ud800\\u515a"}', b"not json", b"[1, 2]"])
def test_ask_malformed_bodies_are_400(http, raw):
    error_of(http.post("/api/ask", content=raw, headers={"content-type": "application/json"}), 400)


def test_ask_body_over_the_limit_is_413(http):
    from qa.web.api import MAX_JSON_BODY_BYTES

    big = json.dumps({"question": "x" * (MAX_JSON_BODY_BYTES + 1)}).encode()
    assert "larger than" in error_of(http.post("/api/ask", content=big,
                                               headers={"content-type": "application/json"}), 413)

    def chunks():  # no Content-Length: counted while read
        for _ in range(4):
            yield b"x" * MAX_JSON_BODY_BYTES

    error_of(http.post("/api/ask", content=chunks(), headers={"content-type": "application/json"}), 413)


# -- corpus routes -----------------------------------------------------------------------------------------------

def test_passage_by_id(http, essay):
    p = essay.passages[5]
    r = http.get(f"/api/passages/{p.id}")
    assert r.status_code == 200
    data = r.json()
    assert (data["id"], data["text"], data["heading_path"]) == (p.id, p.text, list(p.heading_path))
    assert data["source"] == Path(p.source).name
    assert_no_private_path(r.text, essay)


def test_unknown_passage_is_404(http):
    assert "no passage" in error_of(http.get("/api/passages/essay_page:999"), 404)


def test_outline_is_the_heading_tree(http, essay):
    from qa import present

    r = http.get("/api/outline")
    assert r.status_code == 200
    [root] = r.json()["documents"]
    [expected] = present.outline(essay.passages)
    assert root["title"] == expected.title and root["size"] == len(essay.passages)
    assert [c["title"] for c in root["children"]] == [c.title for c in expected.children]
    listed = []

    def walk(node):
        listed.extend(node["passage_ids"])
        for child in node["children"]:
            walk(child)

    walk(root)
    assert sorted(listed) == sorted(p.id for p in essay.passages)


def test_documents(http, essay):
    r = http.get("/api/documents")
    assert r.status_code == 200
    [doc] = r.json()["documents"]
    assert doc["title"] == essay.documents[0].title and doc["n_passages"] == len(essay.passages)
    assert doc["name"] == Path(essay.documents[0].source).name
    assert_no_private_path(r.text, essay)


def test_health(http, essay):
    r = http.get("/api/health")
    assert r.status_code == 200
    data = r.json()
    assert data["status"] == "ok" and data["passages"] == len(essay.passages)
    assert data["evaluation_running"] is False


def test_unknown_route_and_wrong_method(http):
    assert "no API endpoint" in error_of(http.get("/api/nothing-here"), 404)
    assert "not allowed" in error_of(http.get("/api/ask"), 405)


def test_openapi_schema_documents_every_route_and_model(http):
    r = http.get("/openapi.json")
    assert r.status_code == 200
    schema = r.json()
    assert {"/api/ask", "/api/passages/{passage_id}", "/api/outline", "/api/documents", "/api/evaluate",
            "/api/health"} <= set(schema["paths"])
    models = schema["components"]["schemas"]
    assert {"AskRequest", "AnswerOut", "HitOut", "PassageOut", "OutlineOut", "EvaluationOut", "Error"} <= set(models)
    ask = schema["paths"]["/api/ask"]["post"]
    assert {"200", "400", "503"} <= set(ask["responses"])
    k = models["AskRequest"]["properties"]["k"]
    assert "20" in json.dumps(k)


def test_ui_is_served_beside_the_api(http):
    r = http.get("/")
    assert r.status_code == 200 and "<html" in r.text.lower()


# -- /api/evaluate -------------------------------------------------------------------------------------------------

def test_evaluate_returns_the_eval_json_object(http, essay, tmp_path):
    path = questions_file(tmp_path)
    with path.open("rb") as f:
        r = http.post("/api/evaluate", files={"file": ("my questions.jsonl", f, "application/jsonl")})
    assert r.status_code == 200, r.text[:500]
    data = r.json()
    assert data["n_questions"] == 4 and data["n_answerable"] == 3 and data["k"] == 10
    assert data["metrics"]["hit@1"] == 1.0 and data["retriever"] == "hybrid"
    assert data["dataset"] == "my_questions.jsonl" and data["path"] == "my_questions.jsonl"
    assert len(data["per_question"]) == 4
    assert_no_private_path(r.text, essay)


def test_evaluate_with_k_and_two_retrievers(http, tmp_path):
    with questions_file(tmp_path).open("rb") as f:
        r = http.post("/api/evaluate", files={"file": ("q.jsonl", f)},
                      data={"k": "5", "retriever": ["dense", "lexical"]})
    assert r.status_code == 200, r.text[:500]
    data = r.json()
    assert data["k"] == 5 and list(data["by_retriever"]) == ["dense", "lexical"]


@pytest.mark.parametrize("content, fragment", [
    (b"this is not json\n", "no usable question"),
    (b"", "empty"),
    ("社区".encode("gbk") * 20, "UTF-8"),
])
def test_evaluate_bad_files_are_400_without_server_paths(http, essay, content, fragment):
    message = error_of(http.post("/api/evaluate", files={"file": ("bad.jsonl", content)}), 400)
    assert fragment in message and "bad.jsonl" in message
    assert_no_private_path(message, essay)


def test_evaluate_bad_form_fields_are_400(http, tmp_path):
    content = questions_file(tmp_path).read_bytes()
    for data in ({"k": "inf"}, {"k": "0"}, {"retriever": "bm25"}):
        error_of(http.post("/api/evaluate", files={"file": ("q.jsonl", content)}, data=data), 400)
    error_of(http.post("/api/evaluate", data={"k": "3"}), 400)  # no file


def test_evaluate_file_over_the_size_limit_is_413(http):
    from qa.web.ui import MAX_UPLOAD_BYTES

    big = b"x" * (MAX_UPLOAD_BYTES + 256 * 1024)
    assert "larger than" in error_of(http.post("/api/evaluate", files={"file": ("big.jsonl", big)}), 413)


def test_evaluate_over_the_question_cap_is_413(http, essay, tmp_path):
    cap = essay.settings.max_eval_questions
    path = tmp_path / "many.jsonl"
    row = {"question": QUESTIONS[0][0], "evidence": [QUESTIONS[0][1]]}
    path.write_text("".join(json.dumps({**row, "id": f"m{i}"}, ensure_ascii=False) + "\n" for i in range(cap + 1)),
                    encoding="utf-8")
    message = error_of(http.post("/api/evaluate", files={"file": ("many.jsonl", path.read_bytes())}), 413)
    assert f"{cap + 1:,} questions" in message and f"{cap:,}" in message


def test_ask_stays_responsive_while_an_evaluation_runs_and_a_second_one_is_busy(http, essay, tmp_path,
                                                                              monkeypatch):
    """The evaluation is held after its first batch of questions; meanwhile the API answers."""
    from qa.web import evaluation

    real = evaluation.evaluate
    first_batch_done, release = threading.Event(), threading.Event()

    def held(*args, progress, **kwargs):
        def report(done, total):
            progress(done, total)
            first_batch_done.set()
            release.wait(TIMEOUT_S)
        return real(*args, progress=report, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate", held)
    content = questions_file(tmp_path, copies=10).read_bytes()  # 40 questions: two batches
    result: dict = {}

    def run() -> None:
        result["response"] = http.post("/api/evaluate", files={"file": ("long.jsonl", content)})

    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert first_batch_done.wait(TIMEOUT_S), "the evaluation did not start"
        assert http.get("/api/health").json()["evaluation_running"] is True
        ask = http.post("/api/ask", json={"question": QUESTIONS[2][0], "k": 1})
        assert ask.status_code == 200 and QUESTIONS[2][1] in ask.json()["hits"][0]["text"]
        busy = http.post("/api/evaluate", files={"file": ("other.jsonl", content)})
        assert "busy" in error_of(busy, 503) and busy.headers.get("retry-after")
    finally:
        release.set()
        worker.join(TIMEOUT_S)
    assert result["response"].status_code == 200 and result["response"].json()["n_questions"] == 40
    assert http.get("/api/health").json()["evaluation_running"] is False


def test_evaluation_time_budget_returns_the_results_so_far(essay, tmp_path):
    """Past its time budget a run stops after the batch in progress, with a warning; the upload is deleted."""
    from qa.web.evaluation import EvaluationRunner
    from qa.web.public import Scrubber

    runner = EvaluationRunner(essay, Scrubber.for_assistant(essay))
    runner.time_budget_s = 1e-9
    path = questions_file(tmp_path, copies=10)
    report, _ = runner.run(path, "budget.jsonl")
    assert report.interrupted and 0 < len(report.rows) < 40
    assert any("time budget" in w for w in report.warnings)
    assert not path.exists() and not runner.busy


def test_evaluation_of_a_squad_file_leaves_no_index_behind(essay, tmp_path):
    from qa.web.evaluation import EvaluationRunner
    from qa.web.public import Scrubber

    squad = {"data": [{"title": "t", "paragraphs": [
        {"id": "p1", "context": "社区工作者的报酬待遇应当建立常规增长机制。",
         "qas": [{"id": "s1", "question": "社区工作者的待遇怎么保障？", "answers": [{"text": "常规增长机制"}]}]},
        {"id": "p2", "context": "街道党组织的主责主业是抓党建、抓治理、抓服务。",
         "qas": [{"id": "s2", "question": "街道党组织的主责主业是什么？", "answers": [{"text": "抓党建"}]}]}]}]}
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(squad, ensure_ascii=False), encoding="utf-8")
    before = set(essay.settings.index_dir.iterdir())
    report, _ = EvaluationRunner(essay, Scrubber.for_assistant(essay)).run(path, "squad.json")
    assert report.format == "squad" and report.metrics["hit@1"] == 1.0
    assert set(essay.settings.index_dir.iterdir()) == before and not path.exists()
    assert "qa-eval-index-" not in json.dumps(report.to_dict())


def test_evaluation_stops_when_its_client_goes_away(http, server, monkeypatch, tmp_path):
    """A client that disconnects mid-run stops its evaluation (after the batch in progress)."""
    from qa.web import evaluation

    seen: dict = {}
    real_run, real_evaluate = evaluation.EvaluationRunner.run, evaluation.evaluate

    def spy_run(self, *args, cancelled=None, **kwargs):
        seen["cancelled"] = cancelled
        seen["report"], scrub = real_run(self, *args, cancelled=cancelled, **kwargs)
        return seen["report"], scrub

    def held(*args, progress, **kwargs):
        def report(done, total):
            seen["cancelled"].wait(TIMEOUT_S)  # hold the run until the server has seen the client go
            progress(done, total)
        return real_evaluate(*args, progress=report, **kwargs)

    monkeypatch.setattr(evaluation.EvaluationRunner, "run", spy_run)
    monkeypatch.setattr(evaluation, "evaluate", held)
    content = questions_file(tmp_path, copies=10).read_bytes()
    with httpx.Client(base_url=server[0], timeout=httpx.Timeout(TIMEOUT_S, read=2)) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            impatient.post("/api/evaluate", files={"file": ("gone.jsonl", content)})
    for _ in range(TIMEOUT_S * 10):  # bounded wait for the run to end
        if "report" in seen:
            break
        threading.Event().wait(0.1)
    report = seen["report"]
    assert report.interrupted and len(report.rows) < 40
    assert any("client went away" in w for w in report.warnings)
    assert http.get("/api/health").json()["evaluation_running"] is False
