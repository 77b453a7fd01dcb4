"""Virtual terminals and fleets for the demo, the benchmarks and the scale simulation."""
