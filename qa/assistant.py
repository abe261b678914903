"""The assistant: a corpus, its index and a model, behind one ``ask``.

The web UI, the CLI and batch evaluation all go through :class:`Assistant`; none
of them has retrieval logic of its own.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from ._files import write_json
from .confidence import NullProfile, null_questions
from .config import Retriever, RETRIEVERS, Settings
from .corpus import Document, load_corpus
from .embed import Embedder, describe_model, load_embedder
from .errors import QuestionError
from .index import Progress, fallback_folder, open_index
from .inputs import check_k, clean_question
from .normalize import to_simplified
from .passages import Passage
from .legs import make_legs
from .search import Answer, rank, search

class Assistant:
    """Answers questions about a corpus: ``Assistant(["my.txt"]).ask("…")``.

    ``corpus`` is a list of ``.txt``/``.md`` files or folders (default: the bundled
    essay), or already-loaded :class:`Document` objects. The index is loaded from
    ``settings.index_dir`` when it is fresh, otherwise built and stored.
    """

    def __init__(self, corpus: Sequence[str | Path | Document] | None = None, settings: Settings | None = None,
                 *, embedder: Embedder | None = None, rebuild: bool = False,
                 progress: Progress | None = None) -> None:
        self.settings = settings or Settings()
        sources: list[str | Path] | None = None
        if corpus and all(isinstance(c, Document) for c in corpus):
            self.documents: list[Document] = list(corpus)  # type: ignore[arg-type]
        else:
            self.documents = load_corpus(corpus or None, self.settings)  # type: ignore[arg-type]
            sources = list(corpus) if corpus else None  # type: ignore[arg-type]
        self.embedder = embedder or load_embedder(self.settings, progress=progress is not None)
        if self.settings.store == "milvus":  # optional store past one machine (qa.stores, the scale extra)
            from .stores.milvus import make_milvus_legs, open_milvus

            self.index, self.index_status = open_milvus(self.documents, self.settings, self.embedder,
                                                        rebuild=rebuild, progress=progress)
            self.legs = make_milvus_legs(self.index, self.settings)
        else:
            self.index, self.index_status = open_index(self.documents, self.settings, self.embedder,
                                                       rebuild=rebuild, progress=progress, sources=sources)
            self.legs = make_legs(self.index, self.settings)
        self.profile = self._null_profile()

    # -- questions -------------------------------------------------------------
    def ask(self, question: str, k: int | None = None, *, retriever: Retriever | None = None) -> Answer:
        """The ``k`` passages that best answer ``question``, best first, and whether any does."""
        started = time.perf_counter()
        text = clean_question(question, self.settings)
        k = self._check_k(k)
        retriever = self._check_retriever(retriever)
        vector = self.embedder.encode_questions([to_simplified(text)])[0]
        answer = search(self.index, text, vector, self.settings, k=k, retriever=retriever, legs=self.legs,
                        profile=self.profile)
        return replace(answer, latency_ms=round((time.perf_counter() - started) * 1000, 2))

    def ask_many(self, questions: Sequence[str], k: int | None = None, *,
                 retriever: Retriever | None = None) -> list[Answer]:
        """``ask`` for several questions (one model call for all their vectors)."""
        retriever = self._check_retriever(retriever)
        return self.ask_many_by_retriever(questions, (retriever,), k)[retriever]

    def ask_many_by_retriever(self, questions: Sequence[str], retrievers: Sequence[Retriever],
                              k: int | None = None) -> dict[str, list[Answer]]:
        """``ask_many`` with each of several retrievers, the questions embedded once (side-by-side evaluation).

        Each answer's latency is its share of the one embedding call plus its own search.
        """
        texts = [clean_question(q, self.settings) for q in questions]
        k = self._check_k(k)
        retrievers = [self._check_retriever(r) for r in retrievers]
        started = time.perf_counter()
        vectors = self.embedder.encode_questions([to_simplified(t) for t in texts]) if texts else np.zeros((0, 1))
        per_question = (time.perf_counter() - started) * 1000 / max(len(texts), 1)
        out: dict[str, list[Answer]] = {r: [] for r in retrievers}
        for text, vector in zip(texts, vectors):
            for retriever in retrievers:
                t0 = time.perf_counter()
                a = search(self.index, text, vector, self.settings, k=k, retriever=retriever, legs=self.legs,
                           profile=self.profile)
                out[retriever].append(replace(a, latency_ms=round(per_question + (time.perf_counter() - t0) * 1000, 2)))
        return out

    def _null_profile(self) -> NullProfile:
        """What unrelated questions score on this corpus (see :mod:`qa.confidence`): read from the index
        folder when it was fitted for this very index, else fitted now from the bundled bank and stored."""
        bank = null_questions(self.settings.null_bank_limit)
        manifest = getattr(self.index, "manifest", None) or {}
        store = {k: getattr(v, "checksum", str(v)) for k, v in getattr(self.index, "documents", {}).items()} \
            if not manifest else {}  # another store (Milvus): its documents' checksums stand for its manifest
        key = hashlib.sha256(json.dumps([
            PROFILE_VERSION, [s["name"] for s in manifest.get("segments", [])],
            sorted(manifest.get("documents", {})), self.embedder.identity, self.settings.leg_weights,
            self.settings.fusion, self.settings.candidate_depth, bank, getattr(self.index, "uri", ""), store,
            self.settings.where], ensure_ascii=False, sort_keys=True,
            default=str).encode()).hexdigest()
        folder = getattr(self.index, "folder", None)
        # beside the index, or (a read-only index folder) in its fallback folder under the cache folder;
        # a store with no folder (Milvus) keeps it in the cache folder, by key
        if folder is not None and manifest:
            paths = [folder / PROFILE_FILE, fallback_folder(folder, self.settings) / PROFILE_FILE]
        else:
            paths = [Path(self.settings.cache_dir) / "null-profiles" / f"{key[:32]}.json"]
        for path in paths:
            try:
                stored = json.loads(path.read_text(encoding="utf-8"))
                if stored.get("key") == key:
                    return NullProfile.from_dict(stored["profile"])
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                pass
        vectors = self.embedder.encode_questions([to_simplified(q) for q in bank])
        features = [rank(self.index, q, v, self.settings, "hybrid", self.legs).features for q, v in zip(bank, vectors)]
        profile = NullProfile.fit(features, self.settings.null_min_stratum)
        for path in paths:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_json(path, {"key": key, "profile": profile.to_dict()})
                break
            except OSError:  # a read-only index folder: kept in the fallback folder
                continue
        return profile

    def _check_retriever(self, retriever: Retriever | None) -> Retriever:
        if retriever is None:
            return self.settings.retriever
        if retriever not in RETRIEVERS:
            raise QuestionError(f"retriever must be one of {', '.join(RETRIEVERS)}, not {retriever!r}")
        return retriever

    def _check_k(self, k: object) -> int:
        return self.settings.k if k is None else check_k(k)

    # -- the corpus --------------------------------------------------------------
    @property
    def passages(self) -> list[Passage]:
        return self.index.passages

    def passage(self, passage_id: str) -> Passage:
        """One passage by id (``KeyError`` if there is none)."""
        return self.index.passage(passage_id)

    def describe(self) -> str:
        """What this assistant serves, in one line."""
        titles = ", ".join(d.title for d in self.documents[:3]) + (" …" if len(self.documents) > 3 else "")
        d = self.index.describe()
        return (f"{titles} — {len(self.documents)} document(s), {d['passages']} passages, {d['sentences']} sentences "
                f"in {d['segments']} segment(s), {'/'.join(d['vector_index'])} vector index; "
                f"model: {describe_model(self.embedder)}")


#: Where an index folder keeps its null profile, and the version of how it is computed.
PROFILE_FILE = "null_profile.json"
PROFILE_VERSION = 1

_default: Assistant | None = None
_default_lock = threading.Lock()


def default_assistant() -> Assistant:
    """The assistant over the bundled essay, created once per process."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Assistant()
        return _default


def ask(question: str, k: int | None = None, *, retriever: Retriever | None = None) -> Answer:
    """Ask the default essay a question: ``qa.ask("社区工作者的待遇怎么保障？", k=3)``."""
    return default_assistant().ask(question, k, retriever=retriever)
