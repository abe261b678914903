"""Does the corpus answer the question? A decision relative to what unrelated questions score on *this* corpus.

Raw scores mean different things on different corpora: a best-sentence cosine of
0.87 is unremarkable on 3,000 encyclopedia sentences (something always sits near
any question) and strong evidence on a 150-sentence essay. So at index time a
bank of general questions the corpus almost surely cannot answer is scored like
any question (:func:`qa.confidence.NullProfile.fit`), and a question's evidence
is judged by how far it sits above that null, in robust units (median and MAD;
a few bank questions may be answerable by some corpus). The standardised
features are combined by one logistic model whose weights are global (the same
for every corpus, fitted on cross-corpus pairs by ``benchmarks/not_found.py``).

Everything here is plain numbers: the features can be computed from any
retriever legs (see :class:`QuestionFeatures`), and no model is loaded.

Two numbers are shown to users, kept apart on purpose:

* :class:`Decision` ``confidence`` — does the document answer the question at all
  (answer level, calibrated on question/corpus pairs);
* :func:`hit_relevance` — how good each shown passage is, relative to the best
  one: the answer confidence for the first hit, decaying with the hit's fused
  score gap, so it never increases down the ranking.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from .answer_kind import kind_label

if TYPE_CHECKING:
    from .config import Settings

#: The standardised features, in the order of the weights after the intercept
#: (``Settings.not_found_weights``): how far above the null the question's best
#: sentence cosine, best passage cosine, best lexical score (log1p of BM25) and
#: coverage of the top passage are.
NULL_FEATURES: tuple[str, ...] = ("sentence", "passage", "lexical", "coverage")
#: Question languages with a null stratum of their own (cross-language cosines run lower).
LANGUAGES: tuple[str, ...] = ("zh", "en")
#: Robust scale: 1.4826 * MAD estimates the standard deviation of a normal sample.
MAD_TO_SD = 1.4826
#: Width of the central 90 % of a standard normal, for the quantile-based scale floor.
NORMAL_90 = 3.29
#: Smallest scale of each feature, so that a bank scoring one constant (coverage 0 on every
#: bank question) does not turn any difference into an infinite z. Coverage 0.1: with 0.05 a
#: place name shared with one line of a small document saturated the coverage z (English questions
#: 14 % and CMRC 2.6 % wrongly flagged after refitting; 0.1: 0 % and 1.6 %; 0.15: paraphrases 14 %).
SCALE_FLOOR: Mapping[str, float] = {"sentence": 0.005, "passage": 0.005, "lexical": 0.1, "coverage": 0.1}
#: A z-score is clipped to this, so one extreme feature cannot dominate.
Z_CLIP = 8.0

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def question_language(question: str) -> str:
    """``"zh"`` when the question has any Chinese character, else ``"en"`` (the null stratum it is compared to)."""
    return "zh" if _CJK.search(question) else "en"


@dataclass(frozen=True)
class QuestionFeatures:
    """What the decision needs about one question's ranked candidates, from any legs.

    ``sentence``, ``passage``: best dense cosine of the question with any sentence
    / any whole passage (over the corpus or the top candidates: the same way for the
    bank and for users' questions). ``lexical``: best lexical score (BM25; 0 when no
    word matched). ``coverage``: share of the question's content terms found in the
    top-ranked passage (0..1). ``legs_agree``: the dense and lexical legs rank the
    same passage first. ``missing``: the question's specific terms (names, numbers,
    Latin words; see :func:`specific_terms`) found nowhere in the corpus.
    ``unmet``: the kind of answer the question asks for (:func:`qa.answer_kind.asked_kind`: a count,
    money, a duration, a time …) when none of the top passages holds one, else ``""``.
    ``where``/``sentence_no``: the top passage's short label and the 1-based number
    of its best sentence, for the reason line only.
    """

    sentence: float
    passage: float
    lexical: float
    coverage: float
    legs_agree: bool = False
    missing: tuple[str, ...] = ()
    unmet: str = ""
    language: str = "zh"
    where: str = ""
    sentence_no: int = 0

    def values(self) -> np.ndarray:
        """The raw values of :data:`NULL_FEATURES`, transformed as the profile sees them."""
        return np.array([self.sentence, self.passage, math.log1p(max(self.lexical, 0.0)), self.coverage])


@dataclass(frozen=True)
class NullStratum:
    """Robust location and scale of each feature over the bank questions of one language."""

    n: int
    median: tuple[float, ...]
    scale: tuple[float, ...]
    q95: tuple[float, ...]


@dataclass(frozen=True)
class NullProfile:
    """What "unrelated" looks like on one corpus: per question language, the bank's feature distribution.

    Fitted at index time from the features of bank questions on this corpus
    (:meth:`fit`); stored in the index manifest (:meth:`to_dict`, JSON-safe).
    """

    strata: Mapping[str, NullStratum] = field(default_factory=dict)

    @classmethod
    def fit(cls, bank: Sequence[QuestionFeatures], min_stratum: int = 20) -> "NullProfile":
        """The profile of a corpus from its bank questions' features (a language with fewer than
        ``min_stratum`` questions shares the pooled stratum)."""
        if not bank:
            raise ValueError("the null profile needs at least one bank question")
        values = np.vstack([f.values() for f in bank])
        langs = np.array([f.language for f in bank])
        strata = {"all": _stratum(values)}
        for lang in LANGUAGES:
            rows = langs == lang
            if rows.sum() >= min_stratum:
                strata[lang] = _stratum(values[rows])
        return cls(strata)

    def stratum(self, language: str) -> NullStratum:
        return self.strata.get(language) or self.strata["all"]

    def standardise(self, features: QuestionFeatures) -> np.ndarray:
        """How far each of :data:`NULL_FEATURES` is above the null, in robust standard deviations."""
        s = self.stratum(features.language)
        z = (features.values() - np.asarray(s.median)) / np.asarray(s.scale)
        return np.clip(z, -Z_CLIP, Z_CLIP)

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(NULL_FEATURES),
                "strata": {k: {"n": s.n, "median": list(s.median), "scale": list(s.scale), "q95": list(s.q95)}
                           for k, s in self.strata.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "NullProfile":
        if list(data.get("features", ())) != list(NULL_FEATURES):
            raise ValueError(f"null profile features {data.get('features')} are not {list(NULL_FEATURES)}")
        return cls({k: NullStratum(n=int(s["n"]), median=tuple(map(float, s["median"])),
                                   scale=tuple(map(float, s["scale"])), q95=tuple(map(float, s["q95"])))
                    for k, s in data["strata"].items()})


def _stratum(values: np.ndarray) -> NullStratum:
    median = np.median(values, axis=0)
    mad = MAD_TO_SD * np.median(np.abs(values - median), axis=0)
    q05, q95 = np.percentile(values, [5, 95], axis=0)
    floor = np.array([SCALE_FLOOR[f] for f in NULL_FEATURES])
    scale = np.maximum.reduce([mad, (q95 - q05) / NORMAL_90, floor])
    return NullStratum(n=len(values), median=tuple(map(float, median)), scale=tuple(map(float, scale)),
                       q95=tuple(map(float, q95)))


@dataclass(frozen=True)
class Decision:
    """Whether the corpus answers the question, how sure, and why in one bilingual line."""

    found: bool
    confidence: float
    reason: str


def evidence_vector(features: QuestionFeatures, profile: NullProfile) -> np.ndarray:
    """What the weights multiply: 1 (intercept), the standardised features, legs agree, number of missing
    specific terms, the asked kind of answer unmet (also the design row ``benchmarks/not_found.py`` fits)."""
    z = profile.standardise(features)
    return np.r_[1.0, z, float(features.legs_agree), float(len(features.missing)), float(bool(features.unmet))]


def evidence_score(features: QuestionFeatures, profile: NullProfile, weights: Sequence[float]) -> float:
    """The logit of "the corpus answers": the weights times :func:`evidence_vector`."""
    x = evidence_vector(features, profile)
    w = np.asarray(weights, dtype=np.float64)
    if len(w) != len(x):
        raise ValueError(f"expected {len(x)} weights (intercept, {', '.join(NULL_FEATURES)}, legs_agree, missing, "
                         f"unmet), got {len(w)}")
    return float(x @ w)


def decide(features: QuestionFeatures, profile: NullProfile, settings: "Settings") -> Decision:
    """Found or not, the calibrated confidence, and the reason (evidence relative to unrelated questions)."""
    logit = evidence_score(features, profile, settings.not_found_weights)
    confidence = 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))
    if features.unmet:  # asked for a number of households, and the nearest passages hold none: a veto
        confidence = min(confidence, settings.unmet_confidence)
    found = confidence >= settings.min_confidence
    return Decision(found=found, confidence=round(confidence, 4),
                    reason=_reason(features, profile, found, confidence))


def _reason(features: QuestionFeatures, profile: NullProfile, found: bool, confidence: float) -> str:
    z = float(profile.standardise(features)[0])
    where_zh = f"{features.where}第{features.sentence_no}句" if features.sentence_no else (features.where or "最接近的段落")
    where_en = (f"sentence {features.sentence_no} of {features.where}" if features.sentence_no
                else (features.where or "the nearest passage"))
    if features.unmet and not found:
        kind_zh, kind_en = kind_label(features.unmet)
        return (f"问题问的是{kind_zh}，但最相关的段落里没有{kind_zh}（最接近的内容是{where_zh}） · "
                f"the question asks for {kind_en}, and the nearest passages hold none (nearest: {where_en})")
    if features.missing and not found:
        terms = "、".join(features.missing[:3])
        terms_en = ", ".join(f'"{t}"' for t in features.missing[:3])
        return (f"问题中的“{terms}”在文档中没有出现，最接近的内容是{where_zh} · "
                f"{terms_en} from the question appear nowhere in the document; nearest: {where_en}")
    if found:
        level_zh, level_en = (("远高于", "well above") if confidence >= 0.8 else ("略高于", "just above"))
        return (f"最佳证据：{where_zh}，{level_zh}无关问题的水平 · "
                f"best evidence: {where_en}, {level_en} what unrelated questions reach")
    if z > 1.0:
        return (f"最接近的内容（{where_zh}）只比无关问题略好，不足以说明文档回答了这个问题 · "
                f"the nearest text ({where_en}) is only a little above what unrelated questions reach")
    return (f"最接近的内容（{where_zh}）与无关问题的得分相当 · "
            f"the nearest text ({where_en}) scores like questions this document does not answer")


def hit_relevance(fused: Sequence[float], spread: float, answer_confidence: float, decay: float) -> list[float]:
    """Per-hit confidence, monotone in rank: the answer confidence for the first hit, times
    ``exp(-gap / (decay * spread))`` for a hit whose fused score is ``gap`` below the first.

    ``fused``: the shown hits' fused scores in rank order; ``spread``: a scale of the fused
    scores over the corpus (their standard deviation), so ``decay`` means the same for any fusion.
    """
    f = np.asarray(fused, dtype=np.float64)
    if f.size == 0:
        return []
    gaps = np.maximum.accumulate(np.maximum(f[0] - f, 0.0))  # never shrinks down the ranking
    scale = max(decay * spread, 1e-12)
    return [round(float(answer_confidence * math.exp(-g / scale)), 4) for g in gaps]


# -- the question's specific terms ----------------------------------------------------------------------

#: jieba part-of-speech flags of names: places, people, organisations, other proper nouns, Latin words.
_NAME_FLAGS = frozenset({"ns", "nr", "nt", "nz", "nrt", "nrfg", "eng"})
#: The person-name flags: jieba's dictionary gives them to many common two-character words.
_PERSON_FLAGS = frozenset({"nr", "nrt", "nrfg"})
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_LATIN = re.compile(r"[a-z][a-z0-9]+")


def specific_terms(question: str) -> list[str]:
    """The question's names, numbers and (in a Chinese question) Latin words: terms an answer must
    mention. English questions give none (their words are matched through translation)."""
    from .normalize import fold

    text = fold(question)
    if question_language(question) != "zh":
        return []
    import jieba.posseg as posseg

    known = posseg.dt.word_tag_tab
    out: list[str] = []
    for run in re.split(r"\s+", text):
        for word in posseg.cut(run):
            w = word.word.strip()
            if len(w) < 2:
                continue
            if word.flag in _PERSON_FLAGS and len(w) == 2 and w in known:
                continue  # a two-character dictionary word tagged as a person's name (卡里, 太多, 智慧): mostly common words
            if word.flag in _NAME_FLAGS or _NUMBER.fullmatch(w) or _LATIN.fullmatch(w):
                out.append(w)
    return list(dict.fromkeys(out))


def missing_terms(terms: Sequence[str], corpus_texts: Sequence[str]) -> tuple[str, ...]:
    """The terms found in none of the corpus texts (normalised texts: simplified, folded, no spaces)."""
    return tuple(t for t in terms if not any(t in text for text in corpus_texts))


# -- the bank of unrelated questions --------------------------------------------------------------------

#: The bundled bank of general questions no particular corpus is meant to answer.
NULL_QUESTIONS = Path(__file__).resolve().parent / "data" / "null_questions.txt"


def null_questions(limit: int = 0, path: Path = NULL_QUESTIONS) -> list[str]:
    """The bank's questions (``#`` lines are comments); ``limit`` > 0 takes an evenly spread subset."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    questions = [q for q in lines if q and not q.startswith("#")]
    if 0 < limit < len(questions):
        questions = [questions[int(i * len(questions) / limit)] for i in range(limit)]
    return questions
