//! Access tokens revoked before they expire. The auth service publishes the list at
//! `/.well-known/revocations.json`; verifiers poll it (every few seconds) and refuse a token
//! whose session (`sid`, the refresh-token family) was revoked: logout, a refresh token
//! presented twice, or its user deleted (every session of the user is listed then; the
//! auth service signs every token in a session).
//!
//! Entries live only as long as the tokens they cover could, so the list stays small. The
//! list holds random session ids only: nothing in it identifies a person (an earlier version
//! published SHA-256 hashes of deleted usernames, which a dictionary of staff names reverses;
//! such a field in a list is ignored).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::Claims;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocations {
    /// Revoked sessions (`sid` claims).
    #[serde(default)]
    pub sessions: HashSet<String>,
}

impl Revocations {
    pub fn revoke_session(&mut self, sid: &str) {
        self.sessions.insert(sid.to_owned());
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the login session `sid` was revoked.
    pub fn revokes_session(&self, sid: &str) -> bool {
        self.sessions.contains(sid)
    }

    /// Whether `claims` belong to a revoked session.
    pub fn revokes(&self, claims: &Claims) -> bool {
        claims
            .sid
            .as_ref()
            .is_some_and(|sid| self.sessions.contains(sid))
    }
}
