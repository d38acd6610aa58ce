"""``recondiff.toml``: loading and validating a run's configuration (docs/config.md)."""
