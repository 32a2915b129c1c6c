"""The site rules file: every clinical threshold, with its source, loaded once and checked.

The shipped defaults live in `data/rules.toml`; a centre points `IL2TOX_RULES` at its own copy.
The shipped file is also the shape every site file must have: the same rule codes and
parameters, of the same types. A site file that lacks an entry, adds an unknown one (a typo
would otherwise be ignored) or cites an unknown source is refused with one line naming it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

DEFAULT_RULES_PATH = Path(__file__).resolve().parents[2] / "data" / "rules.toml"
RULES_ENV = "IL2TOX_RULES"
_DESCRIPTIVE = ("meaning", "unit", "source")


class RulesError(ValueError):
    """A rules file that cannot be used; `str()` is one line naming the file and the entry."""


@dataclass(frozen=True)
class Rule:
    """One rule's thresholds. Parameters are read with `rule.num("above")` or `rule["values"]`."""

    code: str
    meaning: str
    unit: str
    source_ids: tuple[str, ...]
    params: Mapping[str, Any]

    # Each parameter converted once (the rules read them tens of thousands of times a course):
    # numbers as floats, lists of numbers as tuples of floats, lists of strings as tuples.
    _floats: dict[str, float] = field(init=False, repr=False, compare=False)
    _float_lists: dict[str, tuple[float, ...]] = field(init=False, repr=False, compare=False)
    _str_lists: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        floats: dict[str, float] = {}
        float_lists: dict[str, tuple[float, ...]] = {}
        str_lists: dict[str, tuple[str, ...]] = {}
        for name, value in self.params.items():
            if _is_number(value):
                floats[name] = float(value)
            elif isinstance(value, list):
                if all(_is_number(v) for v in value):
                    float_lists[name] = tuple(float(v) for v in value)
                if all(isinstance(v, str) for v in value):
                    str_lists[name] = tuple(value)
        object.__setattr__(self, "_floats", floats)
        object.__setattr__(self, "_float_lists", float_lists)
        object.__setattr__(self, "_str_lists", str_lists)

    def __getitem__(self, name: str) -> Any:
        return self.params[name]

    def num(self, name: str) -> float:
        """Return a numeric parameter as float."""
        found = self._floats.get(name)
        return found if found is not None else float(self.params[name])

    def nums(self, name: str) -> tuple[float, ...]:
        """Return a list parameter of numbers as a tuple of floats."""
        found = self._float_lists.get(name)
        return found if found is not None else tuple(float(v) for v in self.params[name])

    def strs(self, name: str) -> tuple[str, ...]:
        """Return a list parameter of strings."""
        found = self._str_lists.get(name)
        return found if found is not None else tuple(str(v) for v in self.params[name])


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Reference:
    """A site default reference range for one code (canonical unit), used when the lab gave none."""

    code: str
    low: float | None
    high: float | None
    unit: str
    source_ids: tuple[str, ...]


@dataclass(frozen=True)
class Rules:
    """A loaded, checked rules file."""

    path: str
    name: str
    rules: Mapping[str, Rule]
    reference: Mapping[str, Reference]
    sources: Mapping[str, str]

    def rule(self, code: str) -> Rule:
        """Return the rule with this code (the loader guarantees every shipped code exists)."""
        return self.rules[code]

    def source(self, *codes: str) -> str:
        """Return the citation text of rules, e.g. "Dutcher 2014 Table 3; CTCAE v5.0"."""
        seen: list[str] = []
        for code in codes:
            for source_id in self.rules[code].source_ids:
                text = self.sources[source_id]
                if text not in seen:
                    seen.append(text)
        return "; ".join(seen)

    def default_high(self, code: str) -> float | None:
        ref = self.reference.get(code)
        return ref.high if ref is not None else None

    def default_low(self, code: str) -> float | None:
        ref = self.reference.get(code)
        return ref.low if ref is not None else None


def rules_path() -> Path:
    """Return the rules file in force: `IL2TOX_RULES` if set, else the shipped defaults."""
    configured = os.environ.get(RULES_ENV)
    return Path(configured) if configured else DEFAULT_RULES_PATH


def load_rules(path: str | Path | None = None) -> Rules:
    """Load and check a rules file (default: the one in force); raise RulesError if unusable."""
    target = Path(path) if path is not None else rules_path()
    try:
        stamp = target.stat().st_mtime_ns
    except OSError:
        raise RulesError(f"{target}: rules file not found") from None
    return _load_cached(str(target.resolve()), stamp)


@cache
def _load_cached(path: str, _stamp: int) -> Rules:
    raw = _read_toml(Path(path))
    shipped = _read_toml(DEFAULT_RULES_PATH)
    return _build(path, raw, shipped)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise RulesError(f"{path}: cannot be read ({exc.__class__.__name__})") from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{path}: not valid TOML ({exc})") from None


