//! Proof of work in ALTCHA's classic format (SHA-256): signed challenges and their checks.
//!
//! A challenge is `SHA-256(salt + number)` for a secret `number` up to `maxnumber`, signed
//! with `HMAC-SHA-256(key, challenge)`; the salt carries its expiry (`?expires=UNIX&`, the
//! trailing `&` so that digits cannot move between the salt and the number). A solver
//! finds `number` by trying them in turn and sends back the challenge with it, base64
//! JSON, exactly as the ALTCHA widget and its libraries do. Verifying costs one hash and
//! one HMAC; remembering which proofs were used is the caller's job.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

pub const ALGORITHM: &str = "SHA-256";

/// What `GET /v1/suggestions/challenge` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    pub algorithm: String,
    pub challenge: String,
    pub maxnumber: u64,
    pub salt: String,
    pub signature: String,
}

/// A solved challenge, as the client sends it (base64 of this JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Solution {
    pub algorithm: String,
    pub challenge: String,
    pub number: u64,
    pub salt: String,
    pub signature: String,
}

/// Why a proof was refused; each is the visitor's `proof_required`.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ProofError {
    #[error("the proof is not base64 JSON in ALTCHA's format")]
    Malformed,
    #[error("the proof uses an algorithm other than SHA-256")]
    Algorithm,
    #[error("the proof's challenge has expired; ask for a new one")]
    Expired,
    #[error("the number does not solve the challenge")]
    Unsolved,
    #[error("the challenge was not issued here")]
    Signature,
    #[error("the proof was already used; ask for a new challenge")]
    Replayed,
}

/// The key that signs challenges. Its `Debug` never shows it.
#[derive(Clone)]
pub struct ProofKey(Vec<u8>);

impl std::fmt::Debug for ProofKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProofKey([redacted])")
    }
}

impl ProofKey {
    pub fn new(key: &[u8]) -> Self {
        ProofKey(key.to_vec())
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        Hmac::<Sha256>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
    }

