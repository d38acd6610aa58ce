COPY (SELECT * FROM drift_out) TO $path (FORMAT csv, HEADER true);
