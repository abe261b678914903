"""The JSON HTTP API: ``/api/ask``, ``/api/passages/{id}``, ``/api/outline``, ``/api/documents`` (list,
upload, remove), ``/api/evaluate``, ``/api/health``, described by ``/openapi.json``.

A thin layer over the same :class:`qa.Assistant` the UI uses. Every error is
``{"error": "..."}`` with a status code: 400 bad input (including every
:class:`qa.QAError`), 404 unknown passage or route, 413 a body or file over its
limit or too many questions, 503 busy (another evaluation running, or too many
questions in flight; retry). No response carries a server path or a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__, present
from ..assistant import Assistant
from ..collection import DocumentNotFoundError
from ..embed import describe_model
from ..errors import QAError
from .documents import READ_ONLY_MESSAGE, LiveAssistant, public_name
from .evaluation import EVAL_K, EvaluationBusyError, EvaluationRunner, EvaluationTooLargeError
from .limits import Admission, BodyLimit, BodyTooLarge
from .public import Scrubber
from .schemas import (MAX_K, AnswerOut, AskRequest, DocumentOut, DocumentsChangedOut, DocumentsOut, Error,
                      EvaluationOut, HealthOut, OutlineNodeOut, OutlineOut, PassageOut, RetrieverName)

log = logging.getLogger(__name__)

PREFIX = "/api"
#: Largest JSON body of a question (a 1,000-character question is at most ~6 KB even \u-escaped).
MAX_JSON_BODY_BYTES = 64 * 1024
#: Multipart overhead allowed on top of the largest questions file.
MULTIPART_SLACK_BYTES = 64 * 1024
#: Questions answered or waiting at once; the next is refused with 503 "busy, retry".
MAX_ASKS_IN_FLIGHT = 64
#: Seconds a client is told to wait before retrying a 503.
RETRY_AFTER_S = 5
#: How often a running evaluation checks whether its client is still there.
DISCONNECT_POLL_S = 1.0

#: Files one ``POST /api/documents`` may carry.
MAX_FILES_PER_UPLOAD = 10

_ERRORS = {code: {"model": Error} for code in (400, 404, 413, 503)}


class ApiError(Exception):
    """An error answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _busy(message: str) -> ApiError:
    return ApiError(503, message, {"Retry-After": str(RETRY_AFTER_S)})


def _public_name(filename: str | None) -> str:
    """An upload's file name without any folder, safe as a file name here."""
    name = re.sub(r"[^\w.\-]+", "_", Path((filename or "").replace("\\", "/")).name).strip("._")
    return name[:100] or "questions.jsonl"


def _outline_node(node: present.OutlineNode) -> OutlineNodeOut:
    return OutlineNodeOut(key=node.key, title=node.title, path=list(node.path), doc_id=node.doc_id, size=node.size,
                          passage_ids=[p.id for p in node.passages],
                          children=[_outline_node(c) for c in node.children])


class _Views:
    """What the read-only routes serve, computed once per assistant (again after the documents change)."""

    def __init__(self, live: LiveAssistant) -> None:
        self.live = live
        self.of: Assistant | None = None
        self.lock = threading.Lock()

    def get(self) -> "_Views":
        assistant = self.live.assistant
        with self.lock:
            if self.of is not assistant:
                self.passages = {p.id: p for p in assistant.passages}
                self.outline = OutlineOut(documents=[_outline_node(r) for r in present.outline(assistant.passages)])
                self.documents = _documents(self.live, assistant)
                self.of = assistant
        return self


def _documents(live: LiveAssistant, assistant: Assistant) -> DocumentsOut:
    chars = {d.doc_id: len(d.text) for d in assistant.documents}
    return DocumentsOut(read_only=live.read_only, documents=[
        DocumentOut(doc_id=r.doc_id, title=r.title, name=r.name, n_passages=r.passages, n_chars=chars.get(r.doc_id, 0),
                    format=r.format, size=r.size, indexed_at=r.indexed_at, warnings=r.warnings)
        for r in live.rows()])


