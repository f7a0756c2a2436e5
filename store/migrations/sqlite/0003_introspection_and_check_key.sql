-- introspect_services: the services (serve-mode SERVICE names, or Kong
-- service ids) whose tokens this client may introspect besides its own
-- (RFC 7662 §4: the operator decides which resource servers may ask).
-- A JSON array of strings, set with `clients grant-introspection`.
ALTER TABLE clients ADD COLUMN introspect_services TEXT NOT NULL DEFAULT '[]';

-- Process-wide values every node shares. token_check_key keys the check
-- value inside issued tokens that lets a node refuse a made-up token
-- without a lookup. It is not a credential: knowing it lets one make a
-- token that costs one lookup, as every token did before it existed.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
