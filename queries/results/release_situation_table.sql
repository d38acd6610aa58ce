-- situations.parquet, just written, holds everything the plan and the report
-- need of the situation table (the records on both sides included); dropped
-- now, the table (one row per record) leaves the memory to them.
DROP TABLE situation;
