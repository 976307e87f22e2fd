-- Portable between SQLite and PostgreSQL: TEXT keys, BIGINT Unix seconds, BIGINT 0/1 flags.
CREATE TABLE users (
    username      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

-- Refresh tokens are stored as SHA-256 hashes. Each login starts a family; every refresh
-- marks its token used and issues the next one in the same family.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family     TEXT NOT NULL,
    username   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_username ON refresh_tokens (username);

-- Every login attempt, for throttling and audit.
CREATE TABLE login_attempts (
    id        TEXT PRIMARY KEY,
    username  TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    succeeded BIGINT NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX login_attempts_username_at ON login_attempts (username, at);
CREATE INDEX login_attempts_ip_at ON login_attempts (client_ip, at);
