-- Clients and tokens. Every secret is a raw 32-byte SHA-256 digest; no
-- plaintext secret is ever stored. Times are unix seconds.
CREATE TABLE clients (
    client_id     text PRIMARY KEY,
    secret_digest bytea NULL CHECK (secret_digest IS NULL OR octet_length(secret_digest) = 32),
    name          text NOT NULL DEFAULT '',
    consumer      text NOT NULL,
    client_type   text NOT NULL CHECK (client_type IN ('confidential', 'public')),
    redirect_uris text NOT NULL DEFAULT '[]', -- JSON array of strings
    created_at    bigint NOT NULL
);
CREATE INDEX clients_consumer_idx ON clients (consumer);

CREATE TABLE tokens (
    access_digest        bytea PRIMARY KEY CHECK (octet_length(access_digest) = 32),
    refresh_digest       bytea NULL UNIQUE CHECK (refresh_digest IS NULL OR octet_length(refresh_digest) = 32),
    client_id            text NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    service_id           text NULL,
    authenticated_userid text NOT NULL DEFAULT '',
    scope                text NOT NULL DEFAULT '',
    issued_at            bigint NOT NULL,
    expires_in           bigint NOT NULL, -- 0 = never expires
    refresh_expires_at   bigint NULL,     -- NULL = never
    family_id            text NOT NULL,
    revoked              boolean NOT NULL DEFAULT false,
    -- After purge_after the row can never be used again (both the access
    -- and the refresh token are expired); NULL = never.
    purge_after          bigint NULL
);
CREATE INDEX tokens_family_id_idx ON tokens (family_id);
CREATE INDEX tokens_client_id_idx ON tokens (client_id);
CREATE INDEX tokens_authenticated_userid_idx ON tokens (authenticated_userid);
CREATE INDEX tokens_purge_after_idx ON tokens (purge_after) WHERE purge_after IS NOT NULL;

-- Change feed read by the caches of every process (store.Cached). A NULL
-- access_digest means "drop everything cached".
CREATE TABLE token_changes (
    seq           bigserial PRIMARY KEY,
    access_digest bytea NULL,
    created_at    bigint NOT NULL
);
CREATE INDEX token_changes_created_at_idx ON token_changes (created_at);
