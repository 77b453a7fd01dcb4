"""Keyword-only repository functions over the fleet tables, one module per resource."""
