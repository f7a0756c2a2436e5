-- Token indexes that stay small at 10^7 rows (see docs/storage.md).
--
-- Every token lookup is an equality on a random value (a 32-byte digest, a
-- family id, a user id), never a range or an order: a hash index answers
-- it with a 4-byte hash code per row (30 bytes a row measured, against
-- 76-78 for the B-trees it replaces, which hold the whole key). Uniqueness
-- of the digests stays enforced, by exclusion constraints over hash
-- indexes; INSERT … ON CONFLICT DO NOTHING (no conflict target) still
-- skips a taken digest. Written to run again over itself (a schema taken
-- back to an older version and migrated forward).
ALTER TABLE tokens DROP CONSTRAINT IF EXISTS tokens_pkey;
ALTER TABLE tokens DROP CONSTRAINT IF EXISTS tokens_access_digest_excl;
ALTER TABLE tokens ADD CONSTRAINT tokens_access_digest_excl
    EXCLUDE USING hash (access_digest WITH =) WITH (fillfactor = 100);
ALTER TABLE tokens DROP CONSTRAINT IF EXISTS tokens_refresh_digest_key;
ALTER TABLE tokens DROP CONSTRAINT IF EXISTS tokens_refresh_digest_excl;
ALTER TABLE tokens ADD CONSTRAINT tokens_refresh_digest_excl
    EXCLUDE USING hash (refresh_digest WITH =) WITH (fillfactor = 100);
DROP INDEX IF EXISTS tokens_family_id_idx;
CREATE INDEX tokens_family_id_idx ON tokens USING hash (family_id) WITH (fillfactor = 100);
DROP INDEX IF EXISTS tokens_authenticated_userid_idx;
CREATE INDEX tokens_authenticated_userid_idx ON tokens USING hash (authenticated_userid) WITH (fillfactor = 100);

-- The purge deletes expired rows all day long: vacuum after 2 % of the
-- table is dead (default 20 %: 2 M dead rows at 10^7), so that the space
-- is reused before the table grows, and keep the planner's statistics as
-- fresh. The change feed is small and churns: vacuum it early too.
ALTER TABLE tokens SET (
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_insert_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02
);
ALTER TABLE token_changes SET (
    autovacuum_vacuum_scale_factor = 0.05,
    autovacuum_vacuum_threshold = 1000
);
