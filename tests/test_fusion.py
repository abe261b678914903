"""Fusion on plain arrays: z-score and RRF over the union of the legs' candidates."""

import numpy as np
import pytest

from qa.fusion import fuse
from qa.legs import Candidates


def cands(rows, scores, mean=0.0, std=1.0, exact=None):
    score_of = None
    if exact is not None:
        score_of = lambda r: np.array([exact.get(int(x), 0.0) for x in r])  # noqa: E731
    return Candidates(np.array(rows, dtype=np.int64), np.array(scores, dtype=float), mean, std, score_of)


def test_zscore_adds_standardised_scores_by_weight_over_the_union():
    dense = cands([1, 2], [0.9, 0.5], mean=0.5, std=0.2, exact={1: 0.9, 2: 0.5, 3: 0.7})
    lexical = cands([3, 2], [10.0, 2.0], mean=1.0, std=3.0, exact={3: 10.0, 2: 2.0})
    out = fuse({"dense": dense, "lexical": lexical}, {"dense": 1.0, "lexical": 0.5})
    assert sorted(out.rows.tolist()) == [1, 2, 3]
    expected = {1: (0.9 - 0.5) / 0.2 + 0.5 * (0 - 1) / 3,
                2: (0.5 - 0.5) / 0.2 + 0.5 * (2 - 1) / 3,
                3: (0.7 - 0.5) / 0.2 + 0.5 * (10 - 1) / 3}
    assert dict(zip(out.rows.tolist(), out.fused.tolist())) == pytest.approx(expected)
    assert out.rows.tolist() == sorted(expected, key=lambda r: -expected[r])
    # a passage only the lexical leg found still gets its exact dense score
    assert out.legs["dense"][out.rows.tolist().index(3)] == pytest.approx(0.7)


def test_a_leg_with_no_candidates_adds_nothing():
    dense = cands([4, 5, 6], [0.8, 0.6, 0.4], mean=0.5, std=0.1)
    out = fuse({"dense": dense, "lexical": Candidates.none()}, {"dense": 1.0, "lexical": 0.5})
    assert out.rows.tolist() == [4, 5, 6]
    assert out.legs["lexical"].tolist() == [0.0, 0.0, 0.0]
    assert out.fused.tolist() == pytest.approx([0.8, 0.6, 0.4])  # one leg: its own scores


def test_no_leg_found_anything_is_an_empty_ranking():
    out = fuse({"lexical": Candidates.none(), "dictionary": Candidates.none()}, {})
    assert len(out) == 0


def test_ties_go_to_the_lower_row():
    a = cands([9, 3, 7], [1.0, 1.0, 1.0], mean=0.0, std=1.0)
    b = cands([7, 3, 9], [1.0, 1.0, 1.0], mean=0.0, std=1.0)
    out = fuse({"dense": a, "lexical": b}, {"dense": 1.0, "lexical": 1.0}, method="rrf")
    # 7 and 9 are first in one leg and third in the other (a tie, just above 3: second in both)
    scores = dict(zip(out.rows.tolist(), out.fused.tolist()))
    assert scores[9] == scores[7] == pytest.approx(1 / 61 + 1 / 63)
    assert scores[3] == pytest.approx(2 / 62) and scores[3] < scores[7]
    assert out.rows.tolist() == [7, 9, 3]


def test_rrf_counts_only_legs_that_ranked_the_passage():
    dense = cands([1, 2], [0.9, 0.8])
    lexical = cands([2, 3], [5.0, 4.0])
    out = fuse({"dense": dense, "lexical": lexical}, {"dense": 1.0, "lexical": 0.5}, method="rrf", rrf_k=60)
    got = dict(zip(out.rows.tolist(), out.fused.tolist()))
    assert got == pytest.approx({1: 1 / 61, 2: 1 / 62 + 0.5 / 61, 3: 0.5 / 62})
    assert out.rows.tolist() == [2, 1, 3]


def test_a_leg_without_exact_scores_fills_with_its_lowest():
    dense = cands([1], [0.9], mean=0.5, std=0.2, exact={1: 0.9, 2: 0.1})
    other = cands([2, 5], [3.0, 1.0], mean=0.0, std=1.0)  # cannot rescore
    out = fuse({"dense": dense, "lexical": other}, {"dense": 1.0, "lexical": 1.0})
    assert out.legs["lexical"][out.rows.tolist().index(1)] == 1.0
