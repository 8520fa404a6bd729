"""Log a finished sweep's paired comparison to its MLflow parent run: the driver's last step.

Apart from `comparison_metrics` (which `client` imports to name the metrics) because it
needs the `Client`, and the two importing each other would be a circle.
"""

from __future__ import annotations

import logging

from orchestrator.client import Client

log = logging.getLogger(__name__)


def record_comparison(
    tracking_uri: str, experiment: str, sweep: str, run_id: str | None = None
) -> int:
    """Log a sweep's comparison to its parent run; returns the number of metrics.

    Called by the driver when a sweep ends: a failure here is logged as a warning and
    returns 0, so it never fails a sweep whose trials are all recorded.
    """
    try:
        return len(Client(tracking_uri, experiment).log_comparison(sweep, run_id=run_id))
    except Exception as error:  # the trials are recorded; the summary can be redone by `report`
        log.warning(
            "paired comparison not logged to the sweep run (%s); `s3delta report %s` logs it",
            error,
            sweep,
        )
        return 0
