//! argon2id password hashes at OWASP's minimum cost (19 MiB, 2 iterations, 1 lane).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

pub const MIN_PASSWORD_LENGTH: usize = 12;

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of an argon2id hash of `password` with a fresh salt.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("hashing a password cannot fail")
        .to_string()
}

pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Memory blocks (1 KiB each) of one check at this service's cost: 19 MiB.
pub const BLOCKS: usize = 19 * 1024;

/// [`verify`] in caller-provided working memory, resized only for hashes of another cost.
/// Checks reuse a few such buffers instead of allocating 19 MiB each time: freed, those
/// allocations stay in the allocator's per-thread arenas, and a burst of logins spread over
/// many threads kept hundreds of MiB resident.
pub fn verify_in(password: &str, phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return false;
    }
    let (Ok(params), Some(salt), Some(expected)) =
        (Params::try_from(&parsed), parsed.salt, parsed.hash)
    else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or(Version::V0x13);
    let blocks = params.block_count();
    if memory.len() != blocks {
        memory.resize(blocks, Block::default());
    }
    let mut computed = vec![0u8; expected.len()];
    Argon2::new(Algorithm::Argon2id, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut computed, &mut memory[..])
        .is_ok()
        && aws_lc_rs::constant_time::verify_slices_are_equal(&computed, expected.as_bytes()).is_ok()
}

/// Why a password is refused, if it is.
pub fn policy_violation(password: &str) -> Option<String> {
    (password.chars().count() < MIN_PASSWORD_LENGTH)
        .then(|| format!("the password must have at least {MIN_PASSWORD_LENGTH} characters"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_use_argon2id_at_owasp_cost() {
        let phc = hash("correct horse battery");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse battery", &phc));
        assert!(!verify("wrong horse battery", &phc));
        assert!(!verify("anything", "not a hash"));
        assert_ne!(hash("same password!"), hash("same password!"), "salted");
    }

    #[test]
    fn checking_in_reused_memory_agrees_with_the_library() {
        let phc = hash("correct horse battery");
        let mut memory = Vec::new();
        assert!(verify_in("correct horse battery", &phc, &mut memory));
        assert_eq!(memory.len(), BLOCKS, "sized on first use");
        let buffer = memory.as_ptr();
        assert!(!verify_in("wrong horse battery", &phc, &mut memory));
        assert!(verify_in("correct horse battery", &phc, &mut memory));
        assert_eq!(
            memory.as_ptr(),
            buffer,
            "the same memory, no new allocation"
        );
        assert!(!verify_in("anything", "not a hash", &mut memory));
        // A hash of another cost (an older policy, say) still verifies.
        let cheap = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"legacy password", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
        assert!(verify_in("legacy password", &cheap, &mut memory));
        assert!(!verify_in("legacy passw0rd", &cheap, &mut memory));
        // argon2i / argon2d hashes are not accepted.
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password(b"pw", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(!verify_in("pw", &argon2i, &mut memory));
    }

    #[test]
    fn short_passwords_violate_the_policy() {
        assert!(policy_violation("short").is_some());
        assert!(policy_violation("twelve chars").is_none());
    }
}