def _build(path: str, raw: Mapping[str, Any], shipped: Mapping[str, Any]) -> Rules:
    def fail(where: str, message: str) -> RulesError:
        return RulesError(f"{path}: {where}: {message}")

    for section in raw:
        if section not in shipped:
            raise fail(section, "is not a section of the rules file")
    sources = raw.get("sources")
    if not isinstance(sources, dict) or not all(isinstance(v, str) and v for v in sources.values()):
        raise fail("sources", "must map each source ID to its citation text")

    def source_ids(where: str, entry: Mapping[str, Any]) -> tuple[str, ...]:
        ids = entry.get("source")
        if not isinstance(ids, list) or not ids:
            raise fail(f"{where}.source", "every entry needs a source (a list of source IDs)")
        for source_id in ids:
            if source_id not in sources:
                raise fail(f"{where}.source", f"{source_id!r} is not listed in [sources]")
        return tuple(ids)

    reference: dict[str, Reference] = {}
    raw_ref = raw.get("reference", {})
    for code, shipped_entry in shipped.get("reference", {}).items():
        where = f'reference."{code}"'
        entry = raw_ref.get(code)
        if not isinstance(entry, dict):
            raise fail(where, "is missing")
        _check_same_shape(fail, where, entry, shipped_entry)
        reference[code] = Reference(
            code=code,
            low=float(entry["low"]) if "low" in entry else None,
            high=float(entry["high"]) if "high" in entry else None,
            unit=str(entry["unit"]),
            source_ids=source_ids(where, entry),
        )
    for code in raw_ref:
        if code not in reference:
            raise fail(f'reference."{code}"', "is not a code with a site default")

    rules: dict[str, Rule] = {}
    raw_rules = raw.get("rule", {})
    for code, shipped_entry in shipped.get("rule", {}).items():
        where = f'rule."{code}"'
        entry = raw_rules.get(code)
        if not isinstance(entry, dict):
            raise fail(where, "is missing")
        _check_same_shape(fail, where, entry, shipped_entry)
        rules[code] = Rule(
            code=code,
            meaning=str(entry["meaning"]),
            unit=str(entry["unit"]),
            source_ids=source_ids(where, entry),
            params={k: v for k, v in entry.items() if k not in _DESCRIPTIVE},
        )
    for code in raw_rules:
        if code not in rules:
            raise fail(f'rule."{code}"', "is not a rule the engine knows")
    _check_values(fail, rules)
    name = str(raw.get("meta", {}).get("name", path))
    return Rules(path=path, name=name, rules=rules, reference=reference, sources=dict(sources))


# The longest monitoring interval a site may set: a week. Longer is a typo (days for hours).
MAX_INTERVAL_H = 168.0


def _check_values(fail: Any, rules: Mapping[str, Rule]) -> None:
    """Refuse values of the right type that still cannot be meant (the shape check's blind spot).

    Monitoring intervals and the late-dose delay must be more than 0 h and at most a week
    (NaN and infinity are refused); the handoff severity lists may name only advice values and
    flag severities the engine gives.
    """
    from il2_tox.rules.base import ADVICE, SEVERITIES  # here: base imports this module

    for code, rule in rules.items():
        if not (code.startswith("monitoring.") or code == "handoff.late_dose"):
            continue
        for key, value in rule.params.items():
            if key.endswith("_h") and not 0 < float(value) <= MAX_INTERVAL_H:
                raise fail(
                    f'rule."{code}".{key}',
                    f"{value!r} h: must be more than 0 and at most {MAX_INTERVAL_H:g}",
                )
    severity = rules["handoff.severity"]
    for key, allowed in (
        ("unstable_advice", ADVICE),
        ("watcher_advice", ADVICE),
        ("unstable_flags", SEVERITIES),
        ("watcher_flags", SEVERITIES),
    ):
        for value in severity.params[key]:
            if value not in allowed:
                raise fail(
                    f'rule."handoff.severity".{key}',
                    f"{value!r} is not one of {', '.join(allowed)}",
                )


def _check_same_shape(
    fail: Any, where: str, entry: Mapping[str, Any], shipped: Mapping[str, Any]
) -> None:
    for key, shipped_value in shipped.items():
        if key not in entry:
            raise fail(f"{where}.{key}", "is missing")
        value = entry[key]
        if key == "source":
            continue
        if isinstance(shipped_value, bool) or isinstance(value, bool):
            ok = isinstance(value, bool) and isinstance(shipped_value, bool)
        elif isinstance(shipped_value, int | float):
            ok = isinstance(value, int | float)
        elif isinstance(shipped_value, list) and all(isinstance(s, str) for s in shipped_value):
            # Category lists may grow or shrink (a site may treat `third` as absolute).
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        elif isinstance(shipped_value, list):
            # Band bounds keep their length: the scores depend on it.
            ok = isinstance(value, list) and len(value) == len(shipped_value)
            ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        else:
            ok = isinstance(value, type(shipped_value))
        if not ok:
            raise fail(f"{where}.{key}", f"{value!r} has the wrong type or length")
    for key in entry:
        if key not in shipped:
            raise fail(f"{where}.{key}", "is not a parameter of this rule")
