-- situations.csv: candidates joined with ';'.
COPY (SELECT * REPLACE (array_to_string(candidates, ';') AS candidates) FROM situations_out)
TO $path (FORMAT csv, HEADER true);
