//! Who is asking and what they may touch: roles, scopes, the principal of a request,
//! argon2id password hashes and session tokens.
//!
//! Tokens are 32 random bytes, shown once to their owner and stored only as their
//! SHA-256, so a copy of the database opens no session.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::ServiceError;
use crate::domain::codes::code_enum;
use crate::domain::{DomainError, FacilityCode, ProvinceCode};

code_enum! {
    /// The roles of the services. Citizens are accounts; every other role is a user.
    Role, field = "role" {
        Citizen = "citizen",
        StationStaff = "station_staff",
        UpperDoctor = "upper_doctor",
        ProvincialManager = "provincial_manager",
        Evaluator = "evaluator",
        Donor = "donor",
        Admin = "admin",
    }
}

impl Role {
    /// The roles a staff user can have (all but citizen).
    pub const STAFF: [Role; 6] =
        [Role::StationStaff, Role::UpperDoctor, Role::ProvincialManager, Role::Evaluator, Role::Donor, Role::Admin];
}

/// What a principal's role is limited to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Scope {
    /// A citizen: their own account.
    Account(i64),
    /// Station staff or an upper-level doctor: one facility.
    Facility(String),
    /// A provincial manager: one province of the 34-province set.
    Province34(String),
    /// A donor: one project, aggregates only.
    Project(String),
    /// Evaluators and admins.
    National,
}

impl Scope {
    /// The scope a role needs, parsed from the text stored with a user.
    pub fn for_user(role: Role, scope: Option<&str>) -> Result<Scope, DomainError> {
        let need = |what: &str| DomainError::invalid("scope", format!("a {role} user needs {what}"));
        match role {
            Role::StationStaff | Role::UpperDoctor => {
                let code = scope.ok_or_else(|| need("a facility code"))?;
                Ok(Scope::Facility(FacilityCode::parse(code)?.to_string()))
            }
            Role::ProvincialManager => {
                let code = scope.ok_or_else(|| need("a province code of the 34-province set"))?;
                Ok(Scope::Province34(ProvinceCode::parse(code)?.to_string()))
            }
            Role::Donor => Ok(Scope::Project(scope.ok_or_else(|| need("a project id"))?.trim().to_string())),
            Role::Evaluator | Role::Admin => match scope {
                None => Ok(Scope::National),
                Some(_) => Err(DomainError::invalid("scope", format!("a {role} user has no scope"))),
            },
            Role::Citizen => Err(DomainError::invalid("role", "citizens register themselves")),
        }
    }

    /// The text stored with a user.
    pub fn stored(&self) -> Option<String> {
        match self {
            Scope::Facility(s) | Scope::Province34(s) | Scope::Project(s) => Some(s.clone()),
            Scope::Account(_) | Scope::National => None,
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `account:ID` or `user:ID`: what the audit log and idempotency keys record.
    pub subject: String,
    pub role: Role,
    pub scope: Scope,
    pub csrf: String,
    /// True when the session came from a cookie (so unsafe methods need the CSRF token).
    pub via_cookie: bool,
}

impl Principal {
    pub fn account_id(&self) -> Option<i64> {
        match self.scope {
            Scope::Account(id) => Some(id),
            _ => None,
        }
    }

    pub fn facility(&self) -> Option<&str> {
        match &self.scope {
            Scope::Facility(code) => Some(code),
            _ => None,
        }
    }

    /// Station staff of `station` (or an error that says so).
    pub fn require_staff_of(&self, station: &str) -> Result<(), ServiceError> {
        if self.role == Role::StationStaff && self.facility() == Some(station) {
            Ok(())
        } else {
            Err(ServiceError::forbidden(format!("only the staff of station {station} may do this")))
        }
    }
}

/// argon2id with the parameters OWASP recommends for interactive logins (19 MiB, 2 passes).
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash_password(password: &str) -> Result<String, ServiceError> {
    check_password_rules(password)?;
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| ServiceError::Internal(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServiceError::Internal(e.to_string()))
}

pub fn check_password_rules(password: &str) -> Result<(), ServiceError> {
    let n = password.chars().count();
    if n < 12 {
        return Err(ServiceError::invalid("password", "must be at least 12 characters"));
    }
    if n > 256 {
        return Err(ServiceError::invalid("password", "must be at most 256 characters"));
    }
    Ok(())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash to verify against when the user does not exist, so that a login for an
/// unknown name takes as long as one with a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy-password-never-used").unwrap_or_default())
}

/// A new random token, hex encoded.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A six-digit one-time code.
pub fn new_login_code() -> String {
    format!("{:06}", rand::rng().next_u32() % 1_000_000)
}

/// The stored form of a login code, bound to its account.
pub fn login_code_hash(account_id: i64, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{account_id}:{}", code.trim()).as_bytes()))
}
