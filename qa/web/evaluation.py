"""Bounded evaluation for the server: one run at a time, a question cap, a time budget, nothing left behind.

The web UI's Evaluate tab and ``POST /api/evaluate`` both go through
:class:`EvaluationRunner`, so one upload cannot tie the server up: a second run
while one is going is refused ("busy, retry"), a file with more questions than
``Settings.max_eval_questions`` is refused before any is asked, a run stops at
``Settings.eval_time_budget_s`` (or when its client goes away or presses Stop) with
the results so far, and the uploaded file and any per-upload index are deleted when
the run ends. The UI runs it through :meth:`EvaluationRunner.start` (a thread of its
own it can cancel); the API through :meth:`EvaluationRunner.run` with a cancel event.
The CLI's ``qa eval`` has none of these limits.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from ..assistant import Assistant
from ..errors import QAError
from ..evaluation import evaluate, load_questions
from ..evaluation import EvaluationReport
from .public import Scrubber

#: Passages per question in a web evaluation (the metrics go up to @10).
EVAL_K = 10


class EvaluationBusyError(QAError):
    """Another evaluation is running on this server."""


class EvaluationTooLargeError(QAError):
    """The file has more questions than the server evaluates in one run."""


class EvaluationJob:
    """A run started by :meth:`EvaluationRunner.start`: its state, ``cancel()``, ``wait()`` and ``result()``."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.done = threading.Event()
        self.thread: threading.Thread | None = None
        #: What the run is doing: ("reading", 0.0), ("indexing: STAGE", fraction), ("questions", (done, total)).
        self.state: tuple[str, float | tuple[int, int]] = ("reading", 0.0)
        self._result: tuple[EvaluationReport, Scrubber] | None = None
        self._error: BaseException | None = None

    def _questions(self, done: int, total: int) -> None:
        self.state = ("questions", (done, total))

    def _indexing(self, stage: str, fraction: float) -> None:
        self.state = (f"indexing: {stage}", fraction)

    def cancel(self) -> None:
        """Stop the run (no-op once it ended): it ends at its next check, freeing the slot and its files."""
        self.cancelled.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Whether the run has ended, waiting up to ``timeout`` seconds for it."""
        return self.done.wait(timeout)

    def result(self) -> tuple[EvaluationReport, Scrubber]:
        """The report and its scrubber once ended (see :meth:`EvaluationRunner.run` for what it raises)."""
        self.done.wait()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


class _Stop(KeyboardInterrupt):
    """Raised from a progress callback to end a run early; :func:`qa.evaluate` then returns what was done."""


class EvaluationRunner:
    """Runs uploaded questions files against one assistant, one at a time, within the server's limits."""

    def __init__(self, assistant: Assistant, scrubber: Scrubber) -> None:
        self.assistant = assistant
        self.scrubber = scrubber
        self.max_questions = assistant.settings.max_eval_questions
        self.time_budget_s = assistant.settings.eval_time_budget_s
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def start(self, upload: Path, public_name: str, *, k: int = EVAL_K,
              retrievers: tuple[str, ...] = ("hybrid",)) -> EvaluationJob:
        """:meth:`run` in a thread of its own, for a caller that must stay responsive (the web UI): the
        job tells how far it is, and :meth:`EvaluationJob.cancel` stops it (the slot freed, the upload and
        any per-upload index deleted) at its next batch of questions or indexing step."""
        job = EvaluationJob()

        def work() -> None:
            try:
                job._result = self.run(upload, public_name, k=k, retrievers=retrievers, cancelled=job.cancelled,
                                       progress=job._questions, index_progress=job._indexing)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
                job._error = exc
            finally:
                job.done.set()

        job.thread = threading.Thread(target=work, name="qa-evaluation", daemon=True)
        job.thread.start()
        return job

    def run(self, upload: Path, public_name: str, *, k: int = EVAL_K, retrievers: tuple[str, ...] = ("hybrid",),
            progress: Callable[[int, int], None] | None = None,
            index_progress: Callable[[str, float], None] | None = None,
            cancelled: threading.Event | None = None) -> tuple[EvaluationReport, Scrubber]:
        """Evaluate ``upload`` (deleted afterwards, whatever happens); return the report and its scrubber.

        Setting ``cancelled`` stops the run at its next batch of questions or indexing step, with the
        results so far.
        Raises :class:`EvaluationBusyError` when another run is going, :class:`EvaluationTooLargeError`
        over the question cap, and :class:`~qa.errors.QAError` (messages scrubbed) for a bad file.
        """
        scrub = self.scrubber.with_paths({upload: public_name, upload.parent: "<upload>"})
        if not self._lock.acquire(blocking=False):
            _remove(upload)
            raise EvaluationBusyError("another evaluation is running; busy, retry in a minute")
        index_dir: Path | None = None
        try:
            try:
                dataset = load_questions(upload)
            except QAError as exc:
                raise type(exc)(scrub.text(str(exc))) from None
            n = len(dataset.questions)
            if self.max_questions and n > self.max_questions:
                raise EvaluationTooLargeError(
                    f"{public_name} has {n:,} questions; the server evaluates at most {self.max_questions:,} "
                    "per run. Split the file, or run `qa eval` on your own machine.")
            settings = None
            if dataset.format == "squad":  # its own corpus: a throw-away index, deleted with the upload
                index_dir = Path(tempfile.mkdtemp(prefix="qa-eval-index-"))
                scrub = scrub.with_paths({index_dir: "<upload-index>"})
                # the report names the index folder: a fixed name inside the private one says nothing of the server
                settings = self.assistant.settings.with_(index_dir=index_dir / "upload-index")
            deadline = time.monotonic() + self.time_budget_s if self.time_budget_s else None
            stopped: list[str] = []

            def check() -> None:
                if cancelled is not None and cancelled.is_set():
                    stopped.append("the client went away")
                    raise _Stop
                if deadline is not None and time.monotonic() > deadline:
                    stopped.append(f"the server's time budget of {self.time_budget_s:g} s was reached")
                    raise _Stop

            def on_questions(done: int, total: int) -> None:
                if progress is not None:
                    progress(done, total)
                check()

            def on_index(stage: str, fraction: float) -> None:
                if index_progress is not None:
                    index_progress(stage, fraction)
                check()

            try:
                report = evaluate(upload, k=k, retrievers=retrievers, assistant=self.assistant, settings=settings,
                                  progress=on_questions, index_progress=on_index)
            except _Stop:  # stopped before any answer (evaluate returns partial results once it has some)
                raise QAError(f"the evaluation was stopped: {stopped[-1] if stopped else 'interrupted'}") from None
            except QAError as exc:
                raise type(exc)(scrub.text(str(exc))) from None
            if stopped:
                report.warnings.append(f"stopped early: {stopped[-1]}; the results cover the questions done by then")
            return public_report(report, public_name, scrub), scrub
        finally:
            self._lock.release()
            _remove(upload)
            if index_dir is not None:
                shutil.rmtree(index_dir, ignore_errors=True)


def public_report(report: EvaluationReport, public_name: str, scrub: Scrubber) -> EvaluationReport:
    """``report`` with the upload's name instead of its path and no server path in its config or warnings."""
    return replace(report, dataset=public_name, path=public_name, config=scrub.data(report.config),
                   warnings=[scrub.text(w) for w in report.warnings])


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
