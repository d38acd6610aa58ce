"""Exports in, snapshots out: the readers behind ``recondiff ingest`` and compare's inputs."""
