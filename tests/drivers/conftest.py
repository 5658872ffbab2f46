"""Fixtures for the driver tests: the lab maker of tests/lab (simulated devices)."""

from tests.lab.conftest import make_lab

__all__ = ["make_lab"]
