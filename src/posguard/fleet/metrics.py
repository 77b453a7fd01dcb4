"""Prometheus metrics of the fleet service (exposed at ``/metrics``; an ``mqtt-worker`` exposes
its own with ``--metrics-port``).

Under ``posguard fleet serve --workers N`` the supervisor sets ``PROMETHEUS_MULTIPROC_DIR``
before it starts the workers, so each writes its values to files there and any worker's
``/metrics`` answers the sum over all of them (prometheus_client's multiprocess mode). Gauges
use the ``live*`` modes: a dead worker's values are dropped when the supervisor marks it dead,
never kept as a frozen, healthy-looking figure.

Liveness goes stale visibly: a loop's heartbeat is a wall-clock timestamp, so a loop that stops
beating shows a growing ``time() - posguard_fleet_loop_heartbeat_timestamp_seconds`` (see
``deploy/prometheus/alerts.yml``), whatever process it lived in.
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
# one diagnoser per database (worker 0 under serve --workers): across live processes, the max
DIAGNOSIS_LAG = Gauge(
    "posguard_fleet_diagnosis_lag_seconds",
    "Age of the newest event diagnosed in the last step (0: nothing was waiting)",
    multiprocess_mode="livemax",
)
INGEST_SECONDS = Histogram(
    "posguard_fleet_ingest_batch_seconds",
    "Time to validate and store one ingest batch",
    ["transport"],
)

# --- supervised loops (posguard.fleet.supervise) -------------------------------------------
LOOP_HEARTBEAT = Gauge(
    "posguard_fleet_loop_heartbeat_timestamp_seconds",
    "Wall-clock time of the loop's last completed round (UNIX seconds)",
    ["loop"],
    multiprocess_mode="livemax",
)
LOOP_STALE_AFTER = Gauge(
    "posguard_fleet_loop_stale_after_seconds",
    "Heartbeat age beyond which the loop counts as dead",
    ["loop"],
    multiprocess_mode="livemax",
)
LOOP_UP = Gauge(
    "posguard_fleet_loop_up",
    "1 while the loop runs and beats, 0 while it is failing or stopped",
    ["loop"],
    multiprocess_mode="livemax",
)
LOOP_FAILURES = Counter(
    "posguard_fleet_loop_failures_total", "Rounds of a loop that raised", ["loop", "error"]
)

# --- MQTT ingest workers (one label value per worker: its client id) -------------------------
MQTT_EVENTS = Counter(
    "posguard_fleet_mqtt_events_total",
    "Events a worker took from the broker, by outcome (received, stored, duplicate, rejected)",
    ["worker", "outcome"],
)
MQTT_REJECTED = Counter(
    "posguard_fleet_mqtt_rejected_total", "Events a worker dropped, by reason", ["worker", "reason"]
)
MQTT_BATCH_SECONDS = Histogram(
    "posguard_fleet_mqtt_batch_seconds",
    "Time to decode and store one MQTT batch",
    ["worker"],
)
MQTT_CONNECTED = Gauge(
    "posguard_fleet_mqtt_connected",
    "1 while the worker is connected and subscribed",
    ["worker"],
    multiprocess_mode="livemax",
)

# --- database ---------------------------------------------------------------------------
DB_ERRORS = Counter(
    "posguard_fleet_db_errors_total", "Database calls that raised, by error class", ["error"]
)
DB_POOL_IN_USE = Gauge(
    "posguard_fleet_db_pool_connections_in_use",
    "Pooled database connections checked out",
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    "posguard_fleet_db_pool_size",
    "Configured size of the connection pool",
    multiprocess_mode="livesum",
)

# --- HTTP -----------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "posguard_fleet_http_requests_total",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "posguard_fleet_http_request_seconds",
    "Time from request to the end of the response",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# --- process (multiprocess mode has no process collector of its own) ------------------------
PROCESS_RSS = Gauge(
    "posguard_fleet_process_resident_memory_bytes",
    "Resident memory of the process",
    multiprocess_mode="liveall",
)
PROCESS_CPU = Gauge(
    "posguard_fleet_process_cpu_seconds",
    "User and system CPU time the process has used",
    multiprocess_mode="liveall",
)
PROCESS_FDS = Gauge(
    "posguard_fleet_process_open_fds", "Open file descriptors", multiprocess_mode="liveall"
)
PROCESS_START = Gauge(
    "posguard_fleet_process_start_time_seconds",
    "Start time of the process (UNIX seconds)",
    multiprocess_mode="liveall",
)
