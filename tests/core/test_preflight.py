"""Every check before any kernel starts (runner.prepare): profiles read without running the notebook,
integral floats made ints, rules between parameters against the profile, each notebook's own rules,
memory estimates, and clean one-line errors for bad output folders. No kernel runs in this file."""

import os
from pathlib import Path

import nbformat
import pytest

from theory_collection import papers, runner
from theory_collection.cli import main
from theory_collection.params import as_given, check_int, like_profile

FIXTURES = Path(__file__).parent / "fixtures"


def collection_notebooks():
    try:
        return runner.collection_notebooks(["topic_structure"])
    except ValueError:
        return []


TOPIC = collection_notebooks()
needs_topic = pytest.mark.skipif(not TOPIC, reason="the topic paper's notebooks are not there")


def notebook(stem_prefix: str) -> Path:
    return next(p for p in TOPIC if p.stem.startswith(stem_prefix))


# ---------------------------------------------------------------------------------------------
# Reading a notebook without running it


def test_profiles_and_defaults_are_read_without_running(tmp_path):
    spec = runner.read_notebook_spec(FIXTURES / "geometric_point.ipynb")
    assert spec.defaults["profile"] == "quick" and spec.defaults["seed"] == 0 and spec.defaults["ratio"] is None
    assert spec.profiles == {"quick": {"ratio": 0.5, "terms": 20}, "paper": {"ratio": 0.5, "terms": 60}}

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("seed = 0\nsteps = 2 ** 3", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "BASE = dict(lr=-1e-3, grid=[{'a': 1}])\nPROFILES = {'quick': dict(BASE, steps=5), "
            "'paper': {**BASE, 'steps': 10}}\nP = resolve(PROFILES)"
        ),
    ]
    nbformat.write(nb, tmp_path / "01_n.ipynb")
    spec = runner.read_notebook_spec(tmp_path / "01_n.ipynb")
    assert spec.defaults == {"seed": 0, "steps": 8}
    assert spec.profiles == {
        "quick": {"lr": -0.001, "grid": [{"a": 1}], "steps": 5},
        "paper": {"lr": -0.001, "grid": [{"a": 1}], "steps": 10},
    }

    nb.cells[1].source = "PROFILES = load_profiles('x.yaml')"  # needs running: refused, naming the notebook
    nbformat.write(nb, tmp_path / "01_n.ipynb")
    with pytest.raises(ValueError, match="01_n: PROFILES cannot be read without running the notebook"):
        runner.read_notebook_spec(tmp_path / "01_n.ipynb")


@needs_topic
@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_every_topic_notebook_passes_its_own_profile_on_a_small_machine(profile, monkeypatch):
    monkeypatch.setenv("THEORY_COLLECTION_MEMORY_BYTES", str(4e9))  # a 5 GB CI runner
    prepared = runner.prepare(TOPIC, {}, profile)
    assert [p.path for p in prepared] == TOPIC
    assert all(p.parameters == {} and p.notes == [] for p in prepared)


@needs_topic
def test_every_own_parameter_of_the_topic_notebooks_has_a_declared_rule():
    topic = papers.get("topic_structure")
    for path in TOPIC:
        own = set(runner.read_notebook_spec(path).defaults) - set(topic.all_checks) - set(runner.RUNNER_PARAMETERS)
        missing = sorted(own - set(topic.notebook_checks.get(path.stem, {})))
        assert not missing, f"{path.stem}: parameters {missing} have no rule in topic_structure.params.NOTEBOOK_CHECKS"


# ---------------------------------------------------------------------------------------------
# Integers given as floats


def test_integral_floats_become_ints_and_others_are_refused():
    assert check_int("seed", 1.0) == 1 and type(check_int("seed", 1.0)) is int
    for bad in (1.5, float("nan"), float("inf"), "1", True):
        with pytest.raises(ValueError, match="seed must be an integer"):
            check_int("seed", bad)
    assert like_profile("batch", 32.0, 16) == 32 and type(like_profile("batch", 32.0, 16)) is int
    with pytest.raises(ValueError, match="batch must be an integer"):
        like_profile("batch", 32.5, 16)
    assert like_profile("lr", 1, 0.5) == 1.0 and like_profile("name", "x", 3) == "x"
    assert as_given(1.0, 1) == 1 and type(as_given(1.0, 1)) is int
    assert as_given([100.0, 150.0], (100, 150)) == [100, 150] and as_given("x", "y") == "x"


