"""Build, store and load the search index of a corpus.

An index folder holds: the passages (JSON), FAISS indexes of passage vectors and
of sentence vectors (a sentence points to its parent passage), a BM25 index over
Chinese tokens (bm25s: numpy arrays + JSON), and a manifest saying what built it
(model and fingerprint, settings, corpus checksum, library versions) with a
checksum of every file. Nothing is pickled. Folders are written to a temporary
name and renamed into place, so a crash never leaves half an index; an index
whose manifest no longer matches, or whose files fail their checksums, is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .config import Settings
from .corpus import Document, corpus_checksum
from .embed import Embedder
from ._files import replace_folder
from .errors import IndexLoadError
from .normalize import LEXICAL_TOKENS_VERSION, has_cjk, lexical_tokens, normalize, to_simplified
from .passages import Passage, split_corpus

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PASSAGES = "passages.json"
PASSAGE_VECTORS = "passages.faiss"
SENTENCE_VECTORS = "sentences.faiss"
SENTENCES = "sentences.npy"
LEXICAL_DIR = "bm25"

#: Progress callback: (stage description, fraction done in 0..1).
Progress = Callable[[str, float], None]


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


@dataclass
class Index:
    """Everything search needs, in memory."""

    passages: list[Passage]
    passage_vectors: Any  # faiss.Index
    sentence_vectors: Any  # faiss.Index
    sentences: np.ndarray  # (n, 3) int32: passage row, start, end (relative to the passage text)
    lexical: Any  # bm25s.BM25
    manifest: dict[str, Any]

    @property
    def size(self) -> int:
        return len(self.passages)

    @cached_property
    def normalized_texts(self) -> list[str]:
        """Each passage's text with its headings, normalised (for coverage checks)."""
        return [normalize(p.context_text()) for p in self.passages]

    @cached_property
    def is_chinese(self) -> bool:
        """Whether the corpus is Chinese text (judged on its first passages), so English questions need rendering."""
        return any(has_cjk(p.text) for p in self.passages[:50])

    @cached_property
    def sentence_matrix(self) -> np.ndarray:
        """Sentence vectors as one (n, d) array, for highlighting."""
        return self.sentence_vectors.reconstruct_n(0, self.sentence_vectors.ntotal)


INDEX_LIBRARIES = ("qa-assistant", "faiss-cpu", "bm25s", "sentence-transformers", "jieba", "opencc")


def library_versions(packages: Sequence[str] = INDEX_LIBRARIES) -> dict[str, str]:
    """Installed versions of some packages ("unknown" when not installed), for manifests and reports."""
    out = {}
    for pkg in packages:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def expected_manifest(documents: Sequence[Document], settings: Settings, embedder: Embedder) -> dict[str, Any]:
    """What a fresh index for these inputs must say about itself."""
    return {
        "format": FORMAT_VERSION,
        "model": embedder.identity,
        "settings": settings.index_fingerprint(),
        "lexical_tokens": LEXICAL_TOKENS_VERSION,
        "corpus": {"checksum": corpus_checksum(documents), "documents": [d.source for d in documents]},
        "versions": library_versions(),
    }


def index_folder(documents: Sequence[Document], settings: Settings) -> Path:
    """Where the index of this corpus lives: one folder per set of source files."""
    key = hashlib.sha256("\0".join(sorted(str(Path(d.source).resolve()) for d in documents)).encode()).hexdigest()[:10]
    name = documents[0].doc_id if len(documents) == 1 else f"{documents[0].doc_id}+{len(documents) - 1}"
    return settings.index_dir / f"{name[:40]}-{key}"


def embedding_text(passage: Passage) -> str:
    """Passage text as the embedding model sees it (script-folded, headings as context)."""
    return to_simplified(passage.context_text())


