"""The Milvus store (Milvus Lite file) against the embedded default: same hits, incremental updates, faults."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from qa import Assistant
from qa.corpus import document_from_text
from qa.stores import INSTALL_HINT, ScaleExtraMissing, StoreError, require

DOC = document_from_text(
    "一、组织 街道党工委统筹辖区资源。社区党组织服务群众。\n"
    "二、经费 党建经费按人头拨付。专项经费接受审计监督。\n"
    "三、人才 社区工作者待遇逐年提高。优秀社区工作者可以考录公务员。\n"
    "四、其他 本办法自公布之日起施行。", "doc", source="doc.txt")
DOC2 = document_from_text(
    "第一章 总则 为了规范图书馆管理，制定本办法。图书馆向公众免费开放。\n"
    "第二章 借阅 读者凭证借阅图书。逾期归还的图书按日计费。\n"
    "第三章 附则 本办法由文化局负责解释。", "library", source="library.txt")
QUESTIONS = ["专项经费接受审计监督", "社区工作者待遇", "公务员考录", "图书逾期怎么办", "图书馆是否免费开放",
             "谁负责解释本办法", "火星上的天气"]


def test_without_the_extra_the_error_says_what_to_install():
    with pytest.raises(ScaleExtraMissing, match=r"pip install -e '\.\[scale\]'"):
        require("qa_no_such_engine")
    assert "scale" in INSTALL_HINT


def test_an_engine_error_becomes_one_line():
    from qa.stores import reason_of

    class MilvusLike(Exception):
        message = "collection not loaded\ndetails: …"

    assert reason_of(MilvusLike("ignored")) == "collection not loaded"
    remote = RuntimeError("Traceback (most recent call last):\n  File x\n\nValueError: bad page 3\n")
    assert reason_of(remote, last=True) == "ValueError: bad page 3"
    assert reason_of(RuntimeError("")) == "RuntimeError" and len(reason_of(ValueError("x" * 500))) == 200


@pytest.fixture()
def milvus_settings(fake_settings, tmp_path):
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    return fake_settings.with_(store="milvus", milvus_uri=str(tmp_path / "milvus.db"))


def _same_answers(a: Assistant, b: Assistant, questions=QUESTIONS) -> None:
    for q in questions:
        x, y = a.ask(q), b.ask(q)
        assert [h.passage_id for h in x] == [h.passage_id for h in y], q
        assert x.found == y.found and x.confidence == pytest.approx(y.confidence, abs=1e-4)
        for hx, hy in zip(x, y):
            for leg in ("dense", "lexical", "coverage", "fused"):
                assert hx.scores[leg] == pytest.approx(hy.scores[leg], abs=1e-4), (q, leg)
            assert hx.highlights == hy.highlights


@pytest.mark.scale
def test_milvus_store_gives_the_embedded_store_answers(fake_settings, milvus_settings, fake_embedder):
    embedded = Assistant([DOC, DOC2], fake_settings, embedder=fake_embedder)
    milvus = Assistant([DOC, DOC2], milvus_settings, embedder=fake_embedder)
    assert milvus.index.size == embedded.index.size
    assert [p.id for p in milvus.index.passages] == [p.id for p in embedded.index.passages]
    _same_answers(embedded, milvus)
    assert not milvus.ask("火星上的天气").found


@pytest.mark.scale
def test_candidates_from_milvus_search_when_the_sample_is_smaller_than_the_corpus(
        fake_settings, milvus_settings, fake_embedder):
    # a normalisation sample smaller than the corpus: candidates come from the vector searches, not a full scan
    embedded = Assistant([DOC, DOC2], fake_settings.with_(normalisation_sample=3, candidate_depth=4),
                         embedder=fake_embedder)
    milvus = Assistant([DOC, DOC2], milvus_settings.with_(normalisation_sample=3, candidate_depth=4),
                       embedder=fake_embedder)
    assert len(milvus.legs["dense"]._sample) == 3 < milvus.index.size
    _same_answers(embedded, milvus, QUESTIONS[:6])


@pytest.mark.scale
def test_a_passages_vectors_are_fetched_once_and_large_answers_are_split(
        fake_settings, milvus_settings, fake_embedder, monkeypatch):
    import qa.stores.milvus as store

    embedded = Assistant([DOC, DOC2], fake_settings, embedder=fake_embedder)
    milvus = Assistant([DOC, DOC2], milvus_settings, embedder=fake_embedder)
    index = milvus.index
    rows = index.live_rows
    index._memo.clear()
    calls = []
    for name in ("query", "get"):
        real = getattr(index.client, name)
        monkeypatch.setattr(index.client, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    monkeypatch.setattr(store, "MAX_LIMIT", 3)  # every answer over the limit: the query is halved until it fits
    first = index.vectors_of(rows)
    assert calls.count("query") > 1
    calls.clear()
    again = index.vectors_of(rows[::-1])
    assert calls == []  # remembered
    for r, own in zip(rows, embedded.index.live_rows):
        seg, lo, hi = embedded.index.sentence_spans(int(own))
        assert np.allclose(first[int(r)].sentences, seg.sentence_vectors.vectors[lo:hi], atol=1e-6)
        assert first[int(r)].spans.tolist() == seg.sent_spans[lo:hi].tolist()
        assert again[int(r)] is first[int(r)]


@pytest.mark.scale
def test_lexical_leg_scores_are_our_bm25(fake_settings, milvus_settings, fake_embedder):
    from qa.legs import LexicalLeg, prepare_question

    embedded = Assistant([DOC, DOC2], fake_settings, embedder=fake_embedder)
    milvus = Assistant([DOC, DOC2], milvus_settings, embedder=fake_embedder)
    for text in ["社区工作者待遇", "图书 图书 逾期"]:  # a repeated word counts again in both
        vec = fake_embedder.encode_questions([text])[0]
        ours = LexicalLeg(embedded.index).candidates(prepare_question(embedded.index, text, vec, fake_settings), 50)
        theirs = milvus.legs["lexical"].candidates(prepare_question(milvus.index, text, vec, milvus_settings), 50)
        ids = lambda idx, rows: [p.id for p in idx.passages_at(rows)]  # noqa: E731
        assert ids(embedded.index, ours.rows) == ids(milvus.index, theirs.rows)
        np.testing.assert_allclose(theirs.scores, ours.scores, rtol=1e-5)
        assert (theirs.mean, theirs.std) == pytest.approx((ours.mean, ours.std), rel=1e-5)


@pytest.mark.scale
def test_documents_are_added_updated_and_removed_in_place(milvus_settings, fake_embedder):
    first = Assistant([DOC], milvus_settings, embedder=fake_embedder)
    assert "added 1" in first.index_status or "no index yet" in first.index_status
    old_rows = set(first.index.live_rows.tolist())
    first.index.close()

    again = Assistant([DOC], milvus_settings, embedder=fake_embedder)
    assert again.index_status.startswith("loaded") and set(again.index.live_rows.tolist()) == old_rows
    again.index.close()

    changed = document_from_text(DOC.text.replace("本办法自公布之日起施行", "本办法自二〇二五年一月一日起施行"),
                                 "doc", source="doc.txt")
    updated = Assistant([changed, DOC2], milvus_settings, embedder=fake_embedder)
    assert sorted(updated.index.documents) == ["doc.txt", "library.txt"]
    rows = set(updated.index.live_rows.tolist())
    assert not rows & old_rows  # the updated document's old passages are gone
    assert "二〇二五年" in updated.ask("本办法何时施行")[0].text
    assert updated.ask("图书馆是否免费开放")[0].doc_id == "library"
    updated.index.close()

    removed = Assistant([DOC2], milvus_settings, embedder=fake_embedder)
    assert list(removed.index.documents) == ["library.txt"]
    assert {p.doc_id for p in removed.index.passages} == {"library"}
    assert all(h.doc_id == "library" for h in removed.ask("社区工作者待遇"))


@pytest.mark.scale
def test_a_store_built_with_another_model_is_refused_until_rebuilt(milvus_settings):
    from qa.embed import FakeEmbedder

    Assistant([DOC], milvus_settings, embedder=FakeEmbedder(dimension=64)).index.close()
    with pytest.raises(StoreError, match=r"built with another model or settings \(fingerprint|--rebuild") as info:
        Assistant([DOC], milvus_settings, embedder=FakeEmbedder(dimension=32))
    assert "\n" not in str(info.value) and "qa index --rebuild" in str(info.value)
    again = Assistant([DOC], milvus_settings, embedder=FakeEmbedder(dimension=32), rebuild=True)
    assert "rebuild requested" in again.index_status
    assert len(again.ask("社区工作者待遇")) > 0


@pytest.mark.scale
def test_unreachable_server_is_one_line(milvus_settings, fake_embedder):
    with pytest.raises(StoreError, match="cannot open the Milvus store at http://127.0.0.1:1") as info:
        Assistant([DOC], milvus_settings.with_(milvus_uri="http://127.0.0.1:1"), embedder=fake_embedder)
    assert "\n" not in str(info.value)


@pytest.mark.scale
def test_a_lite_file_open_in_another_process_is_one_line(milvus_settings, tmp_path):
    uri = milvus_settings.milvus_uri
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from qa.stores.milvus import connect
            connect({uri!r}); print("open", flush=True); time.sleep(60)""")],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    try:
        assert holder.stdout.readline().strip() == "open"
        from qa.stores.milvus import connect

        with pytest.raises(StoreError, match="open in another process"):
            connect(uri)
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.scale
def test_cli_indexes_and_asks_on_milvus(tmp_path, capsys):
    pytest.importorskip("milvus_lite")
    from qa.cli import main

    corpus = tmp_path / "doc.txt"
    corpus.write_text(DOC.text, encoding="utf-8")
    common = ["--corpus", str(corpus), "--model", "fake", "--index-dir", str(tmp_path / "index"),
              "--store", "milvus", "--milvus-uri", str(tmp_path / "cli.db")]
    assert main(["index", *common]) == 0
    out = capsys.readouterr().out
    assert "Milvus store" in out
    assert main(["ask", "专项经费接受审计监督", "--json", *common]) == 0
    assert "专项经费" in capsys.readouterr().out
    assert main(["index", "--verify", *common]) == 2


