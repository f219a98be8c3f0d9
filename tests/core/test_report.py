"""`theory-collection report` and the report module, on the tiny notebooks of tests/core/fixtures/report:
01_geometric (a claims table, a figure, an exercise) and 02_broken (raises in its fourth code cell)."""

import html
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest

from theory_collection import papers, report, runner, verdicts
from theory_collection.cli import main
from theory_collection.runs import load_report

FIXTURES = Path(__file__).parent / "fixtures" / "report"


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.targets = []

    def handle_starttag(self, tag, attrs):
        self.targets += [value for name, value in attrs if name in ("href", "src")]


def links_of(html_path: Path) -> list[str]:
    parser = Links()
    parser.feed(html_path.read_text())
    return parser.targets


@pytest.fixture(scope="module")
def collection_report(tmp_path_factory):
    """One report over both fixtures; a stale passing claims.json and figure are planted where 02 will fail."""
    out = tmp_path_factory.mktemp("report")
    stale = out / "report" / "02_broken" / "claims.json"
    (stale.parent / "figures").mkdir(parents=True)
    (stale.parent / "figures" / "02_broken_old.png").write_bytes(b"not this run's")
    stale.write_text(
        json.dumps(
            [
                {
                    "notebook": "02_broken",
                    "id": "OLD",
                    "statement": "stale",
                    "theory": 1.0,
                    "measured": 1.0,
                    "tolerance": "rel 0",
                    "holds": True,
                }
            ]
        )
    )
    (out / runner.STAGING / "report" / "02_broken").mkdir(parents=True)  # what a killed run leaves
    code = main(["report", "--notebooks", str(FIXTURES), "--out", str(out)])
    return code, out


def test_report_publishes_from_staging_and_leaves_no_marker(collection_report):
    _, out = collection_report
    assert not (out / runner.STAGING).exists() and not (out / runner.INCOMPLETE).exists()
    executed = (out / "report" / "01_geometric" / "01_geometric.ipynb").read_text()
    assert runner.STAGING in executed  # the notebook ran in the staging area before its folder was moved into place


def test_report_exit_code_and_summary_name_the_failing_notebook_and_cell(collection_report):
    code, out = collection_report
    assert code == 1
    summary = (out / "summary.md").read_text()
    assert "**02_broken failed**: cell In [5] `ratio = 1 / 0" in summary
    assert "ZeroDivisionError: division by zero" in summary
    assert (
        r"| G1 | prediction | the partial sum $s_n = \sum_{k=0}^{n-1} 2^{-k} = 2 - 2^{1-n}$ reaches its limit $2$ "
        "| 2 | 2 | rel 0.0001 |  | holds |" in summary
    )
    assert "OLD" not in summary, "a stale claims.json from an earlier run was reported as this run's"
    assert "02_broken_old" not in (out / "index.html").read_text(), "a stale figure was shown as this run's"


def test_report_runs_every_notebook_despite_a_failure(collection_report):
    _, out = collection_report
    for name in ("01_geometric", "02_broken"):
        assert (out / "report" / name / f"{name}.ipynb").is_file()
        assert "<html" in (out / "report" / name / f"{name}.html").read_text()[:2000].lower()
    claims = json.loads((out / "report" / "01_geometric" / "claims.json").read_text())
    assert [c["id"] for c in claims] == ["G1"] and claims[0]["holds"]
    assert (out / "report" / "01_geometric" / "figures" / "01_geometric_partial_sums.png").is_file()


def test_index_links_all_resolve_to_files(collection_report):
    _, out = collection_report
    index = out / "index.html"
    targets = links_of(index)
    files = [urlparse(t).path for t in targets if not t.startswith("#") and not urlparse(t).scheme]
    assert files, "the index links nothing"
    for target in files:
        assert not target.startswith("/"), f"link {target!r} is not relative"
        assert (out / unquote(target)).is_file(), f"index.html links {target!r}, which does not exist"
    for expected in (
        "report/01_geometric/01_geometric.html",
        "report/02_broken/02_broken.html",
        "report/01_geometric/figures/01_geometric_partial_sums.png",
        "report/01_geometric/claims.json",
        "report/01_geometric/01_geometric.ipynb",
        "report/01_geometric/partial_sums.csv",
        "report/THEORY.html",
        "_static/mathjax/MathJax.js",
        "summary.md",
    ):
        assert expected in files
    text = index.read_text()
    anchors = {unquote(t[1:]) for t in targets if t.startswith("#")}
    assert 'id="report/01_geometric"' in text and 'id="report/02_broken"' in text, "each notebook has its anchor"
    assert 'id="claim:report/01_geometric/G1"' in text and "figure:report/01_geometric_partial_sums" in anchors
    assert all(f'id="{html.escape(a)}"' in text for a in anchors), "an anchor of the index has no target"
    assert "ZeroDivisionError" in text and "holds" in text
    assert '<meta name="viewport"' in text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", re.sub(r'<a [^>]*href="https?://[^"]*"', "", text)), (
        "the index loads something from the network"
    )


