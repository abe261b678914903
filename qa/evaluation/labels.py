"""How evaluation keys are shown to people: bilingual labels, Chinese first, then English.

The JSON output keeps its plain keys (``wrongly_not_found``, ``hit@1``); the text
summary, the HTML report, the plots and the web UI show these labels instead, in
the UI's style ("未找到 Not found").
"""

from __future__ import annotations

#: Outcomes from worst to best: the order rows are listed in ("failures first").
OUTCOMES: tuple[str, ...] = ("missed", "answered_unanswerable", "wrongly_not_found", "low_rank", "unjudged", "ok")

OUTCOME_LABELS: dict[str, str] = {
    "missed": "未命中 missed",
    "answered_unanswerable": "无答案却作答 answered an unanswerable question",
    "wrongly_not_found": "误判未找到 wrongly called not found",
    "low_rank": "排名靠后 relevant passage not first",
    "unjudged": "无法判定 unjudged",
    "ok": "正确 ok",
}
OUTCOME_HELP: dict[str, str] = {
    "missed": "可回答，但前 k 段中没有相关段落 · answerable, but no relevant passage in the top k",
    "answered_unanswerable": "文档不回答这个问题，助手却说找到了答案 · the corpus does not answer it, yet the assistant "
                             "said it found an answer",
    "wrongly_not_found": "返回了相关段落，助手却说文档不回答 · a relevant passage was returned, yet the assistant said "
                         "the corpus does not answer it",
    "low_rank": "返回了相关段落，但不在第一位 · a relevant passage was returned, but not first",
    "unjudged": "文件说可回答，但证据不在任何段落中（不计入指标） · the file says it is answerable, but its evidence is "
                "in no passage (left out of the metrics)",
    "ok": "相关段落排第一（无答案的问题被判为未找到） · relevant passage first (or, for an unanswerable question, "
          "flagged as not found)",
}

#: How the not-found counts are labelled in tables.
NOT_FOUND_LABELS: dict[str, str] = {
    "unanswerable": "无答案的问题 unanswerable questions",
    "flagged_unanswerable": "其中判为未找到 of which flagged not found",
    "answerable_flagged": "可回答却判为未找到 answerable flagged not found",
    "ece": "置信度校准误差 ECE (confidence calibration error)",
}
#: How each metric is spelled for readers, by its name before "@".
METRIC_NAMES: dict[str, str] = {"hit": "Hit", "mrr": "MRR", "ndcg": "nDCG"}
#: Chinese names of the metrics; ``{k}`` is the cutoff. hit@1 has its common name.
METRIC_ZH: dict[str, str] = {"hit@1": "首位命中", "hit": "前{k}命中", "mrr": "平均倒数排名", "ndcg": "归一化折损累计增益"}
#: Label of the per-question latency rows.
LATENCY_LABEL = "延迟 latency"


def metric_label(key: str) -> str:
    """A metric key as readers write it, in the UI's style: ``hit@1`` -> ``Hit@1 首位命中``."""
    name, at, cutoff = key.partition("@")
    label = f"{METRIC_NAMES.get(name, name)}{at}{cutoff}"
    zh = METRIC_ZH.get(key) or METRIC_ZH.get(name)
    return f"{label} {zh.format(k=cutoff)}" if zh else label


def outcome_label(outcome: str) -> str:
    """An outcome key as readers see it (an unknown key is shown as it is)."""
    return OUTCOME_LABELS.get(outcome, outcome)


def not_found_label(key: str) -> str:
    return NOT_FOUND_LABELS.get(key, key)


def latency_label(percentile: str) -> str:
    """``p50`` -> ``延迟 latency p50 (ms)``."""
    return f"{LATENCY_LABEL} {percentile} (ms)"
