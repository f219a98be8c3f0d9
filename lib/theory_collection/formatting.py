"""Values and TeX as a reader sees them: in tables (``1.23457``, ``true``, nothing for no value) and in
plain-text places that cannot typeset maths (link tooltips, ``alt`` text, terminal tables)."""

from __future__ import annotations

import re

# The TeX a statement or heading of the collection uses, spelled in Unicode.
_SYMBOLS = {
    "alpha": "α",
    "beta": "β",
    "gamma": "γ",
    "delta": "δ",
    "Delta": "Δ",
    "epsilon": "ε",
    "varepsilon": "ε",
    "eta": "η",
    "theta": "θ",
    "kappa": "κ",
    "lambda": "λ",
    "Lambda": "Λ",
    "mu": "μ",
    "rho": "ρ",
    "sigma": "σ",
    "tau": "τ",
    "phi": "φ",
    "Phi": "Φ",
    "psi": "ψ",
    "omega": "ω",
    "to": "→",
    "rightarrow": "→",
    "Rightarrow": "⇒",
    "leftarrow": "←",
    "approx": "≈",
    "le": "≤",
    "leq": "≤",
    "ge": "≥",
    "geq": "≥",
    "ne": "≠",
    "neq": "≠",
    "times": "×",
    "cdot": "·",
    "infty": "∞",
    "in": "∈",
    "propto": "∝",
    "sim": "~",
    "star": "*",
    "ast": "*",
    "top": "T",
    "sum": "Σ",
    "log": "log",
    "exp": "exp",
    "min": "min",
    "max": "max",
    "quad": " ",
    "qquad": " ",
}
_WRAPPERS = re.compile(r"\\(?:mathrm|mathcal|mathbf|mathbb|operatorname|text|textrm|boldsymbol|bm)\s*\{([^{}]*)\}")
_COMMAND = re.compile(r"\\([A-Za-z]+)")


def value_text(value) -> str:
    """A value in a table: floats to 6 significant digits, booleans as ``true``/``false``, None as nothing."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, float) and value != value:  # NaN: a value that was not measured
        return "nan"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def full_text(value) -> str:
    """A value at full precision (shown on hover)."""
    return value_text(value) if isinstance(value, bool) or value is None else str(value)


def tex_to_text(text: str) -> str:
    """``text`` with its TeX spelled in plain Unicode: ``$L \\to L^\\star$`` -> ``L → L*``,
    ``$\\mathrm{W}_{fin}$`` -> ``W_fin``. For tooltips and alt text, where no maths is typeset."""
    text = str(text).replace("$$", "").replace("$", "")
    for _ in range(3):  # nested wrappers: \mathbf{\mathrm{x}}
        text = _WRAPPERS.sub(r"\1", text)
    text = re.sub(r"\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", lambda m: f"{_group(m[1])}/{_group(m[2])}", text)
    text = re.sub(r"\\sqrt\s*\{([^{}]*)\}", r"√(\1)", text)
    text = re.sub(r"\\(left|right|big|Big|bigg|Bigg)\b", "", text)
    text = _COMMAND.sub(lambda m: _SYMBOLS.get(m.group(1), m.group(1)), text)
    text = re.sub(r"\^\{?\*\}?", "*", text)
    text = re.sub(r"([_^])\{([^{}]*)\}", r"\1\2", text)
    text = text.replace("\\,", " ").replace("\\;", " ").replace("\\!", "").replace("~", " ")
    text = re.sub(r"\\([{}%&#_])", r"\1", text)
    text = text.replace("{", "").replace("}", "")
    return re.sub(r"\s+", " ", text).strip()


def _group(term: str) -> str:
    """A fraction's numerator or denominator, in parentheses when it is more than one symbol."""
    return term if re.fullmatch(r"\\?\w+", term.strip()) else f"({term})"
