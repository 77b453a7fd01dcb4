"""Receipt printing: pure renderer, printer ports with real ESC/POS status, durable print queue."""
