-- Kong 3.9's PostgreSQL schema for the tables `oauth2-password import-kong`
-- reads: consumers, oauth2_credentials, oauth2_tokens, with what they
-- depend on (workspaces, services, the sync_tags and
-- batch_delete_expired_rows trigger functions). Every statement is the one
-- Kong 3.9.1's migrations run on a new database, in their order, taken from:
--
--   kong/db/migrations/core/000_base.lua            services, consumers
--   kong/db/migrations/core/003_100_to_110.lua      tags, sync_tags()
--   kong/db/migrations/core/009_200_to_210.lua      workspaces, ws_id
--     (rendered by kong/db/migrations/operations/200_to_210.lua:
--      ws_add_workspaces, ws_add_ws_id, ws_unique_field, ws_adjust_foreign_key)
--   kong/db/migrations/core/019_320_to_330.lua      consumers.updated_at,
--                                                   batch_delete_expired_rows()
--   kong/plugins/oauth2/migrations/000_base_oauth2.lua
--   kong/plugins/oauth2/migrations/003_130_to_140.lua
--   kong/plugins/oauth2/migrations/004_200_to_210.lua (client_type, hash_secret, ws_id)
--   kong/plugins/oauth2/migrations/006_320_to_330.lua (ttl triggers)
--
-- Columns of services and workspaces that no oauth2 table refers to are left
-- out (they only grow those two tables); the DO … EXCEPTION guards Kong wraps
-- around each step for re-runs are dropped, since this runs once on an empty
-- database. oauth2_authorization_codes is left out: nothing is imported from it.

-- core/000_base.lua
CREATE TABLE IF NOT EXISTS "services" (
  "id"               UUID                       PRIMARY KEY,
  "created_at"       TIMESTAMP WITH TIME ZONE,
  "updated_at"       TIMESTAMP WITH TIME ZONE,
  "name"             TEXT                       UNIQUE,
  "retries"          BIGINT,
  "protocol"         TEXT,
  "host"             TEXT,
  "port"             BIGINT,
  "path"             TEXT,
  "connect_timeout"  BIGINT,
  "write_timeout"    BIGINT,
  "read_timeout"     BIGINT
);

CREATE TABLE IF NOT EXISTS "consumers" (
  "id"          UUID                         PRIMARY KEY,
  "created_at"  TIMESTAMP WITH TIME ZONE     DEFAULT (CURRENT_TIMESTAMP(0) AT TIME ZONE 'UTC'),
  "username"    TEXT                         UNIQUE,
  "custom_id"   TEXT                         UNIQUE
);
CREATE INDEX IF NOT EXISTS "consumers_username_idx" ON "consumers" (LOWER("username"));

-- core/003_100_to_110.lua
CREATE TABLE IF NOT EXISTS "tags" (
  entity_id         UUID    PRIMARY KEY,
  entity_name       TEXT,
  tags              TEXT[]
);
CREATE INDEX IF NOT EXISTS tags_entity_name_idx ON tags(entity_name);
CREATE INDEX IF NOT EXISTS tags_tags_idx ON tags USING GIN(tags);

CREATE OR REPLACE FUNCTION sync_tags() RETURNS trigger
LANGUAGE plpgsql
AS $$
  BEGIN
    IF (TG_OP = 'TRUNCATE') THEN
      DELETE FROM tags WHERE entity_name = TG_TABLE_NAME;
      RETURN NULL;
    ELSIF (TG_OP = 'DELETE') THEN
      DELETE FROM tags WHERE entity_id = OLD.id;
      RETURN OLD;
    ELSE
    INSERT INTO tags VALUES (NEW.id, TG_TABLE_NAME, NEW.tags)
    ON CONFLICT (entity_id) DO UPDATE
            SET tags=EXCLUDED.tags;
    END IF;
    RETURN NEW;
  END;
$$;

ALTER TABLE IF EXISTS ONLY services ADD tags TEXT[];
ALTER TABLE IF EXISTS ONLY consumers ADD tags TEXT[];
CREATE INDEX IF NOT EXISTS consumers_tags_idx ON consumers USING GIN(tags);
CREATE TRIGGER consumers_sync_tags_trigger
AFTER INSERT OR UPDATE OF tags OR DELETE ON consumers
FOR EACH ROW
EXECUTE PROCEDURE sync_tags();

-- core/009_200_to_210.lua: ws_add_workspaces, then ws_adjust_fields for
-- consumers (uniques username, custom_id) and services (unique name)
CREATE TABLE IF NOT EXISTS "workspaces" (
  "id"         UUID                       PRIMARY KEY,
  "name"       TEXT                       UNIQUE,
  "comment"    TEXT,
  "created_at" TIMESTAMP WITH TIME ZONE   DEFAULT (CURRENT_TIMESTAMP(0) AT TIME ZONE 'UTC'),
  "meta"       JSONB,
  "config"     JSONB
);
INSERT INTO workspaces(id, name)
VALUES ('dde1a96f-1d2f-41dc-bcc3-2c393ec42c65', 'default') ON CONFLICT DO NOTHING;

