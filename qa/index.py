"""Build, update, store and load the search index of a corpus.

An index folder holds a ``manifest.json`` and immutable *segments*. A segment is a
folder with the passages of some documents in SQLite (read by id or row, with
their normalised text and the lexical vocabulary), memory-mapped numpy arrays
(passage and sentence vectors, a sentence offset table, BM25 postings) and, for
large vector sets, a trained FAISS IVF index. The manifest says what built the
index (model, settings, token version, library versions), which segments are in
use with each file's size and sha256, and which document (by source and checksum)
lives in which segment.

Changing the corpus updates the index in place: new and changed documents are
split, embedded (unchanged text comes from the embedding cache) and written as a
new segment; removed and replaced documents' rows simply stop being live. The
manifest is the only thing replaced, atomically, so a crash at any point leaves
the previous index usable; unreferenced segments are deleted on the next update.
Loading checks file sizes only; ``verify`` hashes every file. Nothing is pickled.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from . import vectors as vec
from ._files import exclusive_lock, write_json
from .config import Settings
from .corpus import Document
from .embed import Embedder
from .errors import IndexLoadError
from .lexical import CorpusStatistics, Postings, SegmentView, build_postings
from .normalize import LEXICAL_TOKENS_VERSION, has_cjk, lexical_tokens, normalize, to_simplified
from .passages import Passage, split_corpus

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
SEGMENTS = "segments"
LOCK = ".lock"
#: Vocabulary look-ups a segment remembers (terms recur from question to question).
VOCABULARY_CACHE = 200_000
#: Seconds a second writer waits for the lock before giving up with a message.
LOCK_WAIT_S = 30.0

#: Progress callback: (stage description, fraction done in 0..1).
Progress = Callable[[str, float], None]
#: Splits documents into passages in corpus order (:func:`qa.passages.split_corpus`, or passages split elsewhere).
Split = Callable[[Sequence[Document], Settings], list[Passage]]

_DB = "passages.sqlite"
_ARRAYS = ("row_doc", "sent_offsets", "sent_spans", "sent_row", "lengths", "indptr", "post_rows", "post_tf")
_VECTORS = {"passages": "passage_vectors.npy", "sentences": "sentence_vectors.npy"}
_ANN = {"passages": "passages.ivf", "sentences": "sentences.ivf"}

logger = logging.getLogger(__name__)


class ConsoleProgress:
    """Index-building progress on stderr: a tqdm bar on a terminal, one line per stage otherwise (logs, CI)."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.stage = ""
        self.bar = None
        if self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=100, unit="%", file=self.stream, leave=False)

    def __call__(self, stage: str, fraction: float) -> None:
        if self.bar is not None:
            self.bar.set_description(stage)
            self.bar.n = int(max(0.0, min(1.0, fraction)) * 100)
            self.bar.refresh()
        elif stage != self.stage:
            print(f"  {stage} …", file=self.stream, flush=True)
        self.stage = stage

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


INDEX_LIBRARIES = ("qa-assistant", "faiss-cpu", "sentence-transformers", "jieba", "opencc")


