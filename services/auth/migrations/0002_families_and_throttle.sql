-- A login session's refresh-token family. Revoking sets `revoked_at` once; every exchange
-- checks it in the same statement that claims the token, so a token issued by a racing
-- exchange can never be used after its family was revoked.
CREATE TABLE refresh_families (
    family     TEXT PRIMARY KEY,
    username   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX refresh_families_username ON refresh_families (username);

-- Login throttling, one row per subject (`user:<name>|ip:<address>`, `ip:<address>`).
-- An attempt reserves a slot with one atomic upsert before the password is checked.
CREATE TABLE login_throttle (
    subject       TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL,
    window_start  BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL
);

-- Access tokens stop working before they expire: for a revoked session (`sid`), or for
-- every token of a user issued up to a time (logout everywhere, deletion). Rows are kept
-- for the access-token lifetime; verifiers poll them from /.well-known/revocations.json.
CREATE TABLE access_revocations (
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    revoked_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (kind, value)
);