ALTER TABLE IF EXISTS ONLY "consumers" ADD "ws_id" UUID REFERENCES "workspaces" ("id") DEFAULT 'dde1a96f-1d2f-41dc-bcc3-2c393ec42c65';
ALTER TABLE IF EXISTS ONLY "consumers" ADD CONSTRAINT "consumers_id_ws_id_unique" UNIQUE ("id", "ws_id");
ALTER TABLE IF EXISTS ONLY "consumers" DROP CONSTRAINT IF EXISTS "consumers_username_key";
ALTER TABLE IF EXISTS ONLY "consumers" ADD CONSTRAINT "consumers_ws_id_username_unique" UNIQUE ("ws_id", "username");
ALTER TABLE IF EXISTS ONLY "consumers" DROP CONSTRAINT IF EXISTS "consumers_custom_id_key";
ALTER TABLE IF EXISTS ONLY "consumers" ADD CONSTRAINT "consumers_ws_id_custom_id_unique" UNIQUE ("ws_id", "custom_id");

ALTER TABLE IF EXISTS ONLY "services" ADD "ws_id" UUID REFERENCES "workspaces" ("id") DEFAULT 'dde1a96f-1d2f-41dc-bcc3-2c393ec42c65';
ALTER TABLE IF EXISTS ONLY "services" ADD CONSTRAINT "services_id_ws_id_unique" UNIQUE ("id", "ws_id");
ALTER TABLE IF EXISTS ONLY "services" DROP CONSTRAINT IF EXISTS "services_name_key";
ALTER TABLE IF EXISTS ONLY "services" ADD CONSTRAINT "services_ws_id_name_unique" UNIQUE ("ws_id", "name");

-- core/019_320_to_330.lua
ALTER TABLE IF EXISTS ONLY "consumers" ADD "updated_at" TIMESTAMP WITH TIME ZONE DEFAULT (CURRENT_TIMESTAMP(0) AT TIME ZONE 'UTC');

CREATE OR REPLACE FUNCTION batch_delete_expired_rows() RETURNS trigger
LANGUAGE plpgsql
AS $$
  BEGIN
    EXECUTE FORMAT('WITH rows AS (SELECT ctid FROM %s WHERE %s < CURRENT_TIMESTAMP AT TIME ZONE ''UTC'' ORDER BY %s LIMIT 2 FOR UPDATE SKIP LOCKED) DELETE FROM %s WHERE ctid IN (TABLE rows)', TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[0], TG_TABLE_NAME);
    RETURN NULL;
  END;
$$;

-- plugins/oauth2/migrations/000_base_oauth2.lua
CREATE TABLE IF NOT EXISTS "oauth2_credentials" (
  "id"             UUID                         PRIMARY KEY,
  "created_at"     TIMESTAMP WITH TIME ZONE     DEFAULT (CURRENT_TIMESTAMP(0) AT TIME ZONE 'UTC'),
  "name"           TEXT,
  "consumer_id"    UUID                         REFERENCES "consumers" ("id") ON DELETE CASCADE,
  "client_id"      TEXT                         UNIQUE,
  "client_secret"  TEXT,
  "redirect_uris"  TEXT[]
);
CREATE INDEX IF NOT EXISTS "oauth2_credentials_consumer_id_idx" ON "oauth2_credentials" ("consumer_id");
CREATE INDEX IF NOT EXISTS "oauth2_credentials_secret_idx" ON "oauth2_credentials" ("client_secret");

CREATE TABLE IF NOT EXISTS "oauth2_tokens" (
  "id"                    UUID                         PRIMARY KEY,
  "created_at"            TIMESTAMP WITH TIME ZONE     DEFAULT (CURRENT_TIMESTAMP(0) AT TIME ZONE 'UTC'),
  "credential_id"         UUID                         REFERENCES "oauth2_credentials" ("id") ON DELETE CASCADE,
  "service_id"            UUID                         REFERENCES "services" ("id") ON DELETE CASCADE,
  "access_token"          TEXT                         UNIQUE,
  "refresh_token"         TEXT                         UNIQUE,
  "token_type"            TEXT,
  "expires_in"            INTEGER,
  "authenticated_userid"  TEXT,
  "scope"                 TEXT,
  "ttl"                   TIMESTAMP WITH TIME ZONE
);
CREATE INDEX IF NOT EXISTS "oauth2_tokens_authenticated_userid_idx" ON "oauth2_tokens" ("authenticated_userid");
CREATE INDEX IF NOT EXISTS "oauth2_tokens_credential_id_idx" ON "oauth2_tokens" ("credential_id");
CREATE INDEX IF NOT EXISTS "oauth2_tokens_service_id_idx" ON "oauth2_tokens" ("service_id");

-- plugins/oauth2/migrations/003_130_to_140.lua
ALTER TABLE IF EXISTS ONLY oauth2_credentials ADD tags TEXT[];
CREATE INDEX IF NOT EXISTS oauth2_credentials_tags_idex_tags_idx ON oauth2_credentials USING GIN(tags);
CREATE TRIGGER oauth2_credentials_sync_tags_trigger
AFTER INSERT OR UPDATE OF tags OR DELETE ON oauth2_credentials
FOR EACH ROW
EXECUTE PROCEDURE sync_tags();
CREATE INDEX IF NOT EXISTS oauth2_tokens_ttl_idx ON oauth2_tokens (ttl);

