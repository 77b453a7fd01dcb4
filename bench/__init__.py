"""posguard benchmarks: each `bench_<topic>.py` has a baseline measured in the same run."""
