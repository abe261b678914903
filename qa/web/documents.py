"""The documents a server serves, changed while it runs: uploads added, documents removed.

:class:`LiveAssistant` holds the assistant every handler (Ask tab, JSON API, evaluation)
answers with. After a collection changes, a new assistant over the updated index is
built (only the changed documents are embedded) and swapped in under a lock; questions
already running finish on the old one. A server over ``--corpus`` files is read-only.
"""

from __future__ import annotations

import html
import shutil
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Sequence

from ..assistant import Assistant
from ..collection import Collection, DocumentRow
from ..errors import QAError
from ..index import Changes

READ_ONLY_MESSAGE = ("这个服务器的文档是固定的 · This server serves fixed files (--corpus); "
                     "start it with `qa serve --collection NAME` to manage documents.")


class ReadOnlyError(QAError):
    """The server serves fixed files; documents cannot be added or removed."""


class LiveAssistant:
    """The current assistant, and the collection it serves (``None``: read-only)."""

    def __init__(self, assistant: Assistant, collection: Collection | None = None) -> None:
        self._assistant = assistant
        self.collection = collection
        self._swap = threading.Lock()
        self._update = threading.Lock()  # one change at a time; questions go on meanwhile
        self._listeners: list[Callable[[Assistant], None]] = []

    @property
    def assistant(self) -> Assistant:
        with self._swap:
            return self._assistant

    @property
    def read_only(self) -> bool:
        return self.collection is None

    def private_paths(self) -> list[Path]:
        """The collection's folders, for the scrubber (its files then show as ``files/NAME``)."""
        c = self.collection
        return [c.folder, c.files] if c is not None else []

    def on_swap(self, listener: Callable[[Assistant], None]) -> None:
        """Call ``listener(new_assistant)`` after every swap (the UI's outline, the evaluation runner)."""
        self._listeners.append(listener)

    def add(self, paths: Sequence[str | Path], names: Sequence[str] | None = None) -> Changes:
        """Add files to the collection and swap in an assistant that sees them."""
        return self._change(lambda c: c.add(paths, names=names))

    def remove(self, docs: Sequence[str]) -> Changes:
        """Remove documents (file name or document id) and swap in an assistant without them."""
        return self._change(lambda c: c.remove(docs))

    def _change(self, change: Callable[[Collection], Changes]) -> Changes:
        if self.collection is None:
            raise ReadOnlyError(READ_ONLY_MESSAGE)
        with self._update:
            changes = change(self.collection)
            new = self.collection.assistant(embedder=self.assistant.embedder)
            with self._swap:
                self._assistant = new
            for listener in self._listeners:
                listener(new)
            return changes

    def rows(self) -> list[DocumentRow]:
        """The documents served, as the Documents tab and ``GET /api/documents`` list them."""
        if self.collection is not None and self.collection.exists():
            return self.collection.list()
        a = self.assistant
        per_doc = Counter(p.doc_id for p in a.passages)
        return [DocumentRow(name=Path(d.source).name, doc_id=d.doc_id, title=d.title, format="text",
                            passages=per_doc[d.doc_id], size=len(d.text.encode()), indexed_at=None)
                for d in a.documents]


def save_upload(source: str | Path, name: str, limit: int) -> Path:
    """Copy an upload into a private temporary folder under its public ``name`` (so messages name it),
    refusing one over ``limit`` bytes; the caller removes ``result.parent``."""
    source = Path(source)
    size = source.stat().st_size
    if size > limit:
        raise QAError(f"{name}: {size / 1024 / 1024:.1f} MB is larger than the {limit / 1024 / 1024:.0f} MB limit")
    folder = Path(tempfile.mkdtemp(prefix="qa-doc-upload-"))
    target = folder / public_name(name)
    shutil.copyfile(source, target)
    return target


def public_name(filename: str | None) -> str:
    """An upload's file name without any folder (CJK kept)."""
    name = Path((filename or "").replace("\\", "/")).name.strip().lstrip(".")
    return "".join(ch if ch.isprintable() and ch not in '/\\:*?"<>|' else "_" for ch in name)[:120] or "document"


def documents_html(rows: Sequence[DocumentRow], read_only: bool) -> str:
    """The Documents tab's table: name, format, passages, size, when indexed, warnings."""
    if not rows:
        return '<div class="qa-notice qa-notice-info">还没有文档 · No documents yet.</div>'
    body = []
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.indexed_at)) if r.indexed_at else "—"
        notes = "".join(f'<div class="qa-doc-warning">⚠ {html.escape(w)}</div>' for w in r.warnings)
        body.append(f'<tr data-doc="{html.escape(r.name)}"><td class="qa-doc-name">{html.escape(r.name)}'
                    f'<div class="qa-doc-title">{html.escape(r.title)}</div>{notes}</td>'
                    f'<td>{html.escape(r.format)}</td><td class="qa-doc-passages">{r.passages}</td>'
                    f'<td>{_size(r.size)}</td><td>{when}</td></tr>')
    note = f'<p class="qa-doc-note">{html.escape(READ_ONLY_MESSAGE)}</p>' if read_only else ""
    return ('<table class="qa-docs"><thead><tr><th>文档 Document</th><th>格式 Format</th><th>段落 Passages</th>'
            f'<th>大小 Size</th><th>索引时间 Indexed</th></tr></thead><tbody>{"".join(body)}</tbody></table>{note}')


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{max(n, 1) / 1024:.0f} KB"
