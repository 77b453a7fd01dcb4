"""Prometheus counters of notification delivery (served with the fleet's ``/metrics``; kept
here so the notification code stays in one package)."""

from __future__ import annotations

from prometheus_client import Counter

NOTIFICATIONS = Counter(
    "posguard_fleet_notifications_total",
    "Outbox rows by channel and outcome (sent, retry, failed, suppressed, rate_limited)",
    ["channel", "outcome"],
)
MESSAGES = Counter(
    "posguard_fleet_notification_messages_total",
    "Messages sent (a storm digest is one message for many rows)",
    ["channel"],
)
