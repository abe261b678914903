"""Identical passages in one batch are embedded once: the index build and the cached embedder encode each
distinct text once and give every repeat the same vector. Fast lane (no model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qa.embed import FakeEmbedder, SentenceEmbedder
from qa.vector_cache import VectorCache


class CountingEmbedder(FakeEmbedder):
    """The fake embedder, remembering every passage text it was asked to encode."""

    def __init__(self) -> None:
        super().__init__()
        self.encoded: list[str] = []

    def encode_passages(self, texts, *, progress=False):
        self.encoded += list(texts)
        return super().encode_passages(texts, progress=progress)


def test_encode_distinct_encodes_each_text_once_and_reuses_its_vector():
    from qa.index import encode_distinct

    texts = ["甲乙丙", "丁戊", "甲乙丙", "己", "丁戊", "甲乙丙"]
    counting = CountingEmbedder()
    vectors = encode_distinct(counting, texts)
    assert counting.encoded == ["甲乙丙", "丁戊", "己"]  # first-occurrence order, nothing twice
    assert np.array_equal(vectors, FakeEmbedder().encode_passages(texts))  # same result as encoding them all


def test_encode_distinct_of_all_distinct_or_no_texts_is_one_plain_call():
    from qa.index import encode_distinct

    counting = CountingEmbedder()
    assert encode_distinct(counting, ["一", "二"]).shape == (2, counting.dimension)
    assert encode_distinct(counting, []).shape == (0, counting.dimension)
    assert counting.encoded == ["一", "二"] and counting.calls == 2


def test_an_index_build_embeds_a_repeated_paragraph_once(fake_settings, tmp_path):
    from qa import Assistant

    boilerplate = "本文件由办公室负责解释，自印发之日起施行。"
    doc = tmp_path / "notice.txt"
    doc.write_text("\n\n".join(["一、总则", "第一段讲经费保障的办法和标准。", boilerplate,
                                "二、附则", "第二段讲考核评价的主体和程序。", boilerplate]) + "\n", encoding="utf-8")
    counting = CountingEmbedder()
    assistant = Assistant([doc], fake_settings, embedder=counting)
    texts = [p.text for p in assistant.passages]
    assert texts.count(boilerplate) == 2  # the document really repeats it: two passages
    assert len(counting.encoded) == len(set(counting.encoded))  # passages and sentences: no text twice per batch
    assert counting.encoded.count(boilerplate) == 1  # its sentence, once (passages carry their heading path)
    hits = assistant.ask("文件什么时候施行？", 3).hits
    assert any(boilerplate in h.text for h in hits)


def test_the_cached_embedder_encodes_a_repeated_text_once(tmp_path, monkeypatch):
    """SentenceEmbedder (the real model's path, the model replaced) asks the model once per distinct text."""
    embedder = object.__new__(SentenceEmbedder)  # no model: only what encode_passages uses
    embedder.fingerprint, embedder.document_prompt, embedder.dimension = "test", "passage: ", 4
    embedder._cache = VectorCache(Path(tmp_path) / "embeddings.sqlite")
    asked: list[list[str]] = []

    def model(texts, prompt, progress=False):
        asked.append(list(texts))
        return np.stack([np.full(4, 0.5 + len(t), dtype=np.float32) for t in texts])

    monkeypatch.setattr(embedder, "_encode", model)
    out = embedder.encode_passages(["ab", "c", "ab", "ab", "c", "def"])
    assert asked == [["ab", "c", "def"]]
    assert [v[0] for v in out] == [2.5, 1.5, 2.5, 2.5, 1.5, 3.5]
    assert np.array_equal(embedder.encode_passages(["def", "ab"]), out[[5, 0]]) and len(asked) == 1  # cached
