"""The Evaluate tab's run stops when its client goes away or presses Stop: its slot is freed and its upload
and per-upload index are deleted. Gradio ends such a run by closing its generator
(:meth:`qa.web.ui.QAHandlers.evaluate_steps`); these tests close it the same way, without a browser.
Fast lane: the fake embedder, the evaluation itself replaced by one that runs until it is stopped."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from qa.web import evaluation, ui

#: Generous: a thread on 2 busy cores.
WAIT_S = 30


@pytest.fixture
def handlers(fake_settings):
    from qa import Assistant

    h = ui.QAHandlers(Assistant(settings=fake_settings))
    yield h
    h.close()


class EndlessEvaluation:
    """Stands in for :func:`qa.evaluation.evaluate`: reports progress until the runner stops it, writing a
    file into the per-upload index folder first when it has one (a SQuAD upload)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.calls = 0
        self.index_dirs: list[Path] = []

    def __call__(self, path, *, progress, index_progress, settings=None, **kwargs):
        if settings is not None:
            settings.index_dir.mkdir(parents=True)
            (settings.index_dir / "manifest.json").write_text("{}", encoding="utf-8")
            self.index_dirs.append(settings.index_dir)
            index_progress("embedding", 0.1)
        self.started.set()
        while True:
            self.calls += 1
            progress(self.calls, 10**9)  # raises inside once the run is cancelled
            time.sleep(0.01)


@pytest.fixture
def endless(monkeypatch):
    fake = EndlessEvaluation()
    monkeypatch.setattr(evaluation, "evaluate", fake)
    return fake


