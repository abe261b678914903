"""Index persistence: atomic save, reuse when fresh, rebuild when stale or corrupted."""

import json

import pytest

from qa.config import Settings
from qa.corpus import document_from_text
from qa.errors import IndexLoadError
from qa.index import MANIFEST, PASSAGES, PASSAGE_VECTORS, expected_manifest, index_folder, load_index, open_index

DOCS = [document_from_text("一、总则 社区党建要加强。 二、保障 经费要落实。待遇要提高。", "small", source="small.txt")]


@pytest.fixture()
def small(tmp_path, embedder):
    settings = Settings(index_dir=tmp_path, model=embedder.settings.model, cache_dir=embedder.settings.cache_dir)
    index, status = open_index(DOCS, settings, embedder)
    return settings, index, status


def test_first_open_builds_and_saves_then_reuses(small, embedder):
    settings, index, status = small
    assert status.startswith("built index")
    folder = index_folder(DOCS, settings)
    assert (folder / MANIFEST).exists()
    again, status2 = open_index(DOCS, settings, embedder)
    assert status2.startswith("loaded index")
    assert [p.to_dict() for p in again.passages] == [p.to_dict() for p in index.passages]
    assert again.passage_vectors.ntotal == index.passage_vectors.ntotal == len(index.passages)


def test_manifest_records_what_built_it(small, embedder):
    settings, _, _ = small
    manifest = json.loads((index_folder(DOCS, settings) / MANIFEST).read_text())
    assert manifest["model"] == embedder.identity
    assert manifest["settings"] == settings.index_fingerprint()
    assert len(manifest["corpus"]["checksum"]) == 64
    assert {"faiss-cpu", "bm25s", "sentence-transformers"} <= set(manifest["versions"])
    assert PASSAGES in manifest["files"]


def test_changed_corpus_or_settings_or_model_is_stale(small, embedder):
    settings, _, _ = small
    folder = index_folder(DOCS, settings)
    changed_doc = [document_from_text("一、总则 内容变了。", "small", source="small.txt")]
    with pytest.raises(IndexLoadError, match="stale.*corpus"):
        load_index(folder, expected_manifest(changed_doc, settings, embedder))
    with pytest.raises(IndexLoadError, match="stale.*settings"):
        load_index(folder, expected_manifest(DOCS, settings.with_(max_passage_chars=300), embedder))
    other_model = expected_manifest(DOCS, settings, embedder)
    other_model["model"] = {**other_model["model"], "fingerprint": "another-model"}
    with pytest.raises(IndexLoadError, match="stale.*model"):
        load_index(folder, other_model)
    _, status = open_index(changed_doc, settings, embedder)
    assert status.startswith("built index") and "stale" in status


@pytest.mark.parametrize("victim", [PASSAGE_VECTORS, PASSAGES, MANIFEST])
def test_corrupted_file_is_detected_and_rebuilt(small, embedder, victim):
    settings, index, _ = small
    folder = index_folder(DOCS, settings)
    (folder / victim).write_bytes(b"\x00garbage")
    with pytest.raises(IndexLoadError):
        load_index(folder, expected_manifest(DOCS, settings, embedder))
    rebuilt, status = open_index(DOCS, settings, embedder)
    assert status.startswith("built index")
    assert len(rebuilt.passages) == len(index.passages)
    load_index(folder, expected_manifest(DOCS, settings, embedder))  # fresh again


def test_no_temporary_folders_are_left_behind(small):
    settings, _, _ = small
    assert [p.name for p in settings.index_dir.iterdir()] == [index_folder(DOCS, settings).name]


def test_console_progress_prints_each_stage_once_when_not_a_terminal():
    import io

    from qa.index import ConsoleProgress

    stream = io.StringIO()
    progress = ConsoleProgress(stream)
    for stage, fraction in [("embedding", 0.1), ("embedding", 0.5), ("index ready", 1.0)]:
        progress(stage, fraction)
    progress.close()
    assert stream.getvalue().splitlines() == ["  embedding …", "  index ready …"]