    fn sign(&self, challenge: &str) -> String {
        let mut mac = self.mac();
        mac.update(challenge.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A new challenge expiring at `expires`; `random` supplies the salt and the number.
    pub fn issue(&self, expires: OffsetDateTime, maxnumber: u64, random: [u8; 20]) -> Challenge {
        let salt = format!("{}?expires={}&", hex::encode(&random[..12]), expires.unix_timestamp());
        let mut number_bytes = [0u8; 8];
        number_bytes.copy_from_slice(&random[12..]);
        let number = u64::from_le_bytes(number_bytes) % (maxnumber + 1);
        let challenge = hash(&salt, number);
        Challenge { algorithm: ALGORITHM.to_owned(), signature: self.sign(&challenge), challenge, maxnumber, salt }
    }

    /// Checks a proof (base64 JSON) at `now`; the solution it carries when it holds.
    pub fn verify(&self, proof: &str, now: OffsetDateTime) -> Result<Solution, ProofError> {
        let json = STANDARD.decode(proof.trim()).map_err(|_| ProofError::Malformed)?;
        let solution: Solution = serde_json::from_slice(&json).map_err(|_| ProofError::Malformed)?;
        if solution.algorithm != ALGORITHM {
            return Err(ProofError::Algorithm);
        }
        let expires = expiry(&solution.salt).ok_or(ProofError::Malformed)?;
        if expires <= now.unix_timestamp() {
            return Err(ProofError::Expired);
        }
        if hash(&solution.salt, solution.number) != solution.challenge {
            return Err(ProofError::Unsolved);
        }
        let signature = hex::decode(&solution.signature).map_err(|_| ProofError::Signature)?;
        let mut mac = self.mac();
        mac.update(solution.challenge.as_bytes());
        // Constant time: the comparison must not tell a forger how much of a guess was right.
        mac.verify_slice(&signature).map_err(|_| ProofError::Signature)?;
        Ok(solution)
    }
}

fn hash(salt: &str, number: u64) -> String {
    hex::encode(Sha256::digest(format!("{salt}{number}")))
}

/// The `expires` parameter of a salt that ends its parameters with `&`; a salt without
/// one is refused, so that no proof lives for ever.
fn expiry(salt: &str) -> Option<i64> {
    let (_, params) = salt.split_once('?')?;
    let params = params.strip_suffix('&')?;
    params.split('&').find_map(|p| p.strip_prefix("expires=")).and_then(|v| v.parse().ok())
}

/// Finds the number by brute force, as a visitor's browser does; for tests and tools.
pub fn solve(challenge: &Challenge) -> Option<Solution> {
    (0..=challenge.maxnumber).find(|n| hash(&challenge.salt, *n) == challenge.challenge).map(|number| Solution {
        algorithm: challenge.algorithm.clone(),
        challenge: challenge.challenge.clone(),
        number,
        salt: challenge.salt.clone(),
        signature: challenge.signature.clone(),
    })
}

/// The base64 JSON a client sends for `solution`.
pub fn encode(solution: &Solution) -> String {
    STANDARD.encode(serde_json::to_vec(solution).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-28 12:00 UTC);

    #[test]
    fn the_key_never_shows_in_debug_output() {
        assert_eq!(format!("{:?}", ProofKey::new(b"the-secret-key")), "ProofKey([redacted])");
    }

    fn key() -> ProofKey {
        ProofKey::new(b"a key only the function knows")
    }

    fn solved() -> Solution {
        let challenge = key().issue(NOW + time::Duration::minutes(10), 1000, [7; 20]);
        solve(&challenge).expect("solvable")
    }

    #[test]
    fn a_solved_challenge_verifies_before_it_expires_and_not_after() {
        let proof = encode(&solved());
        assert!(key().verify(&proof, NOW).is_ok());
        assert_eq!(key().verify(&proof, NOW + time::Duration::minutes(10)), Err(ProofError::Expired));
    }

    #[test]
    fn a_challenge_signed_with_another_key_is_refused() {
        let proof = encode(&solved());
        assert_eq!(ProofKey::new(b"another key").verify(&proof, NOW), Err(ProofError::Signature));
    }

    #[test]
    fn a_wrong_number_is_refused() {
        let mut s = solved();
        s.number += 1;
        assert_eq!(key().verify(&encode(&s), NOW), Err(ProofError::Unsolved));
    }

    #[test]
    fn a_changed_expiry_breaks_the_challenge() {
        let mut s = solved();
        s.salt = s.salt.replace("?expires=", "?expires=9");
        assert_eq!(key().verify(&encode(&s), NOW), Err(ProofError::Unsolved));
    }

    #[test]
    fn a_salt_without_an_expiry_is_refused() {
        let salt = "00ff".to_owned();
        let challenge = hash(&salt, 3);
        let s = Solution { algorithm: ALGORITHM.into(), signature: key().sign(&challenge), challenge, number: 3, salt };
        assert_eq!(key().verify(&encode(&s), NOW), Err(ProofError::Malformed));
    }

    #[test]
    fn garbage_and_other_algorithms_are_refused() {
        assert_eq!(key().verify("not base64!", NOW), Err(ProofError::Malformed));
        assert_eq!(key().verify(&STANDARD.encode("{}"), NOW), Err(ProofError::Malformed));
        let mut s = solved();
        s.algorithm = "SHA-512".into();
        assert_eq!(key().verify(&encode(&s), NOW), Err(ProofError::Algorithm));
    }

    #[test]
    fn the_widget_s_extra_fields_are_accepted() {
        let s = solved();
        let mut json = serde_json::to_value(&s).unwrap();
        json["took"] = 412.into();
        assert!(key().verify(&STANDARD.encode(json.to_string()), NOW).is_ok());
    }

    #[test]
    fn the_number_stays_within_maxnumber() {
        for byte in [0u8, 1, 128, 255] {
            let c = key().issue(NOW, 50, [byte; 20]);
            assert!(solve(&c).is_some_and(|s| s.number <= 50));
        }
    }
}