def test_notebook_pages_are_offline_and_relative(collection_report):
    _, out = collection_report
    page = (out / "report" / "01_geometric" / "01_geometric.html").read_text()
    assert "<title>Fixture: a geometric series</title>" in page
    assert not re.search(r"""<(script|link)[^>]*(src|href)=["'](https?:)?//""", page), "a page loads from the network"
    assert '<script src="../../_static/mathjax/MathJax.js' in page
    assert str(out.resolve()) not in page and str(papers.REPO_ROOT) not in page
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert 'output_dir = "report/01_geometric"' in text, "the injected output_dir is shown relative to the report"
    assert "output_dir=OutputDir('report/01_geometric')" in text
    assert "partial sums: " not in text and "100%|" not in text, "the progress bar is left out of the page"
    assert re.search(r"<button[^>]*code-toggle", page), "a button shows or hides the code"
    assert re.search(r'<div[^>]*id="cell-\d+"', page), "code cells are anchored by their execution count"
    assert 'href="../../index.html"' in page and 'href="../THEORY.html#1-the-series"' in page
    assert re.search(r'<a (?=[^>]*\bdownload\b)[^>]*href="01_geometric.ipynb"', page), "the notebook is a download"
    theory = (out / "report" / "THEORY.html").read_text()
    assert 'id="1-the-series"' in theory and "MathJax.js" in theory


def test_summary_markdown_links_resolve(collection_report):
    _, out = collection_report
    summary = (out / "summary.md").read_text()
    assert (
        "(report/01_geometric/01_geometric.html)" in summary
        and (out / "report/01_geometric/01_geometric.html").is_file()
    )


