"""Telemetry agent: durable outbox, publishers (MQTT, HTTP), remote commands."""
