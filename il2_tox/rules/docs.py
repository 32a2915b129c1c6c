"""Render the rules file as `docs/rules.md`, so the documentation cannot drift from the data.

`python -m il2_tox rules --markdown > docs/rules.md` writes it; a test compares the two.
"""

from __future__ import annotations

from typing import Any

from il2_tox.rules.config import Rules

_HEADER = """# Rules: every code, its meaning, threshold and source

Generated from `data/rules.toml` by `python -m il2_tox rules --markdown > docs/rules.md`;
`tests/unit/test_rules_config.py` fails when the two differ. Do not edit by hand.

Values are in the unit shown (the canonical unit of the code: mg/dL, g/dL, 10*3/uL, Cel, kg...).
A centre changes them in its own copy of the rules file (`IL2TOX_RULES`); sources are listed
at the end and detailed in the clinical reference.
"""


def _value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(rules: Rules) -> str:
    """Return the Markdown page describing every rule and reference default."""
    lines = [_HEADER, "## Rules", ""]
    lines.append("| code | meaning | thresholds | unit | source |")
    lines.append("|---|---|---|---|---|")
    for code, rule in rules.rules.items():
        params = "; ".join(f"`{k}` = {_value(v)}" for k, v in rule.params.items()) or "—"
        lines.append(
            f"| `{code}` | {_cell(rule.meaning)} | {_cell(params)} | {_cell(rule.unit)} "
            f"| {_cell(rules.source(code))} |"
        )
    lines += ["", "## Site default reference limits (used when the lab sends none)", ""]
    lines.append("| code | low | high | unit | source |")
    lines.append("|---|---|---|---|---|")
    for code, ref in rules.reference.items():
        low = _value(ref.low) if ref.low is not None else "—"
        high = _value(ref.high) if ref.high is not None else "—"
        cited = "; ".join(rules.sources[s] for s in ref.source_ids)
        lines.append(f"| `{code}` | {low} | {high} | {_cell(ref.unit)} | {_cell(cited)} |")
    lines += ["", "## Sources", "", "| ID | citation |", "|---|---|"]
    for source_id, text in rules.sources.items():
        lines.append(f"| {source_id} | {_cell(text)} |")
    return "\n".join(lines) + "\n"
