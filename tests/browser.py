"""Headless Chromium driven through Selenium, for the report tests and the README screenshot.

Debian's packages: `chromium` and `chromium-driver` (installed by `.ci/run` / `make browser`); Selenium is told
both paths, so it never looks for or downloads a driver.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def missing() -> list[str]:
    """What the browser tests need and this machine lacks."""
    found = []
    try:
        import selenium  # noqa: F401
    except ImportError:
        found.append("selenium (pip install -e '.[test]')")
    if CHROMIUM is None:
        found.append("chromium (apt-get install chromium)")
    if CHROMEDRIVER is None:
        found.append("chromedriver (apt-get install chromium-driver)")
    return found


@contextmanager
def open_report(
    page: Path, timeout: float = 60, width: int = 1300, height: int = 1900, scripted: bool = True
) -> Iterator:
    """A Chromium WebDriver showing `page` once its script has drawn the first page of evidence (once it has loaded,
    for a page without a script: `scripted=False`)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.set_page_load_timeout(timeout)
        driver.get(page.resolve().as_uri())
        deadline = time.monotonic() + timeout
        while scripted and driver.execute_script("return document.body.dataset.ready") != "true":
            if time.monotonic() > deadline:
                status = driver.execute_script("return document.getElementById('status').textContent")
                raise TimeoutError(f"the report did not finish drawing in {timeout} s (status: {status!r})")
            time.sleep(0.05)
        yield driver
    finally:
        driver.quit()
