"""Predictive maintenance: which terminal to visit before it fails, and why.

``series`` turns heartbeat wear counters into counts per day, ``stats`` holds the two
statistics (Theil–Sen trend, CUSUM change point), ``components`` says which counters speak
for which part, ``score`` makes the explainable risk, ``explain`` writes it in zh/en,
``reader`` reads counters, incidents and visits from the fleet's store, ``visits`` records
what a technician found against a prediction, ``visit_list`` ranks the terminals per area.
"""
