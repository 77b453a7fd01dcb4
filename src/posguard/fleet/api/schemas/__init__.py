"""API schemas as families: ``XBase`` (shared fields), ``XCreate`` (input), ``XPublic`` (output)."""
