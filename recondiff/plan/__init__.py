"""The action plan: building it from a run, its file, and its LDIF export (docs/plan.md)."""
