"""posguard benchmarks: each `bench_<topic>.py` compares against a baseline measured in the same run."""