def install(app: FastAPI, live: LiveAssistant | Assistant, runner: EvaluationRunner, scrubber: Scrubber,
            max_upload_bytes: int) -> None:
    """Add the API's routes, its error handlers and its body-size limit to ``app``.

    ``live`` holds the assistant every route answers with (swapped after an upload or a removal)."""
    if isinstance(live, Assistant):
        live = LiveAssistant(live)
    views = _Views(live)
    views.get()
    asks = Admission(MAX_ASKS_IN_FLIGHT)

    # -- routes ----------------------------------------------------------------------------------------------
    @app.post(f"{PREFIX}/ask", response_model=AnswerOut, responses=_ERRORS, tags=["questions"])
    async def ask(request: AskRequest) -> Any:
        """Ask the corpus a question: the ``k`` best passages, best first, and whether the corpus answers it."""
        if not asks.try_enter():
            raise _busy("too many questions at once; busy, retry")
        try:
            answer = await run_in_threadpool(live.assistant.ask, request.question, request.k,
                                             retriever=request.retriever)
        finally:
            asks.leave()
        data = answer.to_dict()
        for hit in data["hits"]:
            hit["source"] = Path(hit.get("source") or "").name
        return data

    @app.get(f"{PREFIX}/passages/{{passage_id:path}}", response_model=PassageOut, responses=_ERRORS,
             tags=["corpus"])
    def passage(passage_id: str) -> Any:
        """One passage by its id (as in a hit's ``passage_id``)."""
        passages = views.get().passages
        p = passages.get(passage_id)
        if p is None:
            raise ApiError(404, f"no passage {passage_id[:200]!r}; ids look like {next(iter(passages), '')!r}")
        return {**p.to_dict(), "breadcrumb": p.breadcrumb, "source": Path(p.source).name}

    @app.get(f"{PREFIX}/outline", response_model=OutlineOut, tags=["corpus"])
    def get_outline() -> Any:
        """The heading tree of each document, with the passage ids under each heading."""
        return views.get().outline

    @app.get(f"{PREFIX}/documents", response_model=DocumentsOut, tags=["corpus"])
    def get_documents() -> Any:
        """The documents served: name, format, passages, size, when indexed, the readers' warnings."""
        return views.get().documents

    @app.post(f"{PREFIX}/documents", response_model=DocumentsChangedOut, responses=_ERRORS, tags=["corpus"])
    async def add_documents(file: Annotated[list[UploadFile], File(description="PDF, Word, HTML or text files")]
                            ) -> Any:
        """Add files to the collection the server serves; questions see them at once.

        A file with the name of one already there replaces it; a file that cannot be read is refused
        (400) and nothing is added; over the size limit: 413; a server over fixed files: 400."""
        if live.read_only:
            raise ApiError(400, READ_ONLY_MESSAGE)
        if len(file) > MAX_FILES_PER_UPLOAD:
            raise ApiError(413, f"{len(file)} files: at most {MAX_FILES_PER_UPLOAD} per upload")
        limit = live.assistant.settings.max_file_bytes
        folder = Path(tempfile.mkdtemp(prefix="qa-doc-upload-"))
        try:
            paths = []
            for i, f in enumerate(file):
                name = public_name(f.filename)
                path = folder / str(i) / name
                path.parent.mkdir()
                if await run_in_threadpool(_save, f, path, limit) > limit:
                    raise ApiError(413, f"{name}: larger than the {limit // 1024 // 1024} MB limit")
                paths.append(path)
            try:
                changes = await run_in_threadpool(live.add, paths, [p.name for p in paths])
            except QAError as exc:
                raise ApiError(400, scrubber.with_paths({p: p.name for p in paths}).text(str(exc))) from None
            return _changed(changes)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @app.delete(f"{PREFIX}/documents/{{doc}}", response_model=DocumentsChangedOut, responses=_ERRORS,
                tags=["corpus"])
    async def remove_document(doc: str) -> Any:
        """Remove a document (its file name or document id); questions stop seeing it at once."""
        if live.read_only:
            raise ApiError(400, READ_ONLY_MESSAGE)
        try:
            changes = await run_in_threadpool(live.remove, [doc])
        except QAError as exc:
            raise ApiError(404 if isinstance(exc, DocumentNotFoundError) else 400, scrubber.text(str(exc))) from None
        return _changed(changes)

    def _changed(changes: Any) -> Any:
        out = views.get().documents
        return DocumentsChangedOut(**out.model_dump(), added=[Path(k).name for k in changes.added],
                                   updated=[Path(k).name for k in changes.updated],
                                   removed=[Path(k).name for k in changes.removed])

    @app.post(f"{PREFIX}/evaluate", response_model=EvaluationOut, responses=_ERRORS, tags=["evaluation"])
    async def evaluate(request: Request,
                       file: Annotated[UploadFile, File(description="questions: JSONL or SQuAD JSON")],
                       k: Annotated[int, Form(ge=1, le=MAX_K)] = EVAL_K,
                       retriever: Annotated[list[RetrieverName], Form()] = ["hybrid"]) -> Any:  # noqa: B006
        """Evaluate retrieval on an uploaded questions file; returns the ``qa eval --json`` object.

        One evaluation runs at a time (503 "busy, retry" otherwise); files over the size limit or with more
        questions than the server's ``max_eval_questions`` get 413; a run stops at the server's time budget
        (or when the client goes away) with the results so far. The upload is deleted when the run ends.
        """
        if runner.busy:
            raise _busy("another evaluation is running; busy, retry in a minute")
        name = _public_name(file.filename)
        folder = Path(tempfile.mkdtemp(prefix="qa-upload-"))
        try:
            path = folder / name
            size = await run_in_threadpool(_save, file, path, max_upload_bytes)
            if size > max_upload_bytes:
                raise ApiError(413, f"the file is larger than the {max_upload_bytes // 1024 // 1024} MB limit")
            cancelled = threading.Event()
            task = asyncio.ensure_future(run_in_threadpool(
                runner.run, path, name, k=k, retrievers=tuple(dict.fromkeys(retriever)), cancelled=cancelled))
            while not task.done():
                await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
                if not task.done() and await request.is_disconnected():
                    cancelled.set()
            try:
                report, scrub = task.result()
            except EvaluationBusyError as exc:
                raise _busy(str(exc)) from None
            except EvaluationTooLargeError as exc:
                raise ApiError(413, str(exc)) from None
            return scrub.data(report.to_dict())
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @app.get(f"{PREFIX}/health", response_model=HealthOut, tags=["server"])
    def health() -> Any:
        """Whether the server is up, and what it serves."""
        assistant = live.assistant
        return HealthOut(status="ok", version=__version__, documents=len(assistant.documents),
                         passages=len(assistant.passages), model=scrubber.text(describe_model(assistant.embedder)),
                         evaluation_running=runner.busy)

    @app.api_route(PREFIX + "/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                   include_in_schema=False)
    def unknown(rest: str, request: Request) -> Any:
        known = {r.path.split("{")[0].rstrip("/") for r in app.routes if getattr(r, "path", "").startswith(PREFIX)}
        path = request.url.path.rstrip("/")
        if any(path == k or path.startswith(k + "/") for k in known if k != PREFIX):
            raise ApiError(405, f"{request.method} is not allowed on {request.url.path}; see /openapi.json")
        raise ApiError(404, f"no API endpoint {request.url.path[:200]}; see /openapi.json")

    # -- errors ------------------------------------------------------------------------------------------------
    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.headers)

    @app.exception_handler(QAError)
    async def on_qa_error(request: Request, exc: QAError) -> JSONResponse:
        return _error(400, scrubber.text(str(exc)))

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, BodyTooLarge):
            return _error(413, exc.__cause__.message)
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return _error(500, "internal error; the server log has the details")

    def limit_for(path: str) -> int:
        if path == f"{PREFIX}/documents":
            return live.assistant.settings.max_file_bytes * MAX_FILES_PER_UPLOAD + MULTIPART_SLACK_BYTES
        return max_upload_bytes + MULTIPART_SLACK_BYTES if path == f"{PREFIX}/evaluate" else MAX_JSON_BODY_BYTES

    app.add_middleware(BodyLimit, prefix=PREFIX + "/", limit_for=limit_for)


def _save(file: UploadFile, path: Path, limit: int) -> int:
    """Copy an upload to ``path``, stopping one byte past ``limit``; return the bytes written."""
    written = 0
    with open(path, "wb") as out:
        while written <= limit:
            chunk = file.file.read(1024 * 1024)
            if not chunk:
                break
            out.write(chunk)
            written += len(chunk)
    return written


def _validation_message(exc: RequestValidationError) -> str:
    """The first problem of a request, in one line, without echoing the input."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    if first.get("type") == "json_invalid":
        return "the body is not valid JSON"
    where = ".".join(str(x) for x in first.get("loc", ()) if x not in ("body", "query", "path", "form"))
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{where}: {message}{more}" if where else f"{message}{more}"