def test_override_reaches_notebook_and_failing_claim_is_reported(tmp_path, capsys):
    code = main(
        ["report", "--notebooks", str(FIXTURES), "--notebook", "01", "-p", "terms", "5.0", "--out", str(tmp_path)]
    )
    assert code == 1
    assert "01_geometric: terms: 5.0 taken as the integer 5" in capsys.readouterr().err
    executed = nbformat.read(tmp_path / "report" / "01_geometric" / "01_geometric.ipynb", as_version=4)
    (injected,) = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "terms = 5\n" in injected.source + "\n", "the notebook did not receive the integer"
    claims = json.loads((tmp_path / "report" / "01_geometric" / "claims.json").read_text())
    assert claims[0]["measured"] == pytest.approx(1.9375) and not claims[0]["holds"]
    summary = (tmp_path / "summary.md").read_text()
    assert "**G1 does not hold (01_geometric)**: theory 2, measured 1.9375" in summary
    assert "failed" not in summary, "a notebook stopped by its own failing claims is not a crashed notebook"
    assert '<span class="bad">claims fail</span>' in (tmp_path / "index.html").read_text()
    assert not (tmp_path / "02_broken").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--notebook", "99"], "unknown notebook '99'"),
        (["-p", "nonsense", "1"], "unknown parameter(s) ['nonsense']"),
        (["-p", "seed", "-1"], "seed must be an integer in [0, 4294967295], got -1"),
        (["-p", "output_dir", "x"], "set by the runner"),
        (["-p", "terms", "[1,"], "cannot parse parameter value"),
    ],
)
def test_bad_input_exits_2_before_any_work(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert main(["report", "--notebooks", str(FIXTURES), "--out", str(out), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists(), "work started despite bad input"


def test_unknown_profile_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--profile", "huge", "--notebooks", str(FIXTURES)])
    assert exit_info.value.code == 2
    assert "invalid choice: 'huge'" in capsys.readouterr().err


def test_console_command_lists_its_subcommands():
    command = Path(sys.executable).parent / "theory-collection"
    result = subprocess.run([str(command), "--help"], capture_output=True, text=True, check=True)
    for sub in ("report", "sweep", "assignments", "compare"):
        assert f"    {sub} " in result.stdout


def test_parse_value_reads_yaml_and_scientific_notation():
    assert runner.parse_value("1e-3") == 0.001
    assert runner.parse_value("-2.5E2") == -250.0
    assert runner.parse_value("20") == 20
    assert runner.parse_value("adam") == "adam"
    assert runner.parse_value("[100, 150]") == [100, 150]
    with pytest.raises(ValueError, match="cannot parse"):
        runner.parse_value("{a: ")


def test_select_notebooks_by_name_stem_or_prefix(tmp_path):
    assert [p.stem for p in runner.select_notebooks(None, FIXTURES)] == ["01_geometric", "02_broken"]
    for name in ("02", "02_broken", "02_broken.ipynb"):
        assert [p.stem for p in runner.select_notebooks([name], FIXTURES)] == ["02_broken"]
    assert len(runner.select_notebooks(["01", "01_geometric"], FIXTURES)) == 1
    with pytest.raises(ValueError, match="no notebooks named"):
        runner.discover_notebooks(tmp_path)


def test_check_values_applies_the_standard_rules():
    topic = papers.get("topic_structure")
    runner.check_values({"seed": 3, "weight_decay": 0.01, "terms": -5}, topic)  # terms is the notebook's own to check
    with pytest.raises(ValueError, match="keep_prob \\+ random_prob must be at most 1"):
        runner.check_values({"keep_prob": 0.6, "random_prob": 0.6}, topic)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        runner.check_values({"optimizer": "lion"}, topic)


def test_summaries_list_problems_and_escape_html(tmp_path):
    good = runner.NotebookRun(
        "01_a",
        tmp_path / "01_a",
        claims=[
            {
                "id": "C1",
                "statement": "x < y & z",
                "theory": 1.0,
                "measured": 1.5,
                "tolerance": "rel 0.1",
                "holds": False,
                "reason": "needs kappa < 1",
            },
            {"id": "C2", "statement": "ok", "theory": 2.0, "measured": 2.0, "tolerance": "rel 0.1", "holds": True},
        ],
    )
    bad = runner.NotebookRun("02_b", tmp_path / "02_b", error="cell In [3] `x`: <ValueError>: boom")
    assert good.status == "claims fail" and bad.status == "error"
    assert [what for what, _ in verdicts.problems([good, bad])] == ["02_b failed", "C1 does not hold (01_a)"]
    markdown = report.summary_markdown([good, bad], "quick")
    assert "2 problem(s) in 2 notebooks (2 claims)" in markdown and "needs kappa < 1" in markdown
    assert "| 01_a | C1 |  | x < y & z | 1 | 1.5 | rel 0.1 |  | **FAILS** |" in markdown
    page = report.index_html([good, bad], "quick", tmp_path)
    assert "x &lt; y &amp; z" in page and "&lt;ValueError&gt;" in page and "<ValueError>" not in page
    clean = report.summary_markdown([runner.NotebookRun("01_a", tmp_path, claims=good.claims[1:])], "quick")
    assert "None: every notebook ran; no claim of the 1 fails." in clean


def test_refresh_figures_copies_png_and_svg(collection_report, tmp_path):
    _, out = collection_report
    runs = [runner.NotebookRun("01_geometric", out / "report" / "01_geometric", paper="report")]
    assert runner.refresh_figures(runs, tmp_path / "figures") == 2
    assert sorted(p.name for p in (tmp_path / "figures" / "report").iterdir()) == [
        "01_geometric_partial_sums.png",
        "01_geometric_partial_sums.svg",
    ]


# ---------------------------------------------------------------------------------------------
# The headline, counts, times and claim links of index.html and summary.md


def claim(id, kind, verdict, data="", measured=1.0, **extra):
    return {
        "id": id,
        "kind": kind,
        "statement": f"statement of {id}",
        "theory": None,
        "measured": measured,
        "tolerance": "> 0.9",
        "verdict": verdict,
        "holds": verdict == "holds",
        "data": data,
        **extra,
    }


def topic_runs(tmp_path, a1_wikipedia="fails", a1_source="paper"):
    folder = tmp_path / "topic_structure"
    value = runner.NotebookRun(
        "03_value_matrix",
        folder / "03_value_matrix",
        paper="topic_structure",
        seconds=12.34,
        claims=[claim("C2.shape", "derivation", "holds"), claim("C2.trained", "prediction", "holds", "synthetic")],
    )
    assumptions = runner.NotebookRun(
        "06_assumptions_on_data",
        folder / "06_assumptions_on_data",
        paper="topic_structure",
        seconds=45.67,
        claims=[
            claim("A1.synthetic", "assumption", "holds", "synthetic"),
            claim(
                "A1.wikipedia",
                "assumption",
                a1_wikipedia,
                "wikipedia",
                measured=0.62,
                criterion=0.9,
                criterion_reason="the paper's nearly disjoint topics",
                tolerance_reason="bootstrap over documents",
                source=a1_source,
                location="abstract, sentence 3" if a1_source == "paper" else "A1 read as a top-topic share of 0.9",
                conditions="LDA topics on 96 Wikipedia summaries",
                paper_conditions=a1_source == "paper",
                same_runs=["A1.synthetic"],
            ),
            claim("C4.value_first_adam", "paper", "inconclusive", "synthetic", interval=[0.5, 2.0]),
            claim("C6.proxy", "observation", "observed", "wikipedia", measured=True),
        ],
    )
    return [value, assumptions]


def test_index_opens_with_the_contradicted_claims_then_the_headline_table(tmp_path):
    runs = topic_runs(tmp_path)
    info = runs.BuildInfo("2026-01-02 03:04 UTC", "abc123", "quick", {"seed": 3})
    page = report.index_html(runs, "quick", tmp_path, info=info)
    topic = papers.get("topic_structure")
    assert topic.title in page and topic.citation in page and f'href="{topic.url}"' in page
    assert "2026-01-02 03:04 UTC" in page and "abc123" in page and "<code>seed = 3</code>" in page
    contradicted = page.index("The data contradict the papers")
    formalisation, table = page.index('id="formalisation"'), page.index('class="headline"')
    assert contradicted < formalisation < table < page.index('id="counts"') < page.index('id="notebooks"'), (
        "contradictions, formalisation failures, headline, counts, notebooks"
    )
    callout = page[contradicted:formalisation]
    assert "1 statement(s) of the papers fail" in callout and "A1.wikipedia" in callout
    assert "abstract, sentence 3" in callout and "against the criterion &gt; 0.9" in callout
    assert "In the same runs: A1.synthetic holds" in callout, "what holds beside a failure is shown with it"
    assert "None." in page[formalisation:table]
    rows = {m.group(1): m.group(2) for m in re.finditer(r'<tr><th scope="row">(\w+)<br>(.*?)</tr>', page)}
    assert re.search(r'<td class="bad"><span class="verdict">contradicted</span>.*A1\.wikipedia', rows["A1"])
    assert re.search(r'<td class="good"><span class="verdict">confirmed</span>.*A1\.synthetic', rows["A1"])
    assert '<td class="open"><span class="verdict">inconclusive</span>' in rows["C4"]
    assert rows["C1"].count("not tested") == 3  # theory, synthetic, wikipedia
    theory_cell, *data_cells = re.findall(r"<td.*?</td>", rows["C2"])
    assert "C2.shape" in theory_cell and not any("C2.shape" in cell for cell in data_cells), (
        "a derivation is evidence for the theory column, not on data"
    )
    assert 'href="#claim:topic_structure/03_value_matrix/C2.trained"' in rows["C2"]
    assert 'id="claim:topic_structure/03_value_matrix/C2.trained"' in page
    counts = page[page.index('id="counts"') : page.index('id="notebooks"')]
    assert re.search(r"<th scope=\"row\">derivation</th><td[^>]*>1</td>", counts)
    assert "12.3 s" in page and "45.7 s" in page and "58 s for 2 notebooks" in page
    assert ">true<" in page and "True" not in page.replace("True</", ""), "booleans read true/false"
    assert "bootstrap over documents" in page and "the paper&#x27;s nearly disjoint topics" in page
    assert "[0.5, 2]" in page, "an interval is shown under its measurement"


def test_summary_opens_with_the_same_headline(tmp_path):
    runs = topic_runs(tmp_path)
    markdown = report.summary_markdown(runs, "quick", info=runs.BuildInfo("2026-01-02", "abc123", "quick"))
    contradicted = markdown.index("## The data contradict the papers\n\n- A1.wikipedia (assumption; paper, abstract")
    formalisation = markdown.index("## Where the collection's formalisation or extension fails\n\nNone.")
    assert contradicted < formalisation < markdown.index("## What the data say")
    assert markdown.index("## What the data say") < markdown.index("## Claims by kind and verdict")
    assert (
        "| **A1** topics nearly disjoint | not tested | confirmed (A1.synthetic) | contradicted (A1.wikipedia) |"
        in markdown
    )
    assert "| **C1** embeddings encode topics (block Gram matrix) | not tested | not tested |" in markdown
    assert "| derivation | 1 | 0 | 0 | 0 |" in markdown and "| assumption | 1 | 1 | 0 | 0 |" in markdown
    # a failing assumption is a finding: the notebook ran and is "ok"; the report says what the data contradict
    assert "| 06_assumptions_on_data | ok | 1 | 1 | 1 | 1 | 45.7 s |" in markdown
    assert "- Overrides: none" in markdown and "commit abc123" in markdown


def test_when_the_data_agree_nothing_is_called_contradicted(tmp_path):
    runs = topic_runs(tmp_path, a1_wikipedia="holds")
    page = report.index_html(runs, "quick", tmp_path)
    markdown = report.summary_markdown(runs, "quick")
    assert 'verdict">contradicted' not in page and "| contradicted" not in markdown and "contradicted (" not in markdown
    assert "None: no statement of a paper" in page and "None: no statement of a paper" in markdown
    assert (
        "| **A1** topics nearly disjoint | not tested | confirmed (A1.synthetic) | confirmed (A1.wikipedia) |"
        in markdown
    )


def test_a_formalisation_that_fails_is_reported_apart_from_contradictions(tmp_path):
    runs = topic_runs(tmp_path, a1_source="formalised")
    assert verdicts.contradictions(runs) == [] and [f.claim["id"] for f in verdicts.formalisation_failures(runs)] == [
        "A1.wikipedia"
    ]
    markdown = report.summary_markdown(runs, "quick")
    first = markdown.index("## The data contradict the papers")
    second = markdown.index("## Where the collection's formalisation or extension fails")
    assert "A1.wikipedia" not in markdown[first:second] and "- A1.wikipedia (assumption; formalised" in markdown
    assert "formalisation fails (A1.wikipedia)" in markdown
    page = report.index_html(runs, "quick", tmp_path)
    assert "A1.wikipedia" not in page[page.index("The data contradict") : page.index('id="formalisation"')]
    # a paper's statement tested outside the paper's conditions is no contradiction either
    outside = topic_runs(tmp_path / "outside")
    outside[1].claims[1]["paper_conditions"] = False
    assert verdicts.contradictions(outside) == [] and len(verdicts.formalisation_failures(outside)) == 1


def test_a_failing_paper_claim_is_a_finding_not_a_problem(tmp_path):
    finding = runner.NotebookRun(
        "06_a",
        tmp_path / "06_a",
        paper="topic_structure",
        claims=[claim("A1.wikipedia", "assumption", "fails", "wikipedia")],
    )
    broken = runner.NotebookRun(
        "02_b", tmp_path / "02_b", paper="topic_structure", claims=[claim("C1.value", "derivation", "fails")]
    )
    assert finding.status == "ok" and [c["id"] for c in finding.findings] == ["A1.wikipedia"]
    assert verdicts.problems([finding]) == []
    assert broken.status == "claims fail" and [what for what, _ in verdicts.problems([finding, broken])] == [
        "C1.value does not hold (02_b)"
    ]


def write_claims(runs):
    for run in runs:
        run.output_dir.mkdir(parents=True, exist_ok=True)
        (run.output_dir / "claims.json").write_text(json.dumps(run.claims))


def test_compare_sets_two_reports_side_by_side_and_bolds_what_differs(tmp_path, capsys):
    quick, paper = tmp_path / "quick", tmp_path / "paper"
    for out, profile, a1 in ((quick, "quick", "holds"), (paper, "paper", "fails")):
        runs = topic_runs(out, a1_wikipedia=a1)
        write_claims(runs)
        report.write_summaries(runs, profile, out, overrides={})
    info, runs = load_report(paper)
    assert info.profile == "paper" and [r.seconds for r in runs] == [12.34, 45.67]
    assert verdicts.verdict_counts(runs[1])["fails"] == 1  # the claims came back from claims.json

    assert main(["compare", str(quick), str(paper), "--out", str(tmp_path / "both.md")]) == 0
    text = capsys.readouterr().out
    assert text == (tmp_path / "both.md").read_text()
    a1_row = next(line for line in text.splitlines() if line.startswith("| **A1**"))
    assert "**confirmed / contradicted** (A1.wikipedia)" in a1_row  # the Wikipedia cell differs, named by its claim
    c2_row = next(line for line in text.splitlines() if line.startswith("| **C2**"))
    assert "**" not in c2_row.split("|", 2)[2]  # identical cells are not bolded
    assert "| A1.wikipedia | assumption | holds (0.62) | fails (0.62) |" in text
    assert "| topic_structure/06_assumptions_on_data | 46 s | 46 s |" in text
    assert "- At the quick profile: the data contradict no paper; no formalisation or extension of the" in text
    assert "- At the paper profile: **the data contradict** A1.wikipedia; no formalisation or extension" in text
    assert "| assumption | 2 / 1 | 0 / 1 | 0 / 0 | 0 / 0 |" in text


def test_compare_refuses_a_folder_that_is_not_a_report(tmp_path, capsys):
    assert main(["compare", str(tmp_path), str(tmp_path)]) == 2
    assert "is not a report written by `report`" in capsys.readouterr().err
