"""Fit the "not found" confidence model and report its precision and recall.

    python benchmarks/calibrate_not_found.py [--essay-weight 0] [--l2 1.0]

Examples come from pairing question sets with corpora: essay questions on the
essay (answerable unless their evidence list is empty), CMRC questions on CMRC
(answerable), and each set's questions on the *other* corpus (unanswerable:
1,000+ realistic out-of-scope questions for free). For each pair the top hit's
features (cosine, share of the question covered, has-terms) are recorded and a
logistic model is fitted (Newton's method with L2). By default the essay's dev
questions are held out of the fit (weight 0) and only reported, so the figures on
them are not fitted ones. Paste the printed weights into
``Settings.confidence_weights``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
from scipy.special import expit

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "eval"

ITERATIONS = 100


def features(assistant, questions: list[str]) -> np.ndarray:
    """(cosine, coverage, has_terms) of each question's top hit."""
    from qa.search import question_terms

    rows = []
    for answer in assistant.ask_many(questions, k=1):
        top = answer[0]
        bigrams, terms = question_terms(assistant.index, answer.question, assistant.settings)
        has = bool(bigrams or terms)
        rows.append((top.scores["dense"], top.scores["coverage"], float(has)))
    return np.asarray(rows, dtype=np.float64)


def fit_logistic(x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float) -> np.ndarray:
    """Weighted L2-regularised logistic regression; returns (intercept, *weights)."""
    X = np.c_[np.ones(len(x)), x]
    w = np.zeros(X.shape[1])
    penalty = l2 * np.diag(np.r_[0.0, np.ones(X.shape[1] - 1)])
    for _ in range(ITERATIONS):
        p = expit(X @ w)
        grad = X.T @ (weight * (p - y)) + penalty @ w
        hess = (X.T * (weight * p * (1 - p))) @ X + penalty
        w -= np.linalg.solve(hess, grad)
    return w


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--essay-weight", type=float, default=0.0,
                        help="weight of the essay dev questions in the fit (default 0: held out, only reported)")
    parser.add_argument("--l2", type=float, default=1.0)
    args = parser.parse_args()

    from qa import Assistant, Settings
    from qa.evaluation import load_questions

    essay_set = load_questions(SHARED / "essay_dev.jsonl")
    cmrc_set = load_questions(SHARED / "cmrc2018_trial.json")
    essay = Assistant()
    cmrc = Assistant(cmrc_set.documents, Settings(split_contexts=False), embedder=essay.embedder)
    eq = [q.text for q in essay_set.questions]
    cq = [q.text for q in cmrc_set.questions]

    groups = {
        "essay on essay": (features(essay, eq), np.array([q.expects_answer for q in essay_set.questions], float)),
        "cmrc on cmrc": (features(cmrc, cq), np.ones(len(cq))),
        "cmrc on essay": (features(essay, cq), np.zeros(len(cq))),
        "essay on cmrc": (features(cmrc, eq), np.zeros(len(eq))),
    }
    x = np.vstack([g[0] for g in groups.values()])
    y = np.concatenate([g[1] for g in groups.values()])
    weight = np.concatenate([np.full(len(g[1]), args.essay_weight if name == "essay on essay" else 1.0)
                             for name, g in groups.items()])
    w = fit_logistic(x, y, weight, args.l2)
    print("confidence_weights =", tuple(round(float(v), 2) for v in w))
    threshold = Settings().min_confidence
    for name, (gx, gy) in groups.items():
        p = expit(w[0] + gx @ w[1:])
        flagged = p < threshold
        tp = int((flagged & (gy == 0)).sum())
        print(f"{name:15s} n={len(gy):5d}  unanswerable flagged {tp}/{int((gy == 0).sum())}  "
              f"answerable flagged {int((flagged & (gy == 1)).sum())}/{int((gy == 1).sum())}")
    p_all = expit(w[0] + x @ w[1:])
    flagged = p_all < threshold
    precision = (flagged & (y == 0)).sum() / max(flagged.sum(), 1)
    recall = (flagged & (y == 0)).sum() / max((y == 0).sum(), 1)
    print(f"'not found' over all pairs: precision {precision:.3f}, recall {recall:.3f}")


if __name__ == "__main__":
    main()
