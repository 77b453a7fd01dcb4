"""Diagnosis: rules as data (YAML), evaluated per terminal and across the fleet."""
