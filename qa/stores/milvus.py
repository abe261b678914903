"""A Milvus-backed index with the same surface :func:`qa.search.search` uses from :class:`qa.index.Index`.

Three collections: passages (dense vector, passage JSON, normalised text, our BM25
tokens, the document's source and title), sentences (dense vector, parent passage id,
span, source and title) and documents (key, checksum; a row keyed ``:identity:`` holds
the build identity). Rows are Milvus's
auto ids of the passages, which grow in insertion order like the embedded rows.

Lexical: Milvus's BM25 function over OUR tokens (:func:`qa.normalize.lexical_tokens`).
Milvus Lite accepts only the ``standard`` and ``jieba`` tokenizers, so each token is
stored as a short hex word (``t`` + 12 hex digits of its hash) which any standard
analyser keeps whole; both stores then count the same terms. Milvus's score is ours
times (k1 + 1), which is divided out. Fusion, z-scores and the not-found confidence stay
in :mod:`qa.fusion` / :mod:`qa.search`; Milvus's own rankers are not used.

``Settings.where`` (``--where``) is a Milvus boolean expression over ``source`` and
``title`` (``source like "2024/%"``, ``title == "年报"``, ``and``/``or``/``not``, ``in``): the
dense leg passes it to both vector searches; the lexical and dictionary legs search
unfiltered (a filter changes Lite's BM25 statistics) and keep the matching rows. Every
leg keeps its corpus-wide mean and spread, so a filter selects passages and never
rescales them.

Verified on Milvus Lite only (no server can be installed here).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..config import Settings
from ..corpus import Document
from ..embed import Embedder
from ..index import (Changes, DocumentRecord, PassageStore, Progress, Split, build_identity, diff_documents,
                     document_checksum, embedding_text)
from ..legs import MAX_TEXT_CHECKS, Candidates, DictionaryLeg, Question, normalisation_rows
from ..lexical import B, K1, SparseScores
from ..normalize import lexical_tokens, normalize, to_simplified
from ..passages import Passage, split_corpus
from . import StoreError, reason_of, require

PASSAGES, SENTENCES, DOCUMENTS = "qa_passages", "qa_sentences", "qa_documents"
#: Most hits one Milvus search returns (its topk limit).
MAX_LIMIT = 16384
#: Rows per insert / get / query-by-ids call.
BATCH = 500
#: Passages whose vectors a loaded store keeps in memory (least recently used out; about 6 kB each).
ROW_MEMO = 4096
#: Passages whose sentences one query asks for: each query costs about the same whatever its size on
#: Milvus Lite (it scans the sentences), so few large ones (an answer over the row limit is split).
SENTENCE_QUERY_PASSAGES = 1000
SENTENCES_PER_CANDIDATE = 4
#: Key of the documents-collection row that holds the build identity (model, settings, token version).
IDENTITY_KEY = ":identity:"
#: Version of the collections' layout, part of the build identity: a store of another layout is rebuilt.
SCHEMA_VERSION = 2
#: Fields a ``--where`` expression may name, and their stored size limit (bytes).
FILTER_FIELDS = {"source": 2048, "title": 1024}


def term_key(token: str) -> str:
    """A token as a word every Milvus analyser keeps whole (Lite has no whitespace tokenizer)."""
    return "t" + hashlib.blake2b(token.encode("utf-8"), digest_size=6).hexdigest()


def lexical_field(text: str) -> str:
    """Our BM25 tokens of a text, as the space-joined words stored in the analysed field."""
    return " ".join(term_key(t) for t in lexical_tokens(text))


def default_uri(settings: Settings) -> str:
    return settings.milvus_uri or str(Path(settings.index_dir) / "milvus.db")


def connect(uri: str) -> Any:
    """A MilvusClient on a Lite file or a server URI, or a one-line :class:`StoreError`."""
    pymilvus = require("pymilvus")
    if not _is_server(uri):
        require("milvus_lite")
        Path(uri).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        client = pymilvus.MilvusClient(uri)
        _load(client)
        return client
    except Exception as exc:  # the engine raises several kinds (grpc, MilvusException, OSError)
        if _locked_elsewhere(uri):
            raise StoreError(f"the Milvus Lite file {uri} is open in another process (Lite allows one at a "
                             "time); close that process, or use a Milvus server URI") from None
        raise StoreError(f"cannot open the Milvus store at {uri} ({reason_of(exc)}); check the URI and credentials, "
                         "and that no other process has the Lite file open") from None


def _load(client: Any) -> None:
    """Load the store's collections into memory: a store opened by an earlier process starts released
    (Milvus Lite always; a server after a restart), and a released collection refuses every query."""
    for name in (PASSAGES, SENTENCES, DOCUMENTS):
        if client.has_collection(name):
            client.load_collection(name)


def _is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://", "tcp://", "unix:"))


def _locked_elsewhere(uri: str) -> bool:
    """Whether a Lite data folder's advisory lock is held (Lite keeps the cause only in its log)."""
    lock = Path(uri).expanduser() / "LOCK"
    if not lock.is_file():
        return False
    try:
        import fcntl
    except ImportError:  # Windows: cannot tell
        return False
    with lock.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def _clip(text: str, limit: int) -> str:
    """A text cut to at most ``limit`` UTF-8 bytes (Milvus VARCHAR limits are in bytes)."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def _metadata(doc: Document) -> dict[str, str]:
    """The document fields stored on each passage and sentence, for ``--where`` filters."""
    return {"source": _clip(doc.source, FILTER_FIELDS["source"]), "title": _clip(doc.title, FILTER_FIELDS["title"])}


def _doc_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _ids_expr(field: str, ids: Sequence[int]) -> str:
    return f"{field} in [{','.join(str(int(i)) for i in ids)}]"


def _chunks(items: Sequence[Any], size: int = BATCH) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _query_all(client: Any, collection: str, filter: str, fields: list[str]) -> list[dict[str, Any]]:
    """Every row matching a filter (Milvus caps one query at 16384 rows; the iterator pages past it)."""
    count = int(client.query(collection, filter=filter, output_fields=["count(*)"])[0]["count(*)"])
    if count <= MAX_LIMIT:
        return list(client.query(collection, filter=filter, output_fields=fields, limit=max(count, 1)))
    log = logging.getLogger("pymilvus")
    level = log.level
    log.setLevel(logging.ERROR)  # Lite cannot give the iterator a server timestamp and warns on every call
    try:
        it = client.query_iterator(collection, batch_size=1000, filter=filter, output_fields=fields)
        out: list[dict[str, Any]] = []
        try:
            while batch := it.next():
                out.extend(batch)
        finally:
            it.close()
        return out
    finally:
        log.setLevel(level)


# --------------------------------------------------------------------------------------------
# schema


def _create(client: Any, dimension: int, identity: dict[str, Any]) -> None:
    from pymilvus import DataType, Function, FunctionType

    s = client.create_schema(auto_id=True, description="qa passages")
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("doc", DataType.VARCHAR, max_length=64)
    s.add_field("pid", DataType.VARCHAR, max_length=512)
    s.add_field("vec", DataType.FLOAT_VECTOR, dim=dimension)
    s.add_field("data", DataType.VARCHAR, max_length=65535)
    s.add_field("norm", DataType.VARCHAR, max_length=65535)
    for name, limit in FILTER_FIELDS.items():
        s.add_field(name, DataType.VARCHAR, max_length=limit)
    s.add_field("terms", DataType.VARCHAR, max_length=65535, enable_analyzer=True,
                analyzer_params={"tokenizer": "standard"})
    s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    s.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"],
                            output_field_names=["sparse"]))
    ip = client.prepare_index_params()
    ip.add_index("vec", index_type="AUTOINDEX", metric_type="IP")
    ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                 params={"bm25_k1": K1, "bm25_b": B})
    client.create_collection(PASSAGES, schema=s, index_params=ip)

    s = client.create_schema(auto_id=True, description="qa sentences")
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("passage", DataType.INT64)
    s.add_field("num", DataType.INT32)
    s.add_field("start", DataType.INT32)
    s.add_field("end", DataType.INT32)
    for name, limit in FILTER_FIELDS.items():
        s.add_field(name, DataType.VARCHAR, max_length=limit)
    s.add_field("vec", DataType.FLOAT_VECTOR, dim=dimension)
    ip = client.prepare_index_params()
    ip.add_index("vec", index_type="AUTOINDEX", metric_type="IP")
    ip.add_index("passage", index_type="INVERTED")
    client.create_collection(SENTENCES, schema=s, index_params=ip)

    # documents: Milvus wants a vector field in every collection; a 2-d placeholder
    s = client.create_schema(auto_id=False, description="qa documents")
    s.add_field("key", DataType.VARCHAR, max_length=4096, is_primary=True)
    s.add_field("record", DataType.VARCHAR, max_length=65535)
    s.add_field("dummy", DataType.FLOAT_VECTOR, dim=2)
    ip = client.prepare_index_params()
    ip.add_index("dummy", index_type="AUTOINDEX", metric_type="L2")
    client.create_collection(DOCUMENTS, schema=s, index_params=ip)
    client.insert(DOCUMENTS, [{"key": IDENTITY_KEY, "record": json.dumps(identity, sort_keys=True),
                               "dummy": [0.0, 0.0]}])


def _stored_identity(client: Any) -> dict[str, Any] | None:
    """The build identity kept in the documents collection (Lite does not keep collection descriptions)."""
    if not client.has_collection(DOCUMENTS):
        return None
    found = client.get(DOCUMENTS, ids=[IDENTITY_KEY], output_fields=["record"])
    try:
        return json.loads(found[0]["record"]) if found else {}
    except ValueError:
        return {}


def _document_records(client: Any) -> dict[str, dict[str, Any]]:
    rows = _query_all(client, DOCUMENTS, 'key != ""', ["key", "record"])
    return {r["key"]: json.loads(r["record"]) for r in rows if r["key"] != IDENTITY_KEY}


def _drop(client: Any) -> None:
    for name in (PASSAGES, SENTENCES, DOCUMENTS):
        if client.has_collection(name):
            client.drop_collection(name)


# --------------------------------------------------------------------------------------------
# the index


class _Sentences:
    """One passage's sentences as :func:`qa.search._highlights` reads a segment: vectors and spans."""

    def __init__(self, vectors: np.ndarray, spans: np.ndarray) -> None:
        self._vectors = vectors
        self.sent_spans = spans
        self.sentence_vectors = self

    def exact(self, rows: np.ndarray, q: np.ndarray) -> np.ndarray:  # the VectorSet.exact surface
        if len(rows) == 0:
            return np.zeros(0)
        return (self._vectors[np.asarray(rows)] @ q.astype(np.float32)).astype(np.float64)


