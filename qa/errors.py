"""Errors a user can cause and fix; each message says what went wrong and with what."""

from __future__ import annotations


class QAError(Exception):
    """Base of every error the assistant reports to users as a one-line message."""


class CorpusError(QAError, ValueError):
    """A corpus file that cannot be read as a document; the message names the file."""


class QuestionError(QAError, ValueError):
    """A question that cannot be searched (empty, too long, only control characters)."""


class IndexLoadError(QAError):
    """A stored index that is missing, corrupted or stale; callers rebuild it."""


class ModelUnavailableError(QAError, RuntimeError):
    """The embedding model cannot be loaded offline."""


class EvaluationError(QAError, ValueError):
    """A questions file that cannot be evaluated; the message names the line."""
