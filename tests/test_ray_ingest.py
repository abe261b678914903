"""``qa index --ray`` on a local Ray: files read and split in Ray tasks give the documents, passages, errors
and warnings of one process, the index takes those passages (nothing is split again in the driver), and
embedding through the Ray Data actor pool gives the same vectors, in the caller's order, and the same index."""

import json
import warnings

import numpy as np
import pytest

from essay_formats import write_docx, write_html, write_pdf, write_scanned_pdf
from qa import Assistant, Settings
from qa.corpus import document_from_text, load_corpus
from qa.embed import FakeEmbedder
from qa.passages import split_corpus

pytestmark = pytest.mark.scale

DOC = document_from_text(
    "一、组织 街道党工委统筹辖区资源。社区党组织服务群众。\n"
    "二、经费 党建经费按人头拨付。专项经费接受审计监督。\n"
    "三、人才 社区工作者待遇逐年提高。优秀社区工作者可以考录公务员。", "doc", source="doc.txt")


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    from qa.stores.ray_ingest import start_ray

    start_ray(None, num_cpus=2)
    yield ray
    ray.shutdown()


def test_unreachable_cluster_is_one_line():
    ray = pytest.importorskip("ray")
    from qa.stores import StoreError
    from qa.stores.ray_ingest import start_ray

    if ray.is_initialized():
        pytest.skip("a Ray session is already open in this process")
    with pytest.raises(StoreError, match="cannot reach the Ray cluster at 127.0.0.1:1") as info:
        start_ray("127.0.0.1:1")
    assert "\n" not in str(info.value)


def test_actor_pool_returns_single_process_vectors_in_order(local_ray, fake_settings):
    from qa.stores.ray_ingest import embed_texts

    texts = [f"第{i}段：社区工作者待遇逐年提高，编号{i * 7}" for i in range(300)]
    vectors = embed_texts(texts, fake_settings, batch_size=16)
    expected = FakeEmbedder().encode_passages(texts)
    assert vectors.shape == expected.shape
    assert float(np.abs(vectors - expected).max()) == 0.0


def test_index_built_through_ray_answers_like_one_built_locally(local_ray, fake_settings, tmp_path):
    from qa.stores.ray_ingest import RayEmbedder

    local = Assistant([DOC], fake_settings, embedder=FakeEmbedder())
    ray_settings = fake_settings.with_(index_dir=tmp_path / "ray-index")
    through_ray = Assistant([DOC], ray_settings, embedder=RayEmbedder(FakeEmbedder(), ray_settings))
    for q in ["专项经费接受审计监督", "社区工作者待遇"]:
        a, b = local.ask(q), through_ray.ask(q)
        assert [h.passage_id for h in a] == [h.passage_id for h in b]
        assert [h.scores["fused"] for h in a] == pytest.approx([h.scores["fused"] for h in b], abs=1e-6)


# -- reading and splitting files in Ray tasks ----------------------------------------------------------------

TEXT = "一、组织\n街道党工委统筹辖区资源。社区党组织服务群众。\n\n二、经费\n党建经费按人头拨付。专项经费接受审计监督。"


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory):
    """Text, web page, Word and PDF files, two files named alike in different folders, an unsupported file."""
    folder = tmp_path_factory.mktemp("mixed")
    (folder / "sub").mkdir()
    (folder / "notes.txt").write_text(TEXT, encoding="utf-8")
    (folder / "sub" / "notes.txt").write_text("三、人才\n社区工作者待遇逐年提高。", encoding="utf-8")
    write_html(folder / "page.html")
    write_docx(folder / "essay.docx")
    write_pdf(folder / "essay.pdf")
    write_scanned_pdf(folder / "scan.pdf")
    (folder / "table.xyz").write_text("not a document", encoding="utf-8")
    return folder


