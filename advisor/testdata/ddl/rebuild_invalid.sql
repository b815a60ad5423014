SET lock_timeout = '5s';
SET statement_timeout = 0;
DROP INDEX CONCURRENTLY IF EXISTS public.orders_status_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_status_eadf5cf7_idx ON public.orders USING btree (status);
-- name: public.orders_status_eadf5cf7_idx
SELECT name AS index, i.indisvalid AS valid FROM unnest(ARRAY['public.orders_status_eadf5cf7_idx']) AS name LEFT JOIN pg_index i ON i.indexrelid = to_regclass(name);
-- Every row must show valid = true. NULL means the index does not exist: its build failed before
-- creating it, so run the script again. An invalid index (a CONCURRENTLY build that failed or was
-- cancelled) is not used but still slows writes: drop it with DROP INDEX CONCURRENTLY IF EXISTS <name>;
-- then run the script again. lock_timeout also bounds a concurrent build's waits for transactions
-- older than it, on any table: a build fails with "canceling statement due to lock timeout" while a
-- long report or pg_dump runs, so run it again once that has finished.