def jsonl_upload(folder: Path, name: str = "questions.jsonl") -> Path:
    path = folder / name
    path.write_text(json.dumps({"id": "q1", "question": "社区工作者的待遇怎么保障？", "evidence": ["待遇"]},
                               ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def squad_upload(folder: Path) -> Path:
    path = folder / "squad.json"
    path.write_text(json.dumps({"version": "1", "data": [{"title": "t", "paragraphs": [{
        "context": "社区工作者的待遇由财政保障。", "qas": [{"id": "s1", "question": "待遇由谁保障？",
                                                   "answers": [{"text": "财政", "answer_start": 8}]}]}]}]},
                               ensure_ascii=False), encoding="utf-8")
    return path


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@pytest.mark.parametrize("make_upload", [jsonl_upload, squad_upload], ids=["jsonl", "squad"])
def test_closing_the_run_cancels_it_frees_the_slot_and_deletes_its_files(handlers, endless, tmp_path,
                                                                          make_upload):
    upload = make_upload(tmp_path)
    steps = handlers.evaluate_steps(str(upload), None, "session-1")
    assert "Starting" in next(steps)[0] and not endless.started.is_set()  # Gradio can close it from here on
    assert "Press Stop" in next(steps)[0] and endless.started.is_set()  # running: its progress, in the metrics
    job = handlers._jobs["session-1"]
    assert handlers.runner.busy and not job.done.is_set()

    steps.close()  # what Gradio does when the client goes away or Stop is pressed

    assert job.wait(WAIT_S), "the run did not stop"
    assert not handlers.runner.busy and "session-1" not in handlers._jobs
    assert not upload.exists()
    assert all(not d.parent.exists() for d in endless.index_dirs)  # the per-upload index folder is gone
    calls = endless.calls
    time.sleep(0.2)
    assert endless.calls == calls  # nothing runs on
    with pytest.raises(Exception, match="stopped"):
        job.result()


def test_a_new_run_can_start_once_a_closed_one_has_stopped(handlers, endless, tmp_path):
    steps = handlers.evaluate_steps(str(jsonl_upload(tmp_path, "a.jsonl")), None, "s")
    next(steps), next(steps)
    job = handlers._jobs["s"]
    steps.close()
    assert job.wait(WAIT_S)
    again = handlers.evaluate_steps(str(jsonl_upload(tmp_path, "b.jsonl")), None, "s")
    next(again)
    assert "Press Stop" in next(again)[0]  # running, not "busy"
    again.close()
    assert handlers._jobs.get("s") is None


def test_a_session_that_ends_stops_its_run_and_deletes_its_uploads(handlers, endless, tmp_path):
    waiting = jsonl_upload(tmp_path, "waiting.jsonl")  # uploaded, never evaluated
    running = jsonl_upload(tmp_path, "running.jsonl")
    other = jsonl_upload(tmp_path, "other.jsonl")  # another session's
    handlers.remember_upload(str(waiting), "gone")
    handlers.remember_upload(str(running), "gone")
    handlers.remember_upload(str(other), "staying")
    steps = handlers.evaluate_steps(str(running), None, "gone")
    next(steps), next(steps)
    job = handlers._jobs["gone"]

    handlers.session_ended("gone")  # Gradio's unload event: the tab was closed or the connection lost

    assert job.wait(WAIT_S) and not handlers.runner.busy
    assert not waiting.exists() and not running.exists() and other.exists()
    steps.close()


def test_a_run_closed_before_it_started_keeps_its_upload_until_the_session_ends(handlers, endless, tmp_path):
    upload = jsonl_upload(tmp_path)
    handlers.remember_upload(str(upload), "early")
    steps = handlers.evaluate_steps(str(upload), None, "early")
    assert "Starting" in next(steps)[0]
    steps.close()  # Stop pressed before the run started: the file can still be run
    assert upload.exists() and not endless.started.is_set() and not handlers.runner.busy
    handlers.session_ended("early")
    assert not upload.exists()


def test_progress_reaches_gradio_while_the_run_goes_on(handlers, endless, tmp_path):
    shown: list[tuple] = []

    def progress(value, desc=None, unit="steps"):
        shown.append((value, desc, unit))

    steps = handlers.evaluate_steps(str(jsonl_upload(tmp_path)), progress, "p")
    next(steps), next(steps), next(steps)
    steps.close()
    assert any(unit == "questions" and isinstance(value, tuple) for value, _, unit in shown)


def test_an_unstopped_run_still_ends_with_its_report(handlers, tmp_path):
    """The real evaluation on the fake embedder, through the generator to its last output."""
    metrics, rows, plot, archive = handlers.evaluate(str(jsonl_upload(tmp_path)))
    assert "qa-metrics" in metrics and "qa-rows" in rows and archive.endswith(".zip")
    assert not handlers.runner.busy and not (tmp_path / "questions.jsonl").exists()


# -- through Gradio's own queue (the app on a local port: slow lane) ----------------------------------------------

class TrackedEndlessEvaluation(EndlessEvaluation):
    """Also records the upload it was given and when the runner stopped it."""

    def __init__(self) -> None:
        super().__init__()
        self.uploads: list[Path] = []
        self.stopped = threading.Event()

    def __call__(self, path, **kwargs):
        self.uploads.append(Path(path))
        try:
            return super().__call__(path, **kwargs)
        finally:
            self.stopped.set()


@pytest.fixture
def served(fake_settings, monkeypatch):
    """(url, the endless evaluation) of the app over the essay on the fake embedder."""
    from qa import Assistant
    from qa.web.server import create_app, start

    fake = TrackedEndlessEvaluation()
    monkeypatch.setattr(evaluation, "evaluate", fake)
    running = start(create_app(Assistant(settings=fake_settings)))
    yield running.url, fake
    running.close()


def evaluation_running(url: str) -> bool:
    import httpx

    return httpx.get(f"{url}/api/health", timeout=WAIT_S).json()["evaluation_running"]


def assert_stopped_and_cleaned(url: str, fake: TrackedEndlessEvaluation) -> None:
    assert fake.stopped.wait(WAIT_S), "the evaluation went on"
    wait_until(lambda: not evaluation_running(url), "the evaluation slot was not freed")
    assert fake.uploads and not any(p.exists() for p in fake.uploads)


@pytest.mark.slow
def test_stop_through_gradio_cancels_the_run(served, tmp_path):
    from gradio_client import Client, handle_file

    url, fake = served
    job = Client(url, verbose=False).submit(handle_file(str(jsonl_upload(tmp_path))), api_name="/evaluate")
    assert fake.started.wait(WAIT_S) and evaluation_running(url)
    job.cancel()  # the client calls the Stop button's cancel event, as the page does
    assert_stopped_and_cleaned(url, fake)


@pytest.mark.slow
def test_a_client_that_goes_away_stops_its_run(served, tmp_path):
    """The page's own protocol over raw HTTP: upload, join the queue, read the event stream, hang up."""
    import httpx

    url, fake = served
    api = f"{url}/gradio_api"
    config = httpx.get(f"{url}/config", timeout=WAIT_S).json()
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "evaluate")
    with httpx.Client(timeout=WAIT_S) as http:
        with jsonl_upload(tmp_path).open("rb") as f:
            [server_path] = http.post(f"{api}/upload", files={"files": ("questions.jsonl", f)}).json()
        session = "hanging-up-session"
        joined = http.post(f"{api}/queue/join", json={
            "data": [{"path": server_path, "meta": {"_type": "gradio.FileData"}}], "fn_index": fn_index,
            "session_hash": session, "event_data": None, "trigger_id": None})
        assert joined.status_code == 200, joined.text
        with http.stream("GET", f"{api}/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():  # until the run reports progress
                if "process_generating" in line:
                    break
            # the handler's first message comes before it starts the job (so that a cancel is never lost)
            assert fake.started.wait(WAIT_S) and evaluation_running(url)
        # the stream is closed: the client went away
    assert_stopped_and_cleaned(url, fake)
