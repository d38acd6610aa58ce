"""The plan's event step (queries/plan/events.sql) captured from a DuckDB compare:
its parameters, the tables it reads (as Parquet files) and its rows, for
tests/test_spark_events.py to run the same statement on Spark over the same
tables (issue 21, point 4)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp

from recondiff.engine import steps
from recondiff.io.sqlfiles import load

EVENTS = "plan/events"


def read_tables(name: str = EVENTS) -> list[str]:
    """The tables a query file reads (not its CTEs), in the order named."""
    tree = sqlglot.parse_one(load(name), read="duckdb")
    ctes = {c.alias for c in tree.find_all(exp.CTE)}
    names: list[str] = []
    for table in tree.find_all(exp.Table):
        if table.name and table.name not in ctes and table.name not in names:
            names.append(table.name)
    return names


@dataclass
class Captured:
    params: dict[str, Any] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    tables: dict[str, Path] = field(default_factory=dict)  # name -> Parquet file
    json_columns: dict[str, list[str]] = field(default_factory=dict)  # DuckDB JSON type


def capture_events(config: Path, outdir: Path, dump: Path) -> Captured:
    """Run a DuckDB compare of ``config`` into ``outdir``; the plan's event step
    as it ran (its tables written under ``dump``)."""
    from recondiff.compare import compare

    captured = Captured()
    original = steps.Session.batches

    def batches(
        self: steps.Session, name: str, params: dict[str, Any], size: int, /, **fills: str
    ) -> Iterator[list[tuple[Any, ...]]]:
        if name != EVENTS:
            yield from original(self, name, params, size, **fills)
            return
        captured.params = json.loads(json.dumps(params))
        dump.mkdir(parents=True, exist_ok=True)
        for table in read_tables():
            path = dump / f"{table}.parquet"
            # (the run's connection may write only its own outputs: through Arrow)
            pq.write_table(self.con.sql(f"SELECT * FROM {table}").to_arrow_table(), path)
            captured.tables[table] = path
            kinds = self.con.execute(f"DESCRIBE {table}").fetchall()
            captured.json_columns[table] = [r[0] for r in kinds if r[1] == "JSON"]
        for batch in original(self, name, params, size, **fills):
            captured.rows += batch
            yield batch

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(steps.Session, "batches", batches)
        compare(config, outdir)
    captured.columns = ["line", "operation", "response", "state", "alert"]
    return captured


def on_spark(spark: Any, captured: Captured, work: Path) -> list[tuple[Any, ...]]:
    """queries/plan/events.sql run on ``spark`` (recondiff.engine.spark_run, every
    macro file expanded) over the captured tables, with the captured
    parameters: its rows. A DuckDB JSON column is Spark's VARIANT (what the
    Spark form of to_json gives: spark_sql.json_is_a_type)."""
    from recondiff.engine.spark_run import Macros, SparkRunner
    from recondiff.io.sqlfiles import MACROS, render

    runner = SparkRunner(spark, work, Macros(MACROS))
    try:
        for table, path in captured.tables.items():
            frame = spark.read.parquet(str(path))
            for column in captured.json_columns.get(table, []):
                frame = frame.withColumn(column, frame[column].cast("string"))
                frame = frame.selectExpr(
                    *[f"parse_json(`{c}`) AS `{c}`" if c == column else f"`{c}`"
                      for c in frame.columns]
                )
            frame.createOrReplaceTempView(table)
            runner.views.add(table)  # a table the statement may read (spark_confine)
        result = runner.run(render(EVENTS), captured.params)
        return [tuple(r) for r in result.fetchall()]
    finally:
        runner.close()
