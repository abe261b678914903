"""``qa serve`` / ``python app.py`` without a model: flags, the address checked first, the index location,
and server paths kept out of what users see. All fast."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from qa.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]

#: Reports what a serve attempt returned and whether anything heavy was imported on the way.
PROBE = """
import sys
from qa.cli import main
rc = main(["serve", *sys.argv[1:]])
print(rc, *(name in sys.modules for name in ("torch", "gradio", "sentence_transformers")))
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    return {**env, "HF_HUB_OFFLINE": "1", **extra}


@pytest.fixture
def busy_port():
    """A port someone else listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def test_port_in_use_is_one_line_before_anything_heavy_loads(busy_port):
    done = subprocess.run([sys.executable, "-c", PROBE, "--port", str(busy_port)], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.stderr == f"qa: error: port {busy_port} is in use; pick another with --port\n"
    assert done.stdout.split() == ["1", "False", "False", "False"]


def test_python_app_py_is_qa_serve(busy_port):
    done = subprocess.run([sys.executable, "app.py", "--port", str(busy_port)], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr == f"qa: error: port {busy_port} is in use; pick another with --port\n"
    helped = subprocess.run([sys.executable, "app.py", "--help"], cwd=ROOT, env=_env(), capture_output=True,
                            text=True, timeout=120)
    assert helped.returncode == 0
    for flag in ("--host", "--port", "--corpus", "--model", "--index-dir"):
        assert flag in helped.stdout


def test_port_from_qa_port_is_checked_too(busy_port):
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=_env(QA_PORT=str(busy_port)),
                          capture_output=True, text=True, timeout=120)
    assert f"port {busy_port} is in use" in done.stderr and done.stdout.split()[0] == "1"


def test_unknown_host_is_one_line():
    done = subprocess.run([sys.executable, "-c", PROBE, "--host", "no-such-host.invalid", "--port", "8000"],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert done.stderr.startswith("qa: error: cannot listen on 'no-such-host.invalid'")
    assert "--host" in done.stderr and done.stderr.count("\n") == 1
    assert done.stdout.split() == ["1", "False", "False", "False"]


def test_host_and_port_come_from_flags_then_env(monkeypatch):
    from qa.web.server import DEFAULT_HOST, DEFAULT_PORT

    monkeypatch.delenv("QA_HOST", raising=False)
    monkeypatch.delenv("QA_PORT", raising=False)
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.corpus) == (DEFAULT_HOST, DEFAULT_PORT, None)
    monkeypatch.setenv("QA_HOST", "0.0.0.0")
    monkeypatch.setenv("QA_PORT", "8123")
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port) == ("0.0.0.0", 8123)
    args = build_parser().parse_args(["serve", "--host", "127.0.0.2", "--port", "9000", "--corpus", "a.txt", "b.md",
                                      "--model", "m", "--index-dir", "ix"])
    assert (args.host, args.port, args.corpus, args.model, args.index_dir) == (
        "127.0.0.2", 9000, ["a.txt", "b.md"], "m", "ix")


@pytest.mark.parametrize("argv, env, message", [
    (["serve", "--port", "70000"], {}, "must be 1..65535"),
    (["serve", "--port", "0"], {}, "must be 1..65535"),
    (["serve", "--port", "http"], {}, "must be a port number"),
    (["serve"], {"QA_PORT": "eighty"}, "$QA_PORT"),
])
def test_bad_port_is_a_usage_error(monkeypatch, capsys, argv, env, message):
    monkeypatch.delenv("QA_PORT", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2 and message in capsys.readouterr().err


def test_serve_uses_the_cli_settings_builder(monkeypatch, tmp_path):
    """``qa serve --model/--index-dir`` build the same Settings as ``qa ask``."""
    from qa import cli

    seen = {}
    monkeypatch.setattr("qa.web.server.serve", lambda corpus, settings, host, port, collection=None: seen.update(
        corpus=corpus, settings=settings, host=host, port=port) or 0)
    assert cli.main(["serve", "--model", "m", "--index-dir", str(tmp_path), "--port", "8001"]) == 0
    ask_args = build_parser().parse_args(["ask", "x", "--model", "m", "--index-dir", str(tmp_path)])
    assert seen["settings"] == cli._settings(ask_args) and seen["port"] == 8001


# -- index location ----------------------------------------------------------------------------------------------

@pytest.fixture
def no_index_env(monkeypatch):
    monkeypatch.delenv("QA_INDEX_DIR", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)


def test_index_dir_in_a_checkout_is_its_index_folder(no_index_env, monkeypatch, tmp_path):
    from qa import config

    (tmp_path / "pyproject.toml").write_text("[project]\n")
    (tmp_path / ".git").write_text("gitdir: elsewhere\n")  # a worktree's .git is a file
    monkeypatch.setattr(config, "PROJECT_ROOT", tmp_path)
    assert config.Settings().index_dir == tmp_path / "index"


def test_index_dir_of_an_installed_package_is_the_users_data_folder(no_index_env, monkeypatch, tmp_path):
    from qa import config

    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.setattr(config, "PROJECT_ROOT", site)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config.Settings().index_dir == tmp_path / "home" / ".local" / "share" / "qa-assistant" / "index"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert config.Settings().index_dir == tmp_path / "data" / "qa-assistant" / "index"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")  # the XDG spec: relative paths are invalid
    assert config.Settings().index_dir == tmp_path / "home" / ".local" / "share" / "qa-assistant" / "index"


def test_qa_index_dir_wins(no_index_env, monkeypatch, tmp_path):
    from qa import config

    (tmp_path / "pyproject.toml").write_text("[project]\n")
    (tmp_path / ".git").mkdir()
    monkeypatch.setattr(config, "PROJECT_ROOT", tmp_path)
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "mine"))
    assert config.Settings().index_dir == tmp_path / "mine"


# -- no server paths -----------------------------------------------------------------------------------------------

def test_scrubber_replaces_known_paths_longest_first(tmp_path):
    from qa.web.public import Scrubber

    upload = tmp_path / "up" / "q.jsonl"
    scrub = Scrubber({str(tmp_path): "<tmp>"}).with_paths({upload: "q.jsonl"})
    assert scrub.text(f"{upload}: line 3: bad") == "q.jsonl: line 3: bad"
    assert scrub.text(f"cannot write {tmp_path}/x") == "cannot write <tmp>/x"
    data = scrub.data({"path": str(upload), "list": [str(tmp_path / "a"), 3, None], "n": 1.5})
    assert data == {"path": "q.jsonl", "list": ["<tmp>/a", 3, None], "n": 1.5}