-- plugins/oauth2/migrations/004_200_to_210.lua: new columns, then
-- ws_adjust_fields for oauth2_credentials (unique client_id, fk consumer)
-- and oauth2_tokens (uniques access_token, refresh_token, fks service,
-- credential)
ALTER TABLE IF EXISTS ONLY "oauth2_credentials" ADD "client_type" TEXT;
ALTER TABLE IF EXISTS ONLY oauth2_credentials ADD hash_secret BOOLEAN;

ALTER TABLE IF EXISTS ONLY "oauth2_credentials" ADD "ws_id" UUID REFERENCES "workspaces" ("id") DEFAULT 'dde1a96f-1d2f-41dc-bcc3-2c393ec42c65';
ALTER TABLE IF EXISTS ONLY "oauth2_credentials" ADD CONSTRAINT "oauth2_credentials_id_ws_id_unique" UNIQUE ("id", "ws_id");
ALTER TABLE IF EXISTS ONLY "oauth2_credentials" DROP CONSTRAINT IF EXISTS "oauth2_credentials_consumer_id_fkey";
ALTER TABLE IF EXISTS ONLY "oauth2_credentials"
            ADD CONSTRAINT "oauth2_credentials_consumer_id_fkey"
               FOREIGN KEY ("consumer_id", "ws_id")
                REFERENCES consumers("id", "ws_id") ON DELETE CASCADE;
ALTER TABLE IF EXISTS ONLY "oauth2_credentials" DROP CONSTRAINT IF EXISTS "oauth2_credentials_client_id_key";
ALTER TABLE IF EXISTS ONLY "oauth2_credentials" ADD CONSTRAINT "oauth2_credentials_ws_id_client_id_unique" UNIQUE ("ws_id", "client_id");

ALTER TABLE IF EXISTS ONLY "oauth2_tokens" ADD "ws_id" UUID REFERENCES "workspaces" ("id") DEFAULT 'dde1a96f-1d2f-41dc-bcc3-2c393ec42c65';
ALTER TABLE IF EXISTS ONLY "oauth2_tokens" ADD CONSTRAINT "oauth2_tokens_id_ws_id_unique" UNIQUE ("id", "ws_id");
ALTER TABLE IF EXISTS ONLY "oauth2_tokens" DROP CONSTRAINT IF EXISTS "oauth2_tokens_service_id_fkey";
ALTER TABLE IF EXISTS ONLY "oauth2_tokens"
            ADD CONSTRAINT "oauth2_tokens_service_id_fkey"
               FOREIGN KEY ("service_id", "ws_id")
                REFERENCES services("id", "ws_id") ON DELETE CASCADE;
ALTER TABLE IF EXISTS ONLY "oauth2_tokens" DROP CONSTRAINT IF EXISTS "oauth2_tokens_credential_id_fkey";
ALTER TABLE IF EXISTS ONLY "oauth2_tokens"
            ADD CONSTRAINT "oauth2_tokens_credential_id_fkey"
               FOREIGN KEY ("credential_id", "ws_id")
                REFERENCES oauth2_credentials("id", "ws_id") ON DELETE CASCADE;
ALTER TABLE IF EXISTS ONLY "oauth2_tokens" DROP CONSTRAINT IF EXISTS "oauth2_tokens_access_token_key";
ALTER TABLE IF EXISTS ONLY "oauth2_tokens" ADD CONSTRAINT "oauth2_tokens_ws_id_access_token_unique" UNIQUE ("ws_id", "access_token");
ALTER TABLE IF EXISTS ONLY "oauth2_tokens" DROP CONSTRAINT IF EXISTS "oauth2_tokens_refresh_token_key";
ALTER TABLE IF EXISTS ONLY "oauth2_tokens" ADD CONSTRAINT "oauth2_tokens_ws_id_refresh_token_unique" UNIQUE ("ws_id", "refresh_token");

-- ws_update_keys (004_200_to_210.lua's teardown): the default goes once
-- existing rows are filled; Kong's DAO always writes ws_id itself.
ALTER TABLE IF EXISTS ONLY "consumers" ALTER "ws_id" SET DEFAULT NULL;
ALTER TABLE IF EXISTS ONLY "services" ALTER "ws_id" SET DEFAULT NULL;
ALTER TABLE IF EXISTS ONLY "oauth2_credentials" ALTER "ws_id" SET DEFAULT NULL;
ALTER TABLE IF EXISTS ONLY "oauth2_tokens" ALTER "ws_id" SET DEFAULT NULL;

-- plugins/oauth2/migrations/006_320_to_330.lua
CREATE TRIGGER "oauth2_tokens_ttl_trigger"
AFTER INSERT ON "oauth2_tokens"
FOR EACH STATEMENT
EXECUTE PROCEDURE batch_delete_expired_rows("ttl");