def build_index(documents: Sequence[Document], settings: Settings, embedder: Embedder,
                progress: Progress | None = None) -> Index:
    """Split, embed and index a corpus."""
    import bm25s
    import faiss

    report = progress or (lambda stage, frac: None)
    report("splitting into passages", 0.0)
    passages = split_corpus(documents, settings)
    if not passages:
        raise IndexLoadError("the corpus has no passages to index")
    sentence_rows: list[tuple[int, int, int]] = []
    sentence_texts: list[str] = []
    for row, p in enumerate(passages):
        for s, e in p.sentences():
            sentence_rows.append((row, s, e))
            sentence_texts.append(to_simplified(p.text[s:e]))

    report(f"embedding {len(passages)} passages", 0.1)
    pvec = embedder.encode_passages([embedding_text(p) for p in passages], progress=progress is not None)
    report(f"embedding {len(sentence_texts)} sentences", 0.4)
    svec = embedder.encode_passages(sentence_texts, progress=progress is not None)

    report("building vector and lexical indexes", 0.9)
    p_index = faiss.IndexFlatIP(embedder.dimension)
    p_index.add(pvec)
    s_index = faiss.IndexFlatIP(embedder.dimension)
    if len(svec):
        s_index.add(svec)
    lexical = bm25s.BM25()
    lexical.index([lexical_tokens(p.context_text()) or [""] for p in passages], show_progress=False)
    report("index ready", 1.0)
    return Index(
        passages=passages,
        passage_vectors=p_index,
        sentence_vectors=s_index,
        sentences=np.asarray(sentence_rows, dtype=np.int32).reshape(-1, 3),
        lexical=lexical,
        manifest=expected_manifest(documents, settings, embedder),
    )


def _file_checksums(folder: Path) -> dict[str, str]:
    out = {}
    for f in sorted(folder.rglob("*")):
        if f.is_file() and f.name != MANIFEST:
            out[str(f.relative_to(folder))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def save_index(index: Index, folder: Path) -> None:
    """Write the index atomically: build in a temporary folder, then swap it into place."""
    import faiss

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        (tmp / PASSAGES).write_text(json.dumps([p.to_dict() for p in index.passages], ensure_ascii=False),
                                    encoding="utf-8")
        faiss.write_index(index.passage_vectors, str(tmp / PASSAGE_VECTORS))
        faiss.write_index(index.sentence_vectors, str(tmp / SENTENCE_VECTORS))
        np.save(tmp / SENTENCES, index.sentences, allow_pickle=False)
        index.lexical.save(str(tmp / LEXICAL_DIR), allow_pickle=False)
        manifest = {**index.manifest, "files": _file_checksums(tmp)}
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        replace_folder(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _differences(found: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    return [key for key in expected if found.get(key) != expected[key]]


def load_index(folder: Path, expected: dict[str, Any]) -> Index:
    """Load a stored index, or raise :class:`IndexLoadError` saying why it cannot be used."""
    import bm25s
    import faiss

    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        raise IndexLoadError(f"no index at {folder}")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexLoadError(f"index manifest at {folder} is unreadable: {exc}") from None
    if not isinstance(manifest, dict):
        raise IndexLoadError(f"index manifest at {folder} is not an object")
    stale = _differences(manifest, expected)
    if stale:
        raise IndexLoadError(f"index at {folder} is stale (changed: {', '.join(stale)})")
    try:
        if _file_checksums(folder) != manifest.get("files"):
            raise IndexLoadError(f"index at {folder} is corrupted (file checksums differ)")
        passages = [Passage.from_dict(d) for d in json.loads((folder / PASSAGES).read_text(encoding="utf-8"))]
        p_index = faiss.read_index(str(folder / PASSAGE_VECTORS))
        s_index = faiss.read_index(str(folder / SENTENCE_VECTORS))
        sentences = np.load(folder / SENTENCES, allow_pickle=False)
        lexical = bm25s.BM25.load(str(folder / LEXICAL_DIR), allow_pickle=False)
    except IndexLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to read means "rebuild"
        raise IndexLoadError(f"index at {folder} is corrupted: {type(exc).__name__}: {exc}") from None
    if p_index.ntotal != len(passages) or s_index.ntotal != len(sentences):
        raise IndexLoadError(f"index at {folder} is inconsistent (vector counts differ)")
    return Index(passages, p_index, s_index, sentences, lexical, manifest)


def open_index(documents: Sequence[Document], settings: Settings, embedder: Embedder, *,
               rebuild: bool = False, progress: Progress | None = None) -> tuple[Index, str]:
    """Load the corpus's index if it is fresh, else build and store it; also say which happened."""
    folder = index_folder(documents, settings)
    expected = expected_manifest(documents, settings, embedder)
    reason = "rebuild requested"
    if not rebuild:
        try:
            return load_index(folder, expected), f"loaded index from {folder}"
        except IndexLoadError as exc:
            reason = str(exc)
    index = build_index(documents, settings, embedder, progress)
    try:
        save_index(index, folder)
        return index, f"built index ({reason}); saved to {folder}"
    except OSError as exc:  # a read-only index folder still gives a working assistant
        return index, f"built index ({reason}); could not save it: {exc}"
