-- Identity policies: the granted values of the list columns one compare kind
-- normalises (the rd_* macro of the [[attribute]] that maps them,
-- queries/macros/kinds.sql), normalised once for every pass to bind: the
-- macro is expanded once, not once per policy.
SELECT list_transform($values::VARCHAR[][], lambda l: list_transform(l, lambda x: {{element}}(x)));
