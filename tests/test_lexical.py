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


def test_accumulation_is_the_same_dense_or_sorted():
    from qa.lexical import _accumulate

    rng = np.random.default_rng(7)
    for n_rows, n_postings in ((50, 10), (1000, 5000), (100_000, 300)):
        rows = rng.integers(0, n_rows, n_postings)
        scores = rng.random(n_postings) + 0.01
        uniq, inverse = np.unique(rows, return_inverse=True)
        expected = np.bincount(inverse, weights=scores)
        got_rows, got = _accumulate(rows, scores)
        assert got_rows.tolist() == uniq.tolist()
        assert got.tolist() == expected.tolist()  # the same sums to the last bit, whichever path ran


def test_random_corpus_scores_equal_term_by_term_sums():
    """The kernel against BM25 written out term by term, on random documents with dead rows and two segments."""
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(40)]
    docs = [list(rng.choice(words, rng.integers(1, 12))) for _ in range(300)]
    alive = rng.random(300) > 0.2
    stats = CorpusStatistics([segment(docs[:120], alive=alive[:120]), segment(docs[120:], 120, alive[120:])])
    live = [d for d, a in zip(docs, alive) if a]
    n, mean_len = len(live), sum(map(len, live)) / len(live)
    for query in (["w1", "w2", "w2"], words[:30], ["w39", "nothing"]):
        expected = np.zeros(len(docs))
        for term in query:
            df = sum(term in d for d in live)
            if not df:
                continue
            idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
            for row, (d, a) in enumerate(zip(docs, alive)):
                tf = d.count(term)
                if a and tf:
                    expected[row] += idf * tf / (tf + 1.5 * (1 - 0.75 + 0.75 * len(d) / mean_len))
        result = bm25(stats, query)
        assert result.rows.tolist() == np.flatnonzero(expected).tolist()
        assert dense_scores(result, len(docs)) == pytest.approx(expected, rel=1e-6)


def test_top_order_equals_a_full_sort_with_ties():
    from qa.lexical import top_order

    rng = np.random.default_rng(11)
    for n, depth in ((10, 3), (1000, 7), (5000, 100), (300, 0), (50, 80)):
        rows = rng.permutation(n * 3)[:n]
        scores = rng.integers(0, 20, n).astype(float)  # many ties, also at the cut
        full = np.lexsort((rows, -scores))[:depth]
        assert top_order(rows, scores, depth).tolist() == full.tolist()
