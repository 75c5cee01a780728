"""report.html in a real browser: headless Chromium (Debian's `chromium` + `chromium-driver`, via Selenium) opens
the report of a run whose rows and input file name carry script and onerror payloads.

Asserts that no script from the data runs, that the payloads show as text, that nothing is fetched, that the
charts are there, and that filtering (selects, search, chart clicks) and paging work; takes a screenshot into
`artifacts/` (gitignored; CI keeps it). Without Chromium the module is skipped saying what is missing, and with
MEDRL_REQUIRE_BROWSER=1 (set by `make test`, so CI) it fails instead.

`python tests/test_report_browser.py docs/report.png` makes the README's screenshot the same way, from the
shipped examples.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import medrl
from browser import missing, open_report

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
DEMO = EXAMPLES / "training" / "demo_train.jsonl"
ARTIFACTS = REPO / "artifacts"
PAYLOADS = (
    "<script>window.__pwned = 'script'</script>",
    "<img src=x onerror=\"window.__pwned = 'onerror'\">",
    "<svg onload=\"window.__pwned = 'svg'\"></svg>",
)

if __name__ != "__main__" and missing():
    _WHY = f"the browser tests need {', '.join(missing())}"
    if os.environ.get("MEDRL_REQUIRE_BROWSER") == "1":
        raise ImportError(_WHY + " (MEDRL_REQUIRE_BROWSER=1)")
    pytest.skip(_WHY, allow_module_level=True)


def demo_run(root: Path, rows: list[dict], name: str = "train.jsonl") -> Path:
    """The seed method on `rows` against the examples' pack: many removals, two methods, several benchmarks."""
    medrl.import_benchmarks(EXAMPLES / "benchmarks", root / "pack", allow_partial=True)
    train = root / name
    train.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    medrl.decontaminate(train, root / "pack", root / "out", "ii-medical-rl")
    return root / "out"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Planted benchmark questions with a payload appended (still removed), before the demo rows; the input file's
    own name is a payload too (it is shown in the page's header)."""
    rows = [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines()]
    # Long planted questions: their 8-grams still match with a payload appended.
    planted = [row for row in rows if row["source"].startswith("planted") and len(row["question"].split()) > 20]
    attacks = [
        {**row, "question": f"{row['question']} {payload}"} for row, payload in zip(planted[:3], PAYLOADS, strict=True)
    ]
    return demo_run(tmp_path_factory.mktemp("hostile"), attacks + rows, "<img src=x onerror=alert(1)>.jsonl")


def wait_drawn(driver, before: str, timeout: float = 20) -> None:
    """Wait until the evidence list was drawn again after `before` (the page counts its draws)."""
    deadline = time.monotonic() + timeout
    while driver.execute_script("return document.body.dataset.drawn") == before:
        assert time.monotonic() < deadline, "the evidence list was not redrawn"
        time.sleep(0.05)


def choose(driver, select_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    before = driver.execute_script("return document.body.dataset.drawn")
    Select(driver.find_element("id", select_id)).select_by_value(value)
    wait_drawn(driver, before)


def status(driver) -> str:
    return driver.find_element("id", "status").text


def card_texts(driver) -> list[str]:
    return [card.text for card in driver.find_elements("css selector", "#evidence-list article")]


def test_the_report_runs_no_data_and_filters(hostile: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    removed = [json.loads(line) for line in (hostile / "removed.jsonl").read_text(encoding="utf-8").splitlines()]
    with open_report(hostile / "report.html") as driver:
        # Nothing from the data ran, and every payload is on the page as text.
        assert driver.execute_script("return window.__pwned === undefined")
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018 (accessing it is the check)
        assert driver.execute_script("return document.querySelectorAll('img, iframe, object, embed').length") == 0
        assert "<img src=x onerror=alert(1)>.jsonl" in driver.find_element("css selector", "p.meta").text
        # Nothing was fetched: no resource entries, no console errors (a blocked script would log one).
        assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
        assert [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"] == []

        # The charts: benchmark x method bars, a score histogram per method with its threshold, benchmark shares.
        charts = driver.find_elements("css selector", "svg.chart")
        assert len(charts) >= 4
        assert driver.find_elements("css selector", "svg.chart line.threshold")
        methods = sorted({m["method"] for row in removed for m in row["contamination"]})
        assert methods == ["fuzzy", "ngram"]
        assert status(driver) == f"{len(removed)} of {len(removed)} removed rows match"
        assert driver.find_element("id", "page").text == f"page 1 of {-(-len(removed) // 20)}"

        first = card_texts(driver)[:3]
        for text, payload in zip(first, PAYLOADS, strict=True):
            assert payload in text  # shown as text, in the training row's side

        driver.execute_script("window.scrollTo(0, 0)")
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "report.png"))
        assert (ARTIFACTS / "report.png").stat().st_size > 10_000

        # Filtering by method: only rows with a fuzzy match, each card showing its fuzzy match.
        fuzzy = [row for row in removed if any(m["method"] == "fuzzy" for m in row["contamination"])]
        choose(driver, "f-method", "fuzzy")
        assert status(driver) == f"{len(fuzzy)} of {len(removed)} removed rows match"
        active = driver.find_elements("css selector", "#evidence-list .tab.active")
        assert len(active) == len(fuzzy) and all("fuzzy" in tab.text for tab in active)

        # By benchmark, combined with the method filter, then alone.
        choose(driver, "f-method", "")
        choose(driver, "f-benchmark", "medmcqa")
        medmcqa = [row for row in removed if any(m["benchmark"] == "medmcqa" for m in row["contamination"])]
        assert status(driver) == f"{len(medmcqa)} of {len(removed)} removed rows match"
        assert all("medmcqa" in tab.text for tab in driver.find_elements("css selector", ".tab.active"))

        # Searching the rows' texts finds the payload rows (the text is data, not markup).
        choose(driver, "f-benchmark", "")
        search = driver.find_element("id", "f-search")
        before = driver.execute_script("return document.body.dataset.drawn")
        search.send_keys("__pwned")
        wait_drawn(driver, before)
        deadline = time.monotonic() + 10
        while status(driver) != f"3 of {len(removed)} removed rows match":
            assert time.monotonic() < deadline, status(driver)
            time.sleep(0.05)
        search.clear()
        before = driver.execute_script("return document.body.dataset.drawn")
        driver.execute_script("document.getElementById('f-search').dispatchEvent(new Event('input'))")
        wait_drawn(driver, before)

        # Clicking a chart bar filters to its benchmark and method; paging moves through the rows.
        bar = driver.find_element("css selector", "svg.chart rect.filter[data-benchmark='medqa'][data-method='ngram']")
        before = driver.execute_script("return document.body.dataset.drawn")
        driver.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", bar)
        wait_drawn(driver, before)
        pairs = [
            r for r in removed if any((m["benchmark"], m["method"]) == ("medqa", "ngram") for m in r["contamination"])
        ]
        assert status(driver) == f"{len(pairs)} of {len(removed)} removed rows match"
        before = driver.execute_script("return document.body.dataset.drawn")
        driver.find_element("id", "next").click()
        wait_drawn(driver, before)
        assert driver.find_element("id", "page").text.startswith("page 2 of")
        assert driver.execute_script("return window.__pwned === undefined")


def readme_screenshot(target: Path) -> None:
    """The README's picture: the seed method's report on the shipped demo file."""
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        rows = [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines()]
        out = demo_run(Path(root), rows)
        with open_report(out / "report.html", height=2100) as driver:
            driver.save_screenshot(str(target))


if __name__ == "__main__":
    readme_screenshot(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "report.png")
