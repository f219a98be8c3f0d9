"""Headless Chromium for the browser tests of the report and of JupyterLab (Debian's ``chromium`` and
``chromium-driver``; ``.ci/run`` installs them). A test that uses the ``browser`` fixture is skipped, saying
why, only where they are absent."""

import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
DESKTOP, PHONE = (1366, 900), (390, 844)  # the window sizes every page is read at
# Ready: the document is loaded and MathJax (when the page has it) has nothing left to typeset.
READY = (
    "if (document.readyState !== 'complete') return false;"
    "if (!window.MathJax) return true;"
    "if (!MathJax.Hub || !MathJax.isReady) return false;"
    "return !(MathJax.Hub.queue.pending || MathJax.Hub.queue.running);"
)


def chromium_options(proxy: bool = True):
    """Headless Chromium as root in a container; with ``proxy`` every request that is not for a file or the
    loopback goes to a closed port, so a page that reaches for the network shows a console error."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    arguments = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
    arguments += ["--disable-background-networking", "--disable-component-update"]
    if proxy:
        arguments += ["--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]
    for argument in arguments:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return options


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module, with no network."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; .ci/run)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=chromium_options())
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def wait_until(driver, script: str, timeout: float = 60, what: str = "the page") -> object:
    """Poll ``script`` in the page until it returns something true; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"{what}: not ready within {timeout} s ({script[:80]}...)")


def open_page(driver, page: Path, size: tuple[int, int] | None = None) -> list[dict]:
    """Load a file at a window size, wait for MathJax to finish and the page's scripts after it (maths.js);
    return the console messages."""
    if size is not None:
        driver.set_window_size(*size)
    driver.get(Path(page).as_uri())
    wait_until(driver, f"return (function () {{ {READY} }})()", what=Path(page).name)
    driver.execute_async_script(
        "var done = arguments[0]; if (window.MathJax && MathJax.Hub) MathJax.Hub.Queue(done); else done();"
    )
    return driver.get_log("browser")


def overflow(driver) -> int:
    """How many pixels the page is wider than the window (0: it does not scroll sideways)."""
    return driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")


@pytest.fixture(scope="module")
def web(browser):
    """The browser with its helpers: ``web.open(page, size)``, ``web.wait(script)``, ``web.overflow()``,
    ``web.driver``; the window sizes ``web.DESKTOP`` and ``web.PHONE``."""
    return SimpleNamespace(
        driver=browser,
        open=lambda page, size=None: open_page(browser, page, size),
        wait=lambda script, timeout=60, what="the page": wait_until(browser, script, timeout, what),
        overflow=lambda: overflow(browser),
        DESKTOP=DESKTOP,
        PHONE=PHONE,
    )
