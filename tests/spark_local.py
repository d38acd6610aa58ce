"""A local Spark session for the spark tests (marker ``spark``): Spark
``local[2]`` in this process, started once per test module.

Needs pyspark (the test extra) and Java (Debian's default-jre-headless,
installed by scripts/test): skips without them, fails on CI
(RECONDIFF_REQUIRE_SYSTEM=1)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from recondiff.engine import spark_run
from tests.conftest import require_system

MASTER = "local[2]"
# Tiny tables: two shuffle partitions, not Spark's 200 (each an empty task).
SETTINGS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.session.timeZone": "UTC",
    # as recondiff starts a local Spark (engine/spark_run.DRIVER_MEMORY): large
    # plans outgrow the default 1g (an OutOfMemoryError on compare-uac-flags
    # when the macros were all expanded inline)
    "spark.driver.memory": "3g",
}


def has_java() -> bool:
    """Java as pyspark finds it: $JAVA_HOME/bin/java, else java on the PATH."""
    home = os.environ.get("JAVA_HOME")
    return Path(home, "bin", "java").is_file() if home else shutil.which("java") is not None


@contextmanager
def local_spark(app: str) -> Iterator[Any]:
    require_system("pyspark (the test extra)", importlib.util.find_spec("pyspark") is not None)
    require_system("Java (Debian package default-jre-headless)", has_java())
    from pyspark.sql import SparkSession

    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYSPARK_PYTHON", os.environ.get("PYSPARK_PYTHON", sys.executable))
        # Spark's Java logging as a run has it (errors only, engine/spark_run.open_spark)
        log4j = Path(spark_run.__file__).with_name("spark-log4j2.properties")
        env.setenv(
            "PYSPARK_SUBMIT_ARGS",
            f'--driver-java-options "-Dlog4j2.configurationFile={log4j.as_uri()}" pyspark-shell',
        )
        builder = SparkSession.builder.master(MASTER).appName(app)
        for key, value in SETTINGS.items():
            builder = builder.config(key, value)
        # not ./spark-warehouse in the checkout (Spark makes it for the functions)
        warehouse = Path(tempfile.mkdtemp(prefix="recondiff-spark-warehouse-"))
        builder = builder.config("spark.sql.warehouse.dir", str(warehouse))
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        try:
            yield session
        finally:
            session.stop()
            shutil.rmtree(warehouse, ignore_errors=True)
