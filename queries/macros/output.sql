-- How values leave recondiff: CSV cells and the report's cut of long values.

-- A CSV cell a spreadsheet will not run as a formula (recondiff/io/csvsafe.py has
-- the same rule): a value beginning with = + - @ TAB CR or ' gets one ' in
-- front; dropping one leading ' from every cell that has one restores it.
-- Spelled with contains(), not IN (...): DuckDB turns an IN list into a join,
-- and a COPY whose query joins writes its CSV in the order its threads finish;
-- without one, DuckDB writes it in parallel and in order (results/situations_csv.sql).
-- A NUL character (refused in CSV and LDIF exports, possible in a Parquet or
-- JSON Lines one) is written as U+2400 (the symbol for NUL): a raw NUL cuts
-- the cell short in C-based tools and spreadsheets.
CREATE OR REPLACE MACRO rd_no_nul(v) AS
    CASE WHEN contains(v, chr(0)) THEN replace(v, chr(0), chr(9216)) ELSE v END;
CREATE OR REPLACE MACRO rd_csv_cell(v) AS
    CASE WHEN v <> '' AND contains('=+-@''' || chr(9) || chr(13), left(v, 1))
         THEN '''' || v ELSE v END;
CREATE OR REPLACE MACRO rd_csv(v) AS rd_csv_cell(rd_no_nul(v));

-- A value as the report shows it (queries/report/*.sql; recondiff/report/values.py
-- shown() is the same rule for what the page takes from plan.json): a value of
-- more than 300 characters is cut to its first 200, followed by its length and
-- where the whole value is, so that one huge cell never reaches Python or the
-- page; NUL as in rd_csv. strlen (bytes) is never less than length
-- (characters): the common short value costs one comparison.
CREATE OR REPLACE MACRO rd_shown(v) AS
    CASE WHEN strlen(v) <= 300 OR length(v) <= 300 THEN rd_no_nul(v)
         ELSE rd_no_nul(left(v, 200)) || '… [' || format('{:,}', length(v))
              || ' characters; the whole value is in the CSV files or the snapshot]' END;
