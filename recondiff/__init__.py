"""recondiff: reconcile what an identity system believes against what an endpoint holds."""

__version__ = "0.1.0"