class _Vocabulary:
    """``postings.lookup`` over the store (what English-question rendering asks of a segment)."""

    def __init__(self, index: "MilvusIndex") -> None:
        self.postings = self
        self.index = index

    def lookup(self, tokens: Sequence[str]) -> dict[str, int]:
        return {t: 0 for t in dict.fromkeys(tokens) if len(self.index.bm25(term_key(t), 1)[0])}


@dataclass(frozen=True)
class _RowVectors:
    """One passage's vectors as stored: its own, its sentences' (in order) and their spans."""

    passage: np.ndarray
    sentences: np.ndarray
    spans: np.ndarray


class MilvusIndex(PassageStore):
    """The live passages in a Milvus store, read on demand; duck-types :class:`qa.index.Index`."""

    def __init__(self, client: Any, uri: str) -> None:
        self.client = client
        self.uri = uri
        self._memo: OrderedDict[int, _RowVectors] = OrderedDict()
        self._memo_lock = threading.Lock()
        self.documents = {k: DocumentRecord(**v) for k, v in _document_records(client).items()}
        self.segments = [_Vocabulary(self)]

    # -- size and rows -------------------------------------------------------------------------
    @cached_property
    def live_rows(self) -> np.ndarray:
        rows = [r["id"] for r in _query_all(self.client, PASSAGES, "id >= 0", ["id"])]
        return np.array(sorted(rows), dtype=np.int64)

    @property
    def size(self) -> int:
        return len(self.live_rows)

    def _fields(self, rows: Sequence[int], fields: list[str]) -> list[dict[str, Any]]:
        rows = [int(r) for r in rows]
        found: dict[int, dict[str, Any]] = {}
        for chunk in _chunks(rows):
            for r in self.client.get(PASSAGES, ids=list(chunk), output_fields=fields):
                found[int(r["id"])] = r
        return [found[r] for r in rows]

    def passages_at(self, rows: Sequence[int]) -> list[Passage]:
        return [Passage.from_dict(json.loads(r["data"])) for r in self._fields(rows, ["data"])]

    def normalized_at(self, rows: Sequence[int]) -> list[str]:
        return [r["norm"] for r in self._fields(rows, ["norm"])]

    def vectors_of(self, rows: Sequence[int]) -> dict[int, _RowVectors]:
        """Each passage's vector, sentence vectors and sentence spans, in order.

        Remembered per row (a row's content never changes: an updated document gets new rows), so
        the candidates, fusion, evidence and highlights of one question fetch each row once; every
        Milvus call costs (0.2 s for a filtered sentence query on a 10k-passage Lite store).
        """
        wanted = list(dict.fromkeys(int(r) for r in rows))
        with self._memo_lock:
            known = {r: self._memo[r] for r in wanted if r in self._memo}
            for r in known:
                self._memo.move_to_end(r)
        missing = [r for r in wanted if r not in known]
        if missing:
            fetched = self._fetch_vectors(missing)
            known.update(fetched)
            with self._memo_lock:
                self._memo.update(fetched)
                while len(self._memo) > ROW_MEMO:
                    self._memo.popitem(last=False)
        return known

    def _fetch_vectors(self, rows: Sequence[int]) -> dict[int, _RowVectors]:
        sentences: dict[int, list[dict[str, Any]]] = {r: [] for r in rows}
        for chunk in _chunks(rows, SENTENCE_QUERY_PASSAGES):
            for s in self._sentences(chunk):
                sentences[int(s["passage"])].append(s)
        out = {}
        for r, p in zip(rows, self._fields(rows, ["vec"])):
            sents = sorted(sentences[r], key=lambda s: s["num"])
            vec = np.asarray(p["vec"], dtype=np.float32)
            svec = np.asarray([s["vec"] for s in sents], dtype=np.float32).reshape(len(sents), len(vec))
            spans = np.asarray([(s["start"], s["end"]) for s in sents], dtype=np.int32).reshape(-1, 2)
            out[r] = _RowVectors(vec, svec, spans)
        return out

    def _sentences(self, rows: Sequence[int]) -> list[dict[str, Any]]:
        """The sentences of some passages in one query (halved until the answer fits Milvus's limit)."""
        found = self.client.query(SENTENCES, filter=_ids_expr("passage", rows), limit=MAX_LIMIT,
                                  output_fields=["passage", "num", "start", "end", "vec"])
        if len(found) < MAX_LIMIT or len(rows) == 1:
            return list(found)
        half = len(rows) // 2
        return self._sentences(rows[:half]) + self._sentences(rows[half:])

    def row_of(self, passage_id: str) -> int | None:
        found = self.client.query(PASSAGES, filter=f"pid == {json.dumps(passage_id)}", output_fields=["id"], limit=1)
        return int(found[0]["id"]) if found else None

    def sentence_spans(self, row: int) -> tuple[_Sentences, int, int]:
        found = self.vectors_of([row])[int(row)]
        return _Sentences(found.sentences, found.spans), 0, len(found.spans)

    # -- lexical -------------------------------------------------------------------------------
    def bm25(self, text: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """Milvus BM25 of analysed text: (rows, scores on our scale), best first."""
        if not text.strip() or not limit:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        hits = self.client.search(PASSAGES, data=[text], anns_field="sparse", limit=min(limit, MAX_LIMIT),
                                  output_fields=["id"], search_params={"metric_type": "BM25"})[0]
        rows = np.array([int(h["id"]) for h in hits], dtype=np.int64)
        # Lite reports BM25 as a negative distance; the score is its size, without the (k1 + 1) factor
        scores = np.abs(np.array([float(h["distance"]) for h in hits])) / (K1 + 1)
        return rows, scores

    def close(self) -> None:
        self.client.close()

    def describe(self) -> dict[str, Any]:
        return {"documents": len(self.documents), "passages": self.size,
                "sentences": int(self.client.query(SENTENCES, filter="", output_fields=["count(*)"])[0]["count(*)"]),
                "segments": 1, "vector_index": [f"milvus {self.uri}"]}


# --------------------------------------------------------------------------------------------
# legs


def _top(rows: np.ndarray, scores: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((rows, -scores))[:depth]
    return rows[order], scores[order]


def matching_rows(index: MilvusIndex, where: str) -> np.ndarray | None:
    """The passage rows a ``--where`` expression selects, sorted (None: no filter); a one-line
    :class:`StoreError` when Milvus refuses the expression."""
    if not where.strip():
        return None
    try:
        found = _query_all(index.client, PASSAGES, where, ["id"])
    except Exception as exc:  # MilvusException: a parse error or an unknown field
        raise StoreError(f"the filter {where!r} is not a Milvus expression this store accepts "
                         f"({reason_of(exc, limit=160)}); "
                         'filter on source and title, e.g. --where \'source like "2024/%"\'') from None
    return np.array(sorted(int(r["id"]) for r in found), dtype=np.int64)


def _kept(rows: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """Which of ``rows`` a filter keeps (all when there is none)."""
    return np.ones(len(rows), dtype=bool) if allowed is None else np.isin(rows, allowed)


def _sparse_candidates(scores: SparseScores, allowed: np.ndarray | None, depth: int) -> Candidates:
    """A sparse leg's candidates among the rows a filter keeps; mean and spread stay corpus-wide."""
    if not len(scores.rows):
        return Candidates.none()
    mean, std = scores.mean_std()
    keep = _kept(scores.rows, allowed)
    if not keep.any():
        return Candidates.none()
    rows, top = SparseScores(scores.rows[keep], scores.scores[keep], scores.n_passages).top(depth)
    return Candidates(rows, top, mean, std, scores.score_of)


class MilvusDenseLeg:
    """The dense leg of :class:`qa.legs.DenseLeg` on Milvus: the better of a passage's whole-text and best
    sentence cosine; candidates from both collections (sentences grouped to their passages), then scored
    exactly with vectors fetched from Milvus; mean/spread from a fixed sample kept in memory."""

    name = "dense"

    def __init__(self, index: MilvusIndex, settings: Settings, allowed: np.ndarray | None = None,
                 where: str = "") -> None:
        self.index = index
        self.where = where.strip()
        self.allowed = allowed
        self._sample = normalisation_rows(index.live_rows, settings)
        self._vectors = self._load(self._sample)

    def _load(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(passage vectors, sentence vectors, sentence offsets) of some rows."""
        if not len(rows):
            return np.zeros((0, 0), dtype=np.float32), np.zeros((0, 0), dtype=np.float32), np.zeros(1, dtype=np.int64)
        found = self.index.vectors_of(rows)
        each = [found[int(r)] for r in rows]
        pvec = np.vstack([f.passage for f in each])
        offsets = np.cumsum([0] + [len(f.spans) for f in each])
        svec = np.vstack([f.sentences for f in each])
        return pvec, svec, offsets

    @staticmethod
    def _score(loaded: tuple[np.ndarray, np.ndarray, np.ndarray], q: np.ndarray) -> np.ndarray:
        pvec, svec, offsets = loaded
        if not len(pvec):
            return np.zeros(0)
        best = (pvec @ q).astype(np.float64)
        if len(svec):
            sims = (svec @ q).astype(np.float64)
            counts = np.diff(offsets)
            has = counts > 0
            best[has] = np.maximum(best[has], np.maximum.reduceat(sims, offsets[:-1][has]))
        return best

    def score_rows(self, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        return self._score(self._load(rows), q.astype(np.float32)) if len(rows) else np.zeros(0)

    def best_cosines(self, rows: np.ndarray, q: np.ndarray) -> tuple[float, float]:
        """The best whole-passage cosine and the best sentence cosine among some passages (their evidence)."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return -1.0, -1.0
        pvec, svec, _ = self._load(rows)
        q = q.astype(np.float32)
        best_p = float((pvec @ q).max())
        return best_p, (float((svec @ q).max()) if len(svec) else best_p)

    def candidates(self, question: Question, depth: int) -> Candidates:
        q = question.vector.astype(np.float32)
        sample_scores = self._score(self._vectors, q)
        mean, std = (float(sample_scores.mean()), float(sample_scores.std())) if len(sample_scores) else (0.0, 0.0)
        score_of = lambda r: self.score_rows(r, q)  # noqa: E731
        if len(self._sample) == self.index.size:  # small corpus: every passage was just scored exactly
            keep = _kept(self._sample, self.allowed)
            rows, scores = _top(self._sample[keep], sample_scores[keep], depth)
            return Candidates(rows, scores, mean, std, score_of)
        if self.allowed is not None and not len(self.allowed):
            return Candidates(np.zeros(0, dtype=np.int64), np.zeros(0), mean, std, score_of)
        client = self.index.client
        hits = client.search(PASSAGES, data=[q.tolist()], anns_field="vec", limit=min(depth, MAX_LIMIT),
                             filter=self.where, output_fields=["id"])[0]
        found = {int(h["id"]) for h in hits}
        hits = client.search(SENTENCES, data=[q.tolist()], anns_field="vec", filter=self.where,
                             limit=min(SENTENCES_PER_CANDIDATE * depth, MAX_LIMIT), output_fields=["passage"])[0]
        found.update(int(h["entity"]["passage"]) for h in hits)
        rows = np.array(sorted(found), dtype=np.int64)
        rows = rows[_kept(rows, self.allowed)]  # the searches filtered already; this guards an engine ignoring it
        rows, scores = _top(rows, self.score_rows(rows, q), depth)
        return Candidates(rows, scores, mean, std, score_of)


class MilvusLexicalLeg:
    """BM25 of the question's own tokens, by Milvus's full-text search over the stored token words.

    Every matching passage is asked for (up to Milvus's topk limit of 16384), so the corpus-wide mean and
    spread and the score of any other passage are exact below that; past it, unreturned passages count 0.
    A filter is applied to the returned rows, not in the search (it would change Lite's BM25 statistics).
    """

    name = "lexical"

    def __init__(self, index: MilvusIndex, allowed: np.ndarray | None = None) -> None:
        self.index = index
        self.allowed = allowed

    def scores(self, tokens: Sequence[str]) -> SparseScores:
        text = " ".join(term_key(t) for t in tokens)
        rows, scores = self.index.bm25(text, self.index.size)
        order = np.argsort(rows)
        return SparseScores(rows[order], scores[order], self.index.size)

    def candidates(self, question: Question, depth: int) -> Candidates:
        return _sparse_candidates(self.scores(question.tokens), self.allowed, depth)


class MilvusDictionaryLeg(DictionaryLeg):
    """:class:`qa.legs.DictionaryLeg` on Milvus: an English question's words through their Chinese
    renderings, each rendering token's BM25 contribution asked of Milvus as a one-term full-text search
    (which is exactly that term's share of our BM25), summed as :func:`qa.lexical.combine` does."""

    name = "dictionary"

    def __init__(self, index: MilvusIndex, lexical: MilvusLexicalLeg, allowed: np.ndarray | None = None) -> None:
        self.index = index  # type: ignore[assignment]
        self.lexical = lexical
        self.allowed = allowed

    def _contributions(self, tokens: Iterable[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        out = {}
        for token in dict.fromkeys(tokens):
            s = self.lexical.scores([token])
            if len(s.rows):
                out[token] = (s.rows, s.scores)
        return out

    def _n_passages(self) -> int:
        return self.index.size

    def _contains(self, rows: np.ndarray, chinese: str) -> np.ndarray:
        if len(rows) <= MAX_TEXT_CHECKS:
            return np.array([chinese in t for t in self.index.normalized_at(rows)], dtype=bool)
        keep = np.ones(len(rows), dtype=bool)  # too many to read: every bigram of the rendering must be there
        for b in (f"#{chinese[i:i + 2]}" for i in range(len(chinese) - 1)):
            keep &= self.lexical.scores([b]).score_of(rows) > 0
        return keep

    def candidates(self, question: Question, depth: int) -> Candidates:
        if not question.terms or len(self.lexical.scores(question.tokens).rows):
            return Candidates.none()
        return _sparse_candidates(self.term_scores(question.terms), self.allowed, depth)


def make_milvus_legs(index: MilvusIndex, settings: Settings) -> dict[str, Any]:
    """The legs over a Milvus store, by name (same names as :func:`qa.legs.make_legs`), restricted to the
    passages ``settings.where`` selects when it is set."""
    allowed = matching_rows(index, settings.where)
    lexical = MilvusLexicalLeg(index, allowed)
    return {"dense": MilvusDenseLeg(index, settings, allowed, settings.where), "lexical": lexical,
            "dictionary": MilvusDictionaryLeg(index, lexical, allowed)}


# --------------------------------------------------------------------------------------------
# writing


def _insert_documents(client: Any, docs: Sequence[Document], settings: Settings, embedder: Embedder,
                      report: Progress, split: Split = split_corpus) -> dict[str, list[int]]:
    """Split, embed and insert some documents; their new passage rows by document key."""
    passages = split(docs, settings)
    by_id = {d.doc_id: d for d in docs}
    sent_texts, sent_owner, sent_spans = [], [], []
    for i, p in enumerate(passages):
        for n, (s, e) in enumerate(p.sentences()):
            sent_texts.append(to_simplified(p.text[s:e]))
            sent_owner.append((i, n))
            sent_spans.append((s, e))
    report(f"embedding {len(passages)} passages", 0.1)
    pvec = np.asarray(embedder.encode_passages([embedding_text(p) for p in passages], progress=True), np.float32)
    report(f"embedding {len(sent_texts)} sentences", 0.4)
    svec = np.asarray(embedder.encode_passages(sent_texts, progress=True), np.float32)
    for v in (pvec, svec):
        if len(v) and not np.isfinite(v).all():
            raise StoreError("the embedding model returned invalid numbers (NaN/inf); the model files may be damaged")
    report("writing to Milvus", 0.8)
    rows: list[int] = []
    for chunk in _chunks(list(range(len(passages)))):
        data = [{"doc": _doc_hash(by_id[passages[i].doc_id].source), "pid": passages[i].id,
                 **_metadata(by_id[passages[i].doc_id]),
                 "vec": pvec[i].tolist(), "data": json.dumps(passages[i].to_dict(), ensure_ascii=False),
                 "norm": normalize(passages[i].context_text()), "terms": lexical_field(passages[i].context_text())}
                for i in chunk]
        rows.extend(int(r) for r in client.insert(PASSAGES, data)["ids"])
    for chunk in _chunks(list(range(len(sent_texts)))):
        client.insert(SENTENCES, [{"passage": rows[sent_owner[j][0]], "num": sent_owner[j][1],
                                   **_metadata(by_id[passages[sent_owner[j][0]].doc_id]),
                                   "start": sent_spans[j][0], "end": sent_spans[j][1], "vec": svec[j].tolist()}
                                  for j in chunk])
    out: dict[str, list[int]] = {d.source: [] for d in docs}
    for i, p in enumerate(passages):
        out[by_id[p.doc_id].source].append(rows[i])
    return out


def _delete_rows(client: Any, rows: Sequence[int]) -> None:
    for chunk in _chunks(list(rows)):
        client.delete(SENTENCES, filter=_ids_expr("passage", chunk))
        client.delete(PASSAGES, ids=list(chunk))


def _rows_of(client: Any, key: str) -> list[int]:
    return [int(r["id"]) for r in _query_all(client, PASSAGES, f'doc == "{_doc_hash(key)}"', ["id"])]


def update_milvus(client: Any, documents: Sequence[Document], settings: Settings, embedder: Embedder, *,
                  rebuild: bool = False, progress: Progress | None = None, split: Split = split_corpus) -> Changes:
    """Bring a Milvus store in line with ``documents``: add, update (new rows in, then old rows out, then
    the document record) and remove by document. A store built with another model or settings is a
    :class:`StoreError` unless ``rebuild`` (it may be shared: it is not dropped unasked)."""
    report = progress or (lambda stage, frac: None)
    identity = {**build_identity(settings, embedder), "milvus_schema": SCHEMA_VERSION}
    changes = Changes()
    stored = _stored_identity(client)
    wanted = json.loads(json.dumps(identity))
    if stored is not None and not rebuild and stored != wanted:  # a shared store is never dropped unasked
        differ = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        raise StoreError(f"the Milvus store was built with another model or settings ({', '.join(differ)} differ); "
                         "rebuild it with `qa index --rebuild` and these settings, or use another --milvus-uri")
    if rebuild:
        changes.rebuilt = "rebuild requested"
        _drop(client)
        stored = None
    if stored is None:
        changes.rebuilt = changes.rebuilt or "no index yet"
        _drop(client)
        _create(client, embedder.dimension, identity)
    known = _document_records(client)
    fresh = diff_documents(documents, known, changes)
    if not changes.any:
        return changes
    old_rows = {d.source: _rows_of(client, d.source) for d in fresh if d.source in known}
    if fresh:
        report("splitting into passages", 0.0)
        new_rows = _insert_documents(client, fresh, settings, embedder, report, split)
        now = time.time()
        for d in fresh:
            record = DocumentRecord(d.source, d.doc_id, d.title, document_checksum(d), "milvus",
                                    len(new_rows[d.source]), now)
            client.upsert(DOCUMENTS, [{"key": d.source, "record": json.dumps(record.to_dict(), ensure_ascii=False),
                                       "dummy": [0.0, 0.0]}])
            _delete_rows(client, old_rows.get(d.source, []))
    for key in changes.removed:
        _delete_rows(client, _rows_of(client, key))
        client.delete(DOCUMENTS, ids=[key])
    _flush(client)
    report("index ready", 1.0)
    return changes


def _flush(client: Any) -> None:
    """Seal what was written: Milvus Lite keeps unflushed rows in a memtable whose BM25 index it rebuilds,
    in Python, on every search (0.2 s a search at 10k passages); sealed segments keep theirs."""
    for name in (PASSAGES, SENTENCES, DOCUMENTS):
        client.flush(name)


def open_milvus(documents: Sequence[Document], settings: Settings, embedder: Embedder, *,
                rebuild: bool = False, progress: Progress | None = None,
                split: Split = split_corpus) -> tuple[MilvusIndex, str]:
    """The corpus's Milvus store, brought up to date first; also say what happened, in one line
    (``split``: as for :func:`qa.index.update_index`)."""
    uri = default_uri(settings)
    client = connect(uri)
    try:
        changes = update_milvus(client, documents, settings, embedder, rebuild=rebuild, progress=progress, split=split)
        if not _is_server(uri):  # a Lite file written before flushes were made (Lite replays it into its memtable)
            _flush(client)
        index = MilvusIndex(client, uri)
    except StoreError:
        client.close()
        raise
    except Exception as exc:
        client.close()
        raise StoreError(f"the Milvus store at {uri} failed ({reason_of(exc)}); nothing was half-written per document, "
                         "run the command again or use --rebuild") from None
    if not index.size:
        raise StoreError("the corpus has no passages to index")
    status = f"loaded Milvus store {uri}" if not changes.any else f"updated Milvus store {uri} ({changes.summary()})"
    return index, status
