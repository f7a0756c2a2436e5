-- Run once by the postgres image when its data directory is new (profile
-- "postgres" of kong/docker-compose.yml): oauth2-password's own database
-- next to Kong's, so that its tables (clients, tokens, …) never meet Kong's.
CREATE DATABASE oauth2_password OWNER kong;
