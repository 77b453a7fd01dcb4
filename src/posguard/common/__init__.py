"""Pieces shared by every face: the error tree, the telemetry event schema, logging with masking."""
