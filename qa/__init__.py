"""Retrieval Q&A over Chinese documents: ask a question, get the passages that answer it.

    >>> import qa
    >>> answer = qa.ask("社区工作者的待遇怎么保障？", k=3)
    >>> answer[0].breadcrumb, answer.found

``Assistant`` does the same over your own files and settings; ``evaluate`` runs a
batch of questions with expected evidence and reports retrieval metrics.
"""

from .assistant import Assistant, ask, clean_question
from .config import Settings
from .corpus import Document, load_corpus
from .evaluation import EvaluationReport, compare, evaluate
from .errors import CorpusError, EvaluationError, IndexLoadError, ModelUnavailableError, QAError, QuestionError
from .passages import Passage
from .search import Answer, Hit

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "Assistant",
    "CorpusError",
    "Document",
    "EvaluationError",
    "EvaluationReport",
    "Hit",
    "IndexLoadError",
    "ModelUnavailableError",
    "Passage",
    "QAError",
    "QuestionError",
    "Settings",
    "ask",
    "clean_question",
    "compare",
    "evaluate",
    "load_corpus",
]
