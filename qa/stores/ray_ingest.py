"""Index building on Ray (``qa index --ray [ADDRESS]``): files read and split in Ray tasks, passages
embedded by a Ray Data actor pool.

:func:`read_corpus` reads the corpus files (:func:`qa.corpus.load_document`) and splits them
(:func:`qa.passages.split_document`) in Ray tasks, a slice of the files each; results carry
the files' positions and are put back in corpus order, so the documents, their ids and
passages, and the errors and warnings of bad files are those of one process.

Each embedding actor loads the model once and embeds batches of ``{id, text}`` rows; results
carry the ids (Ray does not keep row order) and are put back in place. On a cluster
with GPUs each actor takes one GPU. :class:`RayEmbedder` wraps a local embedder so that
index building (embedded or Milvus store) sends its passage and sentence texts through
the pool while questions are still encoded locally. :func:`index_with_ray` puts both together.
"""

from __future__ import annotations

import socket
import warnings
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..config import DEFAULT_CORPUS, Settings
from ..corpus import Document, corpus_files, distinct_ids, load_document
from ..embed import Embedder, load_embedder
from ..index import Progress, Split, open_index
from ..passages import Passage, split_corpus, split_document
from . import StoreError, reason_of, require

if TYPE_CHECKING:
    from ..assistant import Assistant

#: Texts per batch sent to an actor.
BATCH_SIZE = 64
#: Most files one reading task takes (fewer when there are few files: about four tasks per CPU).
FILES_PER_TASK = 64


class _EmbedActor:
    """One Ray Data actor: the model, loaded once, embedding batches of rows."""

    def __init__(self, settings: Settings) -> None:
        self.embedder = load_embedder(settings)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.embedder.encode_passages([str(t) for t in batch["text"]])
        return {"id": np.asarray(batch["id"], dtype=np.int64), "vector": np.asarray(vectors, dtype=np.float32)}


def start_ray(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Connect to the cluster at ``address``, or start a local one; a one-line error if it cannot be reached."""
    ray = require("ray")
    if ray.is_initialized():
        return ray
    package_root = str(Path(__file__).resolve().parents[2])  # workers import this very qa package
    if address:
        _check_reachable(address)
    try:
        if address:
            ray.init(address=address, runtime_env={"py_modules": [str(Path(__file__).resolve().parents[1])]},
                     log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus, runtime_env={"env_vars": {"PYTHONPATH": package_root}},
                     include_dashboard=False, log_to_driver=False)
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError depending on how it fails
        raise StoreError(f"cannot reach the Ray cluster at {address or 'local'} ({reason_of(exc)}); "
                         "check the address, or index without --ray") from None
    return ray


def _check_reachable(address: str) -> None:
    """Fail fast on an address nothing listens at (``ray.init`` itself retries for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise StoreError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); "
                         "check the address, or index without --ray") from None


