"""Alerts held against the validation slice's alert rate: a batch (`fraudgan score`, either
engine) or a scoring server's latest requests that alert far more or far less often than the
model did on the slice it was validated on come from other data (another period or population, a
column written another way), and `alert_drift` says so; `ServedAlerts` counts a scoring server's
requests in windows of their own."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

DRIFT_RATIO = 2.0
"""An alert rate this many times the validation slice's, or this many times below it, is
remarked on when the rows scored make it unlikely by chance (`DRIFT_P`)."""
DRIFT_P = 1e-3

SERVED_EXPECTED_ALERTS = 25
"""A scoring server holds its requests against the validation slice in windows of as many rows as
the slice's alert rate gives this many alerts (2,500 rows at 1 %): enough for a count `DRIFT_RATIO`
times off to stand out from chance, few enough to notice a change in a day's traffic."""


def alert_drift(expected_rate: float, rows: int, alerts: int) -> str | None:
    """The words for `alerts` in `rows` when the rate is `DRIFT_RATIO` times `expected_rate` (the
    validation slice's), or as far below it, beyond chance (two-sided Poisson p below `DRIFT_P`);
    None otherwise, and when nothing was due."""
    from scipy import stats

    expected = rows * expected_rate
    if rows == 0 or expected <= 0:
        return None
    ratio = alerts / expected
    if ratio < DRIFT_RATIO and ratio > 1 / DRIFT_RATIO:
        return None
    tail = (
        stats.poisson.sf(alerts - 1, expected) if ratio > 1 else stats.poisson.cdf(alerts, expected)
    )
    if min(1.0, 2 * tail) >= DRIFT_P:
        return None
    return (
        f"{alerts:,} alerts in {rows:,} rows ({alerts / rows:.3%}), where the validation slice's "
        f"alert rate ({expected_rate:.3%}) gives {expected:,.0f}: the input may differ from the "
        "data the model was validated on (another period or population, drift, a column written "
        "another way); check it before acting on the alerts"
    )


class ServedAlerts:
    """Counts a scoring server's rows and alerts in consecutive windows (`SERVED_EXPECTED_ALERTS`)
    and logs a warning for each window whose alerts drift from the validation slice's rate
    (`alert_drift`). Nothing is counted for a model exported without the slice's figures."""

    def __init__(self, validation: Mapping[str, Any] | None) -> None:
        self.rate = float((validation or {}).get("alert_rate", 0.0))
        self.rows = 0
        self.alerts = 0

    def count(self, rows: int, alerts: int) -> str | None:
        """Add one request's rows and alerts; the warning logged when they close a window that
        drifted, else None."""
        if self.rate <= 0:
            return None
        self.rows += rows
        self.alerts += alerts
        if self.rows * self.rate < SERVED_EXPECTED_ALERTS:
            return None
        said = alert_drift(self.rate, self.rows, self.alerts)
        self.rows = self.alerts = 0
        if said is not None:
            said = f"REST input: in the latest requests, {said}"
            log.warning(said)
        return said
