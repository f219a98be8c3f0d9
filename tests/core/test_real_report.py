"""A real report: every claim resolves to the cell that records it, its section and its declared figure; no page
holds a build message, a progress bar or a stderr block, or scrolls sideways at 1366 or at 390 pixels.

Which notebooks: next-token 03, 04 and 05 at the quick profile (about a minute and a half on two idle cores,
run side by side), a representative subset of a whole paper. They are the notebooks where a reader found
claims without a section link (N7, N9, N10, E4): their claims are recorded by library code (claims modules),
their figures saved by library code, their headings hold TeX, one section is a level-3 heading, and some
claims declare a section that is not a heading. The whole paper (with 06 on Wikipedia text) would add a
minute; 01 and 02 add nothing these do not exercise.
"""

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from theory_collection import claim_links, papers, runner

NOTEBOOKS = ["03", "04", "05"]
BUILD_MESSAGES = re.compile(
    r"is not a heading|was not saved|no section[:;]|not on the page|Claims without their section|"
    r"Traceback \(most recent call last\)"
)
PROGRESS = re.compile(r"\d+%\|[^|]*\|\s*\d+/\d+|application/vnd\.jupyter\.stderr")


class Anchors(HTMLParser):
    """Every id, every link and every tooltip of a page."""

    def __init__(self):
        super().__init__()
        self.ids, self.links, self.titles = set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if attrs.get("title"):
            self.titles.append(attrs["title"])


def parsed(page: Path) -> Anchors:
    anchors = Anchors()
    anchors.feed(page.read_text(encoding="utf-8"))
    return anchors


@pytest.fixture(scope="module")
def real_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("real") / "report"
    paths = runner.select_notebooks(NOTEBOOKS, papers.get("next_token").notebook_dir)
    runs = runner.run_notebooks(paths, out, "quick", progress=False)
    runner.write_report(runs, out, "quick")
    assert all(not r.error for r in runs), [r.error for r in runs]
    return out, runs


def test_every_claim_resolves_to_its_cell_section_and_figure(real_report):
    out, runs = real_report
    index = parsed(out / "index.html")
    assert sum(len(r.claims) for r in runs) >= 40
    for run in runs:
        page = parsed(run.html)
        href = run.html.relative_to(out).as_posix()
        for claim_id, links in claim_links.claim_links(run).items():
            where = f"{run.notebook}: {claim_id}"
            assert links.cell is not None, f"{where} has no cell (recorded In [{links.count}])"
            assert links.section is not None, f"{where} has no section"
            assert f"{href}#{links.cell.anchor}" in index.links and links.cell.anchor in page.ids, where
            assert links.section.anchor in page.ids, where
            assert "was not saved" not in links.note, f"{where}: {links.note}"
            for figure in links.figures:
                assert f"#figure:{run.paper}/{figure.stem}" in index.links, where


def test_no_page_holds_a_build_message_a_progress_bar_or_tex_in_a_tooltip(real_report):
    out, _ = real_report
    for page in [out / "index.html", *out.glob("*/*/*.html"), *out.glob("*/THEORY.html")]:
        text = page.read_text(encoding="utf-8")
        visible = text.split("</style>")[-1]
        assert not BUILD_MESSAGES.search(visible), f"{page.name}: {BUILD_MESSAGES.search(visible).group(0)!r}"
        assert not PROGRESS.search(visible), f"{page.name}: {PROGRESS.search(visible).group(0)!r}"
        tex = [t for t in parsed(page).titles if "$" in t or re.search(r"\\[a-zA-Z]", t)]
        assert not tex, f"{page.name}: TeX in tooltips: {tex[:3]}"


def test_every_link_of_every_page_resolves(real_report):
    out, _ = real_report
    pages = {p: parsed(p) for p in [out / "index.html", *out.glob("*/*/*.html"), *out.glob("*/THEORY.html")]}
    for page, anchors in pages.items():
        for href in anchors.links:
            target = urlparse(href)
            if target.scheme in ("http", "https", "mailto"):
                continue
            path = (page.parent / unquote(target.path)).resolve() if target.path else page
            assert path.is_file(), f"{page.name}: {href!r} leads nowhere"
            if target.fragment and path.suffix == ".html":
                assert unquote(target.fragment) in pages[path].ids, f"{page.name}: {href!r}: no such anchor"


def test_no_page_scrolls_sideways_and_none_logs_an_error(real_report, web):
    out, _ = real_report
    for page in [out / "index.html", *out.glob("*/*/*.html"), *out.glob("*/THEORY.html")]:
        for size in (web.DESKTOP, web.PHONE):
            console = web.open(page, size)
            assert web.overflow() <= 0, f"{page.name} at {size}: {web.overflow()} px wider than the window"
            errors = [c["message"] for c in console if c["level"] == "SEVERE"]
            assert not errors, f"{page.name} at {size}: {errors}"
    web.open(out / "index.html", web.DESKTOP)
    collapsed = web.driver.execute_script("return document.documentElement.scrollHeight")
    web.driver.execute_script("document.querySelector('button.expand-all').click()")
    expanded = web.driver.execute_script("return document.documentElement.scrollHeight")
    print(f"real index at 1366x900: {collapsed} px collapsed ({collapsed / 900:.1f} screens), {expanded} px open")
    assert collapsed < expanded / 2
