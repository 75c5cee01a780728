"""eval.html, and the section `medrl report RUN --eval EVAL` adds to report.html, in headless Chromium: the
dot-and-interval charts are drawn, nothing is blocked or fetched, and a screenshot is kept
(`python tests/test_eval_browser.py docs/eval.png` makes the README's: the report's section)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

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
    """The eval directory of the toy benchmark's known results, given as a plain predictions file."""
    toy, out = make_toy(root / "toy"), root / "eval"
    predictions = root / "predictions.jsonl"
    rows = [{"benchmark": "toy", "item_id": f"q{index}", "correct": bool(_solves(index))} for index in range(60)]
    predictions.write_text("".join(json.dumps(row) + "\n" for row in rows))
    done = invoke("eval", toy["run"], "--pack", toy["pack"], "--predictions", predictions, "--out", out)
    assert done.exit_code == 0, done.output
    return out


def reported(root: Path) -> Path:
    """The toy run's report.html with the evaluation's section."""
    out = evaluated(root)
    done = invoke("report", root / "toy" / "run", "--eval", out)
    assert done.exit_code == 0, done.output
    return root / "toy" / "run" / "report.html"


def _check_charts(driver: Any) -> None:
    charts = driver.find_elements("css selector", "svg.chart[aria-label^='toy'], svg.chart[aria-label^='overall']")
    assert len(charts) == 2  # the benchmark and the pooled one
    for chart in charts:  # all, clean, contaminated, certain: a dot each, drawn with a size
        dots = chart.find_elements("css selector", "circle")
        assert len(dots) == 4 and all(dot.size["width"] > 0 for dot in dots)
    assert "toy: gap +40.0" in charts[0].text
    assert not [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


@pytest.mark.browser
def test_the_eval_page_draws_its_charts(tmp_path: Path) -> None:
    with open_report(evaluated(tmp_path) / "eval.html", height=900, scripted=False) as driver:
        _check_charts(driver)
        (REPO / "artifacts").mkdir(exist_ok=True)
        driver.save_screenshot(str(REPO / "artifacts" / "eval.png"))


@pytest.mark.browser
def test_the_report_draws_the_evaluation_section(tmp_path: Path) -> None:
    with open_report(reported(tmp_path)) as driver:
        _check_charts(driver)
        heading = driver.find_element("xpath", "//h2[starts-with(., 'Did contamination inflate the score?')]")
        assert heading.is_displayed()
        rows = driver.find_elements("css selector", "table.eval tr")
        assert [row.find_element("css selector", "td").text for row in rows[1:]] == ["toy", "overall"]
        driver.execute_script("arguments[0].scrollIntoView()", heading)
        driver.save_screenshot(str(REPO / "artifacts" / "report_eval.png"))


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else REPO / "docs" / "eval.png"
    with tempfile.TemporaryDirectory() as root, open_report(reported(Path(root)), 60, 1000, 900) as driver:
        section = driver.find_element("xpath", "//h2[starts-with(., 'Did contamination inflate the score?')]")
        driver.execute_script("arguments[0].scrollIntoView()", section)
        driver.save_screenshot(str(target))
