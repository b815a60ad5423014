SET lock_timeout = '5s';
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_id_2f3f4ef7_idx ON public.orders USING btree (customer_id);
-- name: public.orders_customer_id_2f3f4ef7_idx
SELECT indexrelid::regclass, indisvalid FROM pg_index WHERE indexrelid = 'public.orders_customer_id_2f3f4ef7_idx'::regclass;
-- Every row must show indisvalid = true. An invalid index (a CONCURRENTLY build that failed or was
-- cancelled) is not used but still slows writes: drop it with DROP INDEX CONCURRENTLY IF EXISTS <name>;
-- then run the script again. lock_timeout also bounds a concurrent build's waits for transactions
-- older than it, on any table: a build fails with "canceling statement due to lock timeout" while a
-- long report or pg_dump runs, so run it again once that has finished.
