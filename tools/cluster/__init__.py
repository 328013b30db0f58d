"""A local control plane for watching this repository sync: `make cluster`, `make cluster-down`, the live tests.

What in it is real and what is simulated is listed once, in README.md ("A local control plane"): the simulated
charts are `served_repo.py`'s, the simulated controllers the `fake_controllers` package.
"""
