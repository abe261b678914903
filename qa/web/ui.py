"""The Gradio UI: tabs Ask, Outline, Documents and Evaluate over one (swappable) assistant.

A thin layer over the Python API: questions go to :meth:`qa.Assistant.ask`, the
batch evaluation to :class:`qa.web.evaluation.EvaluationRunner` (bounded, shared
with the JSON API), and every piece of HTML a person reads is built by
:mod:`qa.present`. No retrieval logic lives here; :mod:`qa.web.server` mounts
this app beside the JSON API.

Gradio endpoints (``gradio_client.Client(url).predict(..., api_name=...)``):

* ``/ask`` (question, k) -> JSON: ``Answer.to_dict()``. Bad input raises an error carrying the reason.
* ``/ask_html`` (question, k) -> str: the answer cards the Ask tab shows (HTML).
* ``/evaluate`` (questions file) -> metrics HTML, per-question HTML, plot PNG, report zip.
* ``/add_documents`` (files) and ``/remove_document`` (name) -> status HTML, documents HTML, choices.

The Documents tab changes the collection the server serves; the Ask tab then answers
from the updated collection at once (see :mod:`qa.web.documents`).
"""

from __future__ import annotations

import math
import shutil
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any, Iterator

import gradio as gr

from .. import present
from ..assistant import Assistant
from ..errors import QAError, QuestionError
from ..evaluation.plots import RANK_PLOT
from ..readers import readers as _readers
from .documents import LiveAssistant, documents_html, save_upload
from .evaluation import EVAL_K, EvaluationJob, EvaluationRunner
from .public import Scrubber

APP_TITLE = "文档问答 · Document Q&A"
APP_SUBTITLE = ("就文档提问，得到最相关的段落和关键句 · "
                "Ask the document; get the passages that answer, key sentences marked")
#: Largest k the slider (and the APIs) accept.
MAX_K = 20
EVAL_RETRIEVERS: tuple[str, ...] = ("hybrid",)
#: Largest questions file the Evaluate tab (and ``POST /api/evaluate``) accepts.
MAX_UPLOAD_MB = 20
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
EVAL_FILE_TYPES = [".jsonl", ".json"]
#: Name of the report folder (and of its zip) the Evaluate tab offers for download.
REPORT_FOLDER = "qa-eval-report"
#: Questions answered at the same time (the model is shared and locked; search runs in parallel).
ASK_CONCURRENCY = 4
#: Batch evaluations at the same time: one, they are long and use every core (the runner enforces it).
EVAL_CONCURRENCY = 1
#: Gradio's upload cache: files older than an hour are deleted every hour (uploads are also deleted after a run).
UPLOAD_CACHE_CLEANUP = (3600, 3600)
#: Seconds between an evaluation's progress updates: how soon Stop or a client gone ends its run.
HEARTBEAT_S = 1.0
#: Example questions: simplified and traditional Chinese, and English.
EXAMPLES: tuple[str, ...] = (
    "社区工作者的待遇怎么保障？",
    "如何发挥党建引领基层社会治理的作用？",
    "社區黨組織如何為群眾服務？",
    "How can party building be integrated with community governance?",
)
EMPTY_QUESTION_MESSAGE = "请输入一个问题 · Please type a question."
FOOTER_LINKS = ["api", "settings"]
#: CJK fonts first after the theme's Latin font so Chinese never falls back to a random face.
FONT_STACK = ["Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei",
              "ui-sans-serif", "system-ui", "sans-serif"]


def theme() -> gr.themes.Base:
    """The app's theme: Gradio's default look with CJK fonts that exist offline."""
    return gr.themes.Default(
        primary_hue="blue", neutral_hue="slate",
        font=[gr.themes.LocalFont("Source Sans Pro", weights=(400, 600)), *FONT_STACK],
    )


def mount_options() -> dict[str, Any]:
    """Keyword arguments for ``gr.mount_gradio_app`` that every serving of this UI needs (look, limits, offline)."""
    return {
        "theme": theme(),
        "css": present.STYLESHEET,
        "footer_links": FOOTER_LINKS,
        "max_file_size": MAX_UPLOAD_BYTES,
        "enable_monitoring": False,
        "ssr_mode": False,
        "mcp_server": False,
        "run_history": False,
    }