def library_versions(packages: Sequence[str] = INDEX_LIBRARIES) -> dict[str, str]:
    """Installed versions of some packages ("unknown" when not installed), for manifests and reports."""
    out = {}
    for pkg in packages:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def document_checksum(doc: Document) -> str:
    """What decides whether a document must be indexed again: its id, title, text and blocks.

    A block counts by the fields it has set, so a new optional field (default None) added to
    ``Block`` does not make every stored document look changed.
    """
    blocks = [sorted((k, str(v)) for k, v in vars(b).items() if v is not None) for b in doc.blocks]
    payload = json.dumps([doc.doc_id, doc.title, doc.text, blocks], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def build_identity(settings: Settings, embedder: Embedder) -> dict[str, Any]:
    """What an index must have been built with to be usable now (a difference means a full rebuild)."""
    return {
        "format": FORMAT_VERSION,
        "model": embedder.identity,
        "settings": settings.index_fingerprint(),
        "lexical_tokens": LEXICAL_TOKENS_VERSION,
    }


def index_folder(documents: Sequence[Document], settings: Settings, sources: Sequence[str | Path] | None = None) -> Path:
    """Where a corpus's index lives: one folder per corpus as the user named it (files or folders),
    so files added to a folder update its index instead of starting another."""
    keys = [str(Path(s).expanduser().resolve()) for s in sources] if sources else [d.source for d in documents]
    key = hashlib.sha256("\0".join(sorted(keys)).encode()).hexdigest()[:10]
    if sources and len(sources) == 1:
        name = Path(str(sources[0])).expanduser().resolve().stem or "corpus"
    else:
        name = documents[0].doc_id if len(documents) == 1 else f"{documents[0].doc_id}+{len(documents) - 1}"
    return settings.index_dir / f"{name[:40]}-{key}"


def embedding_text(passage: Passage) -> str:
    """Passage text as the embedding model sees it (script-folded, headings as context)."""
    return to_simplified(passage.context_text())


# --------------------------------------------------------------------------------------------
# segments


class Segment:
    """One immutable segment, opened for reading (arrays memory-mapped, passages read on demand)."""

    def __init__(self, folder: Path, record: dict[str, Any], settings: Settings) -> None:
        self.folder = folder
        self.name: str = record["name"]
        self.row_start: int = int(record["row_start"])
        self.n_rows: int = int(record["rows"])
        self.doc_keys: list[str] = list(record["documents"])
        # plain ndarray views of the memory maps: no per-access overhead of np.memmap
        arrays = {name: np.asarray(np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False))
                  for name in _ARRAYS}
        self.row_doc = np.asarray(arrays["row_doc"])
        self.sent_offsets = np.asarray(arrays["sent_offsets"])
        self.sent_spans = arrays["sent_spans"]
        self.sent_row = arrays["sent_row"]
        if len(self.row_doc) != self.n_rows or len(self.sent_offsets) != self.n_rows + 1:
            raise ValueError(f"segment {self.name}: row tables do not match its {self.n_rows} rows")
        self.passage_vectors = vec.VectorSet.open(folder / _VECTORS["passages"], folder / _ANN["passages"], settings)
        self.sentence_vectors = vec.VectorSet.open(folder / _VECTORS["sentences"], folder / _ANN["sentences"], settings)
        if self.passage_vectors.size != self.n_rows or self.sentence_vectors.size != len(self.sent_row):
            raise ValueError(f"segment {self.name}: vector counts differ from its passages and sentences")
        self._db_lock = threading.Lock()
        self._vocab: dict[str, int | None] = {}
        self._db = sqlite3.connect(f"file:{folder / _DB}?mode=ro", uri=True, check_same_thread=False)
        stored = self._db.execute("SELECT count(*) FROM passages").fetchone()[0]
        if stored != self.n_rows:
            raise ValueError(f"segment {self.name}: {stored} stored passages, expected {self.n_rows}")
        self.postings = Postings(arrays["indptr"], arrays["post_rows"], arrays["post_tf"], arrays["lengths"],
                                 self._term_columns)
        self.alive = np.ones(self.n_rows, dtype=bool)

    def _term_columns(self, tokens: Sequence[str]) -> dict[str, int]:
        """Columns of the tokens in this segment's vocabulary (looked up in SQLite, remembered)."""
        with self._db_lock:
            missing = [t for t in dict.fromkeys(tokens) if t not in self._vocab]
            if len(self._vocab) + len(missing) > VOCABULARY_CACHE:
                self._vocab.clear()
            for t in missing:
                self._vocab[t] = None
            for start in range(0, len(missing), 500):
                chunk = missing[start:start + 500]
                q = f"SELECT term, col FROM terms WHERE term IN ({','.join('?' * len(chunk))})"
                self._vocab.update(self._db.execute(q, chunk).fetchall())
            return {t: c for t in tokens if (c := self._vocab.get(t)) is not None}

    def rows(self, local_rows: Sequence[int], columns: str = "data") -> dict[int, str]:
        """Stored column (``data``: passage JSON, ``norm``: normalised text) of some local rows."""
        out: dict[int, str] = {}
        rows = [int(r) for r in local_rows]
        with self._db_lock:
            for start in range(0, len(rows), 500):
                chunk = rows[start:start + 500]
                q = f"SELECT row, {columns} FROM passages WHERE row IN ({','.join('?' * len(chunk))})"
                out.update(self._db.execute(q, chunk).fetchall())
        return out

    def find(self, passage_id: str) -> int | None:
        with self._db_lock:
            row = self._db.execute("SELECT row FROM passages WHERE id = ?", (passage_id,)).fetchone()
        return None if row is None else int(row[0])

    def sentences_of(self, local_row: int) -> tuple[int, int]:
        """The range of sentence rows that belong to a passage (the offset table)."""
        return int(self.sent_offsets[local_row]), int(self.sent_offsets[local_row + 1])

    def close(self) -> None:
        with self._db_lock:
            self._db.close()


