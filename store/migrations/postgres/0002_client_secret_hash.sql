-- A short client secret is kept as a slow password hash in PHC form
-- ($argon2id$… made by us, or Kong's $pbkdf2-sha512$… kept from an import),
-- never in plaintext. A client has a secret_digest or a secret_hash, not both.
ALTER TABLE clients ADD COLUMN secret_hash text NULL
    CHECK (secret_hash IS NULL OR (secret_hash LIKE '$%' AND secret_digest IS NULL));
