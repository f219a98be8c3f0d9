"""Headless Chromium for the browser tests of the report and of JupyterLab (Debian's ``chromium`` and
``chromium-driver``; ``.ci/run`` installs them). A test that uses the ``browser`` fixture is skipped, saying
why, only where they are absent. ``lock_held``: another process holding a folder's lock, for the tests of
refusals."""

import contextlib
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest


@pytest.fixture
def lock_held():
    """``with lock_held(folder, command) as holder:`` another process holds ``folder``'s lock (``locks.hold``) for
    the block; ``holder`` is that process (its ``pid`` is what a refusal names), killed when the block ends."""

    @contextlib.contextmanager
    def hold(folder: Path, command: str = "report"):
        script = (
            "import sys, time; from theory_collection import locks\n"
            "with locks.hold(sys.argv[1], sys.argv[2]):\n    print('held', flush=True); time.sleep(300)"
        )
        holder = subprocess.Popen(
            [sys.executable, "-c", script, str(folder), command], stdout=subprocess.PIPE, text=True
        )
        try:
            assert holder.stdout.readline().strip() == "held"
            yield holder
        finally:
            holder.kill()
            holder.wait()

    return hold


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


def start_chromium(proxy: bool):
    """A headless Chromium (see :func:`chromium_options`); skips the test where Chromium is absent."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; .ci/run)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=chromium_options(proxy))
    driver.set_page_load_timeout(60)
    return driver


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module, with no network."""
    driver = start_chromium(proxy=True)
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


def helpers(driver) -> SimpleNamespace:
    """The driver with its helpers: ``open(page, size)``, ``wait(script, timeout, what)``, ``overflow()``,
    ``driver``; the window sizes ``DESKTOP`` and ``PHONE``."""
    return SimpleNamespace(
        driver=driver,
        open=lambda page, size=None: open_page(driver, page, size),
        wait=lambda script, timeout=60, what="the page": wait_until(driver, script, timeout, what),
        overflow=lambda: overflow(driver),
        DESKTOP=DESKTOP,
        PHONE=PHONE,
    )


@pytest.fixture(scope="module")
def web(browser):
    """The report's browser (no network) with its helpers (:func:`helpers`)."""
    return helpers(browser)


@pytest.fixture(scope="module")
def web_lab():
    """A browser that reaches the loopback (a local JupyterLab), with the same helpers."""
    driver = start_chromium(proxy=False)
    driver.set_window_size(*DESKTOP)
    yield helpers(driver)
    driver.quit()
