"""The network report (issue 20): per area × carrier × link, network failures per 1,000
transaction attempts, RTT p50/p95, weak-signal and failover shares, the weekly trend, and a
recommendation to take to the merchant or the network provider; the worst places first.

- ``aggregate``: the counting rules (what an attempt, a timeout, a reset is), no database;
- ``recommend``: the recommendation per place;
- ``rows``: rates, percentiles, trend, order;
- ``source``: the report from the fleet database;
- ``export``: the CSV download.

Served at ``/api/v1/network/report`` (``posguard.fleet.api.routes.network``) and on the
dashboard at ``/ui/network`` (``posguard.fleet.web.pages.network``: page, CSV, printable page).
"""

from posguard.fleet.network_report.rows import NetworkReport, NetworkRow
from posguard.fleet.network_report.source import MAX_WEEKS, network_report

__all__ = ["MAX_WEEKS", "NetworkReport", "NetworkRow", "network_report"]
