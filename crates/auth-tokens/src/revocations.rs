//! Access tokens revoked before they expire. The auth service publishes the list at
//! `/.well-known/revocations.json`; verifiers poll it (every few seconds) and refuse:
//! * a token whose session (`sid`, the refresh-token family) was revoked: logout, or a
//!   refresh token presented twice;
//! * a user's tokens issued up to a time (`iat <= revoked_at`): the user was deleted.
//!
//! Entries live only as long as the tokens they cover could, so the list stays small.
//! Subjects are published as SHA-256 hashes of the username, so the list names nobody.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::Claims;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocations {
    /// Revoked sessions (`sid` claims).
    #[serde(default)]
    pub sessions: HashSet<String>,
    /// SHA-256 (hex) of a username -> tokens issued at or before this time are revoked.
    #[serde(default)]
    pub subjects: HashMap<String, u64>,
}

/// The key under which a username is published.
pub fn subject_key(username: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, username.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

impl Revocations {
    pub fn revoke_session(&mut self, sid: &str) {
        self.sessions.insert(sid.to_owned());
    }

    pub fn revoke_subject(&mut self, username: &str, issued_up_to: u64) {
        let entry = self.subjects.entry(subject_key(username)).or_default();
        *entry = (*entry).max(issued_up_to);
    }

    pub fn len(&self) -> usize {
        self.sessions.len() + self.subjects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `claims` belong to a revoked session or user.
    pub fn revokes(&self, claims: &Claims) -> bool {
        if self.is_empty() {
            return false;
        }
        if claims
            .sid
            .as_ref()
            .is_some_and(|sid| self.sessions.contains(sid))
        {
            return true;
        }
        self.subjects
            .get(&subject_key(&claims.sub))
            .is_some_and(|&up_to| claims.iat <= up_to)
    }
}
