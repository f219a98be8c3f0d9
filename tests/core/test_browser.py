"""The report as a reader sees it: headless Chromium opens a real report from file:// with no network, at a
desktop's 1366x900 and a phone's 390x844.

The report is cheap to make: the two fixture notebooks (maths in markdown, in an output and in a claim's
statement, a figure with a title, a progress bar, a CSV, THEORY.md links, a notebook that breaks) and one
notebook of the collection at the quick profile (01, about half a minute), run into one folder by the
runner; its index and every page are then opened with every proxy pointing at a closed port, so any
request to the network fails and shows up as a console error. Screenshots of the index at both sizes are
saved beside the report (``screenshots/``; REPORT_SCREENSHOTS=<folder> keeps a copy).

The browser comes from tests/core/conftest.py (skipped, saying why, only where Chromium is absent).
"""

import os
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from theory_collection import papers, runner

FIXTURES = Path(__file__).parent / "fixtures" / "report"
REAL_NOTEBOOK = "01"  # the quickest notebook of the topic paper: maths, figures, claims, about 30 s


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


def pages_of(out: Path) -> list[Path]:
    return [out / "index.html", *sorted(out.glob("*/*/*.html")), *sorted(out.glob("*/THEORY.html"))]


@pytest.fixture(scope="module")
def visited(built_report, web):
    """Every page opened once (desktop size): its console messages, visible text, images, links, maths, ids."""
    out, _, _ = built_report
    found = {}
    for page in pages_of(out):
        console = web.open(page, web.DESKTOP)
        web.wait("return Array.from(document.images).every(i => i.complete)", what=f"{page.name}'s images")
        found[page] = {
            "console": console,
            **web.driver.execute_script(
                "var body = document.body.cloneNode(true);"
                "body.querySelectorAll('.jp-InputArea, code, script, style').forEach(e => e.remove());"
                "return {text: document.body.innerText, prose: body.innerText,"
                " images: Array.from(document.images).map(i => [i.getAttribute('src').slice(0, 80), i.complete,"
                "   i.naturalWidth]),"
                " links: Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href')),"
                " titles: Array.from(document.querySelectorAll('[title]')).map(e => e.getAttribute('title')),"
                " resources: Array.from(document.querySelectorAll('script[src], link[href], img[src], iframe[src]'))"
                "   .map(e => e.getAttribute('src') || e.getAttribute('href')),"
                " maths: document.querySelectorAll('.MathJax, .MathJax_Display').length,"
                " ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id)}"
            ),
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


def test_maths_is_rendered_and_tooltips_are_plain_text(visited):
    for page, seen in visited.items():
        text = seen["prose"]
        assert "\\displaystyle" not in text, f"{page.name}: raw \\displaystyle in the visible text"
        raw = re.findall(r"\$[^$\n]{1,80}\$", text)
        assert not raw, f"{page.name}: raw TeX in the visible text: {raw[:5]}"
        tex = [t for t in seen["titles"] if "$" in t or re.search(r"\\[a-zA-Z]", t)]
        assert not tex, f"{page.name}: TeX in a tooltip: {tex[:3]}"
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


def test_claims_link_to_their_cell_section_and_figure(built_report, visited):
    out, runs, _ = built_report
    index = visited[out / "index.html"]
    page = visited[out / "report" / "01_geometric" / "01_geometric.html"]
    (fixture,) = [r for r in runs if r.notebook == "01_geometric"]
    recorded = fixture.claims[0]["cell"]
    assert f"report/01_geometric/01_geometric.html#cell-{recorded}" in index["links"], "G1 links its cell"
    cells = [link for link in index["links"] if link.startswith("report/01_geometric/01_geometric.html#cell-")]
    assert all(link.split("#")[1] in page["ids"] for link in cells), "G1's cell and its figure's cell are anchored"
    assert "report/01_geometric/01_geometric.html#1--the-partial-sums-reach-2" in index["links"]
    assert "#figure:report/01_geometric_partial_sums" in index["links"]
    assert "../THEORY.html#1-the-series" in page["links"], "THEORY.md links point at the rendered notes"
    assert "../../index.html" in page["links"], "a notebook page links back to the index"
    real = [link for link in index["links"] if "01_topic_model_and_masking.html#cell-" in link]
    (run,) = [r for r in runs if r.paper == "topic_structure"]
    assert len({link for link in real}) >= 2 and len(real) >= len(run.claims), "every real claim links its cell"
    for message in ("is not a heading", "was not saved", "no section", "not on the page"):
        assert message not in index["text"], f"a build message is on the index: {message!r}"


def test_progress_bars_are_left_out(built_report, visited):
    out, _, _ = built_report
    page = out / "report" / "01_geometric" / "01_geometric.html"
    assert "partial sums: " not in visited[page]["text"] and "100%|" not in visited[page]["text"]
    assert "partial sums: " not in (page.with_suffix(".ipynb")).read_text(), "nor in the saved notebook"


def test_no_page_scrolls_sideways_on_a_desktop_or_a_phone(built_report, web):
    out, _, _ = built_report
    shots = out / "screenshots"
    shots.mkdir(exist_ok=True)
    for size, name in ((web.DESKTOP, "desktop"), (web.PHONE, "phone")):
        for page in pages_of(out):
            console = web.open(page, size)
            assert web.overflow() <= 0, f"{page.name} at {size}: {web.overflow()} px wider than the window"
            assert not [c for c in console if c["level"] == "SEVERE"], f"{page.name} at {size}: {console}"
        web.open(out / "index.html", size)
        web.driver.save_screenshot(str(shots / f"index-{name}.png"))
        assert (shots / f"index-{name}.png").stat().st_size > 10_000
    keep = os.environ.get("REPORT_SCREENSHOTS")  # a folder to copy the screenshots and report to, for a look
    if keep:
        shutil.copytree(out, keep, dirs_exist_ok=True)


def test_a_formula_in_a_table_keeps_its_line_on_a_phone(built_report, web):
    """G1's statement holds a sum; at phone width its cell is narrow, and the formula must not break."""
    out, _, _ = built_report
    heights = {}
    for size in (web.DESKTOP, web.PHONE):
        web.open(out / "index.html", size)
        web.driver.execute_script("document.querySelector('button.expand-all').click()")
        heights[size] = web.wait(
            "var row = document.getElementById('claim:report/01_geometric/G1');"
            "var maths = row && row.querySelectorAll('td span.MathJax');"
            "return maths && maths.length ? Array.from(maths).map(m => m.getBoundingClientRect().height) : null",
            what="G1's maths",
        )
        assert web.overflow() <= 0
    assert heights[web.PHONE] == pytest.approx(heights[web.DESKTOP], abs=2), f"a formula broke its line: {heights}"


def test_the_index_shows_each_notebook_collapsed_and_opens_it_for_a_link(built_report, web):
    out, runs, _ = built_report
    web.open(out / "index.html", web.DESKTOP)
    collapsed = web.driver.execute_script("return document.documentElement.scrollHeight")
    assert web.driver.execute_script("return document.querySelectorAll('section.notebook details[open]').length") == 0
    web.driver.execute_script("document.querySelector('button.expand-all').click()")
    expanded = web.driver.execute_script("return document.documentElement.scrollHeight")
    print(f"index height at 1366x900: {collapsed} px collapsed, {expanded} px with every notebook open")
    assert collapsed < 0.5 * expanded, (collapsed, expanded)
    web.open(out / "index.html", web.DESKTOP)
    web.driver.get((out / "index.html").as_uri() + "#claim:report/01_geometric/G1")
    web.wait(
        "var row = document.getElementById('claim:report/01_geometric/G1');"
        "return row.offsetParent !== null && row.closest('details').open",
        what="a link to a claim in a collapsed notebook",
    )


def test_the_code_of_a_notebook_page_shows_and_hides(built_report, web):
    out, _, _ = built_report
    web.open(out / "report" / "01_geometric" / "01_geometric.html", web.DESKTOP)
    visible = (
        "return [Array.from(document.querySelectorAll('.jp-CodeCell .jp-Cell-inputWrapper'))"
        ".filter(e => e.offsetParent !== null).length,"
        " Array.from(document.querySelectorAll('.jp-OutputArea-output')).filter(e => e.offsetParent !== null).length]"
    )
    code, outputs = web.driver.execute_script(visible)
    assert code >= 5 and outputs >= 3
    web.driver.execute_script("document.querySelector('button.code-toggle').click()")
    assert web.driver.execute_script(visible) == [0, outputs], "the code hides, the outputs stay"
    assert web.driver.execute_script("return document.querySelector('button.code-toggle').textContent") == "show code"
    web.driver.execute_script("document.querySelector('button.code-toggle').click()")
    assert web.driver.execute_script(visible) == [code, outputs]


def test_a_figure_opens_full_size_on_a_tap(built_report, web):
    """On a phone a figure in the index or on a page opens at its physical size (save_figure's 130 dpi on a
    96 dpi screen), scrolling inside the dialog; on a desktop it fits the window; the page stays where it was."""
    out, _, _ = built_report
    shown = (
        "var image = document.querySelector('dialog.zoom[open] img');"
        "return image && image.complete && image.naturalWidth ? [image.naturalWidth,"
        " image.getBoundingClientRect().width, window.innerWidth] : null"
    )
    for size in (web.PHONE, web.DESKTOP):
        web.open(out / "index.html", size)
        web.driver.execute_script(
            "document.querySelector('button.expand-all').click();"
            "var links = Array.from(document.querySelectorAll('a.zoom'));"
            "links.sort((a, b) => b.querySelector('img').naturalWidth - a.querySelector('img').naturalWidth);"
            "links[0].click()"
        )
        natural, width, window_width = web.wait(shown, what="the enlarged figure")
        if size == web.PHONE:
            assert width >= min(natural * 96 / 130, natural) - 1 and width > window_width, (natural, width)
        else:
            assert 300 < width <= window_width, (natural, width)
        assert web.driver.current_url.endswith("index.html"), "the tap navigated away instead of enlarging"
        assert web.overflow() <= 0
    web.open(out / "topic_structure" / "01_topic_model_and_masking" / "01_topic_model_and_masking.html", web.PHONE)
    web.driver.execute_script("document.querySelector('.jp-OutputArea-output img').click()")
    assert web.wait(shown, what="a figure of a notebook page"), "a tap on a page's figure opens it"
