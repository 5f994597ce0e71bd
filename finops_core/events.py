"""Known events a forecast should expect (``data/rules/events.yaml``): public holidays, billing
calendar effects, launches and one-off days. Errors name the file, the line and the field.

- ``holiday_country``: ISO country code for public holidays from the ``holidays`` package (its
  tables ship inside the package: nothing is fetched); null for none. All holidays share one effect.
- ``billing_calendar``: ``month_start`` (monthly fees, support, tax land on the 1st) and/or
  ``month_end`` (the last two days of a month: month-end batch runs).
- ``launches``: ``{name, date}``; from that day on costs step up or down (a step regressor).
- ``one_off``: ``{name, date, days}``; a known spike over ``days`` days (a sale, a migration).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

DEFAULT_EVENTS = Path(__file__).resolve().parents[1] / "data" / "rules" / "events.yaml"
CALENDAR = ("month_start", "month_end")
FIELDS = ("holiday_country", "billing_calendar", "launches", "one_off")


class EventsError(ValueError):
    """An events file that cannot be used; the message names file, line and field."""


@dataclass(frozen=True)
class Events:
    holiday_country: str | None = None
    billing_calendar: tuple[str, ...] = ()
    launches: tuple[tuple[str, date], ...] = ()
    one_off: tuple[tuple[str, date, int], ...] = ()

    def one_day_effects(self, first: date, last: date) -> Iterator[tuple[str, date, int, int]]:
        """(name, day, lower window, upper window) for Prophet's holidays table over [first, last]."""
        if self.holiday_country:
            import holidays

            table = holidays.country_holidays(self.holiday_country, years=range(first.year, last.year + 1))
            for day in sorted(table):
                if first <= day <= last:
                    yield "public_holiday", day, 0, 0
        day = first.replace(day=1)
        while day <= last:
            nxt = (day + timedelta(days=32)).replace(day=1)
            if "month_start" in self.billing_calendar and first <= day:
                yield "month_start", day, 0, 0
            if "month_end" in self.billing_calendar and first <= nxt - timedelta(days=2) <= last:
                yield "month_end", nxt - timedelta(days=2), 0, 1
            day = nxt
        for name, start, days in self.one_off:
            if first <= start <= last:
                yield name, start, 0, days - 1

    def launches_within(self, first: date, last: date) -> list[tuple[str, date]]:
        """Launches whose step the history can estimate (some days before and after it)."""
        return [(n, d) for n, d in self.launches if first + timedelta(days=7) <= d <= last - timedelta(days=7)]

    def launches_after(self, last: date) -> list[tuple[str, date]]:
        return [(n, d) for n, d in self.launches if d > last - timedelta(days=7)]


def _where(path: Path, node: yaml.Node, field_name: str) -> str:
    return f"{path}:{node.start_mark.line + 1}: {field_name}"


def _mapping(path: Path, node: yaml.Node, field_name: str) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        raise EventsError(f"{_where(path, node, field_name)}: expected a mapping")
    return {str(k.value): v for k, v in node.value}


def _date(path: Path, node: yaml.Node, field_name: str) -> date:
    try:
        return date.fromisoformat(str(node.value))
    except (ValueError, TypeError) as exc:
        raise EventsError(f"{_where(path, node, field_name)}: {node.value!r} is not a date (YYYY-MM-DD)") from exc


def _items(path: Path, parts: dict[str, yaml.Node], name: str, keys: tuple[str, ...]) -> list[dict[str, yaml.Node]]:
    node = parts.get(name)
    if node is None or (isinstance(node, yaml.ScalarNode) and node.value in ("", "null", "~")):
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise EventsError(f"{_where(path, node, name)}: expected a list")
    out = []
    for i, item in enumerate(node.value):
        fields = _mapping(path, item, f"{name}[{i}]")
        for key, value in fields.items():
            if key not in keys:
                raise EventsError(f"{_where(path, value, f'{name}[{i}].{key}')}: unknown field")
        for key in keys[:2]:
            if key not in fields:
                raise EventsError(f"{_where(path, item, f'{name}[{i}].{key}')}: required")
        out.append(fields)
    return out


def load(path: Path = DEFAULT_EVENTS) -> Events:
    """Parse and check an events file."""
    try:
        root = yaml.compose(path.read_text())
    except FileNotFoundError as exc:
        raise EventsError(f"{path}: no such events file") from exc
    except yaml.YAMLError as exc:
        raise EventsError(f"{path}: not valid YAML: {exc}") from exc
    if root is None:
        return Events()
    parts = _mapping(path, root, "events file")
    for key, node in parts.items():
        if key not in FIELDS:
            raise EventsError(f"{_where(path, node, key)}: unknown field (expected {', '.join(FIELDS)})")
    country = _country(path, parts.get("holiday_country"))
    calendar: list[str] = []
    if "billing_calendar" in parts:
        node = parts["billing_calendar"]
        if not isinstance(node, yaml.SequenceNode) or any(
            not isinstance(n, yaml.ScalarNode) or n.value not in CALENDAR for n in node.value
        ):
            raise EventsError(f"{_where(path, node, 'billing_calendar')}: expected a list of {', '.join(CALENDAR)}")
        calendar = [str(n.value) for n in node.value]
    launches = tuple(
        (str(f["name"].value), _date(path, f["date"], f"launches[{i}].date"))
        for i, f in enumerate(_items(path, parts, "launches", ("name", "date")))
    )
    one_off = []
    for i, f in enumerate(_items(path, parts, "one_off", ("name", "date", "days"))):
        days_node = f.get("days")
        days = str(days_node.value) if days_node is not None else "1"
        if not days.isdigit() or int(days) < 1:
            raise EventsError(
                f"{_where(path, days_node or f['name'], f'one_off[{i}].days')}: expected a whole number >= 1"
            )
        one_off.append((str(f["name"].value), _date(path, f["date"], f"one_off[{i}].date"), int(days)))
    return Events(country, tuple(calendar), launches, tuple(one_off))


def _country(path: Path, node: Any) -> str | None:
    if node is None or node.value in ("", "null", "~"):
        return None
    import holidays

    code = str(node.value).upper()
    if code not in holidays.list_supported_countries():
        raise EventsError(f"{_where(path, node, 'holiday_country')}: {node.value!r} is not a supported country code")
    return code
