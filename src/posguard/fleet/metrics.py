"""Prometheus metrics of the fleet service (exposed at ``/metrics``).

Under ``posguard fleet serve --workers N`` the supervisor sets ``PROMETHEUS_MULTIPROC_DIR``
before it starts the workers, so each writes its values to files there and any worker's
``/metrics`` answers the sum over all of them (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter(
    "posguard_fleet_events_total", "Telemetry events handled by ingest", ["transport", "outcome"]
)
MQTT_MALFORMED = Counter(
    "posguard_fleet_mqtt_malformed_total",
    "MQTT messages dropped as malformed or refused",
    ["reason"],
)
INCIDENTS = Counter("posguard_fleet_incidents_total", "Incident transitions", ["transition"])
COMMANDS_SENT = Counter(
    "posguard_fleet_commands_sent_total", "Remote commands handed to terminals", ["via"]
)
# one diagnoser per database (worker 0 under serve --workers): across processes, the max
DIAGNOSIS_LAG = Gauge(
    "posguard_fleet_diagnosis_lag_seconds",
    "Age of the newest event diagnosed",
    multiprocess_mode="max",
)
INGEST_SECONDS = Histogram(
    "posguard_fleet_ingest_batch_seconds",
    "Time to validate and store one ingest batch",
    ["transport"],
)
