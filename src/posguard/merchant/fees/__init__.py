"""Fee-rate transparency: what each settled transaction should have cost, and where it didn't."""
