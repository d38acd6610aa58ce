-- Action plan, step 2: the finished situations rows the plan acts on: those
-- whose situation has a response other than do_nothing, and every drifted
-- pair. Read back from situations.parquet (already written, with the key and
-- DN as the endpoint spells them), in its order.
SELECT situation, sync, endpoint_key, endpoint_dn, identity_key, rule, candidates,
       endpoint_record
FROM read_parquet($situations_parquet, file_row_number = true)
WHERE list_contains($situations::VARCHAR[], situation) OR sync = 'drifted'
ORDER BY file_row_number;
