"""The embedding cache: every vector read back is verified; damage means re-embedding, never reuse."""

from __future__ import annotations

import logging
import sqlite3
import threading

import numpy as np
import pytest

from qa.config import Settings
from qa.embed import SentenceEmbedder
from qa.vector_cache import SCHEMA_VERSION, VectorCache

DIM = 8


def _vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def _rows(path):
    with sqlite3.connect(path) as con:
        return {k: (bytes(v), bytes(c)) for k, v, c in con.execute("SELECT key, vector, checksum FROM vectors")}


def _update(path, key, **values):
    with sqlite3.connect(path) as con:
        for column, value in values.items():
            con.execute(f"UPDATE vectors SET {column} = ? WHERE key = ?", (value, key))


def _flip_bit(blob: bytes, bit: int) -> bytes:
    b = bytearray(blob)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


@pytest.fixture()
def cache(tmp_path):
    c = VectorCache(tmp_path / "embeddings.sqlite")
    c.put({f"k{i}": _vec(i) for i in range(5)})
    return c


def test_vectors_round_trip_exactly(cache):
    got = cache.get([f"k{i}" for i in range(6)], DIM)
    assert set(got) == {f"k{i}" for i in range(5)}
    assert all(np.array_equal(got[f"k{i}"], _vec(i)) for i in range(5))


@pytest.mark.parametrize("bit", [0, 31, 100, DIM * 32 - 1])  # sign, exponent and mantissa bits alike
def test_one_flipped_bit_in_a_vector_is_detected_dropped_and_warned_once(cache, caplog, bit):
    blob, _ = _rows(cache.path)["k2"]
    _update(cache.path, "k2", vector=_flip_bit(blob, bit))
    with caplog.at_level(logging.WARNING, logger="qa.vector_cache"):
        got = cache.get([f"k{i}" for i in range(5)], DIM)
    assert set(got) == {"k0", "k1", "k3", "k4"}  # k2 reported missing: it will be embedded again
    assert "k2" not in _rows(cache.path)  # and deleted
    assert len(caplog.records) == 1 and "1 stored vector(s) failed their checksum" in caplog.text


def test_many_bad_rows_give_one_warning_line(cache, caplog):
    rows = _rows(cache.path)
    for key in ("k0", "k1", "k3"):
        _update(cache.path, key, vector=_flip_bit(rows[key][0], 7))
    with caplog.at_level(logging.WARNING, logger="qa.vector_cache"):
        assert set(cache.get([f"k{i}" for i in range(5)], DIM)) == {"k2", "k4"}
    assert len(caplog.records) == 1 and "3 stored vector(s)" in caplog.text


def test_altered_checksum_or_swapped_vectors_are_detected(cache):
    rows = _rows(cache.path)
    _update(cache.path, "k0", checksum=_flip_bit(rows["k0"][1], 3))
    _update(cache.path, "k1", vector=rows["k3"][0], checksum=rows["k3"][1])  # k3's vector under k1's key
    assert set(cache.get(["k0", "k1", "k3"], DIM)) == {"k3"}


def test_nan_and_inf_rows_are_dropped_even_with_a_valid_checksum(tmp_path):
    from qa.vector_cache import _checksum

    cache = VectorCache(tmp_path / "c.sqlite")
    cache.put({"ok": _vec(0)})
    for key, value in (("nan", np.nan), ("inf", np.inf)):
        blob = np.full(DIM, value, dtype=np.float32).tobytes()
        with sqlite3.connect(cache.path) as con:
            con.execute("INSERT INTO vectors VALUES (?, ?, ?)", (key, blob, _checksum(key, blob)))
    assert set(cache.get(["ok", "nan", "inf"], DIM)) == {"ok"}
    assert set(_rows(cache.path)) == {"ok"}


def test_non_finite_vectors_are_never_stored(tmp_path, caplog):
    cache = VectorCache(tmp_path / "c.sqlite")
    bad = _vec(1)
    bad[3] = np.nan
    with caplog.at_level(logging.WARNING, logger="qa.vector_cache"):
        cache.put({"good": _vec(0), "bad": bad})
    assert set(_rows(cache.path)) == {"good"} and "1 vector(s) with NaN or inf not stored" in caplog.text


