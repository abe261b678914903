"""The "not found" decision on every dev set: today's fixed logistic vs the null-profile method, side by side.

    python benchmarks/not_found.py [--data DIR] [--bank FILE] [--index-dir DIR] [--cache DIR]
                                   [--skip drcd] [--fit] [--no-held-out]

Corpora: the bundled essay, the CMRC 2018 trial contexts, the DRCD test contexts
(traditional Chinese) and every ``DATA/NAME.txt`` that has a ``DATA/NAME_paraphrase.jsonl``
(``essay_paraphrase.jsonl`` goes with the essay). Each question set is asked on its
own corpus (answerable unless its evidence is empty) and on every other corpus
(cross pairs: unanswerable). CMRC and DRCD questions are also asked on their own
corpus with every other context left out (``cmrc-half``): a question whose context
is gone is unanswerable there, yet the paragraphs left of its article share its
names and topic — the word-sharing case, on external data. For every corpus the null profile is fitted from the
bank (``qa/data/null_questions.txt``) scored on it, as an index would at build time.

Per pair it prints answerable wrongly flagged (%), unanswerable flagged (%) and the
expected calibration error (10 bins; confidence vs "the corpus answers it") for the
OLD logistic (``Settings.confidence_weights`` on the top hit) and the NEW method
(:func:`qa.confidence.decide` with ``Settings.not_found_weights``).

``--fit`` refits the new method's weights on cross pairs (unanswerable; with
``--fit-held-out`` the left-out contexts' questions too) and the SQuAD sets' own
questions (answerable) only, so the essay and paraphrase sets stay held
out, prints them (paste into ``Settings.not_found_weights``) and uses them for the
table. Question vectors are cached under ``--cache``; the first run on CMRC/DRCD
builds their indexes (minutes; passage vectors are cached in the user embedding cache).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import expit

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "eval"

from qa import Assistant, Settings  # noqa: E402
from qa.confidence import NullProfile, QuestionFeatures, decide, evidence_vector  # noqa: E402
from qa.evaluation import Question, load_questions  # noqa: E402
from qa.normalize import to_simplified  # noqa: E402
from qa.search import confidence_of, rank  # noqa: E402

#: Weights of the new model in the order decide() uses: intercept, z(sentence, passage, lexical,
#: coverage), legs agree, missing terms, the asked kind of answer unmet. Which ones --fit frees (the
#: others stay 0; see Settings).
FIT_FREE = (0, 1, 2, 4, 6, 7)
BINS = 10


@dataclass
class Pair:
    """One question set asked on one corpus: features, labels and the old model's confidence."""

    questions: str
    corpus: str
    home: bool
    """The questions are asked on their own corpus (else a cross pair: all unanswerable)."""
    features: list[QuestionFeatures]
    answerable: np.ndarray
    old: np.ndarray
    held_out: bool = False
    """The corpus is its own questions' corpus with every other context left out: the questions of the
    contexts left out are unanswerable there, yet their article's other paragraphs share their words."""


def read_bank(path: Path) -> list[Question]:
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    return [Question(id=f"null{i}", text=t) for i, t in enumerate(ln for ln in lines if ln and not ln.startswith("#"))]


class Vectors:
    """Question vectors, embedded once per question set and cached on disk."""

    def __init__(self, embedder, folder: Path) -> None:
        self.embedder, self.folder = embedder, folder
        folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, texts: list[str]) -> np.ndarray:
        key = hashlib.sha256(("\n".join(texts) + self.embedder.fingerprint).encode()).hexdigest()[:20]
        f = self.folder / f"questions-{key}.npy"
        if f.exists():
            return np.load(f, allow_pickle=False)
        v = self.embedder.encode_questions([to_simplified(t) for t in texts])
        np.save(f, v, allow_pickle=False)
        return v


def features(assistant: Assistant, questions: list[Question], vectors: np.ndarray) -> tuple[list[QuestionFeatures],
                                                                                           np.ndarray]:
    """Each question's :class:`QuestionFeatures` exactly as ``qa.search`` computes them, and the old
    logistic's confidence (``Settings.confidence_weights``, today's fallback without a profile)."""
    settings = assistant.settings
    out, old = [], []
    for i, q in enumerate(questions):
        r = rank(assistant.index, q.text, vectors[i], settings, "hybrid", assistant.legs)
        out.append(r.features)
        old.append(confidence_of(r.features.sentence, r.features.coverage,
                                 bool(r.question.bigrams or r.question.terms), settings))
    return out, np.asarray(old)


