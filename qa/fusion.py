"""Fusion: one ranking from the legs' candidates.

Fusion works on the union of the passages the legs returned, never on the whole
corpus. ``zscore`` standardises each leg's scores with that leg's mean and spread
over the whole corpus (which the leg reports) and adds them by weight; a leg that
found nothing adds nothing, so it cannot drag the others' order down. ``rrf`` adds
``weight / (rrf_k + rank)`` for each leg that ranked the passage. A passage missing
from a leg's candidates gets that leg's exact score where the leg can give it, and
otherwise its lowest returned score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .legs import Candidates


@dataclass(frozen=True)
class Fused:
    """The union of the legs' candidates, ranked: rows best first, their fused and per-leg scores."""

    rows: np.ndarray
    fused: np.ndarray
    legs: dict[str, np.ndarray]
    """Each leg's score of each row (0 for a leg that found nothing)."""

    def __len__(self) -> int:
        return len(self.rows)


def _leg_scores(c: Candidates, rows: np.ndarray) -> np.ndarray:
    if c.score_of is not None:
        return np.asarray(c.score_of(rows), dtype=np.float64)
    fill = float(c.scores.min()) if len(c) else 0.0
    lookup = dict(zip(c.rows.tolist(), c.scores.tolist()))
    return np.array([lookup.get(r, fill) for r in rows.tolist()], dtype=np.float64)


def _ranks(c: Candidates, rows: np.ndarray) -> np.ndarray:
    position = {r: i + 1 for i, r in enumerate(c.rows.tolist())}
    return np.array([position.get(r, np.inf) for r in rows.tolist()], dtype=np.float64)


def fuse(candidates: Mapping[str, Candidates], weights: Mapping[str, float], method: str = "zscore",
         rrf_k: int = 60) -> Fused:
    """Rank the union of the legs' candidates (ties: lower row first)."""
    found = {name: c for name, c in candidates.items() if len(c)}
    if not found:
        return Fused(np.zeros(0, dtype=np.int64), np.zeros(0), {name: np.zeros(0) for name in candidates})
    rows = np.unique(np.concatenate([c.rows for c in found.values()]))
    per_leg = {name: (_leg_scores(c, rows) if name in found else np.zeros(len(rows)))
               for name, c in candidates.items()}
    if len(found) == 1:
        fused = per_leg[next(iter(found))].copy()
    elif method == "rrf":
        fused = sum(weights.get(n, 1.0) / (rrf_k + _ranks(c, rows)) for n, c in found.items())
    else:
        fused = np.zeros(len(rows))
        for name, c in found.items():
            if c.std > 0:
                fused += weights.get(name, 1.0) * (per_leg[name] - c.mean) / c.std
    order = np.lexsort((rows, -fused))
    return Fused(rows[order], fused[order], {n: s[order] for n, s in per_leg.items()})
