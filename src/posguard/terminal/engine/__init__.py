"""The transaction engine: a context passed through small participants (prepare/commit/abort)."""
