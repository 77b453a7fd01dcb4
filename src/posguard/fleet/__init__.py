"""The fleet service: ingest terminal telemetry, diagnose faults per terminal and across the
fleet, track incidents, send remote commands, and serve the API.

See docs/architecture.md ("Fleet service") for the map of modules.
"""