def encode_distinct(embedder: Embedder, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
    """Passage vectors of ``texts``, each distinct text encoded once (repeated boilerplate, table rows and
    short sentences recur within one batch); a repeat gets a copy of its first occurrence's vector."""
    first: dict[str, int] = {}
    where = [first.setdefault(hashlib.sha256(t.encode("utf-8", "surrogatepass")).hexdigest(), len(first))
             for t in texts]
    if len(first) == len(texts):
        return embedder.encode_passages(texts, progress=progress)
    distinct: list[str] = [""] * len(first)
    for t, j in zip(texts, where):
        distinct[j] = t
    vectors = np.asarray(embedder.encode_passages(distinct, progress=progress))
    return vectors[np.asarray(where, dtype=np.int64)]


def _write_segment(folder: Path, passages: Sequence[Passage], doc_keys: Sequence[str], row_doc: Sequence[int],
                   embedder: Embedder, settings: Settings, report: Progress, bars: bool) -> dict[str, Any]:
    """Split-and-embed work of a new segment, written into ``folder``; returns its manifest record (files)."""
    import faiss

    folder.mkdir(parents=True)
    sent_spans: list[tuple[int, int]] = []
    sent_row: list[int] = []
    sent_texts: list[str] = []
    offsets = [0]
    for row, p in enumerate(passages):
        for s, e in p.sentences():
            sent_spans.append((s, e))
            sent_row.append(row)
            sent_texts.append(to_simplified(p.text[s:e]))
        offsets.append(len(sent_spans))
    report(f"embedding {len(passages)} passages", 0.1)
    pvec = encode_distinct(embedder, [embedding_text(p) for p in passages], progress=bars)
    report(f"embedding {len(sent_texts)} sentences", 0.4)
    svec = encode_distinct(embedder, sent_texts, progress=bars)
    for what, v in (("passage", pvec), ("sentence", svec)):
        if len(v) and not np.isfinite(v).all():
            raise IndexLoadError(f"the embedding model returned invalid numbers (NaN/inf) for a {what}; "
                                 "the model files may be damaged")
    report("building lexical and vector indexes", 0.9)
    vocab, indptr, post_rows, post_tf, lengths = build_postings(lexical_tokens(p.context_text()) for p in passages)
    arrays = {
        "row_doc": np.asarray(row_doc, dtype=np.int32),
        "sent_offsets": np.asarray(offsets, dtype=np.int64),
        "sent_spans": np.asarray(sent_spans, dtype=np.int32).reshape(-1, 2),
        "sent_row": np.asarray(sent_row, dtype=np.int32),
        "lengths": lengths, "indptr": indptr, "post_rows": post_rows, "post_tf": post_tf,
    }
    for name, arr in arrays.items():
        np.save(folder / f"{name}.npy", arr, allow_pickle=False)
    ann: dict[str, Any] = {}
    for kind, v in (("passages", pvec), ("sentences", svec)):
        v = np.ascontiguousarray(v, dtype=np.float32).reshape(-1, embedder.dimension)
        np.save(folder / _VECTORS[kind], v, allow_pickle=False)
        ann[kind] = vec.describe(settings, len(v))
        if ann[kind]["kind"] == "ivf":
            faiss.write_index(vec.build_ann(v, settings), str(folder / _ANN[kind]))
    con = sqlite3.connect(folder / _DB)
    try:
        with con:
            con.execute("CREATE TABLE passages (row INTEGER PRIMARY KEY, id TEXT NOT NULL, data TEXT NOT NULL, "
                        "norm TEXT NOT NULL)")
            con.execute("CREATE INDEX passages_id ON passages (id)")
            con.executemany("INSERT INTO passages VALUES (?, ?, ?, ?)",
                            ((row, p.id, json.dumps(p.to_dict(), ensure_ascii=False), normalize(p.context_text()))
                             for row, p in enumerate(passages)))
            con.execute("CREATE TABLE terms (term TEXT PRIMARY KEY, col INTEGER NOT NULL) WITHOUT ROWID")
            con.executemany("INSERT INTO terms VALUES (?, ?)", vocab.items())
    finally:
        con.close()
    return {"rows": len(passages), "sentences": len(sent_texts), "documents": list(doc_keys), "ann": ann,
            "files": _file_records(folder, full=True)}


def _file_records(folder: Path, *, full: bool) -> dict[str, dict[str, Any]]:
    out = {}
    for f in sorted(folder.iterdir()):
        if f.is_file():
            rec: dict[str, Any] = {"size": f.stat().st_size}
            if full:
                rec["sha256"] = _sha256(f)
            out[f.name] = rec
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# the index


@dataclass
class DocumentRecord:
    """What the manifest keeps about one indexed document."""

    key: str
    doc_id: str
    title: str
    checksum: str
    segment: str
    passages: int
    indexed_at: float

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


class PassageStore:
    """What every store derives from its own primitives (``row_of``, ``passages_at``, ``normalized_at``,
    ``live_rows``): one passage by id, all of them (outlines, evaluation judging), the corpus language."""

    live_rows: Any

    def row_of(self, passage_id: str) -> int | None:
        raise NotImplementedError

    def passages_at(self, rows: Sequence[int]) -> list[Passage]:
        raise NotImplementedError

    def normalized_at(self, rows: Sequence[int]) -> list[str]:
        raise NotImplementedError

    def passage(self, passage_id: str) -> Passage:
        """One live passage by id (``KeyError`` if there is none)."""
        row = self.row_of(passage_id)
        if row is None:
            raise KeyError(passage_id)
        return self.passages_at([row])[0]

    @cached_property
    def passages(self) -> list[Passage]:
        """Every live passage, in row order (reads them all: for outlines and evaluation)."""
        return self.passages_at(self.live_rows)

    @cached_property
    def normalized_texts(self) -> list[str]:
        """Normalised texts aligned with :attr:`passages`."""
        return self.normalized_at(self.live_rows)

    @cached_property
    def is_chinese(self) -> bool:
        """Whether the corpus is Chinese text (judged on its first passages), so English questions need rendering."""
        return any(has_cjk(p.text) for p in self.passages_at(self.live_rows[:50]))


class Index(PassageStore):
    """A loaded index: the live passages of all segments, searched by the legs in :mod:`qa.legs`.

    Rows are global passage numbers (segment start + local row); a row whose document
    was removed or replaced stays in its segment but is not live.
    """

    def __init__(self, folder: Path, manifest: dict[str, Any], segments: list[Segment]) -> None:
        self.folder = folder
        self.manifest = manifest
        self.segments = segments
        self.documents = {k: DocumentRecord(**v) for k, v in manifest["documents"].items()}
        for seg in segments:
            live = np.array([self.documents.get(k) is not None and self.documents[k].segment == seg.name
                             for k in seg.doc_keys] or [False], dtype=bool)
            seg.alive = live[seg.row_doc] if seg.n_rows else np.zeros(0, dtype=bool)
        self._starts = np.array([s.row_start for s in segments], dtype=np.int64)
        self.lexical = CorpusStatistics([SegmentView(s.row_start, s.postings, s.alive) for s in segments])
        self.dimension = int(segments[0].passage_vectors.vectors.shape[1]) if segments else 0

    # -- size and rows -------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Live passages."""
        return self.lexical.n_passages

    @cached_property
    def live_rows(self) -> np.ndarray:
        """Global rows of all live passages, in order."""
        parts = [np.nonzero(s.alive)[0].astype(np.int64) + s.row_start for s in self.segments]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def locate(self, rows: np.ndarray) -> Iterator[tuple[Segment, np.ndarray, np.ndarray]]:
        """Group global rows by segment: (segment, positions in ``rows``, local rows)."""
        rows = np.asarray(rows, dtype=np.int64)
        which = np.searchsorted(self._starts, rows, side="right") - 1
        for i in np.unique(which):
            pos = np.nonzero(which == i)[0]
            seg = self.segments[int(i)]
            yield seg, pos, rows[pos] - seg.row_start

    def _column(self, rows: Sequence[int], column: str) -> list[str]:
        rows = np.asarray(rows, dtype=np.int64)
        out: list[str] = [""] * len(rows)
        for seg, pos, local in self.locate(rows):
            found = seg.rows(local, column)
            for p, r in zip(pos, local):
                out[int(p)] = found[int(r)]
        return out

    def passages_at(self, rows: Sequence[int]) -> list[Passage]:
        """The passages at some global rows."""
        return [Passage.from_dict(json.loads(d)) for d in self._column(rows, "data")]

    def normalized_at(self, rows: Sequence[int]) -> list[str]:
        """Normalised text (with headings) of the passages at some global rows."""
        return self._column(rows, "norm")

    def row_of(self, passage_id: str) -> int | None:
        """The live row of a passage id, or None."""
        for seg in self.segments:
            local = seg.find(passage_id)
            if local is not None and seg.alive[local]:
                return seg.row_start + local
        return None

    # -- sentences and vectors -------------------------------------------------------------------
    def sentence_spans(self, row: int) -> tuple[Segment, int, int]:
        """The segment and sentence-row range of a passage."""
        (seg, _, local), = self.locate(np.array([row]))
        lo, hi = seg.sentences_of(int(local[0]))
        return seg, lo, hi

    def close(self) -> None:
        for seg in self.segments:
            seg.close()

    def describe(self) -> dict[str, Any]:
        """Counts for people: documents, passages, sentences, segments, index kinds."""
        return {
            "documents": len(self.documents), "passages": self.size,
            "sentences": int(sum(s.sentence_vectors.size for s in self.segments)),
            "segments": len(self.segments),
            "vector_index": sorted({rec["ann"][k]["kind"] for rec in self.manifest["segments"] for k in rec["ann"]}),
        }


# --------------------------------------------------------------------------------------------
# opening, updating, verifying


@dataclass
class Changes:
    """What an update did to the documents of an index."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rebuilt: str = ""
    """Why the whole index was rebuilt ("" when it was not)."""

    @property
    def any(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.rebuilt)

    def summary(self) -> str:
        counts = (f"{len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed, "
                  f"{len(self.unchanged)} unchanged")
        return f"rebuilt ({self.rebuilt}): {counts}" if self.rebuilt else counts


def diff_documents(documents: Sequence[Document], known: dict[str, dict[str, Any]], changes: Changes) -> list[Document]:
    """Sort ``documents`` against the stored records ``known`` (source -> record with a ``checksum``) into
    ``changes`` (added, updated, unchanged, removed); return the documents that must be indexed."""
    fresh: list[Document] = []
    for doc in documents:
        rec = known.get(doc.source)
        if rec is not None and rec["checksum"] == document_checksum(doc):
            changes.unchanged.append(doc.source)
        else:
            (changes.updated if rec is not None else changes.added).append(doc.source)
            fresh.append(doc)
    current = {d.source for d in documents}
    changes.removed = [k for k in known if k not in current]
    return fresh


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexLoadError(f"index manifest is unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise IndexLoadError("index manifest is not an object")
    return data


def _stale(manifest: dict[str, Any], identity: dict[str, Any]) -> list[str]:
    return [key for key in identity if manifest.get(key) != identity[key]]


def _check_files(folder: Path, record: dict[str, Any], *, full: bool) -> None:
    expected = record.get("files")
    if not isinstance(expected, dict):
        raise IndexLoadError(f"segment {record.get('name')}: no file list in the manifest")
    for name, rec in expected.items():
        path = folder / name
        try:
            size = path.stat().st_size
        except OSError:
            raise IndexLoadError(f"segment {record['name']}: {name} is missing") from None
        if size != rec.get("size"):
            raise IndexLoadError(f"segment {record['name']}: {name} has the wrong size (damaged or half-written)")
        if full and _sha256(path) != rec.get("sha256"):
            raise IndexLoadError(f"segment {record['name']}: {name} fails its checksum (damaged)")


def load_index(folder: Path, identity: dict[str, Any], settings: Settings, *, verify: bool = False) -> Index:
    """Open a stored index, or raise :class:`IndexLoadError` saying why it cannot be used."""
    manifest = _read_manifest(folder)
    if manifest is None:
        raise IndexLoadError(f"no index at {folder}")
    stale = _stale(manifest, identity)
    if stale:
        raise IndexLoadError(f"index was built differently (changed: {', '.join(stale)})")
    segments: list[Segment] = []
    try:
        for record in manifest["segments"]:
            seg_folder = folder / SEGMENTS / record["name"]
            _check_files(seg_folder, record, full=verify)
            segments.append(Segment(seg_folder, record, settings))
        index = Index(folder, manifest, segments)
    except IndexLoadError:
        for s in segments:
            s.close()
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to read means "rebuild"
        for s in segments:
            s.close()
        raise IndexLoadError(f"index is damaged ({type(exc).__name__}: {exc})") from None
    return index


def _writer_lock(folder: Path):
    """One writer per index folder at a time; a second one waits, then gives up with a message."""
    return exclusive_lock(folder / LOCK, LOCK_WAIT_S, lambda: IndexLoadError(
        f"another process is updating the index at {folder}; wait for it to finish and try again"))


def _collect_garbage(folder: Path, manifest: dict[str, Any]) -> None:
    """Delete what the manifest does not reference (old segments, half-written ones, old-format files)."""
    keep = {r["name"] for r in manifest["segments"]}
    seg_root = folder / SEGMENTS
    if seg_root.exists():
        for child in seg_root.iterdir():
            if child.name not in keep:
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
    for child in folder.iterdir():
        if child.name not in (MANIFEST, LOCK, SEGMENTS, "null_profile.json"):
            shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)


def update_index(folder: Path, documents: Sequence[Document], settings: Settings, embedder: Embedder, *,
                 rebuild: bool = False, progress: Progress | None = None, split: Split = split_corpus) -> Changes:
    """Bring the stored index in line with ``documents``: add, update and remove documents in place,
    or rebuild it whole when it was built differently, is damaged, or ``rebuild`` is asked.

    ``split`` gives the passages of the documents to index (``qa index --ray`` passes those its Ray
    tasks split, so nothing is split twice)."""
    report = progress or (lambda stage, frac: None)
    identity = build_identity(settings, embedder)
    keys = [d.source for d in documents]
    if len(set(keys)) != len(keys):
        raise IndexLoadError("two documents come from the same source; give each file once")
    with _writer_lock(folder):
        changes = Changes()
        old: dict[str, Any] | None = None
        try:
            old = _read_manifest(folder)
            if old is not None and not rebuild:
                stale = _stale(old, identity)
                if stale:
                    changes.rebuilt = f"built differently: {', '.join(stale)}"
                    old = None
                else:
                    for record in old["segments"]:
                        _check_files(folder / SEGMENTS / record["name"], record, full=False)
        except IndexLoadError as exc:
            changes.rebuilt = str(exc)
            old = None
        if rebuild:
            changes.rebuilt, old = "rebuild requested", None
        elif old is None and not changes.rebuilt:
            changes.rebuilt = "no index yet"

        known: dict[str, dict[str, Any]] = dict(old["documents"]) if old else {}
        segments: list[dict[str, Any]] = list(old["segments"]) if old else []
        fresh = diff_documents(documents, known, changes)
        current = {d.source for d in documents}
        if not changes.any:
            return changes

        live_docs = {k: v for k, v in known.items() if k in current and k not in {d.source for d in fresh}}
        dead_rows = sum(s["rows"] for s in segments) - sum(v["passages"] for v in live_docs.values())
        total_rows = sum(s["rows"] for s in segments)
        if segments and (len(segments) >= settings.max_segments or dead_rows > settings.merge_dead_share * max(total_rows, 1)):
            # merge: one fresh segment for everything (vectors come from the embedding cache)
            changes.rebuilt = changes.rebuilt or "segments merged"
            fresh, live_docs, segments = list(documents), {}, []
        next_row = max((s["row_start"] + s["rows"] for s in segments), default=0)
        if fresh:
            report("splitting into passages", 0.0)
            passages = split(fresh, settings)
            if not passages and not live_docs:
                raise IndexLoadError("the corpus has no passages to index")
            doc_index = {d.doc_id: i for i, d in enumerate(fresh)}
            name = f"seg-{int(time.time())}-{uuid.uuid4().hex[:8]}"
            tmp = folder / SEGMENTS / f".{name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                record = _write_segment(tmp, passages, [d.source for d in fresh],
                                        [doc_index[p.doc_id] for p in passages], embedder, settings, report,
                                        bars=progress is not None)
                os.replace(tmp, folder / SEGMENTS / name)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            segments.append({"name": name, "row_start": next_row, **record})
            counts: dict[str, int] = {}
            for p in passages:
                counts[p.doc_id] = counts.get(p.doc_id, 0) + 1
            now = time.time()
            for d in fresh:
                live_docs[d.source] = DocumentRecord(d.source, d.doc_id, d.title, document_checksum(d), name,
                                                     counts.get(d.doc_id, 0), now).to_dict()
        used = {v["segment"] for v in live_docs.values()}
        segments = [s for s in segments if s["name"] in used]
        if not segments:
            raise IndexLoadError("the corpus has no passages to index")
        manifest = {**identity, "versions": library_versions(), "segments": segments, "documents": live_docs,
                    "updated_at": time.time()}
        write_json(folder / MANIFEST, manifest)
        report("index ready", 1.0)
        _collect_garbage(folder, manifest)
        return changes


def open_index(documents: Sequence[Document], settings: Settings, embedder: Embedder, *,
               rebuild: bool = False, progress: Progress | None = None,
               sources: Sequence[str | Path] | None = None, split: Split = split_corpus) -> tuple[Index, str]:
    """Load the corpus's index, updating or building it first when the corpus or settings changed;
    also say what happened, in one line.

    A current index in a read-only folder is used as it is (nothing written). A stale one there is
    updated in a copy under the cache folder (:func:`fallback_folder`), reused by later runs, with one
    warning line the first time it is built. ``split``: as for :func:`update_index`."""
    folder = index_folder(documents, settings, sources)
    identity = build_identity(settings, embedder)
    if not rebuild:
        index = _load_current(folder, identity, settings, documents)
        if index is not None:
            return index, f"loaded index from {folder}"
    if writable(folder):
        try:
            changes = update_index(folder, documents, settings, embedder, rebuild=rebuild, progress=progress,
                                   split=split)
            return load_index(folder, identity, settings), f"updated index ({changes.summary()}); saved to {folder}"
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            # read-only after all: a read-only mount, another owner's files
    private = fallback_folder(folder, settings)
    if not rebuild:
        index = _load_current(private, identity, settings, documents)
        if index is not None:
            return index, f"loaded index from {private} ({folder} is read-only and out of date)"
    changes = update_index(private, documents, settings, embedder, rebuild=rebuild, progress=progress,
                           split=split)
    status = (f"index folder {folder} is read-only and its index out of date: updated a copy in {private} "
              f"({changes.summary()}); later runs use it")
    logger.warning("qa: %s", status)
    return load_index(private, identity, settings), status


def writable(folder: Path) -> bool:
    """Whether an index can be written at ``folder``: a file can be created in it or, while it does not
    exist, in its nearest existing parent (tried, not inferred from permission bits, which root ignores)."""
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        fd, name = tempfile.mkstemp(prefix=".qa-write-", dir=probe)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


def fallback_folder(folder: Path, settings: Settings) -> Path:
    """Where the index of a read-only ``folder`` is kept instead: a folder of its own under the cache
    folder (the user's), so it is built once and reused."""
    key = hashlib.sha256(str(folder.expanduser().resolve()).encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return settings.cache_dir / "read-only-indexes" / f"{folder.name[:40]}-{key}"


def _load_current(folder: Path, identity: dict[str, Any], settings: Settings,
                  documents: Sequence[Document]) -> Index | None:
    """The index stored at ``folder`` when it is intact, built like ``identity`` and of ``documents``; else None."""
    try:
        index = load_index(folder, identity, settings)
    except IndexLoadError:
        return None
    if _matches(index, documents):
        return index
    index.close()
    return None


def _matches(index: Index, documents: Sequence[Document]) -> bool:
    docs = index.documents
    return len(docs) == len(documents) and all(
        d.source in docs and docs[d.source].checksum == document_checksum(d) for d in documents)


def verify_index(folder: Path) -> list[str]:
    """Hash every file of a stored index against its manifest; the problems found (empty: all good)."""
    try:
        manifest = _read_manifest(folder)
    except IndexLoadError as exc:
        return [str(exc)]
    if manifest is None:
        return [f"no index at {folder}"]
    problems = []
    for record in manifest.get("segments", []):
        try:
            _check_files(folder / SEGMENTS / record["name"], record, full=True)
        except IndexLoadError as exc:
            problems.append(str(exc))
    return problems