def _outcome(read):
    """What reading gives: (documents, passages) or the error's type and message, with the warnings given."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = read()
        except Exception as exc:  # noqa: BLE001 - compared below
            result = (type(exc), str(exc))
    return result, [(w.category, str(w.message)) for w in caught]


def _no_split(*args, **kwargs):
    raise AssertionError("a document was split in the driver")


def _one_process(paths, settings):
    docs = load_corpus(paths, settings)
    return docs, split_corpus(docs, settings)


def _in_ray_tasks(paths, settings):
    from qa.stores.ray_ingest import read_corpus

    docs, split = read_corpus(paths, settings)
    return docs, split(docs, settings)


def test_files_read_and_split_in_ray_tasks_are_those_of_one_process(local_ray, fake_settings, mixed_folder):
    (docs, passages), warned = _outcome(lambda: _one_process([mixed_folder], fake_settings))
    (ray_docs, ray_passages), ray_warned = _outcome(lambda: _in_ray_tasks([mixed_folder], fake_settings))
    assert [d.doc_id for d in docs] == ["essay", "essay_2", "notes", "page", "scan", "notes_2"]
    assert ray_docs == docs  # every field: id, title, text, source, blocks
    assert ray_passages == passages and len(passages) > 50
    assert {p.doc_id for p in ray_passages} == {d.doc_id for d in docs}
    assert ray_warned == warned and any("without a text layer" in m for _, m in warned)
    assert any("table.xyz" in m for _, m in warned)


def test_the_bundled_essay_is_read_by_default(local_ray, fake_settings):
    assert _in_ray_tasks(None, fake_settings) == _one_process(None, fake_settings)


@pytest.mark.parametrize("name, data", [
    ("broken.pdf", b"%PDF-1.7 nothing else"),
    ("broken.docx", b"PK\x03\x04 not really a zip"),
    ("data.txt", bytes(range(256)) * 8),
    ("picture.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"),
])
def test_a_bad_file_gives_the_error_or_warning_of_one_process(local_ray, fake_settings, tmp_path, name, data):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(TEXT, encoding="utf-8")
    (folder / name).write_bytes(data)
    (folder / "z.txt").write_text("三、人才\n社区工作者待遇逐年提高。", encoding="utf-8")
    for paths in ([folder], [folder / name]):
        expected = _outcome(lambda: _one_process(paths, fake_settings))
        assert _outcome(lambda: _in_ray_tasks(paths, fake_settings)) == expected
        if isinstance(expected[0][0], type):  # refused: one line naming the file
            assert name in expected[0][1] and "\n" not in expected[0][1]


def test_cli_index_ray_splits_nothing_in_the_driver_and_one_process_opens_its_index(
        local_ray, fake_settings, mixed_folder, tmp_path, monkeypatch, capsys):
    import qa.passages
    from qa.cli import main

    index_dir = tmp_path / "index"
    args = ["--corpus", str(mixed_folder), "--model", "fake", "--index-dir", str(index_dir)]
    with monkeypatch.context() as m:
        m.setattr(qa.passages, "split_document", _no_split)  # the driver's; the Ray workers have their own
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert main(["index", *args, "--ray"]) == 0
    assert "updated index (rebuilt (no index yet): 6 added" in capsys.readouterr().out
    settings = fake_settings.with_(index_dir=index_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opened = Assistant([mixed_folder], settings)  # as `qa ask --corpus FOLDER` opens it, without Ray
        local = Assistant([mixed_folder], fake_settings.with_(index_dir=tmp_path / "local"))
    assert opened.index_status.startswith("loaded index from")
    assert opened.passages == local.passages
    for q in ["专项经费接受审计监督", "社区工作者待遇"]:
        a, b = local.ask(q), opened.ask(q)
        assert [h.passage_id for h in a] == [h.passage_id for h in b] and a.found == b.found
    assert main(["ask", "社区工作者待遇", *args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["passage_id"] == a.hits[0].passage_id


def test_cli_index_ray_updates_a_collection_with_files_read_on_ray(local_ray, tmp_path, monkeypatch, capsys):
    import qa.passages
    from qa.cli import main
    from qa.collection import Collection

    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text(TEXT, encoding="utf-8")
    second.write_text("三、人才\n社区工作者待遇逐年提高。", encoding="utf-8")
    common = ["--collection", "c", "--model", "fake", "--index-dir", str(tmp_path / "index")]
    assert main(["add", str(first), *common]) == 0
    collection = Collection("c", Settings(model="fake", index_dir=tmp_path / "index"))
    (collection.files / "second.txt").write_bytes(second.read_bytes())  # a file the index does not have yet
    capsys.readouterr()
    with monkeypatch.context() as m:
        m.setattr(qa.passages, "split_document", _no_split)
        assert main(["index", *common, "--ray"]) == 0
    out = capsys.readouterr().out
    assert "added (1): second.txt" in out and "unchanged (1): first.txt" in out
    rows = {r.name: r.passages for r in collection.list()}
    assert rows == {"first.txt": len(split_corpus(load_corpus([first]))), "second.txt": 1}


def test_cli_index_ray_on_milvus_reads_and_splits_nothing_in_the_driver(local_ray, tmp_path, monkeypatch, capsys):
    pytest.importorskip("milvus_lite")
    import qa.passages
    import qa.readers
    from qa.cli import main

    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text(TEXT, encoding="utf-8")
    (folder / "sub" / "notes.txt").write_text("三、人才\n社区工作者待遇逐年提高。", encoding="utf-8")
    common = ["--corpus", str(folder), "--model", "fake", "--index-dir", str(tmp_path / "index")]
    milvus = ["--store", "milvus", "--milvus-uri", str(tmp_path / "ray.db")]
    with monkeypatch.context() as m:
        m.setattr(qa.readers, "read_document", lambda *a, **k: pytest.fail("a file was read in the driver"))
        m.setattr(qa.passages, "split_document", _no_split)  # the store takes the passages the tasks split
        assert main(["index", *common, *milvus, "--ray"]) == 0
    assert "updated Milvus store" in capsys.readouterr().out
    answers = []
    for store in (milvus, []):  # the store Ray filled, asked without Ray; the embedded store
        assert main(["ask", "社区工作者待遇", "--json", *common, *store]) == 0
        answer = json.loads(capsys.readouterr().out)
        answers.append(([h["passage_id"] for h in answer["hits"]], answer["found"]))
    assert answers[0] == answers[1] and answers[0][0][0] == "notes_2:000"


def test_cli_index_ray_refuses_a_bad_file_as_one_process_and_writes_nothing(local_ray, tmp_path, capsys):
    from qa.cli import main

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(TEXT, encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 nothing else")
    errors = []
    for ray in ([], ["--ray"]):
        index_dir = tmp_path / f"index{len(ray)}"
        assert main(["index", "--corpus", str(folder), "--model", "fake", "--index-dir", str(index_dir), *ray]) == 1
        errors.append(capsys.readouterr().err)
        assert not any(index_dir.rglob("manifest.json"))
    assert errors[0] == errors[1] and "broken.pdf" in errors[0] and errors[0].count("\n") == 1