@needs_topic
@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("seed", 1.0, 1),
        ("num_topics", 4.0, 4),
        ("num_topics", 1e1, 10),
        ("batch_size", 16.0, 16),
        ("doc_length", [100.0, 150.0], [100, 150]),
    ],
)
def test_integral_float_reaches_the_notebook_as_int(name, value, expected):
    (prepared,) = runner.prepare([notebook("03")], {name: value}, "quick")
    assert prepared.parameters[name] == expected
    assert all(type(x) is int for x in (expected if isinstance(expected, list) else [prepared.parameters[name]]))
    if not isinstance(value, list):
        assert prepared.notes == [f"{name}: {value!r} taken as the integer {expected}"]


def test_yaml_1e1_is_a_float_that_becomes_an_int_for_the_notebook():
    assert runner.parse_value("1e1") == 10.0
    (prepared,) = runner.prepare(
        [FIXTURES / "report" / "01_geometric.ipynb"], {"terms": runner.parse_value("1e1")}, "quick"
    )
    assert prepared.parameters == {"terms": 10} and type(prepared.parameters["terms"]) is int


# ---------------------------------------------------------------------------------------------
# Refused before any work: exit 2, the parameter named, nothing written


@needs_topic
@pytest.mark.parametrize(
    "argv, message",
    [
        (["-p", "seed", "1.5"], "seed must be an integer in [0, 4294967295], got 1.5"),
        (
            ["-p", "seed", "99999999999999999999"],
            "seed must be an integer in [0, 4294967295], got 99999999999999999999",
        ),
        (["-p", "num_topics", "4.5"], "num_topics must be an integer"),
        (["-p", "keep_prob", "0.95"], "keep_prob + random_prob must be at most 1"),  # random_prob 0.1 from the profile
        (
            ["-p", "topics_per_doc", "6"],
            "topics_per_doc must be an integer in [1, 5], got 6",
        ),  # num_topics 5 from the profile
        (["-p", "num_topics", "1"], "num_topics must be an integer >= 2, got 1"),
        (["-p", "words_per_topic", "1"], "words_per_topic must be an integer >= 2, got 1"),
        (["-p", "batch_size", "0"], "batch_size must be an integer >= 1, got 0"),  # notebook 03's own parameter
        (["-p", "batch_size", "2.5"], "batch_size must be an integer >= 1, got 2.5"),
        (["-p", "num_topics", "100000"], "needs about 2"),  # terabytes, refused with the estimate
    ],
)
def test_bad_values_exit_2_before_any_kernel(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert main(["report", "--notebook", "topic_structure/03", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "03_value_matrix" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists(), "work started despite a bad value"


@needs_topic
def test_memory_refusal_states_the_estimate_and_the_budget(monkeypatch):
    with pytest.raises(
        ValueError, match=r"at num_topics=100000 it needs about 2\d\.\d TB of memory, more than the"
    ) as error:
        runner.prepare([notebook("03")], {"num_topics": 100000}, "quick")
    assert "this machine allows" in str(error.value)
    topic = papers.get("topic_structure")
    (prepared,) = runner.prepare([notebook("03")], {"num_topics": 20}, "quick")
    needed = topic.memory_estimate("03_value_matrix", prepared.values)
    monkeypatch.setenv("THEORY_COLLECTION_MEMORY_BYTES", str(needed - 1))  # a machine just too small for it
    with pytest.raises(ValueError, match="needs about"):
        runner.prepare([notebook("03")], {"num_topics": 20}, "quick")
    monkeypatch.setenv("THEORY_COLLECTION_MEMORY_BYTES", str(needed))
    runner.prepare([notebook("03")], {"num_topics": 20}, "quick")


@needs_topic
def test_notebook_rules_against_profile_values():
    with pytest.raises(ValueError, match=r"high_random_prob must be in \(0.5, 0.9\], got 0.4"):
        runner.prepare(
            [notebook("04")], {"random_prob": 0.5, "high_random_prob": 0.4}, "quick"
        )  # keep_prob 0.1: profile
    with pytest.raises(ValueError, match="log_every must be an integer in \\[1, 10\\], got 20"):
        runner.prepare([notebook("08")], {"steps": 10, "log_every": 20}, "quick")
    with pytest.raises(ValueError, match="grid point .*unknown name"):
        runner.prepare([notebook("08")], {"grid": [{"nonsense": 1}]}, "quick")
    with pytest.raises(ValueError, match="keep_probs\\[1\\] must be in \\[0.0, 1.0\\]"):
        runner.prepare([notebook("05")], {"keep_probs": [0.1, 1.5]}, "quick")


# ---------------------------------------------------------------------------------------------
# Output folders


def bad_outs(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    return [(str(afile), "exists and is not a directory"), (str(afile / "sub"), "is not a directory")]


@pytest.mark.parametrize("command", ["report", "assignments"])
def test_bad_out_exits_2_in_one_line(tmp_path, capsys, command):
    for out, message in bad_outs(tmp_path):
        assert main([command, "--notebooks", str(FIXTURES / "report"), "--out", out]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_unwritable_out_exits_2(tmp_path, capsys):
    if os.geteuid() == 0:  # root writes anywhere a mode allows: take a file system nobody can write
        target = Path("/proc/theory_collection_test/report")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "report"
    assert main(["report", "--notebooks", str(FIXTURES / "report"), "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert "is not writable" in err and len(err.strip().splitlines()) == 1


def test_check_out_dir_accepts_new_nested_folders(tmp_path):
    assert runner.check_out_dir(tmp_path / "a" / "b") == (tmp_path / "a" / "b").absolute()
    assert not (tmp_path / "a").exists(), "checking must not create"


# ---------------------------------------------------------------------------------------------
# Profiles registered by the paper instead of written in the notebook


def _registered_paper() -> papers.Paper:
    return papers.Paper(
        name="toy",
        title="toy",
        citation="",
        url="",
        checks={"steps": lambda v: check_int("steps", v, 1)},
        notebook_checks={"01_n": {"width": lambda v: check_int("width", v, 2)}},
        notebook_cross_checks={"01_n": lambda values: check_int("width", values["width"], 2, values["steps"])},
        notebook_profiles={
            "01_n": {"quick": {"steps": 5, "width": 3, "hidden": 7}, "paper": {"steps": 50, "width": 9}}
        },
    )


def test_paper_resolve_fills_from_the_registered_profile_and_checks_every_rule(tmp_path):
    paper = _registered_paper()
    namespace = {"profile": "quick", "seed": 0, "output_dir": str(tmp_path / "out"), "steps": None, "width": None}
    values = paper.resolve("01_n", namespace)
    assert (values.steps, values.width, values.hidden, values.profile) == (5, 3, 7, "quick")
    assert paper.resolve("01_n", {**namespace, "profile": "paper", "width": 4}).width == 4
    with pytest.raises(ValueError, match="width must be an integer >= 2"):  # the notebook's own rule
        paper.resolve("01_n", {**namespace, "width": 1})
    with pytest.raises(ValueError, match=r"width must be an integer in \[2, 5\]"):  # its rule between parameters
        paper.resolve("01_n", {**namespace, "width": 6})
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):  # the paper's standard rule
        paper.resolve("01_n", {**namespace, "steps": 0})
    with pytest.raises(ValueError, match="no profiles for notebook '02_m'"):
        paper.resolve("02_m", namespace)


def test_runner_checks_a_notebook_against_its_registered_profile(tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "profile = 'quick'\nseed = 0\noutput_dir = 'out'\nsteps = None\nwidth = None",
            metadata={"tags": ["parameters"]},
        ),
        nbformat.v4.new_code_cell("P = PAPER.resolve('01_n', globals())"),
    ]
    nbformat.write(nb, tmp_path / "01_n.ipynb")
    monkeypatch.setattr(runner, "paper_of", lambda path: _registered_paper())
    (prepared,) = runner.prepare([tmp_path / "01_n.ipynb"], {}, "paper")
    assert prepared.values["steps"] == 50 and prepared.values["width"] == 9
    with pytest.raises(ValueError, match=r"01_n \(quick profile\): width must be an integer in \[2, 5\]"):
        runner.prepare([tmp_path / "01_n.ipynb"], {"width": 6}, "quick")
