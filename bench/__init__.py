"""Benchmarks: the studio against the bare tools it drives, each figure a ratio of two things
measured in the same invocation (`make bench`, or `python -m bench --help`)."""
