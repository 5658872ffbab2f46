"""orch: keep a site's clocks on one time source, and prove it."""

__version__ = "0.1.0"
