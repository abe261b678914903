"""Vector sets: unit vectors on disk (memory-mapped) and a FAISS index chosen by size.

Below ``Settings.ann_min_vectors`` a set is searched exactly (``IndexFlatIP`` built
at load from the stored vectors); at or above it an IVF index (scalar-quantised to a
byte per dimension by default) is trained, stored and searched with
``Settings.ann_nprobe`` cells. The stored float32 vectors stay the reference: search
rescoring and highlighting read them, and a merge of segments rebuilds indexes from
them without re-embedding.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import Settings

#: Points per IVF cell used to train the coarse quantiser (FAISS warns below 39).
TRAIN_POINTS_PER_CELL = 48


def ann_cells(n: int, settings: Settings) -> int:
    """IVF cells for ``n`` vectors (about the square root, bounded so training stays quick)."""
    if settings.ann_nlist:
        return settings.ann_nlist
    return int(min(max(64, round(math.sqrt(n))), 4096))


def describe(settings: Settings, n: int) -> dict[str, Any]:
    """How a set of ``n`` vectors is indexed (recorded in the manifest)."""
    if n < settings.ann_min_vectors:
        return {"kind": "flat"}
    return {"kind": "ivf", "nlist": ann_cells(n, settings), "codec": settings.ann_codec}


def build_ann(vectors: np.ndarray, settings: Settings) -> Any:
    """A trained IVF index over ``vectors`` (ids = row numbers)."""
    import faiss

    n, d = vectors.shape
    nlist = ann_cells(n, settings)
    quantizer = faiss.IndexFlatIP(d)
    if settings.ann_codec == "sq8":
        index = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    faiss.omp_set_num_threads(os.cpu_count() or 1)  # training and adding use every core
    sample = min(n, nlist * TRAIN_POINTS_PER_CELL)
    rows = np.linspace(0, n - 1, sample).astype(np.int64) if sample < n else np.arange(n)
    index.train(np.ascontiguousarray(vectors[rows], dtype=np.float32))
    for start in range(0, n, 65536):
        index.add(np.ascontiguousarray(vectors[start:start + 65536], dtype=np.float32))
    index.quantizer_trains_alone = 0
    return index


def inner(matrix: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``matrix @ q`` in float32, on the calling thread only.

    For one question the products are small (a few thousand rows), and OpenBLAS's
    threads cost far more than they save on a shared 2-core machine (measured, 5,000 x 384:
    54 ms wall / 8 ms CPU with two BLAS threads, 0.4 ms CPU with einsum's single-threaded loop).
    """
    return np.einsum("ij,j->i", matrix, q.astype(np.float32, copy=False))


@dataclass
class VectorSet:
    """Stored vectors and the index that searches them."""

    vectors: np.ndarray  # (n, d) float32, usually a read-only memory map
    index: Any  # faiss.Index
    nprobe: int = 1

    @classmethod
    def open(cls, vectors_path: Path, ann_path: Path | None, settings: Settings) -> "VectorSet":
        import faiss

        vectors = np.asarray(np.load(vectors_path, mmap_mode="r", allow_pickle=False))
        if vectors.ndim != 2:
            raise ValueError(f"{vectors_path.name}: expected a 2-d array")
        if ann_path is not None and ann_path.exists():
            index = faiss.read_index(str(ann_path))
            if index.ntotal != len(vectors) or index.d != vectors.shape[1]:
                raise ValueError(f"{ann_path.name}: {index.ntotal} vectors, expected {len(vectors)}")
        else:
            index = faiss.IndexFlatIP(vectors.shape[1])
            if len(vectors):
                index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(vectors, index, settings.ann_nprobe)

    @property
    def size(self) -> int:
        return int(self.vectors.shape[0])

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest rows by inner product: (rows, similarities), best first."""
        k = min(k, self.size)
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        import faiss

        if hasattr(self.index, "nprobe"):
            self.index.nprobe = min(self.nprobe, self.index.nlist)
        # One question at a time: FAISS's threads only add start-up and contention (measured: 1.4 ms with
        # one thread against 76 ms with two on a busy 2-core machine, 10k passages).
        faiss.omp_set_num_threads(1)
        sims, ids = self.index.search(np.ascontiguousarray(q.reshape(1, -1), dtype=np.float32), k)
        ok = ids[0] >= 0
        return ids[0][ok].astype(np.int64), sims[0][ok]

    def exact(self, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Exact inner products of the given rows with ``q``."""
        if len(rows) == 0:
            return np.zeros(0, dtype=np.float64)
        return inner(np.asarray(self.vectors[np.asarray(rows)], dtype=np.float32), q).astype(np.float64)