def clamp_k(k: object, default: int) -> int:
    """k from a slider or a Gradio client (int, float or None) as a whole number in 1..MAX_K (larger: MAX_K)."""
    if k is None or k == "":
        return default
    try:
        value = float(k)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise QuestionError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}") from None
    if not math.isfinite(value) or value < 1:
        raise QuestionError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}")
    return min(int(round(value)), MAX_K)


def _suffixes() -> list[str]:
    return [s for r in _readers() for s in r.suffixes]


def _formats() -> str:
    return ", ".join(_suffixes())


class QAHandlers:
    """The UI's event handlers over one assistant; each returns what its widgets show."""

    def __init__(self, assistant: Assistant, runner: EvaluationRunner | None = None,
                 scrubber: Scrubber | None = None, live: LiveAssistant | None = None) -> None:
        self.live = live or LiveAssistant(assistant)
        self.scrubber = scrubber or Scrubber.for_assistant(assistant, self.live.private_paths())
        self.runner = runner or EvaluationRunner(assistant, self.scrubber)
        self.outline = present.outline(assistant.passages)
        self.live.on_swap(self._swapped)
        self.report_root = Path(tempfile.mkdtemp(prefix="qa-app-reports-"))
        self._jobs: dict[str, EvaluationJob] = {}  # by browser session: its evaluation running or waiting
        self._uploads: dict[str, set[str]] = {}  # by browser session: questions files not yet evaluated
        self._uploads_lock = threading.Lock()
        # reports live as long as the app: removed by close(), or when the handlers go or the process exits
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.report_root), True)

    @property
    def assistant(self) -> Assistant:
        """The assistant of the moment (a new one after the Documents tab changes the collection)."""
        return self.live.assistant

    def _swapped(self, new: Assistant) -> None:
        self.runner.assistant = new
        self.outline = present.outline(new.passages)

    def close(self) -> None:
        """Remove the reports offered for download (the server calls this when it stops)."""
        self._cleanup()

    # ask ----------------------------------------------------------------------------------------------
    def ask_json(self, question: str, k: float | None = None) -> dict[str, Any]:
        """The answer as JSON-able data; bad input raises ``gr.Error`` with the reason."""
        try:
            answer = self.assistant.ask(question, clamp_k(k, self.assistant.settings.k))
        except QAError as exc:
            raise gr.Error(self.scrubber.text(str(exc)), print_exception=False) from None
        data = answer.to_dict()
        for hit in data["hits"]:
            hit["source"] = Path(hit.get("source") or "").name
        return data

    def ask_html(self, question: str, k: float | None = None) -> str:
        """The answer as the Ask tab's cards; bad input (an empty or over-long question) becomes a notice."""
        try:
            answer = self.assistant.ask(question, clamp_k(k, self.assistant.settings.k))
        except QuestionError as exc:
            empty = not str(question or "").strip()
            return present.notice_html(EMPTY_QUESTION_MESSAGE if empty else self.scrubber.text(str(exc)), "info")
        except QAError as exc:
            return present.notice_html(self.scrubber.text(str(exc)), "error")
        return present.answer_html(answer)

    # documents ----------------------------------------------------------------------------------------------
    def documents(self) -> tuple[str, Any]:
        """The documents table and the choices of the remove menu."""
        rows = self.live.rows()
        return (documents_html(rows, self.live.read_only),
                gr.update(choices=[r.name for r in rows], value=None, interactive=not self.live.read_only))

    @property
    def document_limit(self) -> int:
        """Largest document the tab takes: ``Settings.max_file_bytes``, within Gradio's limit on every upload
        (:data:`MAX_UPLOAD_BYTES`; ``qa add`` and ``POST /api/documents`` take up to ``max_file_bytes``)."""
        return min(self.assistant.settings.max_file_bytes, MAX_UPLOAD_BYTES)

    def header(self) -> str:
        """The page header: what is served (documents and passages change with the collection)."""
        return present.header_html(APP_TITLE, self.scrubber.text(self.assistant.describe()), APP_SUBTITLE)

    def outline_view(self) -> tuple[str, Any]:
        """The Outline tab's tree and heading menu, of the current collection."""
        return present.outline_html(self.outline), gr.update(choices=present.outline_choices(self.outline),
                                                             value=None)

    def add_documents(self, files: list[str] | str | None) -> tuple[str, str, Any, None]:
        """Add uploaded files to the collection: (status, documents table, remove choices, emptied upload box).

        The uploads are deleted once copied (or refused); adding them again needs a new upload."""
        paths = [files] if isinstance(files, str) else list(files or [])
        if not paths:
            return (present.notice_html("请先选择文件 · Choose files to upload first.", "info"), *self.documents(),
                    None)
        limit = self.document_limit
        saved: list[Path] = []
        try:
            for f in paths:
                try:
                    saved.append(save_upload(f, Path(f).name, limit))
                except OSError:
                    raise QAError(f"{Path(f).name}: the upload is gone; upload the file again") from None
            changes = self.live.add(saved, names=[p.name for p in saved])
        except QAError as exc:
            scrub = self.scrubber.with_paths({p: p.name for p in saved})
            return (present.notice_html(f"无法添加 · Not added: {scrub.text(str(exc))}", "error"), *self.documents(),
                    None)
        finally:
            for p in saved:
                shutil.rmtree(p.parent, ignore_errors=True)
            for f in paths:
                Path(f).unlink(missing_ok=True)
        added = [Path(k).name for k in changes.added + changes.updated]
        return (present.notice_html(f"已添加 · Added: {', '.join(added) or 'nothing new'}", "info"),
                *self.documents(), None)

    def remove_document(self, name: str | None) -> tuple[str, str, Any]:
        """Remove one document from the collection: (status, documents table, remove choices)."""
        if not name:
            return (present.notice_html("请选择要移除的文档 · Choose a document to remove.", "info"),
                    *self.documents())
        try:
            changes = self.live.remove([name])
        except QAError as exc:
            return (present.notice_html(f"无法移除 · Not removed: {self.scrubber.text(str(exc))}", "error"),
                    *self.documents())
        removed = ", ".join(Path(k).name for k in changes.removed)
        return present.notice_html(f"已移除 · Removed: {removed}", "info"), *self.documents()

    # outline --------------------------------------------------------------------------------------------
    def section(self, key: str | None) -> str:
        """The passages under the chosen heading."""
        return present.section_html(present.find_node(self.outline, key) if key else None)

    # evaluate -------------------------------------------------------------------------------------------
    def evaluate(self, file: str | None, progress: gr.Progress | None = None
                 ) -> tuple[str, str, str | None, str | None]:
        """Run the batch evaluation of an uploaded questions file: (metrics, rows, plot PNG, report zip).

        The upload is deleted when the run ends; running it again needs a new upload.
        """
        *_, last = self.evaluate_steps(file, progress)
        return last

    def evaluate_steps(self, file: str | None, progress: gr.Progress | None = None, session: str = ""
                       ) -> Iterator[tuple[Any, Any, Any, Any]]:
        """:meth:`evaluate` step by step, for the Evaluate tab; yields its outputs, the last one final.

        A generator, so that Gradio can close it when the client goes away or presses Stop: the run is then
        cancelled (its slot freed, the upload and any per-upload index deleted). Until the run ends it
        yields its progress (in the metrics panel) every :data:`HEARTBEAT_S` seconds. The upload is
        deleted when the run ends; running it again needs a new upload.
        """
        def fail(message: str, kind: str = "error") -> tuple[str, str, None, None]:
            return present.notice_html(message, kind), "", None, None

        if not file:
            yield fail("请先上传问题文件 (JSONL 或 SQuAD JSON) · Upload a questions file (JSONL or SQuAD JSON) first.",
                       "info")
            return
        path = Path(file)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            yield fail("文件已评估并删除，请重新上传 · This upload was already evaluated and removed; "
                       "upload the file again.", "info")
            return
        except OSError as exc:
            yield fail(f"无法读取上传的文件 · Cannot read the uploaded file ({exc.strerror or 'error'}).")
            return
        if size > MAX_UPLOAD_BYTES:
            path.unlink(missing_ok=True)
            yield fail(f"文件太大 · The file is {size / 1024 / 1024:.1f} MB; the limit is {MAX_UPLOAD_MB} MB.")
            return

        # a first step before the run starts: Gradio keeps a generator it can close only once it has yielded
        yield present.notice_html("评估开始 · Starting the evaluation …"), gr.skip(), gr.skip(), gr.skip()
        job = self.runner.start(path, path.name, k=EVAL_K, retrievers=EVAL_RETRIEVERS)
        self._jobs[session] = job
        self._forget_upload(session, path)  # the run deletes it
        try:
            while not job.wait(HEARTBEAT_S):
                desc, value, unit = _progress_of(job.state)
                if progress is not None:
                    progress(value, desc=desc, unit=unit)
                # where Gradio can close the run (the client went away, or Stop): the metrics say how far it is
                yield (present.notice_html(f"{desc}{_progress_count(value)} · 按「停止」结束 Press Stop to end it"),
                       gr.skip(), gr.skip(), gr.skip())
            report, scrub = job.result()
        except QAError as exc:
            yield fail(f"无法评估这个文件 · Cannot evaluate this file: {exc}")
            return
        finally:
            job.cancel()  # no-op once it ended; else it stops at its next batch and cleans up after itself
            if self._jobs.get(session) is job:
                del self._jobs[session]
        out_dir = Path(tempfile.mkdtemp(prefix="eval-", dir=self.report_root))
        try:
            folder = Path(report.write(out_dir / REPORT_FOLDER))
        except QAError as exc:
            yield fail(f"无法写出报告 · Cannot write the report: {scrub.text(str(exc))}")
            return
        # the archive sits beside the folder it holds, never inside it
        archive = shutil.make_archive(str(out_dir / REPORT_FOLDER), "zip", root_dir=folder)
        plot = folder / RANK_PLOT  # where the first relevant passage ranked (no plot when nothing was evaluated)
        yield (present.metrics_html(report.to_dict()), present.rows_html(report.rows),
               str(plot) if plot.is_file() else None, archive)

    def remember_upload(self, file: str | None, session: str = "") -> None:
        """Note a questions file uploaded by ``session`` and not yet evaluated: deleted if the session ends."""
        if file:
            with self._uploads_lock:
                self._uploads.setdefault(session, set()).add(str(file))

    def _forget_upload(self, session: str, path: Path) -> None:
        with self._uploads_lock:
            self._uploads.get(session, set()).discard(str(path))

    def session_ended(self, session: str = "") -> None:
        """A browser session ended (tab closed, connection lost): stop its evaluation, delete its uploads."""
        job = self._jobs.pop(session, None)
        if job is not None:
            job.cancel()
        with self._uploads_lock:
            files = self._uploads.pop(session, set())
        for f in files:
            Path(f).unlink(missing_ok=True)


