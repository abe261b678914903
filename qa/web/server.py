"""``qa serve``: check the address, load the assistant, serve the UI and the JSON API on one port.

The order matters for users: the host and port are checked (and the port held)
before the model or gradio is loaded, so a port in use is a one-line error in a
second, not after a minute of loading. The socket stays bound while the model
loads and is handed to uvicorn, so nothing can take the port in between.
"""

from __future__ import annotations

import errno
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from ..config import Settings
from ..errors import QAError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..assistant import Assistant
    from ..collection import Collection

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
#: Asked once at startup so the first real question is not slowed by the model's first call.
WARM_UP_QUESTIONS = ("社区工作者的待遇怎么保障？", "What is this document about?")
#: Seconds a background server may take to start (tests, scripts) and to stop.
START_TIMEOUT_S = 60


class ServeError(QAError):
    """The server cannot listen where it was asked to."""


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not yet listening; port 0: any free one), or :class:`ServeError`
    saying what to change."""
    if not 0 <= port < 65536:
        raise ServeError(f"port must be 1..65535, not {port}; pick another with --port")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ServeError(f"cannot listen on {host!r}: unknown host ({exc}); pick another with --host") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no obstacle
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"port {port} is in use; pick another with --port") from None
        if exc.errno == errno.EACCES:
            raise ServeError(f"port {port} needs special permission; pick another with --port (above 1023)") from None
        raise ServeError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                         "pick another with --host") from None
    sock.set_inheritable(True)
    return sock


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port nobody listens on right now (for tests and scripts that run their own server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def load_assistant(corpus: Sequence[str] | None, settings: Settings,
                   log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True), *,
                   warm: bool = True) -> Assistant:
    """The assistant with progress on the console (model load, then index load or build), warmed up
    (unless ``warm=False``: then call :func:`warm_up` before serving)."""
    from ..assistant import Assistant
    from ..index import ConsoleProgress

    log("Loading the model and the index … 正在加载模型和索引")
    progress = ConsoleProgress()
    try:
        assistant = Assistant(corpus or None, settings, progress=progress)
    finally:
        progress.close()
    if warm:
        warm_up(assistant)
    return assistant


def warm_up(assistant: Assistant) -> None:
    """Ask a few questions: the model's first call and the dictionary's first load are slow; pay them now,
    not on the first user."""
    for question in WARM_UP_QUESTIONS:
        assistant.ask(question, 1)


def create_app(assistant: Assistant, collection: Collection | None = None) -> FastAPI:
    """One FastAPI app: the JSON API under ``/api``, its schema at ``/openapi.json``, the Gradio UI at ``/``.

    With a ``collection``, the Documents tab and ``POST``/``DELETE /api/documents`` change it while the
    server runs (``assistant`` must be over it, or over the bundled essay while ``default`` is not created)."""
    import gradio as gr
    from fastapi import FastAPI

    from .. import __version__
    from . import api, ui
    from .documents import LiveAssistant
    from .evaluation import EvaluationRunner
    from .public import Scrubber

    live = LiveAssistant(assistant, collection)
    scrubber = Scrubber.for_assistant(assistant, live.private_paths())
    runner = EvaluationRunner(assistant, scrubber)
    app = FastAPI(title="qa — document Q&A API", version=__version__, docs_url=None, redoc_url=None,
                  description="Retrieval Q&A over the documents this server serves. The web UI is at `/`. "
                              'Errors are `{"error": "..."}` with a status code (400, 404, 413, 503).')
    handlers = ui.QAHandlers(assistant, runner, scrubber, live)
    api.install(app, live, runner, scrubber, ui.MAX_UPLOAD_BYTES)
    app.state.close = handlers.close  # what to clean up when the server stops
    return gr.mount_gradio_app(app, ui.build_ui(assistant, handlers), path="/", **ui.mount_options())


@dataclass
class RunningServer:
    """A server started in a background thread by :func:`start`; ``close()`` stops it."""

    url: str
    server: object
    thread: threading.Thread
    app: FastAPI

    def close(self) -> None:
        self.server.should_exit = True  # type: ignore[attr-defined]
        self.thread.join(START_TIMEOUT_S)
        self.app.state.close()


def _uvicorn(app: FastAPI) -> object:
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5,
                            ws="none", server_header=False)
    return uvicorn.Server(config)


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def start(app: FastAPI, host: str = DEFAULT_HOST, port: int | None = None) -> RunningServer:
    """Serve ``app`` from a background thread (tests, scripts); returns once it answers."""
    sock = bind(host, port if port is not None else 0)
    port = sock.getsockname()[1]
    server = _uvicorn(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="qa-server")
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:  # type: ignore[attr-defined]
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ServeError(f"the server on {host}:{port} did not start")
        time.sleep(0.05)
    return RunningServer(_url(host, port), server, thread, app)


def serve(corpus: Sequence[str | Path] | None, settings: Settings, host: str = DEFAULT_HOST,
          port: int = DEFAULT_PORT, collection: Collection | None = None) -> int:
    """Check the address, load the assistant, then serve until Ctrl+C or SIGTERM; the ``qa serve`` command.

    ``collection``: the collection the Documents tab manages (served if it has documents)."""
    started = time.perf_counter()
    sock = bind(host, port)  # before anything heavy: a port in use is reported at once
    try:
        if collection is not None and collection.exists():
            from ..index import ConsoleProgress

            print(f"Loading collection {collection.name} … 正在加载文档集", file=sys.stderr, flush=True)
            progress = ConsoleProgress()
            try:
                assistant = collection.assistant(progress=progress)
            finally:
                progress.close()
        else:
            assistant = load_assistant([str(c) for c in corpus] if corpus else None, settings, warm=False)
        print(assistant.index_status, file=sys.stderr)  # the console is the operator's: paths are fine here
        print(f"Serving: {assistant.describe()}", file=sys.stderr)
        # the warm-up (mostly the model, outside the GIL) overlaps loading gradio and building the app
        warming = threading.Thread(target=warm_up, args=(assistant,), name="qa-warm-up", daemon=True)
        warming.start()
        app = create_app(assistant, collection)
        server = _uvicorn(app)
        warming.join()
    except BaseException:
        sock.close()
        raise
    url = _url(host, port)

    def ready() -> None:
        while not server.started and not server.should_exit:  # type: ignore[attr-defined]
            time.sleep(0.05)
        if server.started:  # type: ignore[attr-defined]
            print(f"Ready in {time.perf_counter() - started:.1f} s: {url}  (API: {url}/api, schema: "
                  f"{url}/openapi.json; Ctrl+C to stop)", file=sys.stderr, flush=True)

    threading.Thread(target=ready, daemon=True).start()
    # uvicorn stops cleanly on SIGINT/SIGTERM, then raises the signal again with the handlers it found:
    # SIGTERM must then end the process like Ctrl+C, through Python's exit (temporary reports are removed)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.run(sockets=[sock])  # type: ignore[attr-defined]
    finally:
        app.state.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python app.py [options]``: the same as ``qa serve [options]`` (flags, settings, errors)."""
    from ..cli import main as cli_main

    return cli_main(["serve", *(sys.argv[1:] if argv is None else argv)])
