//! Rate limits on logins and code requests, per account and per client address, so
//! that neither one number nor one machine can guess codes or passwords at speed.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::services::ServiceError;

pub struct Limits {
    per_account: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

/// Attempts allowed per minute (each also the burst).
#[derive(Debug, Clone, Copy)]
pub struct LimitSettings {
    pub per_account_per_minute: u32,
    pub per_address_per_minute: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings { per_account_per_minute: 5, per_address_per_minute: 30 }
    }
}

impl Limits {
    pub fn new(s: LimitSettings) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).expect("at least one"));
        Limits {
            per_account: RateLimiter::keyed(quota(s.per_account_per_minute)),
            per_address: RateLimiter::keyed(quota(s.per_address_per_minute)),
            clock: DefaultClock::default(),
        }
    }

    /// One attempt for `account` (a phone number or user name) from `address`.
    pub fn check(&self, account: &str, address: &str) -> Result<(), ServiceError> {
        let by_address = self.per_address.check_key(&address.to_string());
        let by_account = self.per_account.check_key(&account.trim().to_lowercase());
        for result in [by_address, by_account] {
            if let Err(not_until) = result {
                let wait = not_until.wait_time_from(self.clock.now());
                return Err(ServiceError::RateLimited { retry_after_s: wait.as_secs().max(1) });
            }
        }
        Ok(())
    }
}
