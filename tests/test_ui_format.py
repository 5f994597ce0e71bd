"""The formatting layer: money rounded before its sign is chosen, and what a table displays."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from ui import format, tables


def test_tiny_negative_amounts_show_as_zero() -> None:
    assert format.money(-0.004, "USD", 2) == "$0.00"
    assert format.money(-0.3, "USD") == "$0"
    assert format.money(-0.6, "EUR") == "-€1"
    assert format.money(-1234.567, "CHF", 2) == "-CHF 1,234.57"
    assert format.percent(-0.00001) == "+0.0%"


def test_tables_round_money_so_no_minus_zero_reaches_the_browser() -> None:
    frame = pl.DataFrame({"part": ["a", "b"], "amount": [-0.001, 12.346], "variance_pct": [-1e-9, 0.12346]})
    shown, currency = tables.displayed(frame)
    assert shown["amount"].to_list() == [0.0, 12.35]
    assert str(shown["amount"][0]) == "0.0"  # not -0.0
    assert shown["variance_pct"].to_list() == [0.0, 0.1235] and str(shown["variance_pct"][0]) == "0.0"
    assert currency is None


def test_a_cost_per_unit_keeps_its_precision() -> None:
    shown, _ = tables.displayed(pl.DataFrame({"unit_cost": [0.001234, -0.00001], "cost": [1.234, 2.0]}))
    assert shown["unit_cost"].to_list() == [0.001234, 0.0] and shown["cost"].to_list() == [1.23, 2.0]
    config = tables.column_config(shown, "USD")
    assert config["unit_cost"]["type_config"]["format"] == "$%.4f"  # type: ignore[index]


def test_midnight_timestamps_and_iso_strings_become_dates() -> None:
    frame = pl.DataFrame(
        {
            "month": [datetime(2025, 12, 1), datetime(2026, 1, 1)],
            "at": ["2026-12-03T05:33:01+00:00", "2026-12-03 06:00:00"],
            "day": ["2026-11-28", "2026-11-29"],
        }
    )
    shown, _ = tables.displayed(frame)
    assert shown["month"].to_list() == [date(2025, 12, 1), date(2026, 1, 1)]
    assert shown["day"].to_list() == [date(2026, 11, 28), date(2026, 11, 29)]
    assert isinstance(shown.schema["at"], pl.Datetime)


def test_amounts_in_two_currencies_are_shown_each_in_its_own() -> None:
    frame = pl.DataFrame({"key": ["a", "b"], "currency": ["USD", "EUR"], "impact": [1234.5, 99.0]})
    shown, currency = tables.displayed(frame)
    assert shown["impact"].to_list() == ["$1,234.50", "€99.00"] and currency is None
    one, currency = tables.displayed(frame.head(1))
    assert one["impact"].to_list() == [1234.5] and currency == "USD"
