"""The terminal runtime: link to the host, transaction engine, journal, printer, watchdog, agent."""
