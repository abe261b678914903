"""The BM25 kernel: the same scores as bm25s (Lucene BM25), live rows only, statistics over segments."""

import numpy as np
import pytest

from qa.lexical import CorpusStatistics, Postings, SegmentView, bm25, build_postings

DOCS = [["社区", "#社区", "党建", "党建"], ["街道", "#街道", "统筹"], ["社区", "服务", "群众", "#服务"],
        ["经费", "保障", "社区", "党建"], ["天气"]]


def segment(docs, row_start=0, alive=None):
    vocab, indptr, rows, tf, lengths = build_postings(docs)
    lookup = lambda terms: {t: vocab[t] for t in terms if t in vocab}  # noqa: E731
    postings = Postings(indptr, rows, tf, lengths, lookup)
    return SegmentView(row_start, postings, np.ones(len(docs), bool) if alive is None else np.array(alive))


def dense_scores(result, n):
    out = np.zeros(n)
    out[result.rows] = result.scores
    return out


@pytest.mark.parametrize("query", [["社区", "党建"], ["社区", "社区", "服务"], ["统筹", "不存在"], ["不存在"]])
def test_scores_equal_bm25s(query):
    import bm25s

    reference = bm25s.BM25()
    reference.index(DOCS, show_progress=False)
    known = [t for t in query if t in reference.vocab_dict]
    expected = np.asarray(reference.get_scores(known), dtype=float) if known else np.zeros(len(DOCS))
    got = dense_scores(bm25(CorpusStatistics([segment(DOCS)]), query), len(DOCS))
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_two_segments_score_like_one_corpus():
    whole = bm25(CorpusStatistics([segment(DOCS)]), ["社区", "党建"])
    split = bm25(CorpusStatistics([segment(DOCS[:2]), segment(DOCS[2:], row_start=2)]), ["社区", "党建"])
    assert split.rows.tolist() == whole.rows.tolist()
    assert split.scores == pytest.approx(whole.scores)


def test_dead_rows_score_nothing_and_leave_the_statistics():
    alive = [True, True, True, False, True]
    result = bm25(CorpusStatistics([segment(DOCS, alive=alive)]), ["社区", "党建"])
    assert 3 not in result.rows.tolist()
    without = [d for d, a in zip(DOCS, alive) if a]
    reference = bm25(CorpusStatistics([segment(without)]), ["社区", "党建"])
    assert result.scores == pytest.approx(reference.scores)  # same as if the row had never been indexed


def test_mean_and_spread_count_every_live_passage():
    result = bm25(CorpusStatistics([segment(DOCS)]), ["社区"])
    full = dense_scores(result, len(DOCS))
    assert result.mean_std() == pytest.approx((full.mean(), full.std()))
    assert result.score_of(np.array([4, 0])) == pytest.approx([0.0, full[0]])
    rows, scores = result.top(2)
    assert len(rows) == 2 and scores[0] >= scores[1]
