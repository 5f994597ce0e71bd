"""Files people open in a spreadsheet: text that a spreadsheet would run as a formula is defused.

A CSV cell starting with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return before one) is
evaluated by Excel, LibreOffice and Google Sheets when the file is opened (CSV injection; OWASP).
Billing data carries text anyone can write (tag values, resource names, backlog titles, triage
notes), so every text cell of a downloaded CSV that starts so gets a leading apostrophe, which the
spreadsheet shows as text and does not display. Numbers, dates and the machine-facing outputs
(``export`` of FOCUS rows, the CLI's ``--format csv``) are left as they are.
"""

from __future__ import annotations

import polars as pl

FORMULA_START = r"^[=+\-@\t\r]"


def defused(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every text cell that a spreadsheet would evaluate prefixed by an apostrophe."""
    text = [c for c, t in frame.schema.items() if t == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(FORMULA_START)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in text
    )


def spreadsheet_csv(frame: pl.DataFrame) -> bytes:
    """CSV bytes of ``frame`` for a person to open in a spreadsheet (see the module docstring)."""
    return defused(frame).write_csv().encode()
