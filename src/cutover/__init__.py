"""cutover: orchestrate risky traffic migrations with probes and automatic rollback."""

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