def ece(confidence: np.ndarray, outcome: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error: bin-size-weighted gap between mean confidence and share answered."""
    b = np.minimum((confidence * bins).astype(int), bins - 1)
    return float(sum(abs(confidence[b == k].mean() - outcome[b == k].mean()) * (b == k).sum()
                     for k in range(bins) if (b == k).any()) / max(len(confidence), 1))


def new_confidence(pair: Pair, profile: NullProfile, settings: Settings) -> np.ndarray:
    return np.asarray([decide(f, profile, settings).confidence for f in pair.features])


def design(pair: Pair, profile: NullProfile) -> np.ndarray:
    return np.asarray([evidence_vector(f, profile) for f in pair.features])


def fit(pairs: list[Pair], profiles: dict[str, NullProfile], squad: set[str], l2: float = 1.0,
        with_held_out: bool = False) -> tuple[float, ...]:
    """Weighted L2 logistic on cross pairs (0) and SQuAD sets' own answerable questions (1), classes balanced;
    ``with_held_out`` adds the left-out contexts' questions (0)."""
    xs, ys = [], []
    for p in pairs:
        if p.home and p.questions not in squad:
            continue  # held out
        x, y = design(p, profiles[p.corpus]), p.answerable.astype(float)
        # own questions: the answerable ones; passage left out: the unanswerable ones (the answerable
        # ones are already counted on the whole corpus); cross pairs: all (unanswerable)
        if p.held_out and not with_held_out:
            continue
        keep = (y == 0) if p.held_out else (y == 1 if p.home else np.ones(len(y), bool))
        xs.append(x[keep][:, FIT_FREE])
        ys.append(y[keep])
    x, y = np.vstack(xs), np.concatenate(ys)
    weight = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    w = np.zeros(x.shape[1])
    penalty = l2 * np.diag(np.r_[0.0, np.ones(x.shape[1] - 1)])
    for _ in range(50):
        p = expit(x @ w)
        grad = x.T @ (weight * (p - y)) + penalty @ w
        hess = (x.T * (weight * p * (1 - p))) @ x + penalty
        w -= np.linalg.solve(hess, grad)
    full = np.zeros(len(Settings().not_found_weights))
    full[list(FIT_FREE)] = w
    return tuple(round(float(v), 2) for v in full)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "benchmarks" / "data")
    parser.add_argument("--bank", type=Path, default=ROOT / "qa" / "data" / "null_questions.txt")
    parser.add_argument("--index-dir", type=Path, default=None, help="where the dev corpora's indexes go")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/qa-not-found"), help="question vector cache")
    parser.add_argument("--skip", nargs="*", default=[], help="corpora to leave out (e.g. drcd: long to index)")
    parser.add_argument("--fit", action="store_true", help="refit the new weights (essay/paraphrase sets held out)")
    parser.add_argument("--held-out", action=argparse.BooleanOptionalAction, default=True,
                        help="also ask CMRC/DRCD questions on their corpus with every other context left out "
                             "(unanswerable questions that share their article's words)")
    parser.add_argument("--fit-held-out", action="store_true",
                        help="--fit on the left-out contexts' questions too (measured: more word-sharing questions "
                             "flagged, and more paraphrased answerable ones; not the default)")
    parser.add_argument("--cuts", type=float, nargs="*", default=[0.2, 0.35, 0.5, 0.65, 0.8],
                        help="min_confidence values for the trade-off table (home sets, new method)")
    args = parser.parse_args()

    base = Settings() if args.index_dir is None else Settings(index_dir=args.index_dir)
    essay = Assistant(None, base)
    vectors = Vectors(essay.embedder, args.cache)
    corpora: dict[str, Assistant] = {"essay": essay}
    sets: dict[str, tuple[list[Question], str]] = {}
    for name in ("essay_dev.jsonl",):
        sets["essay_dev"] = (load_questions(SHARED / name).questions, "essay")
    english = args.data / "essay_english.jsonl"
    if english.exists():
        sets["essay_english"] = (load_questions(english).questions, "essay")
    for para in sorted(args.data.glob("*_paraphrase.jsonl")):
        doc = para.name[: -len("_paraphrase.jsonl")]
        if doc == "essay":
            sets[para.stem] = (load_questions(para).questions, "essay")
        elif (args.data / f"{doc}.txt").exists() and doc not in args.skip:
            corpora[doc] = Assistant([args.data / f"{doc}.txt"], base, embedder=essay.embedder)
            sets[para.stem] = (load_questions(para).questions, doc)
    squad = set()
    halves: dict[str, tuple[str, set[str]]] = {}  # half corpus -> (its dataset, the doc ids it keeps)
    for name, file in (("cmrc", "cmrc2018_trial.json"), ("drcd", "drcd_test.json")):
        if name in args.skip:
            continue
        started = time.perf_counter()
        data = load_questions(SHARED / file)
        corpora[name] = Assistant(data.documents, base.with_(split_contexts=False), embedder=essay.embedder)
        sets[name] = (data.questions, name)
        squad.add(name)
        print(f"{name}: {corpora[name].index.size} passages ({corpora[name].index_status}, "
              f"{time.perf_counter() - started:.0f} s)", file=sys.stderr)
        if args.held_out:  # every other context (paragraphs of one article are neighbours: their siblings stay)
            kept = data.documents[::2]
            corpora[f"{name}-half"] = Assistant(kept, base.with_(split_contexts=False), embedder=essay.embedder)
            halves[f"{name}-half"] = (name, {d.doc_id for d in kept})

    bank = read_bank(args.bank)
    bank_vectors = vectors([q.text for q in bank])
    profiles = {}
    for name, assistant in corpora.items():
        started = time.perf_counter()
        bank_features, _ = features(assistant, bank, bank_vectors)
        scored = time.perf_counter()
        profiles[name] = NullProfile.fit(bank_features, base.null_min_stratum)
        print(f"null profile of {name}: {len(bank)} bank questions scored in {scored - started:.1f} s, "
              f"fitted in {(time.perf_counter() - scored) * 1000:.1f} ms", file=sys.stderr)

    pairs = []
    for qname, (questions, home) in sets.items():
        v = vectors([q.text for q in questions])
        for cname, assistant in corpora.items():
            if cname in halves:
                if halves[cname][0] != qname:
                    continue  # a half corpus is asked only its own dataset's questions
                kept = halves[cname][1]
                f, old = features(assistant, questions, v)
                answerable = np.array([any(d in kept for d in q.doc_ids) for q in questions])
                pairs.append(Pair(qname, cname, True, f, answerable, old, held_out=True))
                continue
            f, old = features(assistant, questions, v)
            answerable = np.array([cname == home and q.expects_answer for q in questions])
            pairs.append(Pair(qname, cname, cname == home, f, answerable, old))

    settings = base
    if args.fit:
        weights = fit(pairs, profiles, squad, with_held_out=args.fit_held_out)
        print("not_found_weights =", weights)
        settings = base.with_(not_found_weights=weights)

    print(f"\n{'questions @ corpus':38s} {'answerable':>10s} {'wrongly flagged %':>18s}   {'unanswerable':>12s} "
          f"{'flagged %':>14s}   {'ECE':>12s}")
    print(f"{'':38s} {'':>10s} {'old':>8s} {'new':>9s}   {'':>12s} {'old':>6s} {'new':>7s}   {'old':>5s} {'new':>6s}")
    for p in pairs:
        new = new_confidence(p, profiles[p.corpus], settings)
        y = p.answerable
        na, nu = int(y.sum()), int((~y).sum())
        pct = (lambda flagged, n: f"{100 * flagged / n:.1f}" if n else "-")
        label = f"{p.questions} @ {p.corpus}" + ("  (half left out)" if p.held_out else "" if p.home else "  (cross)")
        print(f"{label:38s} {na:>10d} {pct(((p.old < .5) & y).sum(), na):>8s} {pct(((new < .5) & y).sum(), na):>9s}"
              f"   {nu:>12d} {pct(((p.old < .5) & ~y).sum(), nu):>6s} {pct(((new < .5) & ~y).sum(), nu):>7s}"
              f"   {ece(p.old, y):5.3f} {ece(new, y):6.3f}")

    print("\nTrade-off of the new method's cut (min_confidence): answerable wrongly flagged % / unanswerable flagged %")
    print(f"{'questions @ corpus':38s} " + " ".join(f"{c:>13.2f}" for c in args.cuts))
    for p in pairs:
        new = new_confidence(p, profiles[p.corpus], settings)
        y = p.answerable
        cells = []
        for cut in args.cuts:
            a = f"{100 * ((new < cut) & y).sum() / y.sum():.0f}" if y.any() else "-"
            u = f"{100 * ((new < cut) & ~y).sum() / (~y).sum():.0f}" if (~y).any() else "-"
            cells.append(f"{a:>6s}/{u:<6s}")
        print(f"{p.questions + ' @ ' + p.corpus:38s} " + " ".join(cells))


if __name__ == "__main__":
    main()
