"""The stored index: build, reuse, incremental add/change/remove, staleness, damage, crashes, one writer.

Fast lane: the fake embedder, small documents.
"""

import json
import threading

import numpy as np
import pytest

from qa.corpus import document_from_text
from qa.errors import IndexLoadError
from qa.index import (MANIFEST, SEGMENTS, build_identity, index_folder, load_index, open_index, update_index,
                      verify_index)

A = document_from_text("一、总则 社区党建要加强。 二、保障 经费要落实。待遇要提高。", "a", source="a.txt")
B = document_from_text("一、范围 本办法适用于全市小区。 二、职责 街道负责统筹。", "b", source="b.txt")
B2 = document_from_text("一、范围 本办法适用于全市所有居民小区。 二、职责 区政府负责统筹。 三、附则 自公布之日起施行。",
                        "b", source="b.txt")
C = document_from_text("一、目标 建成充电设施一千个。", "c", source="c.txt")


def folder_of(docs, settings):
    return index_folder(docs, settings, ["corpus"])


def open_(docs, settings, embedder, **kw):
    return open_index(docs, settings, embedder, sources=["corpus"], **kw)


def texts(index):
    return sorted(p.text for p in index.passages)


def test_first_open_builds_then_reuses(fake_settings, fake_embedder):
    index, status = open_([A], fake_settings, fake_embedder)
    assert status.startswith("updated index (rebuilt (no index yet): 1 added")
    again, status2 = open_([A], fake_settings, fake_embedder)
    assert status2.startswith("loaded index")
    assert [p.to_dict() for p in again.passages] == [p.to_dict() for p in index.passages]
    assert again.size == len(index.passages) == 2


def test_manifest_records_what_built_it_and_each_document(fake_settings, fake_embedder):
    open_([A, B], fake_settings, fake_embedder)
    manifest = json.loads((folder_of([A, B], fake_settings) / MANIFEST).read_text())
    assert manifest["model"] == fake_embedder.identity
    assert manifest["settings"] == fake_settings.index_fingerprint()
    assert set(manifest["documents"]) == {"a.txt", "b.txt"}
    assert all(len(d["checksum"]) == 64 and d["passages"] > 0 for d in manifest["documents"].values())
    files = manifest["segments"][0]["files"]
    assert {"passages.sqlite", "passage_vectors.npy"} <= set(files)
    assert all(len(f["sha256"]) == 64 for f in files.values())


def test_adding_changing_and_removing_documents_updates_in_place(fake_settings, fake_embedder):
    folder = folder_of([A], fake_settings)
    open_([A, B], fake_settings, fake_embedder)
    changes = update_index(folder, [A, B2, C], fake_settings, fake_embedder)
    assert (changes.added, changes.updated, changes.removed, changes.unchanged) == (["c.txt"], ["b.txt"], [], ["a.txt"])
    assert not changes.rebuilt
    index = load_index(folder, build_identity(fake_settings, fake_embedder), fake_settings)
    assert "区政府负责统筹。" in texts(index) and "街道负责统筹。" not in texts(index)
    assert len(index.segments) == 2  # the unchanged document was not re-indexed
    assert index.size == 2 + 3 + 1
    changes = update_index(folder, [B2, C], fake_settings, fake_embedder)
    assert changes.removed == ["a.txt"] and changes.unchanged == ["b.txt", "c.txt"]
    index = load_index(folder, build_identity(fake_settings, fake_embedder), fake_settings)
    assert not any("党建" in t for t in texts(index))
    assert index.row_of("a:000") is None and index.passage("c:000").text == "建成充电设施一千个。"


def test_an_update_embeds_only_new_passages(fake_settings, fake_embedder):
    open_([A], fake_settings, fake_embedder)
    seen = []
    original = fake_embedder.encode_passages
    fake_embedder.encode_passages = lambda texts, **kw: seen.extend(texts) or original(texts, **kw)
    update_index(folder_of([A], fake_settings), [A, C], fake_settings, fake_embedder)
    assert seen and all("社区党建" not in t for t in seen)
    assert any("充电设施" in t for t in seen)


def test_removed_rows_are_never_returned_by_search(fake_settings, fake_embedder):
    from qa import Assistant

    open_([A, B], fake_settings, fake_embedder)
    update_index(folder_of([A], fake_settings), [B], fake_settings, fake_embedder)
    assistant = Assistant([B], fake_settings, embedder=fake_embedder)
    answer = assistant.ask("社区党建经费待遇", k=10)
    assert answer.hits and all(h.doc_id == "b" for h in answer)


def test_settings_or_model_change_rebuilds_whole(fake_settings, fake_embedder):
    open_([A], fake_settings, fake_embedder)
    changed = fake_settings.with_(max_passage_chars=300)
    _, status = open_([A], changed, fake_embedder)
    assert "rebuilt (built differently: settings)" in status
    from qa.embed import FakeEmbedder

    _, status = open_([A], changed, FakeEmbedder(dimension=64))
    assert "rebuilt (built differently: model)" in status