def test_a_vector_of_another_dimension_is_a_miss_not_damage(cache, caplog):
    with caplog.at_level(logging.WARNING, logger="qa.vector_cache"):
        assert cache.get(["k0"], DIM + 1) == {}
    assert "k0" in _rows(cache.path) and not caplog.records


def test_an_old_cache_without_checksums_is_emptied_and_then_works(tmp_path):
    path = tmp_path / "embeddings.sqlite"
    with sqlite3.connect(path) as con:  # the format before checksums
        con.execute("CREATE TABLE vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        con.execute("INSERT INTO vectors VALUES (?, ?)", ("k0", np.ones(DIM, dtype=np.float32).tobytes()))
    cache = VectorCache(path)
    assert cache.get(["k0"], DIM) == {}  # unverifiable: embedded again
    cache.put({"k0": _vec(0)})
    assert np.array_equal(cache.get(["k0"], DIM)["k0"], _vec(0))
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_file_that_is_not_a_database_is_replaced(tmp_path, caplog):
    path = tmp_path / "embeddings.sqlite"
    path.write_bytes(b"not a database" * 100)
    cache = VectorCache(path)
    with caplog.at_level(logging.WARNING, logger="qa.vector_cache"):
        assert cache.get(["k0"], DIM) == {}
    assert "is unreadable" in caplog.text
    cache.put({"k0": _vec(0)})
    assert set(cache.get(["k0"], DIM)) == {"k0"}


def test_an_unusable_location_is_not_fatal(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = VectorCache(blocker / "sub" / "c.sqlite")  # its folder cannot be created
    assert cache.get(["k0"], DIM) == {}
    cache.put({"k0": _vec(0)})  # no exception


def test_concurrent_writers_and_readers_agree(tmp_path):
    cache = VectorCache(tmp_path / "c.sqlite")
    errors = []

    def work(offset):
        try:
            for i in range(20):
                other = VectorCache(cache.path)  # a separate connection each time, like separate processes
                other.put({f"t{offset}-{i}": _vec(offset * 100 + i)})
                got = other.get([f"t{offset}-{i}"], DIM)
                assert np.array_equal(got[f"t{offset}-{i}"], _vec(offset * 100 + i))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(_rows(cache.path)) == 80


# -- through the embedder: damaged vectors are re-embedded, not reused ---------------------------------

class _CountingModel:
    """Stands in for the embedding model: a fixed vector per text, and a log of what it embedded."""

    def __init__(self):
        self.embedded: list[str] = []

    def __call__(self, texts, prompt, progress=False):
        self.embedded.extend(texts)
        return np.stack([_vec(sum(map(ord, t))) for t in texts])


def _embedder(tmp_path, monkeypatch):
    e = SentenceEmbedder.__new__(SentenceEmbedder)  # no model loaded: only the caching path is under test
    e.settings = Settings(cache_dir=tmp_path)
    e.fingerprint, e.document_prompt, e.dimension = "test-model", "passage: ", DIM
    e._lock = threading.Lock()
    e._cache = VectorCache(tmp_path / "embeddings.sqlite")
    model = _CountingModel()
    monkeypatch.setattr(e, "_encode", model)
    return e, model


def test_a_flipped_bit_in_a_stored_vector_is_re_embedded_not_reused(tmp_path, monkeypatch):
    embedder, model = _embedder(tmp_path, monkeypatch)
    texts = ["社区党建", "网格支部", "驻区单位结对共建"]
    first = embedder.encode_passages(texts)
    assert model.embedded == texts

    key = embedder._key("网格支部")
    blob, _ = _rows(embedder._cache.path)[key]
    _update(embedder._cache.path, key, vector=_flip_bit(blob, 30))  # exponent bit: a wildly wrong value
    model.embedded.clear()

    again = embedder.encode_passages(texts)
    assert model.embedded == ["网格支部"]  # only the damaged one, embedded afresh
    assert np.array_equal(again, first)
    model.embedded.clear()
    embedder.encode_passages(texts)
    assert model.embedded == []  # and stored again, verified
