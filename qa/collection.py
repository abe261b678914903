"""Named collections: documents you add and remove, kept with their own index.

A collection is a folder ``<index_dir>/collections/<name>/`` holding ``files/`` (a
copy of every document added, so it survives the user moving or editing the
originals), ``collection.json`` (what each file was called when added, when, and
the readers' warnings) and ``index/`` (the incremental index of ``files/``, updated
in place by :func:`qa.index.update_index`: adding a document embeds only that one).

The bundled essay is the *default* corpus and is never changed. The collection
named ``default`` starts as a copy of it: the first ``add`` to ``default`` seeds it
with the essay, and from then on ``qa ask``/``qa serve`` without ``--collection``
serve it (see :func:`resolve`).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ._files import exclusive_lock, write_json
from .config import DEFAULT_CORPUS, Settings
from .corpus import Document, doc_id_of, load_corpus, load_document, scan_corpus, unsupported_message
from .errors import CorpusError, QAError
from .index import Changes, Split, index_folder, update_index
from .passages import split_corpus

if TYPE_CHECKING:
    from .assistant import Assistant
    from .embed import Embedder

#: Reads and splits files elsewhere (``qa index --ray``: :func:`qa.stores.ray_ingest.read_corpus`): the
#: documents of some files and folders, and the ``split`` hook :func:`qa.index.update_index` takes.
Reader = Callable[[Sequence[Path], Settings], tuple[list[Document], Split]]

DEFAULT_NAME = "default"
MAX_NAME_CHARS = 64
COLLECTIONS = "collections"
FILES = "files"
META = "collection.json"
#: Seconds a second writer waits for a collection's lock before giving up with a message.
LOCK_WAIT_S = 30.0
_NAME = re.compile(r"[^\s/\\:*?\"<>|\x00-\x1f.][^/\\:*?\"<>|\x00-\x1f]*")


class CollectionError(QAError, ValueError):
    """A collection that does not exist, a bad name, or a document that is not in it."""


class DocumentNotFoundError(CollectionError, LookupError):
    """A document named for removal that the collection does not have."""


@dataclass(frozen=True)
class DocumentRow:
    """One document of a collection as ``qa list`` and the Documents tab show it."""

    name: str
    doc_id: str
    title: str
    format: str
    passages: int
    size: int
    indexed_at: float | None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_name(name: str) -> str:
    """A valid collection name (no path separators, not hidden, at most 64 characters), or :class:`CollectionError`."""
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME_CHARS or not _NAME.fullmatch(name) or name in (".", ".."):
        raise CollectionError(f"bad collection name {name[:80]!r}: use 1-{MAX_NAME_CHARS} characters, "
                              "no '/', '\\', ':' or other path characters, not starting with '.'")
    return name


def collections_root(settings: Settings) -> Path:
    return settings.index_dir / COLLECTIONS


def collection_names(settings: Settings) -> list[str]:
    """The collections that exist (have documents), sorted."""
    root = collections_root(settings)
    if not root.is_dir():
        return []
    names = []
    for p in root.iterdir():
        try:
            if p.is_dir() and Collection(p.name, settings).exists():
                names.append(p.name)
        except CollectionError:  # a folder put there by hand with a name no collection can have
            continue
    return sorted(names)


class Collection:
    """A named, managed set of documents: ``Collection("policies", settings).add(["notice.docx"])``."""

    def __init__(self, name: str, settings: Settings | None = None, *, embedder: Embedder | None = None) -> None:
        self.name = check_name(name)
        self.settings = settings or Settings()
        self.folder = collections_root(self.settings) / self.name
        self.files = self.folder / FILES
        #: the collection's index lives inside it, so removing the folder removes everything
        self.index_settings = self.settings.with_(index_dir=self.folder / "index")
        self._embedder = embedder

    def __repr__(self) -> str:
        return f"Collection({self.name!r})"

    # -- state -----------------------------------------------------------------------------------------------
    def exists(self) -> bool:
        """Whether the collection has any document."""
        return self.files.is_dir() and any(self._file_names())

    def _file_names(self) -> list[str]:
        if not self.files.is_dir():
            return []
        return sorted(p.name for p in self.files.iterdir() if p.is_file() and not p.name.startswith("."))

    def _meta(self) -> dict[str, Any]:
        import json

        try:
            data = json.loads((self.folder / META).read_text(encoding="utf-8"))
            return data if isinstance(data, dict) and isinstance(data.get("files"), dict) else {"files": {}}
        except (OSError, ValueError):
            return {"files": {}}

    def _require(self) -> None:
        if not self.exists():
            raise CollectionError(f"collection {self.name!r} has no documents; add some with "
                                  f"`qa add PATH … --collection {self.name}`")

    def documents(self) -> list[Document]:
        """Every document of the collection, read from its copies."""
        self._require()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the warnings were recorded when each file was added
            return load_corpus([self.files], self.settings)

    @property
    def index_folder(self) -> Path:
        return index_folder([], self.index_settings, [self.files])

    def embedder(self) -> Embedder:
        if self._embedder is None:
            from .embed import load_embedder

            self._embedder = load_embedder(self.settings)
        return self._embedder

    # -- changing it ---------------------------------------------------------------------------------------
    def add(self, paths: Sequence[str | Path], *, names: Sequence[str] | None = None,
            progress: Any = None) -> Changes:
        """Copy files (or the files of folders) into the collection and index them.

        Every file is read first: a file that cannot be read is refused with its reason and
        nothing is copied. Files of a folder that no reader takes are listed in a
        :class:`~qa.corpus.UnsupportedFilesWarning`. ``names`` gives the public names of
        uploads (default: each file's own name). The first ``add`` to ``default`` seeds it
        with the bundled essay.
        """
        from .corpus import UnsupportedFilesWarning

        files, skipped = scan_corpus(paths) if paths else ([], [])
        if names is not None and len(names) != len(files):
            raise ValueError("names must give one name per file")
        read: list[tuple[Path, str, list[str]]] = []
        for i, path in enumerate(files):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                doc = load_document(path, self.settings)  # a bad file fails here, before anything is copied
            if not doc.text.strip():
                raise CorpusError(f"{names[i] if names else path}: no text found")
            notes = [str(w.message).replace(str(path), path.name) for w in caught]
            read.append((path, names[i] if names else path.name, notes))
        if skipped:
            warnings.warn(unsupported_message(skipped), UnsupportedFilesWarning, stacklevel=2)
        if not read:
            raise CorpusError("no documents to add")
        with self._lock():
            if self.name == DEFAULT_NAME and not self.exists():
                read.insert(0, (DEFAULT_CORPUS, DEFAULT_CORPUS.name, []))
            meta = self._meta()
            trash = Path(tempfile.mkdtemp(prefix=".trash-", dir=self.folder))
            copied: list[Path] = []
            try:
                for source, public, notes in read:
                    target = self._copy(source, public, {p.name for p in copied}, trash)
                    copied.append(target)
                    meta["files"][target.name] = {"original": public, "added_at": time.time(), "warnings": notes}
                changes = self._reindex(progress)
            except BaseException:
                for target in copied:  # put back what was there before, drop what was new
                    old = trash / target.name
                    os.replace(old, target) if old.exists() else target.unlink(missing_ok=True)
                raise
            finally:
                shutil.rmtree(trash, ignore_errors=True)
            write_json(self.folder / META, meta)
            return changes

    def remove(self, docs: Sequence[str]) -> Changes:
        """Remove documents, named by file name, original name or document id; the index drops them in place.

        A collection keeps at least one document (remove the folder to delete it all).
        """
        with self._lock():
            self._require()
            meta = self._meta()
            rows = {r.name: r for r in self._rows(meta)}
            chosen: list[str] = []
            for wanted in docs:
                match = [n for n, r in rows.items()
                         if wanted in (n, r.doc_id, Path(n).stem, meta["files"].get(n, {}).get("original"))]
                if not match:
                    raise DocumentNotFoundError(f"no document {wanted!r} in collection {self.name!r}; "
                                          f"it has: {', '.join(rows) or 'nothing'}")
                chosen.extend(m for m in match if m not in chosen)
            if len(chosen) >= len(rows):
                raise CollectionError(f"cannot remove every document of collection {self.name!r}; "
                                      "add another first, or delete the collection's folder")
            trash = Path(tempfile.mkdtemp(prefix=".trash-", dir=self.folder))
            try:
                for n in chosen:
                    os.replace(self.files / n, trash / n)
                try:
                    changes = self._reindex(None)
                except BaseException:
                    for n in chosen:
                        os.replace(trash / n, self.files / n)
                    raise
            finally:
                shutil.rmtree(trash, ignore_errors=True)
            for n in chosen:
                meta["files"].pop(n, None)
            write_json(self.folder / META, meta)
            return changes

    def update(self, *, rebuild: bool = False, progress: Any = None, embedder: Embedder | None = None,
               read: Reader | None = None) -> Changes:
        """Bring the index in line with ``files/`` (``qa index --collection``). ``qa index --ray`` passes
        the ``embedder`` of its actor pool and ``read``, the Ray tasks that read and split the files."""
        if embedder is not None:
            self._embedder = embedder
        with self._lock():
            self._require()
            return self._reindex(progress, rebuild=rebuild, read=read)

    def _reindex(self, progress: Any, *, rebuild: bool = False, read: Reader | None = None) -> Changes:
        if read is None:
            documents, split = self.documents(), split_corpus
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the warnings were recorded when each file was added
                documents, split = read([self.files], self.settings)
        return update_index(self.index_folder, documents, self.index_settings, self.embedder(),
                            rebuild=rebuild, progress=progress, split=split)

    def _copy(self, source: Path, public: str, claimed: set[str], trash: Path) -> Path:
        """Copy ``source`` into ``files/`` atomically. A file of the same name replaces the old copy
        (kept in ``trash`` until the index is updated); a name whose document id another file
        already has (``a.txt`` beside ``a.docx``, or a second ``a.txt`` in one call) gets ``-2``, ``-3``…"""
        self.files.mkdir(parents=True, exist_ok=True)
        name = _safe_name(public)
        stem, suffix = Path(name).stem, Path(name).suffix
        others = {doc_id_of(Path(n)).lower() for n in self._file_names() if n != name} | \
                 {doc_id_of(Path(n)).lower() for n in claimed}
        n = 1
        while doc_id_of(Path(name)).lower() in others or name in claimed:  # distinct stems: stable document ids
            n += 1
            name = f"{stem}-{n}{suffix}"
        target = self.files / name
        fd, tmp = tempfile.mkstemp(prefix=".add-", dir=self.files)
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            if target.exists():
                shutil.copy2(target, trash / name)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def _lock(self):
        """One writer per collection at a time (across processes)."""
        return exclusive_lock(self.folder / ".lock", LOCK_WAIT_S, lambda: CollectionError(
            f"collection {self.name!r} is being changed by another process; try again when it is done"))

    # -- reading it ------------------------------------------------------------------------------------------
    def list(self) -> list[DocumentRow]:
        """The documents: name, format, passages, size, when indexed and the readers' warnings."""
        if not self.exists():
            return []
        return self._rows(self._meta())

    def _rows(self, meta: dict[str, Any]) -> list[DocumentRow]:
        from . import readers
        from .index import _read_manifest

        try:
            manifest = _read_manifest(self.index_folder) or {}
        except QAError:
            manifest = {}
        indexed = {Path(k).name: v for k, v in manifest.get("documents", {}).items()}
        rows = []
        for name in self._file_names():
            path = self.files / name
            try:
                with path.open("rb") as f:
                    fmt = readers.reader_for(path, f.read(readers.HEAD_BYTES)).name
            except (OSError, QAError):
                fmt = "unknown"
            rec = indexed.get(name) or {}
            notes = list(meta["files"].get(name, {}).get("warnings", []))
            if not rec:
                notes.append("not indexed yet: run `qa index --collection " + self.name + "`")
            elif not rec.get("passages"):
                notes.append("no passages: the file has no text to search")
            rows.append(DocumentRow(name=name, doc_id=rec.get("doc_id") or doc_id_of(path),
                                    title=rec.get("title") or name, format=fmt, passages=int(rec.get("passages", 0)),
                                    size=path.stat().st_size, indexed_at=rec.get("indexed_at"), warnings=notes))
        return rows

    def assistant(self, embedder: Embedder | None = None, progress: Any = None) -> Assistant:
        """An assistant over the collection (its index updated first if the files changed)."""
        from .assistant import Assistant

        self._require()
        if embedder is not None:
            self._embedder = embedder
        return Assistant([self.files], self.index_settings, embedder=self.embedder(), progress=progress)


def _safe_name(name: str) -> str:
    """A file name without folders or characters that are awkward in file names (CJK kept)."""
    base = Path(str(name).replace("\\", "/")).name
    base = re.sub(r"[\x00-\x1f/\\:*?\"<>|]+", "_", base).strip(" .") or "document"
    stem, suffix = Path(base).stem[:100], Path(base).suffix[:10]
    return f"{stem or 'document'}{suffix}"


def change_lines(changes: Changes) -> list[str]:
    """What an update did, by file name, one line per kind of change (``qa add``, ``qa index``)."""
    lines = [f"index rebuilt: {changes.rebuilt}"] if changes.rebuilt else []
    for label, keys in (("added", changes.added), ("updated", changes.updated), ("removed", changes.removed),
                        ("unchanged", changes.unchanged)):
        if keys:
            lines.append(f"{label} ({len(keys)}): {', '.join(Path(k).name for k in keys)}")
    return lines or ["nothing changed"]


def resolve(name: str | None, settings: Settings) -> Collection | None:
    """The collection a command without ``--corpus`` serves: ``name`` (which must exist), else the
    ``default`` collection if it has been created, else ``None`` (the bundled essay)."""
    if name is not None:
        collection = Collection(name, settings)
        collection._require()
        return collection
    default = Collection(DEFAULT_NAME, settings)
    return default if default.exists() else None
