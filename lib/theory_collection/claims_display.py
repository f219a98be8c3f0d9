"""How a notebook shows its claims table (``ClaimsTable``'s ``_repr_html_``, ``__repr__`` and ``frame``).

The HTML table reads in JupyterLab, in the report's notebook pages and on a phone: statements left-aligned
with their maths in ``$...$`` (typeset by JupyterLab's MathJax and the pages' own), each verdict in its
colour, empty cells where there is no value (never ``NaN``), the provenance (source and where a reader
finds the statement) in its own column, and long cells wrapping so the table fits the page. Styles are
inline attributes, which JupyterLab's HTML sanitizer keeps, so the table looks the same in a notebook that
is not trusted. The records are the dicts of ``claims.json`` (or ``asdict`` of a ``Claim``).
"""

from __future__ import annotations

import html

import pandas as pd

from theory_collection.formatting import full_text, tex_to_text, value_text

# Colours that read on a light and on a dark background.
VERDICT_COLOURS = {"holds": "#1a7f37", "fails": "#cf222e", "inconclusive": "#b35900", "observed": "#6e7781"}
COLUMNS = ("claim", "verdict", "statement", "theory", "measured", "tolerance / criterion", "source")
FRAME_COLUMNS = [
    "id",
    "kind",
    "verdict",
    "statement",
    "theory",
    "measured",
    "tolerance",
    "source",
    "location",
    "reason",
]

_TABLE = "border-collapse: collapse; width: 100%; table-layout: auto; font-size: 0.9em; line-height: 1.35;"
_CELL = "text-align: left; vertical-align: top; padding: 0.3em 0.5em; border-bottom: 1px solid #8c959f55;"
_NOTE = "display: block; opacity: 0.75; font-size: 0.88em; margin-top: 0.15em;"
_WIDTHS = {
    "statement": "min-width: 14em; width: 38%;",
    "source": "min-width: 9em; max-width: 18em;",
    "tolerance / criterion": "min-width: 8em; max-width: 16em;",
    "theory": "max-width: 10em;",
    "measured": "max-width: 12em;",
}


def verdict_shown(record: dict) -> str:
    """The verdict as a table shows it: ``FAILS`` stands out."""
    verdict = record.get("verdict", "")
    return "FAILS" if verdict == "fails" else verdict


def claims_frame(records: list[dict]) -> pd.DataFrame:
    """The claims as text, one row each, in :data:`FRAME_COLUMNS` (an empty string where there is no value)."""
    rows = [
        {
            "id": r["id"],
            "kind": r.get("kind", ""),
            "verdict": verdict_shown(r),
            "statement": r.get("statement", ""),
            "theory": value_text(r.get("theory")),
            "measured": value_text(r.get("measured")),
            "tolerance": r.get("tolerance", ""),
            "source": r.get("source", ""),
            "location": r.get("location", ""),
            "reason": r.get("reason", ""),
        }
        for r in records
    ]
    return pd.DataFrame(rows, columns=FRAME_COLUMNS)


def claims_text(records: list[dict], width: int = 60) -> str:
    """A plain-text table (for a terminal): id, verdict, measured against theory or criterion, statement."""
    if not records:
        return "(no claims)"
    lines = []
    for r in records:
        against = value_text(r.get("theory")) or r.get("tolerance", "")
        statement = tex_to_text(r.get("statement", ""))
        statement = statement if len(statement) <= width else statement[: width - 1] + "…"
        lines.append(
            (r["id"], verdict_shown(r), f"{value_text(r.get('measured'))} vs {against}" if against else "", statement)
        )
    widths = [max(len(row[i]) for row in lines) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3] for row in lines
    )


def claims_html(records: list[dict]) -> str:
    """The claims as a styled HTML table (see the module docstring)."""
    if not records:
        return "<p><em>No claims recorded.</em></p>"
    head = "".join(f'<th style="{_CELL} {_WIDTHS.get(name, "")} font-weight: 600;">{name}</th>' for name in COLUMNS)
    rows = "".join(_row(r) for r in records)
    return (
        f'<div class="claims-table" style="max-width: 100%; overflow-x: auto;"><table style="{_TABLE}">'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"
    )


def _row(r: dict) -> str:
    def cell(content: str, style: str = "", title: str | None = None) -> str:
        hover = f' title="{_e(title)}"' if title is not None else ""
        return f'<td style="{_CELL} {style}"{hover}>{content}</td>'

    def note(text: str) -> str:
        return f'<span style="{_NOTE}">{_e(text)}</span>' if text else ""

    def value(name: str, extra: str = "") -> str:  # a number never breaks; a text value (a list, say) wraps
        wrap = "white-space: nowrap;" if isinstance(r.get(name), int | float) else "overflow-wrap: anywhere;"
        style = f"font-variant-numeric: tabular-nums; {wrap} {_WIDTHS[name]}"
        return cell(_e(value_text(r.get(name))) + extra, style, title=full_text(r.get(name)))

    verdict = r.get("verdict", "")
    colour = VERDICT_COLOURS.get(verdict, "inherit")
    weight = "700" if verdict in ("fails", "inconclusive") else "600"
    interval = note("[{}, {}]".format(*map(value_text, r["interval"]))) if r.get("interval") else ""
    tolerance = _e(r.get("tolerance", "")) + note(r.get("tolerance_reason", "")) + note(r.get("criterion_reason", ""))
    source = _e(r.get("source", "")) + note(r.get("location", ""))
    if r.get("conditions"):
        source += note(f"tested in: {r['conditions']}")
    return (
        "<tr>"
        + cell(f"<code>{breakable(r['id'])}</code>{note(r.get('kind', ''))}", "min-width: 7em; max-width: 14em;")
        + cell(_e(verdict_shown(r)), f"color: {colour}; font-weight: {weight}; white-space: nowrap;")
        + cell(_e(r.get("statement", "")) + note(r.get("reason", "")), _WIDTHS["statement"])
        + value("theory")
        + value("measured", interval)
        + cell(tolerance, _WIDTHS["tolerance / criterion"])
        + cell(source, _WIDTHS["source"])
        + "</tr>"
    )


def breakable(claim_id: str) -> str:
    """A claim id, escaped, that a narrow column may break after its dots and underscores."""
    return _e(claim_id).replace(".", ".<wbr>").replace("_", "_<wbr>")


def _e(value) -> str:
    return html.escape(str(value))