@pytest.mark.scale
def test_a_store_built_by_one_process_is_asked_by_the_next(tmp_path):
    """Each command is its own process, and a Lite store reopened starts with its collections released."""
    pytest.importorskip("milvus_lite")
    corpus = tmp_path / "doc.txt"
    corpus.write_text(DOC.text, encoding="utf-8")
    common = ["--corpus", str(corpus), "--model", "fake", "--index-dir", str(tmp_path / "index"),
              "--store", "milvus", "--milvus-uri", str(tmp_path / "two.db")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "QA_CACHE_DIR": str(tmp_path / "cache")}
    root = Path(__file__).resolve().parents[1]
    for command in (["index"], ["ask", "专项经费接受审计监督", "--json"]):
        done = subprocess.run([sys.executable, "-m", "qa", *command, *common], capture_output=True, text=True,
                              env=env, cwd=root, timeout=600)
        assert done.returncode == 0, done.stderr[-800:]
    assert "专项经费" in json.loads(done.stdout)["hits"][0]["text"]


# --- --where filters ------------------------------------------------------------------------------------

DOCS_2024 = [document_from_text(DOC.text, "doc", source="2024/doc.txt"),
             document_from_text(DOC2.text, "library", source="2023/library.txt")]


@pytest.mark.scale
@pytest.mark.parametrize("sample", [1024, 3])  # every passage scored exactly / candidates from filtered searches
def test_where_answers_from_the_selected_documents_only(milvus_settings, fake_embedder, sample):
    settings = milvus_settings.with_(normalisation_sample=sample, candidate_depth=4)
    everything = Assistant(DOCS_2024, settings, embedder=fake_embedder)
    everything.index.close()
    only = Assistant(DOCS_2024, settings.with_(where='source like "2023/%"'), embedder=fake_embedder)
    library = [p for p in only.index.passages if p.source == "2023/library.txt"]
    assert only.legs["lexical"].allowed.tolist() == [only.index.row_of(p.id) for p in library]
    assert 0 < len(library) < only.index.size
    for q in ["社区工作者待遇", "图书逾期怎么办", "谁负责解释本办法"]:
        answer = only.ask(q)
        assert answer.hits and {h.source for h in answer} == {"2023/library.txt"}, q
    only.index.close()
    # a filter selects, it does not rescale: the library's passages keep their unfiltered order and scores
    everything = Assistant(DOCS_2024, settings.with_(normalisation_sample=1024), embedder=fake_embedder)
    full = [h for h in everything.ask("图书逾期怎么办", k=10) if h.source == "2023/library.txt"]
    everything.index.close()
    only = Assistant(DOCS_2024, settings.with_(normalisation_sample=1024, where='title == "library"'),
                     embedder=fake_embedder)
    part = {h.passage_id: h.scores["fused"] for h in only.ask("图书逾期怎么办", k=10)}
    assert full and {h.passage_id: h.scores["fused"] for h in full} == pytest.approx(
        {h.passage_id: part[h.passage_id] for h in full}, abs=1e-6)
    assert list(part.values()) == sorted(part.values(), reverse=True)


