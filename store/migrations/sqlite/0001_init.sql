-- Clients and tokens. Every secret is a raw 32-byte SHA-256 digest; no
-- plaintext secret is ever stored. Times are unix seconds.
CREATE TABLE clients (
    client_id     TEXT PRIMARY KEY NOT NULL,
    secret_digest BLOB NULL CHECK (secret_digest IS NULL OR length(secret_digest) = 32),
    name          TEXT NOT NULL DEFAULT '',
    consumer      TEXT NOT NULL,
    client_type   TEXT NOT NULL CHECK (client_type IN ('confidential', 'public')),
    redirect_uris TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
    created_at    INTEGER NOT NULL
);
CREATE INDEX clients_consumer_idx ON clients (consumer);

CREATE TABLE tokens (
    access_digest        BLOB PRIMARY KEY NOT NULL CHECK (length(access_digest) = 32),
    refresh_digest       BLOB NULL UNIQUE CHECK (refresh_digest IS NULL OR length(refresh_digest) = 32),
    client_id            TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    service_id           TEXT NULL,
    authenticated_userid TEXT NOT NULL DEFAULT '',
    scope                TEXT NOT NULL DEFAULT '',
    issued_at            INTEGER NOT NULL,
    expires_in           INTEGER NOT NULL, -- 0 = never expires
    refresh_expires_at   INTEGER NULL,     -- NULL = never
    family_id            TEXT NOT NULL,
    revoked              INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
    -- After purge_after the row can never be used again (both the access
    -- and the refresh token are expired); NULL = never.
    purge_after          INTEGER NULL
);
CREATE INDEX tokens_family_id_idx ON tokens (family_id);
CREATE INDEX tokens_client_id_idx ON tokens (client_id);
CREATE INDEX tokens_authenticated_userid_idx ON tokens (authenticated_userid);
CREATE INDEX tokens_purge_after_idx ON tokens (purge_after) WHERE purge_after IS NOT NULL;

-- Change feed read by the caches of every process (store.Cached). A NULL
-- access_digest means "drop everything cached". AUTOINCREMENT: a seq is
-- never reused, even after the newest rows are deleted.
CREATE TABLE token_changes (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    access_digest BLOB NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX token_changes_created_at_idx ON token_changes (created_at);
