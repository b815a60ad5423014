SET lock_timeout = '5s';
CREATE INDEX IF NOT EXISTS events_account_id_at_92f0a929_idx ON ONLY public.events USING btree (account_id, at DESC);
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_2024_account_id_at_e1d27b9b_idx ON public.events_2024 USING btree (account_id, at DESC);
ALTER INDEX public.events_account_id_at_92f0a929_idx ATTACH PARTITION public.events_2024_account_id_at_e1d27b9b_idx;
CREATE INDEX IF NOT EXISTS events_2025_account_id_at_eecfa448_idx ON ONLY public.events_2025 USING btree (account_id, at DESC);
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_2025_h1_account_id_at_2eb0f256_idx ON public.events_2025_h1 USING btree (account_id, at DESC);
ALTER INDEX public.events_2025_account_id_at_eecfa448_idx ATTACH PARTITION public.events_2025_h1_account_id_at_2eb0f256_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_2025_h2_account_id_at_feb216ea_idx ON public.events_2025_h2 USING btree (account_id, at DESC);
ALTER INDEX public.events_2025_account_id_at_eecfa448_idx ATTACH PARTITION public.events_2025_h2_account_id_at_feb216ea_idx;
ALTER INDEX public.events_account_id_at_92f0a929_idx ATTACH PARTITION public.events_2025_account_id_at_eecfa448_idx;
-- name: public.events_account_id_at_92f0a929_idx
SELECT indexrelid::regclass, indisvalid FROM pg_index WHERE indexrelid IN ('public.events_account_id_at_92f0a929_idx'::regclass, 'public.events_2024_account_id_at_e1d27b9b_idx'::regclass, 'public.events_2025_account_id_at_eecfa448_idx'::regclass, 'public.events_2025_h1_account_id_at_2eb0f256_idx'::regclass, 'public.events_2025_h2_account_id_at_feb216ea_idx'::regclass);
-- Every row must show indisvalid = true. An invalid index (a CONCURRENTLY build that failed or was
-- cancelled) is not used but still slows writes: drop it with DROP INDEX CONCURRENTLY IF EXISTS <name>;
-- then run the script again. The parent index is valid once every partition's index is attached:
-- running the script again creates and attaches whatever is missing. A partition's invalid index
-- that is attached already cannot be dropped alone: drop the parent's, which takes the partitions'
-- with it (SET lock_timeout = '5s'; DROP INDEX public.events_account_id_at_92f0a929_idx;), then run the script again.
