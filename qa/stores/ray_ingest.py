"""Embedding through a Ray Data actor pool (``qa index --ray [ADDRESS]``).

Each actor loads the model once and embeds batches of ``{id, text}`` rows; results
carry the ids (Ray does not keep row order) and are put back in place. On a cluster
with GPUs each actor takes one GPU. :class:`RayEmbedder` wraps a local embedder so that
index building (embedded or Milvus store) sends its passage and sentence texts through
the pool while questions are still encoded locally; reading and splitting files stay
in the driver process.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..config import Settings
from ..embed import Embedder, load_embedder
from . import StoreError, require

#: Texts per batch sent to an actor.
BATCH_SIZE = 64


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
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise StoreError(f"cannot reach the Ray cluster at {address or 'local'} ({reason}); "
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
                         concurrency=size, num_gpus=1 if gpus else None, batch_format="numpy")
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
