"""The link to the acquirer: one channel per exchange, failure classification, breaker, failover."""
