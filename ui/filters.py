"""The shared sidebar: period, dimension filters, metric and currency, mirrored in the URL.

Every choice lives in ``st.query_params`` so a view is a shareable link that reopens exactly.
``sidebar()`` returns a ``Selection``: the base ``CostQuery`` every page starts from.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

import streamlit as st

from finops_core import drilldown, periods, saved_views
from finops_core.query import ALL, CostQuery, Scope
from finops_core.schema import METRIC_LABELS, C
from ui import cache, saved

PRESETS = periods.PRESETS
DEFAULT_PRESET = "mtd"  # a calendar period: its comparison is the same days of the previous month
METRIC_CHOICES = (C.EffectiveCost, C.BilledCost, C.ListCost)
# (URL key, dimension, label); the sub/billing account filters show names but filter on ids
DIMENSION_FILTERS: tuple[tuple[str, str, str], ...] = (
    ("provider", C.ProviderName, "Provider"),
    ("billing", C.BillingAccountId, "Billing account"),
    ("sub", C.SubAccountId, "Sub account"),
    ("category", C.ServiceCategory, "Service category"),
    ("service", C.ServiceName, "Service"),
    ("region", C.RegionId, "Region"),
    ("charge", C.ChargeCategory, "Charge category"),
    ("team", C.x_Team, "Team"),
    ("product", C.x_Product, "Product"),
    ("env", C.x_Environment, "Environment"),
    ("costcenter", C.x_CostCenter, "Cost center"),
)
NAMES = {C.BillingAccountId: C.BillingAccountName, C.SubAccountId: C.SubAccountName}


@dataclass(frozen=True)
class Selection:
    query: CostQuery  # period, filters (incl. currency), metric, scope
    currency: str
    preset: str
    data_start: date
    data_end: date
    compare: str = "previous"  # a key of periods.COMPARE_MODES

    def before(self, q: CostQuery) -> CostQuery:
        """``q`` (this selection's query, perhaps narrowed) over the period it is compared with."""
        return q.previous(self.compare, self.preset)

    def comparison_label(self, q: CostQuery) -> str:
        """'1-30 Nov 2026 vs 1-31 Oct 2026 (calendar month vs the previous calendar month)'."""
        return periods.comparison_label(q.start, q.end, q.comparison(self.compare, self.preset))


def period_for(
    preset: str, anchor: date, custom: tuple[date, date] | None = None, today: date | None = None
) -> tuple[date, date]:
    """(start, end) of a preset; ``anchor`` is the last day with data (see ``periods.period_for``)."""
    return periods.period_for(preset, anchor, custom, today)


def _param_date(key: str) -> date | None:
    try:
        return date.fromisoformat(st.query_params.get(key, ""))
    except ValueError:
        return None


def _from_url(key: str, allowed: list[str] | tuple[str, ...], default: str) -> str:
    value = st.query_params.get(key, default)
    return value if value in allowed else default


def _options(version: str, dimension: str, first: date, last: date, scope: Scope) -> list[str]:
    return _all_options(version, first, last, scope).get(dimension, [])


def _all_options(version: str, first: date, last: date, scope: Scope) -> dict[str, list[str]]:
    """Every picker's values in one scan of the rollup (the first run of a session pays for it once)."""
    dims = (C.BillingCurrency, *(d for _, d, _ in DIMENSION_FILTERS))
    q = CostQuery(first, last, scope=scope)
    return cache.call(version, drilldown.dimension_values, q, dims)


def options_for(version: str, dimension: str, first: date, last: date, scope: Scope = ALL) -> list[str]:
    """Values of a dimension in the data (largest spend first), within ``scope``."""
    return _options(version, dimension, first, last, scope)


def _labels(version: str, dimension: str, first: date, last: date, scope: Scope) -> dict[str, str]:
    name = NAMES.get(dimension)
    if name is None:
        return {}
    q = CostQuery(first, last, group_by=(dimension, name), scope=scope)
    frame = cache.grouped(version, repr(q), q)
    return {i: f"{n} ({i})" if n != i else i for i, n in frame.select(dimension, name).iter_rows()}


def value_labels(version: str, dimension: str, first: date, last: date, scope: Scope = ALL) -> dict[str, str]:
    """{id: 'Name (id)'} for account dimensions (sub and billing account ids), within ``scope``; {} otherwise."""
    return _labels(version, dimension, first, last, scope)


def sidebar(scope: Scope = ALL) -> Selection:
    """Draw the shared sidebar and return the user's selection."""
    version = cache.data_version() or ""
    first, last = cache.data_range(version)
    sb = st.sidebar
    try:
        saved.apply_shared_link()
    except saved_views.SavedViewError as exc:
        sb.error(str(exc))
    # Widgets take their first value from the URL and keep their own state after that.
    presets = list(PRESETS)
    url_preset = _from_url("period", presets, DEFAULT_PRESET)
    preset = sb.selectbox(
        "Period", presets, index=presets.index(url_preset), format_func=PRESETS.__getitem__, key="f_period"
    )
    custom = None
    if preset == "custom":
        lo, hi = _param_date("from") or last - timedelta(days=29), _param_date("to") or last
        span = (max(first, min(lo, last)), max(first, min(hi, last)))
        picked = sb.date_input("From / to", value=span, min_value=first, max_value=last, key="f_custom")
        if isinstance(picked, tuple) and len(picked) == 2:
            custom = (picked[0], picked[1])
    start, end = period_for(preset, last, custom, date.today())
    start, end = max(start, first), min(end, last)
    if start > end:  # a "last ..." period before the data begins
        start = end = first
    sb.caption(f"{periods.label(start, end)} · data {periods.label(first, last)}")
    modes = list(periods.COMPARE_MODES)
    compare = sb.radio(
        "Compare with",
        modes,
        index=modes.index(_from_url("cmp", modes, "previous")),
        format_func=periods.COMPARE_MODES.__getitem__,
        key="f_compare",
        horizontal=True,
        help="Previous period follows the calendar: a month against the previous month, month to date "
        "against the same days of the previous month, a quarter against the previous quarter.",
    )
    currencies = _options(version, C.BillingCurrency, first, last, scope) or ["USD"]
    url_currency = _from_url("cur", currencies, currencies[0])
    currency = sb.selectbox(
        "Billing currency",
        currencies,
        index=currencies.index(url_currency),
        key="f_currency",
        help="Amounts in different billing currencies are never added together.",
    )
    metric = sb.radio(
        "Cost metric",
        METRIC_CHOICES,
        index=METRIC_CHOICES.index(_from_url("metric", METRIC_CHOICES, C.EffectiveCost)),
        format_func=METRIC_LABELS.__getitem__,
        key="f_metric",
        help="Effective cost spreads commitment purchases over the usage they cover (amortized). "
        "Billed cost is what the invoice shows. List cost is at public on-demand prices.",
    )
    filters: list[tuple[str, tuple[str, ...]]] = [(C.BillingCurrency, (currency,))]
    chosen: dict[str, list[str]] = {}
    dropped: list[str] = []
    with sb.expander("Filters", expanded=any(k in st.query_params for k, _, _ in DIMENSION_FILTERS)):
        for key, dim, label in DIMENSION_FILTERS:
            options = _options(version, dim, first, last, scope)
            names = _labels(version, dim, first, last, scope)
            default = [v for v in st.query_params.get_all(key) if v in options]
            if f"f_{key}" not in st.session_state:
                dropped += [f"{label.lower()} {v}" for v in st.query_params.get_all(key) if v not in options]
            values = st.multiselect(
                label,
                options,
                default=default,
                key=f"f_{key}",
                format_func=lambda v, n=names: n.get(v, v),
                placeholder="All",
            )
            if values:
                chosen[key] = list(values)
                filters.append((dim, tuple(values)))
    if dropped:
        sb.warning(
            "This link filters on " + ", ".join(dropped) + ", which is outside your access or not in the data: "
            "left out, showing only what you may see."
        )
    _write_params(preset, start, end, metric, currency, chosen | ({"cmp": [compare]} if compare != "previous" else {}))
    query = CostQuery(start, end, filters=tuple(filters), metric=metric, scope=scope)
    return Selection(query, currency, preset, first, last, compare)


def _write_params(
    preset: str, start: date, end: date, metric: str, currency: str, chosen: dict[str, list[str]]
) -> None:
    state: dict[str, str | list[str]] = {"period": preset, "metric": metric, "cur": currency}
    if preset == "custom":
        state |= {"from": start.isoformat(), "to": end.isoformat()}
    state |= chosen
    page_keys = {k: st.query_params.get_all(k) for k in st.query_params if k.startswith("p_")}
    for k, v in page_keys.items():
        state[k] = v if len(v) > 1 else v[0]
    if {k: st.query_params.get_all(k) for k in st.query_params} != {
        k: v if isinstance(v, list) else [v] for k, v in state.items()
    }:
        st.query_params.from_dict(state)


def without(q: CostQuery, dimension: str) -> CostQuery:
    return replace(q, filters=tuple((d, v) for d, v in q.filters if d != dimension))