def _session(request: gr.Request | None) -> str:
    """The browser session of a request (empty for a call without one)."""
    return str(getattr(request, "session_hash", None) or "")


def _progress_of(state: tuple[str, Any]) -> tuple[str, Any, str]:
    """An evaluation job's state as ``gr.Progress`` arguments: (description, progress, unit)."""
    stage, value = state
    if stage == "questions":
        return "评估中 Evaluating", value, "questions"
    if stage == "reading":
        return "读取问题 Reading questions", 0, "steps"
    return f"索引 Indexing{stage.removeprefix('indexing')}", value, "steps"


def _progress_count(value: Any) -> str:
    """': 64 / 200' for (done, total), ': 40 %' for a fraction above 0."""
    if isinstance(value, tuple):
        return f": {value[0]:,} / {value[1]:,}"
    return f": {value:.0%}" if value else ""


def build_ui(assistant: Assistant, handlers: QAHandlers | None = None) -> gr.Blocks:
    """The Gradio app over ``assistant``, queued; :func:`qa.web.server.create_app` mounts it."""
    h = handlers or QAHandlers(assistant)
    default_k = min(assistant.settings.k, MAX_K)

    def ask(question: str, k: float = default_k) -> dict[str, Any]:
        """Ask the document a question; returns the ranked passages as JSON (Answer.to_dict())."""
        return h.ask_json(question, k)

    def ask_html(question: str, k: float) -> str:
        return h.ask_html(question, k)

    def run_evaluation(file: str | None, request: gr.Request,
                       progress: gr.Progress = gr.Progress()) -> Iterator[tuple[Any, Any, Any, Any]]:  # noqa: B008
        yield from h.evaluate_steps(file, progress, _session(request))

    def remember_upload(file: str | None, request: gr.Request) -> None:
        h.remember_upload(file, _session(request))

    def session_ended(request: gr.Request) -> None:
        h.session_ended(_session(request))

    limit = assistant.settings.max_eval_questions
    with gr.Blocks(title=APP_TITLE, analytics_enabled=False, delete_cache=UPLOAD_CACHE_CLEANUP) as demo:
        header = gr.HTML(h.header(), elem_id="qa-header")
        with gr.Tabs():
            with gr.Tab("提问 Ask", id="ask"):
                with gr.Row(equal_height=True):
                    # no max_length: an over-long question gets the assistant's message, never a silent cut
                    question = gr.Textbox(label="问题 Question", placeholder="例如：社区工作者的待遇怎么保障？",
                                          lines=1, max_lines=4, scale=6, autofocus=True, elem_id="qa-question")
                    k_slider = gr.Slider(1, MAX_K, value=default_k, step=1, label="段落数 Passages (k)",
                                         scale=2, min_width=180, elem_id="qa-k")
                    ask_button = gr.Button("提问 Ask", variant="primary", scale=1, min_width=100, elem_id="qa-ask")
                examples = gr.Examples([[q] for q in EXAMPLES], inputs=[question],
                                       label="示例问题 Example questions")
                results = gr.HTML(present.notice_html("输入问题后按「提问」· Type a question and press Ask."),
                                  label="answer_html", elem_id="qa-results", js_on_load=None)
                gr.Markdown(
                    "API: `POST /api/ask` (JSON, schema at `/openapi.json`), or "
                    "`gradio_client.Client(url).predict(question, k, api_name=\"/ask\")` 返回 JSON · returns JSON.",
                    elem_id="qa-api-note")
            with gr.Tab("目录 Outline", id="outline"):
                with gr.Row():
                    with gr.Column(scale=3):
                        outline_tree = gr.HTML(present.outline_html(h.outline), elem_id="qa-outline",
                                               js_on_load=None)
                    with gr.Column(scale=2):
                        heading = gr.Dropdown(present.outline_choices(h.outline), value=None,
                                              label="跳转到标题 Go to heading", elem_id="qa-heading")
                        section = gr.HTML(present.section_html(None), label="section_html", elem_id="qa-section",
                                          js_on_load=None)
            with gr.Tab("文档 Documents", id="documents"):
                table, choices = h.documents()
                read_only = h.live.read_only
                size_mb = h.document_limit / 1024 / 1024
                gr.Markdown(
                    f"上传文档（{_formats()}），每个最大 {size_mb:.0f} MB；添加后立即可以提问，无需重启。\n\n"
                    f"Upload documents ({_formats()}), up to {size_mb:.0f} MB each; "
                    "ask about them at once, no restart needed.", elem_id="qa-doc-help")
                with gr.Row():
                    doc_files = gr.File(label="文档 Documents", file_count="multiple", file_types=_suffixes(),
                                        type="filepath", elem_id="qa-doc-files", scale=3, interactive=not read_only)
                    add_button = gr.Button("添加 Add", variant="primary", scale=1, elem_id="qa-doc-add",
                                           interactive=not read_only)
                doc_status = gr.HTML(elem_id="qa-doc-status", js_on_load=None)
                doc_table = gr.HTML(table, elem_id="qa-doc-list", js_on_load=None)
                with gr.Row():
                    doc_choice = gr.Dropdown(choices["choices"], value=None, label="移除文档 Remove a document",
                                             interactive=not read_only, elem_id="qa-doc-choice", scale=3)
                    remove_button = gr.Button("移除 Remove", variant="stop", scale=1, elem_id="qa-doc-remove",
                                              interactive=not read_only)
            with gr.Tab("评估 Evaluate", id="evaluate"):
                gr.Markdown(
                    f"上传问题文件：JSONL（每行 `question` 和 `evidence`）或 SQuAD JSON，最大 {MAX_UPLOAD_MB} MB，"
                    f"最多 {limit:,} 个问题；一次只运行一个评估。\n\n"
                    f"Upload a questions file: JSONL (`question`, `evidence` per line) or SQuAD JSON, "
                    f"up to {MAX_UPLOAD_MB} MB and {limit:,} questions; one evaluation runs at a time. "
                    f"Each question is asked with k={EVAL_K}.")
                with gr.Row():
                    upload = gr.File(label="问题文件 Questions file", file_types=EVAL_FILE_TYPES,
                                     type="filepath", elem_id="qa-eval-file", scale=3)
                    with gr.Column(scale=1, min_width=160):
                        eval_button = gr.Button("运行评估 Run evaluation", variant="primary", elem_id="qa-eval-run")
                        stop_button = gr.Button("停止 Stop", variant="stop", elem_id="qa-eval-stop")
                metrics = gr.HTML(label="metrics_html", elem_id="qa-eval-metrics", js_on_load=None)
                with gr.Row():
                    plot = gr.Image(label="排名分布 Rank plot", type="filepath", interactive=False,
                                    elem_id="qa-eval-plot", scale=1)
                    download = gr.File(label="下载报告 Download report (zip)", interactive=False,
                                       elem_id="qa-eval-download", scale=1)
                rows = gr.HTML(label="rows_html", elem_id="qa-eval-rows", js_on_load=None)

        gr.on([ask_button.click, question.submit], ask_html, [question, k_slider], results,
              api_name="ask_html", concurrency_limit=ASK_CONCURRENCY, concurrency_id="ask")
        examples.load_input_event.then(ask_html, [question, k_slider], results, api_visibility="private",
                                       concurrency_limit=ASK_CONCURRENCY, concurrency_id="ask")
        gr.api(ask, api_name="ask", concurrency_limit=ASK_CONCURRENCY, concurrency_id="ask")
        heading.change(h.section, heading, section, api_visibility="undocumented", api_name="section")
        # a generator: Gradio closes it when its client goes away or Stop is pressed, which cancels the run
        evaluating = eval_button.click(run_evaluation, upload, [metrics, rows, plot, download], api_name="evaluate",
                                       concurrency_limit=EVAL_CONCURRENCY, show_progress_on=metrics)
        stop_button.click(None, None, None, cancels=[evaluating], api_visibility="private")
        upload.upload(remember_upload, upload, None, api_visibility="private", queue=False)
        demo.unload(session_ended)  # tab closed or connection lost: its run stopped, its uploads deleted
        # after a change, the header and the outline show the new collection (so does a page opened later)
        for event in (add_button.click(h.add_documents, doc_files, [doc_status, doc_table, doc_choice, doc_files],
                                       api_name="add_documents", concurrency_limit=1, concurrency_id="documents"),
                      remove_button.click(h.remove_document, doc_choice, [doc_status, doc_table, doc_choice],
                                          api_name="remove_document", concurrency_limit=1,
                                          concurrency_id="documents")):
            event.then(h.header, None, header, api_visibility="private") \
                 .then(h.outline_view, None, [outline_tree, heading], api_visibility="private")
        built_with = h.assistant

        def refresh_page() -> tuple[Any, ...]:
            """A page opened after the collection changed shows it as it is now (else: nothing to redo)."""
            if h.assistant is built_with:
                return (gr.skip(),) * 5
            return (*h.documents(), h.header(), *h.outline_view())

        demo.load(refresh_page, None, [doc_table, doc_choice, header, outline_tree, heading],
                  api_visibility="private")
    demo.queue(default_concurrency_limit=ASK_CONCURRENCY)
    return demo