@pytest.mark.scale
def test_where_selecting_nothing_finds_nothing(milvus_settings, fake_embedder):
    a = Assistant(DOCS_2024, milvus_settings.with_(where='source == "no/such.txt"'), embedder=fake_embedder)
    answer = a.ask("社区工作者待遇")
    assert not answer.hits and not answer.found


@pytest.mark.scale
def test_a_bad_where_expression_is_one_line(milvus_settings, fake_embedder):
    with pytest.raises(StoreError, match="not a Milvus expression") as info:
        Assistant(DOCS_2024, milvus_settings.with_(where="source like"), embedder=fake_embedder)
    assert "\n" not in str(info.value) and "source like" in str(info.value)


@pytest.mark.scale
def test_cli_where(tmp_path, capsys):
    pytest.importorskip("milvus_lite")
    from qa.cli import main

    for d in DOCS_2024:
        (tmp_path / d.source).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / d.source).write_text(d.text, encoding="utf-8")
    common = ["--corpus", str(tmp_path / "2024"), str(tmp_path / "2023"), "--model", "fake",
              "--index-dir", str(tmp_path / "index")]
    milvus = [*common, "--store", "milvus", "--milvus-uri", str(tmp_path / "cli.db")]
    assert main(["ask", "社区工作者待遇", "--json", "--where", 'source like "%library%"', *milvus]) == 0
    import json

    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits and all(h["source"].endswith("library.txt") for h in hits)
    assert main(["ask", "社区工作者待遇", "--where", 'source like "%library%"', *common]) == 1
    err = capsys.readouterr().err
    assert "--where filters a Milvus store only" in err and err.count("\n") == 1


# --- the English dictionary leg -------------------------------------------------------------------------

@pytest.mark.scale
def test_english_questions_rank_alike_on_both_stores(fake_settings, milvus_settings, fake_embedder):
    from qa import Settings

    cache = Settings().cache_dir  # the reverse CC-CEDICT dictionary, built once for the user
    embedded = Assistant([DOC, DOC2], fake_settings.with_(cache_dir=cache), embedder=fake_embedder)
    milvus = Assistant([DOC, DOC2], milvus_settings.with_(cache_dir=cache), embedder=fake_embedder)
    questions = ["library opening hours", "who audits the special funds", "community workers salary"]
    _same_answers(embedded, milvus, questions)
    used = [h.scores["dictionary"] for q in questions for h in milvus.ask(q)]
    assert max(used) > 0  # the leg took part (it found renderings), on both stores alike
