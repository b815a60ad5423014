SET lock_timeout = '5s';
SET statement_timeout = 0;
CREATE INDEX IF NOT EXISTS events_kind_idx ON ONLY public.events USING btree (kind);
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_2024_kind_idx ON public.events_2024 USING btree (kind);
DO $ddl$BEGIN
  IF NOT EXISTS (SELECT FROM pg_index WHERE indisvalid AND indexrelid = to_regclass('public.events_2024_kind_idx')) THEN
    RAISE EXCEPTION USING MESSAGE = 'index public.events_2024_kind_idx is missing or invalid (its build failed): not attached; see the verify query';
  END IF;
  ALTER INDEX public.events_kind_idx ATTACH PARTITION public.events_2024_kind_idx;
END$ddl$;
CREATE INDEX IF NOT EXISTS events_2025_kind_idx ON ONLY public.events_2025 USING btree (kind);
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_2025_h1_kind_idx ON public.events_2025_h1 USING btree (kind);
DO $ddl$BEGIN
  IF NOT EXISTS (SELECT FROM pg_index WHERE indisvalid AND indexrelid = to_regclass('public.events_2025_h1_kind_idx')) THEN
    RAISE EXCEPTION USING MESSAGE = 'index public.events_2025_h1_kind_idx is missing or invalid (its build failed): not attached; see the verify query';
  END IF;
  ALTER INDEX public.events_2025_kind_idx ATTACH PARTITION public.events_2025_h1_kind_idx;
END$ddl$;
DO $ddl$BEGIN
  IF NOT EXISTS (SELECT FROM pg_index WHERE indisvalid AND indexrelid = to_regclass('public.h2_kind_by_hand')) THEN
    RAISE EXCEPTION USING MESSAGE = 'index public.h2_kind_by_hand is missing or invalid (its build failed): not attached; see the verify query';
  END IF;
  ALTER INDEX public.events_2025_kind_idx ATTACH PARTITION public.h2_kind_by_hand;
END$ddl$;
DO $ddl$BEGIN
  IF NOT EXISTS (SELECT FROM pg_index WHERE indisvalid AND indexrelid = to_regclass('public.events_2025_kind_idx')) THEN
    RAISE EXCEPTION USING MESSAGE = 'index public.events_2025_kind_idx is missing or invalid (its build failed): not attached; see the verify query';
  END IF;
  ALTER INDEX public.events_kind_idx ATTACH PARTITION public.events_2025_kind_idx;
END$ddl$;
-- name: public.events_kind_idx
SELECT name AS index, i.indisvalid AS valid FROM unnest(ARRAY['public.events_kind_idx', 'public.events_2024_kind_idx', 'public.events_2025_kind_idx', 'public.events_2025_h1_kind_idx', 'public.h2_kind_by_hand']) AS name LEFT JOIN pg_index i ON i.indexrelid = to_regclass(name);
-- Every row must show valid = true. NULL means the index does not exist: its build failed before
-- creating it, so run the script again. An invalid index (a CONCURRENTLY build that failed or was
-- cancelled) is not used but still slows writes: drop it with DROP INDEX CONCURRENTLY IF EXISTS <name>;
-- then run the script again. lock_timeout also bounds a concurrent build's waits for transactions
-- older than it, on any table: a build fails with "canceling statement due to lock timeout" while a
-- long report or pg_dump runs, so run it again once that has finished.
-- The parent index is valid once every partition's index is attached; the script attaches only
-- valid ones (an attached invalid index could not be dropped alone), and running it again creates
-- and attaches whatever is missing.
