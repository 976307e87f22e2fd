//! Shared by the auth-tokens test binaries.
#![allow(dead_code)] // each test binary uses its own part

use auth_tokens::SigningAlgorithm;
use jsonwebtoken::Algorithm;

/// jsonwebtoken's name for the fleet's algorithm.
pub fn jwt_algorithm(alg: SigningAlgorithm) -> Algorithm {
    match alg {
        SigningAlgorithm::RS256 => Algorithm::RS256,
        SigningAlgorithm::EdDSA => Algorithm::EdDSA,
    }
}

/// The fleet's other algorithm.
pub fn other_algorithm(alg: SigningAlgorithm) -> SigningAlgorithm {
    match alg {
        SigningAlgorithm::RS256 => SigningAlgorithm::EdDSA,
        SigningAlgorithm::EdDSA => SigningAlgorithm::RS256,
    }
}
