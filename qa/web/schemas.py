"""Request and response models of the JSON API (what ``/openapi.json`` documents).

They mirror :meth:`qa.Answer.to_dict`, :meth:`qa.Passage.to_dict` and the
``qa eval --json`` object; responses allow extra fields so a new field of those
objects reaches clients without a change here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Largest k the API accepts (the UI's slider has the same bound).
MAX_K = 20

K = Annotated[int, Field(strict=True, ge=1, le=MAX_K, description=f"how many passages, a whole number 1..{MAX_K}")]
RetrieverName = Literal["hybrid", "dense", "lexical"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Error(BaseModel):
    """Every error: a message saying what went wrong and what to do."""

    error: str = Field(examples=["the question is empty; type a question"])


class AskRequest(BaseModel):
    """A question for the corpus the server serves."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, examples=["社区工作者的待遇怎么保障？"])
    k: Optional[K] = Field(None, description=f"passages to return, 1..{MAX_K} (default: the server's k)")
    retriever: Optional[RetrieverName] = Field(None, description="hybrid (default), dense or lexical")

    @field_validator("question")
    @classmethod
    def _encodable(cls, value: str) -> str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("the question contains an invalid character (a lone surrogate); "
                             "send it as valid UTF-8 text") from None
        return value


class HitOut(_Open):
    """One passage returned for a question."""

    rank: int
    passage_id: str
    doc_id: str
    title: str
    heading_path: list[str]
    breadcrumb: str
    text: str
    source: str = Field(description="the file name the passage comes from (no folder)")
    start: int
    end: int
    highlights: list[list[int]] = Field(description="[start, end) spans of the best sentences within text")
    scores: dict[str, float]
    confidence: float


class AnswerOut(_Open):
    """``Answer.to_dict()``: the ranked passages and whether the corpus answers the question."""

    question: str
    found: bool
    confidence: float
    retriever: str
    latency_ms: float
    notes: list[str]
    hits: list[HitOut]


class PassageOut(_Open):
    """A passage of the corpus."""

    id: str
    doc_id: str
    title: str
    heading_path: list[str]
    breadcrumb: str
    text: str
    start: int
    end: int
    source: str = Field(description="the file name (no folder)")


class OutlineNodeOut(BaseModel):
    """A heading (or, at the root, a document) with the passages directly under it and its subheadings."""

    key: str
    title: str
    path: list[str]
    doc_id: str
    size: int = Field(description="passages under this heading, subheadings included")
    passage_ids: list[str]
    children: list["OutlineNodeOut"]


class OutlineOut(BaseModel):
    """The heading tree of every document (one root per document)."""

    documents: list[OutlineNodeOut]


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    name: str = Field(description="the file name (no folder)")
    n_passages: int
    n_chars: int
    format: str = Field("", description="the reader that read it: text, PDF, Word, web page")
    size: int = Field(0, description="file size in bytes")
    indexed_at: float | None = Field(None, description="when it was indexed (Unix time); null: not known")
    warnings: list[str] = Field(default_factory=list, description="what the reader noticed (pages without text…)")


class DocumentsOut(BaseModel):
    documents: list[DocumentOut]
    read_only: bool = Field(False, description="true when the server serves fixed files (no upload or removal)")


class DocumentsChangedOut(DocumentsOut):
    """The documents after an upload or a removal, and what changed (file names)."""

    added: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str
    documents: int
    passages: int
    model: str
    evaluation_running: bool


class EvaluationOut(_Open):
    """The ``qa eval --json`` object (paths replaced by the upload's file name)."""

    schema_version: Any = None
    dataset: str
    format: str
    n_questions: int
    n_answerable: int
    n_skipped: int
    k: int
    retriever: Optional[str]
    metrics: dict[str, Optional[float]]
    not_found: dict[str, Any]
    latency_ms: dict[str, Optional[float]]
    outcomes: dict[str, int]
    by_retriever: dict[str, Any]
    per_question: list[dict[str, Any]]
    warnings: list[str]
    interrupted: bool
    elapsed_s: float
    config: dict[str, Any]
