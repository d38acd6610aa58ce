"""The reconciliation engine: DuckDB steps that stage, classify and find drift (queries/)."""
