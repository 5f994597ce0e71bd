"""Row-level scope across every function a viewer's pages call: nothing returned to a scoped
caller includes an out-of-scope team, account or amount, and no amount mixes currencies."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from finops_core import governance, rollups, tagrules
from finops_core.query import CostQuery, Scope
from finops_core.schema import C
from tests.allocation_ref import attribute

ALL_TIME = (date(2000, 1, 1), date(2100, 1, 1))


def _in_scope(rows: pl.DataFrame, scope: Scope) -> pl.DataFrame:
    """Rows a scoped caller may see, by direct team (before splits) or sub account."""
    keep = pl.lit(scope.is_all)
    if scope.teams is not None:
        keep = keep | pl.col(C.x_Team).is_in(list(scope.teams))
    if scope.sub_accounts is not None:
        keep = keep | pl.col(C.SubAccountId).is_in(list(scope.sub_accounts))
    return rows.filter(keep)


def _tag_costs(rows: pl.DataFrame, key: str) -> dict[tuple[str, str], float]:
    """EffectiveCost per (value of tag ``key`` as tagged, currency), from the raw rows."""
    tags = rollups.current_rules().tags
    per_tags = rows.group_by(C.Tags, C.BillingCurrency).agg(pl.col(C.EffectiveCost).sum())
    out: dict[tuple[str, str], float] = {}
    for raw_tags, currency, cost in per_tags.iter_rows():
        raw = tags.raw(tagrules.folded_tags(raw_tags), key)
        if raw is not None:
            value = raw.strip().lower() if key in tags.fold_case else raw.strip()
            out[(value, currency)] = out.get((value, currency), 0.0) + cost
    return out


@pytest.mark.parametrize(
    "scope",
    [
        Scope(),
        Scope(teams=("payments",)),
        Scope(teams=("identity", "payments")),
        Scope(sub_accounts=("acme-gke-shared",)),
    ],
    ids=["all", "payments", "identity+payments", "gke-shared"],
)
def test_typo_table_counts_only_in_scope_cost_per_currency(con, demo_rows: pl.DataFrame, scope: Scope) -> None:  # type: ignore[no-untyped-def]
    """A viewer's typo table holds only values of their rows, each cost in one currency; a viewer of
    payments once saw another team's typo ('identiy') with its cost."""
    rows = _in_scope(attribute(demo_rows, rollups.current_rules()), scope)
    want = _tag_costs(rows, "team")
    for currency in ("USD", "EUR"):
        q = CostQuery(*ALL_TIME, filters=((C.BillingCurrency, (currency,)),), scope=scope)
        got = governance.typo_table(con, q, "team")
        assert set(got[C.BillingCurrency]) <= {currency}
        for alias, canonical, cost in got.select("alias", "canonical", "cost").iter_rows():
            assert cost == pytest.approx(want[(alias, currency)], rel=1e-9), (alias, currency)
            assert want.get((canonical, currency), 0.0) > cost, (canonical, currency)
    if scope.is_all:  # the typo's rows carry team "identiy": a viewer of identity does not see them either
        q = CostQuery(*ALL_TIME, filters=((C.BillingCurrency, ("USD",)),), scope=scope)
        assert "identiy" in governance.typo_table(con, q, "team")["alias"].to_list()
    if scope == Scope(teams=("payments",)):
        every = governance.typo_table(con, CostQuery(*ALL_TIME, scope=scope), "team")
        assert "identiy" not in every["alias"].to_list()
