"""The report as a reader sees it: headless Chromium opens a real report from file:// with no network.

The report is cheap to make: the two fixture notebooks (maths in markdown and in an output, a
figure with a title, a progress bar, a CSV, THEORY.md links, a notebook that breaks) and one
notebook of the collection at the quick profile (01, about half a minute), run into one folder by
the runner; its index and every page are then opened with every proxy pointing at a closed port,
so any request to the network fails and shows up as a console error. Screenshots of the index at
desktop and phone width are saved beside the report (``screenshots/``).

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); skipped, saying
why, only where they are absent.
"""

import os
import re
import shutil
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from theory_collection import papers, report, runner

FIXTURES = Path(__file__).parent / "fixtures" / "report"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
REAL_NOTEBOOK = "01"  # the quickest notebook of the topic paper: maths, figures, claims, about 30 s

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; .ci/run does)",
)


@pytest.fixture(scope="module")
def built_report(tmp_path_factory):
    """One report folder: the fixtures and notebook 01 of the topic paper, quick profile, built in
    one place and then moved to another (a report must read anywhere). Returns (folder, runs, build folder)."""
    build = tmp_path_factory.mktemp("build") / "report"
    paths = runner.select_notebooks(None, FIXTURES)
    topic = papers.get("topic_structure")
    paths += runner.select_notebooks([REAL_NOTEBOOK], topic.notebook_dir)
    runs = runner.run_notebooks(paths, build, "quick", progress=False)
    runner.write_report(runs, build, "quick")
    out = tmp_path_factory.mktemp("moved") / "report"
    shutil.move(build, out)
    return out, runs, build


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        # The network is unavailable: every request that is not for a file goes to a closed port.
        "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def open_page(driver, page: Path) -> list[dict]:
    """Load ``page``, wait for MathJax to finish (when the page has it); return the console messages."""
    driver.get(page.as_uri())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = driver.execute_script(
            "if (document.readyState !== 'complete') return 'loading';"
            "if (!window.MathJax) return 'done';"
            "if (!MathJax.Hub || !MathJax.isReady) return 'loading';"
            "return (MathJax.Hub.queue.pending || MathJax.Hub.queue.running) ? 'typesetting' : 'done';"
        )
        if state == "done":
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"{page.name}: MathJax did not finish within 60 s")
    time.sleep(0.3)
    return driver.get_log("browser")


def pages_of(out: Path) -> list[Path]:
    return [out / "index.html", *sorted(out.glob("*/*/*.html")), *sorted(out.glob("*/THEORY.html"))]


@pytest.fixture(scope="module")
def visited(built_report, browser):
    """Every page opened once: its console messages, visible text, images, links and maths."""
    out, _, _ = built_report
    found = {}
    for page in pages_of(out):
        console = open_page(browser, page)
        found[page] = {
            "console": console,
            "text": browser.execute_script("return document.body.innerText"),
            # what a reader reads, less source code (which may spell TeX on purpose)
            "prose": browser.execute_script(
                "var body = document.body.cloneNode(true);"
                "body.querySelectorAll('.jp-InputArea, code, script, style').forEach(e => e.remove());"
                "return body.innerText"
            ),
            "images": browser.execute_script(
                "return Array.from(document.images).map(i => [i.getAttribute('src').slice(0, 80), i.complete,"
                " i.naturalWidth])"
            ),
            "links": browser.execute_script(
                "return Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))"
            ),
            "resources": browser.execute_script(
                "return Array.from(document.querySelectorAll('script[src], link[href], img[src], iframe[src]'))"
                ".map(e => e.getAttribute('src') || e.getAttribute('href'))"
            ),
            "maths": browser.execute_script("return document.querySelectorAll('.MathJax, .MathJax_Display').length"),
            "ids": browser.execute_script("return Array.from(document.querySelectorAll('[id]')).map(e => e.id)"),
        }
    return found


def test_every_page_was_made(built_report):
    out, runs, _ = built_report
    assert [r.notebook for r in runs] == ["01_geometric", "02_broken", "01_topic_model_and_masking"]
    made = pages_of(out)
    assert len(made) == 6, made  # index, three notebook pages, two THEORY pages
    assert all((out / r.paper / r.notebook / f"{r.notebook}.html").is_file() for r in runs)


def test_no_console_errors_and_no_network(visited):
    for page, seen in visited.items():
        errors = [entry["message"] for entry in seen["console"] if entry["level"] in ("SEVERE", "ERROR")]
        assert not errors, f"{page.name}: console errors: {errors}"
        remote = [r for r in seen["resources"] if urlparse(r).scheme in ("http", "https") or r.startswith("//")]
        assert not remote, f"{page.name} loads from the network: {remote}"


def test_every_image_loaded(visited):
    for page, seen in visited.items():
        broken = [src for src, complete, width in seen["images"] if not complete or width == 0]
        assert not broken, f"{page.name}: images not loaded: {broken}"
    index = next(seen for page, seen in visited.items() if page.name == "index.html")
    assert len(index["images"]) >= 5, "the index shows the figures of the fixture and of notebook 01"


