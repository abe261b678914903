"""Batch evaluation: run a file of questions through the assistant and measure retrieval.

One concept per module:

* :mod:`.datasets` — JSONL and SQuAD questions files, parsed defensively;
* :mod:`.judging` — which passages are relevant to each question;
* :mod:`.run` — :func:`evaluate`, the run itself;
* :mod:`.metrics` — hit@k, MRR, nDCG (ir-measures/trec_eval), latency, calibration;
* :mod:`.results` — :class:`QuestionResult`, :class:`RetrieverResult`, :class:`EvaluationReport`;
* :mod:`.labels` — the bilingual labels people see;
* :mod:`.render` — text tables and the HTML report; :mod:`.plots` — the PNG plots;
  :mod:`.folder` — the report folder;
* :mod:`.compare` — two evaluations paired, with significance tests.
"""

from .compare import Comparison, compare
from .datasets import Dataset, Question, load_questions
from .judging import judge_relevance
from .results import EvaluationReport, QuestionResult, RetrieverResult
from .run import evaluate, result_from_answer

__all__ = [
    "Comparison", "Dataset", "EvaluationReport", "Question", "QuestionResult", "RetrieverResult", "compare",
    "evaluate", "judge_relevance", "load_questions", "result_from_answer",
]
