-- [engine] kind = "spark" (recondiff/engine/spark_run.py): a table the Spark
-- steps made, read into DuckDB from the Parquet files Spark wrote of it in the
-- run's work directory, in the order they were written (a table with an order,
-- engine/steps.HAND_OVER, was written sorted: its files are in that order, and
-- so are their rows). The steps after engine/steps.SPARK_STEPS read it here.
CREATE OR REPLACE TEMP TABLE {{table}} AS
SELECT * FROM read_parquet($files);