@pytest.mark.parametrize("victim", ["passage_vectors.npy", "passages.sqlite", "post_rows.npy", MANIFEST])
def test_damaged_file_is_detected_and_rebuilt(fake_settings, fake_embedder, victim):
    index, _ = open_([A, B], fake_settings, fake_embedder)
    before = texts(index)
    folder = folder_of([A], fake_settings)
    path = folder / MANIFEST if victim == MANIFEST else folder / SEGMENTS / index.segments[0].name / victim
    path.write_bytes(b"\x00garbage")
    with pytest.raises(IndexLoadError):
        load_index(folder, build_identity(fake_settings, fake_embedder), fake_settings)
    rebuilt, status = open_([A, B], fake_settings, fake_embedder)
    assert "rebuilt" in status
    assert texts(rebuilt) == before


def test_verify_hashes_every_file(fake_settings, fake_embedder):
    index, _ = open_([A], fake_settings, fake_embedder)
    folder = folder_of([A], fake_settings)
    assert verify_index(folder) == []
    vectors = folder / SEGMENTS / index.segments[0].name / "passage_vectors.npy"
    data = bytearray(vectors.read_bytes())
    data[-1] ^= 0x01  # same size: only the full check can see it
    vectors.write_bytes(bytes(data))
    problems = verify_index(folder)
    assert len(problems) == 1 and "passage_vectors.npy fails its checksum" in problems[0]


@pytest.mark.parametrize("stage", ["embedding", "writing the manifest"])
def test_a_crash_during_an_update_leaves_the_previous_index_usable(fake_settings, fake_embedder, monkeypatch, stage):
    import qa.index as qi

    open_([A], fake_settings, fake_embedder)
    folder = folder_of([A], fake_settings)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    if stage == "embedding":
        monkeypatch.setattr(fake_embedder, "encode_passages", crash)
    else:
        monkeypatch.setattr(qi, "write_json", crash)
    with pytest.raises(KeyboardInterrupt):
        update_index(folder, [A, C], fake_settings, fake_embedder)
    monkeypatch.undo()
    index = load_index(folder, build_identity(fake_settings, fake_embedder), fake_settings)
    assert texts(index) == ["社区党建要加强。", "经费要落实。待遇要提高。"]
    assert set(index.documents) == {"a.txt"}
    # the next update finishes the job and leaves no half-written segment behind
    update_index(folder, [A, C], fake_settings, fake_embedder)
    live = {r["name"] for r in json.loads((folder / MANIFEST).read_text())["segments"]}
    assert {p.name for p in (folder / SEGMENTS).iterdir()} == live


def test_many_updates_are_merged_into_few_segments(fake_settings, fake_embedder):
    settings = fake_settings.with_(max_segments=3)
    folder = folder_of([A], settings)
    docs = [A]
    open_(docs, settings, fake_embedder)
    for i in range(5):
        docs = docs + [document_from_text(f"一、第{i}条 内容{i}。", f"d{i}", source=f"d{i}.txt")]
        update_index(folder, docs, settings, fake_embedder)
    index = load_index(folder, build_identity(settings, fake_embedder), settings)
    assert len(index.segments) <= 3
    assert index.size == 2 + 5


def test_a_second_writer_waits_for_the_first(fake_settings, fake_embedder, monkeypatch):
    import qa.index as qi

    folder = folder_of([A], fake_settings)
    open_([A], fake_settings, fake_embedder)
    monkeypatch.setattr(qi, "LOCK_WAIT_S", 0.3)
    started, release = threading.Event(), threading.Event()
    original = fake_embedder.encode_passages

    def slow(texts, **kw):
        started.set()
        release.wait(5)
        return original(texts, **kw)

    fake_embedder.encode_passages = slow
    t = threading.Thread(target=update_index, args=(folder, [A, C], fake_settings, fake_embedder))
    t.start()
    started.wait(5)
    with pytest.raises(IndexLoadError, match="another process is updating"):
        update_index(folder, [A, B], fake_settings, fake_embedder)
    release.set()
    t.join()
    assert set(load_index(folder, build_identity(fake_settings, fake_embedder), fake_settings).documents) == {"a.txt", "c.txt"}


def test_large_vector_sets_get_an_ivf_index_with_the_same_top_hits(fake_settings, fake_embedder):
    from qa import Assistant

    docs = [document_from_text("。".join(f"第{i}段第{j}句讲{i * j}号事项" for j in range(4)) + "。", f"d{i}",
                               source=f"d{i}.txt") for i in range(80)]
    exact = Assistant(docs, fake_settings, embedder=fake_embedder)
    ann_settings = fake_settings.with_(ann_min_vectors=50, ann_nlist=8, ann_nprobe=8)
    ann = Assistant(docs, ann_settings, embedder=fake_embedder)
    assert ann.index.describe()["vector_index"] == ["ivf"]
    for q in ["第3段讲什么事项", "12号事项", "第77段第2句"]:
        a, b = exact.ask(q, k=5, retriever="dense"), ann.ask(q, k=5, retriever="dense")
        assert [h.passage_id for h in a] == [h.passage_id for h in b]  # every cell probed: exact
        assert np.allclose([h.scores["dense"] for h in a], [h.scores["dense"] for h in b])


def test_console_progress_prints_each_stage_once_when_not_a_terminal():
    import io

    from qa.index import ConsoleProgress

    stream = io.StringIO()
    progress = ConsoleProgress(stream)
    for stage, fraction in [("embedding", 0.1), ("embedding", 0.5), ("index ready", 1.0)]:
        progress(stage, fraction)
    progress.close()
    assert stream.getvalue().splitlines() == ["  embedding …", "  index ready …"]
