"""Exploring live sources into snapshots (docs/explore.md): the attributes a
config needs (:mod:`~recondiff.explore.attributes`), one side read
(:mod:`~recondiff.explore.side`), compare's sources (:mod:`~recondiff.explore.sources`)
and the high-water marks of incremental runs (:mod:`~recondiff.explore.state`).

Layer: beside ``recondiff.engine`` (``plan > engine | explore > history | ingest |
config``): it reads through ``recondiff.ingest`` and records in ``recondiff.history``;
compare calls it first.
"""

from recondiff.explore.attributes import needed_attributes
from recondiff.explore.side import Explored, delta_of, explore_side
from recondiff.explore.sources import ExploreOptions, Sources, explore_config, explore_sources

__all__ = [
    "ExploreOptions",
    "Explored",
    "Sources",
    "delta_of",
    "explore_config",
    "explore_side",
    "explore_sources",
    "needed_attributes",
]
