import os

import pytest

from theory_collection.params import check_output_dir


def test_output_dir_is_absolute_but_shows_itself_relative(tmp_path, monkeypatch):
    (tmp_path / "reports").mkdir()
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    path = check_output_dir("../reports/run")
    assert path.is_absolute() and str(path) == str(tmp_path / "reports" / "run")
    assert repr(path) == "OutputDir('../reports/run')" and os.fspath(tmp_path) not in repr(path)
    given_absolute = check_output_dir(tmp_path / "reports" / "absolute")
    assert repr(given_absolute) == f"OutputDir('{tmp_path / 'reports' / 'absolute'}')"  # a report rewrites it


def test_output_dir_needs_its_parent():
    with pytest.raises(ValueError, match="parent directory"):
        check_output_dir("/no/such/folder/run")
