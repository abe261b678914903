"""What the browser tests share: the screenshot script's Chromium helpers and the marks that skip without Chromium."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _load_screenshot_helpers():
    spec = importlib.util.spec_from_file_location("make_screenshot", ROOT / "docs" / "make_screenshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


shots = _load_screenshot_helpers()

#: ``pytestmark`` of a browser test module: marked ``browser``, skipped when Debian's chromium is missing.
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not shots.CHROMIUM.exists(),
                       reason=f"{shots.CHROMIUM} not found: apt-get install chromium fonts-noto-cjk"),
]