def embed_texts(texts: Sequence[str], settings: Settings, *, actors: int | None = None,
                batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Unit vectors of ``texts`` computed by a Ray Data actor pool, in the order given."""
    ray = start_ray()
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    size = actors or (gpus if gpus else max(1, int(resources.get("CPU", 1))))
    ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(texts)])
    out = ds.map_batches(_EmbedActor, fn_constructor_kwargs={"settings": settings}, batch_size=batch_size,
                         compute=ray.data.ActorPoolStrategy(size=size), num_gpus=1 if gpus else None,
                         batch_format="numpy")  # (``concurrency=`` is deprecated since Ray 2.51)
    vectors: np.ndarray | None = None
    seen = 0
    for batch in out.iter_batches(batch_format="numpy", batch_size=None):
        v = np.asarray(batch["vector"], dtype=np.float32)
        if vectors is None:
            vectors = np.zeros((len(texts), v.shape[1]), dtype=np.float32)
        vectors[np.asarray(batch["id"], dtype=np.int64)] = v
        seen += len(v)
    if vectors is None or seen != len(texts):
        raise StoreError(f"the Ray pool returned {seen} vectors for {len(texts)} texts; run the command again")
    return vectors


class RayEmbedder:
    """An :class:`qa.embed.Embedder` whose passage encoding runs on Ray actors (questions stay local)."""

    def __init__(self, local: Embedder, settings: Settings, *, actors: int | None = None) -> None:
        self.local = local
        self.settings = settings
        self.actors = actors
        self.dimension = local.dimension

    @property
    def identity(self) -> dict[str, str]:
        return self.local.identity

    def encode_questions(self, questions: Sequence[str]) -> np.ndarray:
        return self.local.encode_questions(questions)

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return self.local.encode_passages(texts)
        return embed_texts(texts, self.settings, actors=self.actors)


def ray_embedder(settings: Settings, address: str | None = None, *, num_cpus: int | None = None) -> RayEmbedder:
    """Connect to Ray (local when ``address`` is None) and wrap the settings' model for index building."""
    start_ray(address, num_cpus)
    return RayEmbedder(load_embedder(settings), settings)


# --------------------------------------------------------------------------------------------
# reading and splitting files


#: What a reading task returns for one file: its position, the document and passages (None on failure),
#: the warnings its reader gave (category, message), and the error it raised.
_FileResult = tuple[int, "Document | None", "list[Passage] | None", list[tuple[type, str]], "Exception | None"]


def _read_files(files: list[tuple[int, str]], settings: Settings, split: bool) -> list[_FileResult]:
    """One Ray task: read (and split) some files; an error or warning is returned, not raised, so that
    the driver reports them in corpus order, as one process would."""
    out: list[_FileResult] = []
    for i, path in files:
        doc: Document | None = None
        passages: list[Passage] | None = None
        error: Exception | None = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                doc = load_document(path, settings)
                passages = split_document(doc, settings) if split else None
            except Exception as exc:  # noqa: BLE001 - raised again by the driver, in corpus order
                error = exc
        out.append((i, doc, passages, [(w.category, str(w.message)) for w in caught], error))
    return out


def _renamed(doc: Document, passages: list[Passage] | None, doc_id: str) -> tuple[Document, list[Passage] | None]:
    """The document under another id, and its passages as :func:`~qa.passages.split_document` names them."""
    if doc_id == doc.doc_id:
        return doc, passages
    if passages is not None:
        passages = [replace(p, id=doc_id + p.id[len(doc.doc_id):], doc_id=doc_id) for p in passages]
    return replace(doc, doc_id=doc_id), passages


def read_corpus(paths: Sequence[str | Path] | None, settings: Settings, *,
                split: bool = True) -> tuple[list[Document], Split]:
    """The documents of files and folders (default: the bundled essay) read, and split when ``split``,
    in Ray tasks; and the ``split`` hook :func:`qa.index.update_index` takes to use those passages
    (:func:`qa.passages.split_corpus` when not ``split``).

    The same as :func:`qa.corpus.load_corpus` then :func:`qa.passages.split_corpus` in one process:
    documents in corpus order, repeated ids made distinct alike (``notes``, ``notes_2``), a folder's
    unsupported files in one warning, each reader's warnings, and the first bad file's error.
    """
    ray = start_ray()
    files = corpus_files(paths) if paths else [DEFAULT_CORPUS]
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    per_task = max(1, min(FILES_PER_TASK, -(-len(files) // (4 * cpus))))
    items = [(i, str(f)) for i, f in enumerate(files)]
    task = ray.remote(num_cpus=1)(_read_files)
    jobs = [task.remote(items[s:s + per_task], settings, split) for s in range(0, len(items), per_task)]
    try:
        parts = ray.get(jobs)
    except Exception as exc:  # RayTaskError (a worker died), RayError: not a file's own error
        raise StoreError(f"a Ray task failed while reading the corpus ({reason_of(exc, last=True)}); "
                         "run again, or without --ray") from None
    results = sorted((r for part in parts for r in part), key=lambda r: r[0])  # keyed by position
    if [r[0] for r in results] != list(range(len(files))):
        raise StoreError(f"the Ray tasks returned {len(results)} of {len(files)} files; run the command again")
    read: list[tuple[Document, list[Passage] | None]] = []
    for _, doc, passages, caught, error in results:
        for category, message in caught:
            warnings.warn(message, category, stacklevel=2)
        if error is not None:
            raise error
        assert doc is not None
        read.append((doc, passages))
    documents: list[Document] = []
    by_source: dict[str, list[Passage]] = {}
    for (doc, passages), doc_id in zip(read, distinct_ids([d.doc_id for d, _ in read])):  # as load_corpus
        doc, passages = _renamed(doc, passages, doc_id)
        documents.append(doc)
        if passages is not None:
            by_source[doc.source] = passages

    def presplit(docs: Sequence[Document], _settings: Settings | None = None) -> list[Passage]:
        """The passages the Ray tasks split (with ``settings``) of some of these documents, in their order."""
        return [p for d in docs for p in by_source[d.source]]

    return documents, (presplit if split else split_corpus)


def index_with_ray(corpus: Sequence[str | Path] | None, settings: Settings, embedder: Embedder, *,
                   rebuild: bool = False, progress: Progress | None = None) -> Assistant:
    """Build or update the index of ``corpus`` (files and folders; default: the bundled essay) with its
    files read in Ray tasks and its passages embedded by ``embedder`` (a :class:`RayEmbedder`); the
    assistant over it.

    Embedded store: the tasks split the files too and the index takes their passages; the assistant
    is then opened over the files as any command opens it (reading them once more, in this process, to
    check the index is current). Milvus store: the same, the store then opened over the tasks' documents.
    """
    from ..assistant import Assistant

    documents, presplit = read_corpus(corpus, settings)
    if settings.store == "milvus":
        from .milvus import open_milvus

        store, status = open_milvus(documents, settings, embedder, rebuild=rebuild, progress=progress, split=presplit)
        store.close()
        assistant = Assistant(documents, settings, embedder=embedder, progress=progress)
        assistant.index_status = status
        return assistant
    sources = list(corpus) if corpus else None
    index, status = open_index(documents, settings, embedder, rebuild=rebuild, progress=progress, sources=sources,
                               split=presplit)
    index.close()
    assistant = Assistant(sources or documents, settings, embedder=embedder, progress=progress)
    assistant.index_status = status  # what building did, not "loaded"
    return assistant
