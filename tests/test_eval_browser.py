"""eval.html in headless Chromium: the dot-and-interval charts are drawn, nothing is blocked or fetched, and a
screenshot is kept (`python tests/test_eval_browser.py docs/eval.png` makes the README's)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pytest

from browser import missing, open_report
from conftest import REPO, invoke
from test_eval import _solves, make_toy

if __name__ != "__main__" and missing():
    _WHY = f"the browser tests need {', '.join(missing())}"
    if os.environ.get("MEDRL_REQUIRE_BROWSER") == "1":
        raise ImportError(_WHY + " (MEDRL_REQUIRE_BROWSER=1)")
    pytest.skip(_WHY, allow_module_level=True)


def evaluated(root: Path) -> Path:
    """eval.html of the toy benchmark's known results, given as a plain predictions file."""
    toy, out = make_toy(root / "toy"), root / "eval"
    predictions = root / "predictions.jsonl"
    rows = [{"benchmark": "toy", "item_id": f"q{index}", "correct": bool(_solves(index))} for index in range(60)]
    predictions.write_text("".join(json.dumps(row) + "\n" for row in rows))
    done = invoke("eval", toy["run"], "--pack", toy["pack"], "--predictions", predictions, "--out", out)
    assert done.exit_code == 0, done.output
    return out / "eval.html"


@pytest.mark.browser
def test_the_eval_page_draws_its_charts(tmp_path: Path) -> None:
    with open_report(evaluated(tmp_path), height=900, scripted=False) as driver:
        charts = driver.find_elements("css selector", "svg.chart")
        assert len(charts) == 2  # the benchmark and the pooled one
        for chart in charts:  # all, clean, contaminated, certain: a dot each, drawn with a size
            dots = chart.find_elements("css selector", "circle")
            assert len(dots) == 4 and all(dot.size["width"] > 0 for dot in dots)
        assert "toy: gap +40.0" in charts[0].text
        assert not [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        (REPO / "artifacts").mkdir(exist_ok=True)
        driver.save_screenshot(str(REPO / "artifacts" / "eval.png"))


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else REPO / "docs" / "eval.png"
    with tempfile.TemporaryDirectory() as root, open_report(evaluated(Path(root)), 60, 900, 760, False) as driver:
        driver.save_screenshot(str(target))