def test_maths_is_rendered(visited):
    for page, seen in visited.items():
        text = seen["prose"]
        assert "\\displaystyle" not in text, f"{page.name}: raw \\displaystyle in the visible text"
        raw = re.findall(r"\$[^$\n]{1,80}\$", text)
        assert not raw, f"{page.name}: raw TeX in the visible text: {raw[:5]}"
    rendered = {page.name: seen["maths"] for page, seen in visited.items()}
    for name in ("01_geometric.html", "01_topic_model_and_masking.html", "THEORY.html", "index.html"):
        assert rendered[name] > 0, f"{name}: no typeset maths ({rendered})"


def test_no_absolute_build_paths(built_report, visited):
    out, _, build = built_report
    forbidden = {str(build), str(build.parent), str(out), str(papers.REPO_ROOT), str(Path.home())}
    for page, seen in visited.items():
        text = seen["text"] + "\n".join(seen["links"])
        found = [path for path in forbidden if path in text]
        assert not found, f"{page.name} shows absolute paths of the build machine: {found}"
        source = page.read_text(encoding="utf-8")
        assert str(build) not in source, f"{page.name}: the build folder's absolute path is in the HTML"


def test_every_relative_link_resolves(visited):
    for page, seen in visited.items():
        for href in seen["links"]:
            target = urlparse(href)
            if target.scheme in ("http", "https", "mailto"):
                continue
            assert not target.scheme and not href.startswith("/"), f"{page.name}: link {href!r} is not relative"
            path = (page.parent / unquote(target.path)).resolve() if target.path else page
            assert path.is_file(), f"{page.name}: link {href!r} leads nowhere"
            if target.fragment:
                ids = seen["ids"] if path == page else visited[path]["ids"] if path in visited else None
                assert ids is not None, f"{page.name}: link {href!r} has an anchor in a page that is not HTML"
                assert unquote(target.fragment) in ids, f"{page.name}: link {href!r}: no element with that id"


def test_claims_link_to_their_figure_and_section(built_report, visited):
    out, runs, _ = built_report
    index = visited[out / "index.html"]
    assert "report/01_geometric/01_geometric.html#1--the-partial-sums-reach-2" in index["links"]
    assert "#figure:report/01_geometric_partial_sums" in index["links"]
    page = visited[out / "report" / "01_geometric" / "01_geometric.html"]
    assert "../THEORY.html#1-the-series" in page["links"], "THEORY.md links point at the rendered notes"
    assert "../../index.html" in page["links"], "a notebook page links back to the index"
    (real,) = [r for r in runs if r.paper == "topic_structure"]
    real.output_dir, real.html = (
        out / real.paper / real.notebook,
        out / real.paper / real.notebook / f"{real.notebook}.html",
    )
    links = report.claim_links(real)
    assert real.claims and links.keys() == {c["id"] for c in real.claims}
    unlinked = {i: link.note or "no section found" for i, link in links.items() if link.section is None or link.note}
    assert not unlinked, f"claims of {real.notebook} without their section or figure: {unlinked}"


def test_progress_bars_are_plain_text(built_report):
    out, _, _ = built_report
    page = (out / "report" / "01_geometric" / "01_geometric.html").read_text(encoding="utf-8")
    assert "partial sums: 100%" in page
    assert "application/vnd.jupyter.stderr" not in page.split("</style>")[-1], "a progress bar is shown as an error"


def test_screenshots_at_desktop_and_phone_width(built_report, browser):
    out, _, _ = built_report
    shots = out / "screenshots"
    shots.mkdir(exist_ok=True)
    for name, width, height in (("index-desktop", 1280, 1600), ("index-phone", 390, 1600)):
        browser.set_window_size(width, height)
        open_page(browser, out / "index.html")
        assert browser.execute_script("return window.innerWidth") <= width
        overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{name}: the page is {overflow} px wider than the screen (tables must scroll inside)"
        browser.save_screenshot(str(shots / f"{name}.png"))
        assert (shots / f"{name}.png").stat().st_size > 10_000
    keep = os.environ.get("REPORT_SCREENSHOTS")  # a folder to copy the screenshots and report to, for a look
    if keep:
        shutil.copytree(out, keep, dirs_exist_ok=True)


def test_a_figure_enlarges_on_click(built_report, browser):
    out, _, _ = built_report
    browser.set_window_size(1280, 1000)
    open_page(browser, out / "index.html")
    browser.execute_script("document.querySelector('a.zoom').click()")
    time.sleep(0.5)
    shown = browser.execute_script(
        "var image = document.querySelector('dialog.zoom[open] img');"
        "return image ? [image.complete, image.naturalWidth, image.getBoundingClientRect().width] : null"
    )
    assert shown is not None, "clicking a figure opened no dialog"
    complete, natural, width = shown
    assert complete and natural > 0 and width > 300, f"the enlarged figure did not show: {shown}"
    assert browser.current_url.endswith("index.html"), "the click navigated away instead of enlarging"
