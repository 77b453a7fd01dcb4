"""Telemetry ingest: one validating, idempotent store path shared by HTTP and MQTT."""
