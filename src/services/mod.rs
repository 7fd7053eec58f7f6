//! The core services: accounts and logins, slots and bookings, video calls and user
//! administration, as operations over the [`Store`] that check who asks and what
//! they may touch. The HTTP layer (`web`) only translates requests into these calls.
//!
//! Every write goes through the [`Writer`] (group commit); reads go straight to the
//! store. Background tasks (no-show marking, reminders, pruning) live in [`tasks`].

mod accounts;
pub mod auth;
mod booking;
mod calls;
mod error;
pub mod messages;
mod notes;
pub mod tasks;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub use accounts::{AccountExport, Profile, ProfileUpdate, Registration, SessionInfo};
pub use auth::{Principal, Role, Scope};
pub use booking::{NewSlot, StatusChange};
pub use calls::NewCall;
pub use error::{ErrorBody, ServiceError};
pub use messages::{Message, Messenger, Outbox};
pub use writer::{IdemKey, Job, Reply, Writer, WriterStats, work};

use crate::clock::Clock;
use crate::reference::Reference;
use crate::store::{AuditEntry, FacilityInfo, SlotInfo, Store};

/// Service settings with their defaults.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// How long after its slot starts a booked appointment becomes a no-show.
    pub noshow_grace: Duration,
    /// How long a citizen's session lasts.
    pub citizen_session: Duration,
    /// How long a staff session lasts: short, since staff tokens open more.
    pub staff_session: Duration,
    pub login_code_ttl: Duration,
    pub login_code_attempts: i64,
    /// Idempotency keys are kept at least this long.
    pub idempotency_ttl: Duration,
    pub timezone: Tz,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            noshow_grace: Duration::from_secs(2 * 3600),
            citizen_session: Duration::from_secs(30 * 24 * 3600),
            staff_session: Duration::from_secs(12 * 3600),
            login_code_ttl: Duration::from_secs(10 * 60),
            login_code_attempts: 5,
            idempotency_ttl: Duration::from_secs(48 * 3600),
            timezone: chrono_tz::Asia::Ho_Chi_Minh,
        }
    }
}

/// The services over one store. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn Store>,
    pub writer: Writer,
    pub clock: Clock,
    pub messenger: Arc<dyn Messenger>,
    pub reference: Arc<Reference>,
    pub settings: ServiceSettings,
    /// Facilities by code. A code always names the same facility and facilities are
    /// never deleted, so an entry never goes stale; it spares every slot listing and
    /// booking a query.
    facilities: Arc<std::sync::RwLock<std::collections::HashMap<String, FacilityInfo>>>,
    /// Each station's default free-slot listing, for at most [`LISTING_TTL`]; dropped
    /// whenever this server changes the station's slots or bookings.
    listings: Arc<std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, Arc<Vec<SlotInfo>>)>>>,
    /// Slots by id, for where and when they are: a slot's station and start never
    /// change, so a booking needs no query to check them. Only their place counts go
    /// stale, and bookings never read those from here.
    slot_places: Arc<std::sync::Mutex<std::collections::HashMap<i64, SlotInfo>>>,
}

/// Past this many remembered slots the memory starts over, which bounds it.
const MAX_SLOT_PLACES: usize = 200_000;

/// How long a station's free-slot listing may be served from memory. A listing a
/// moment old is harmless: the database decides every booking.
pub const LISTING_TTL: Duration = Duration::from_secs(1);

/// Who asks, for the audit log: a principal, or nobody yet.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    Anonymous,
    Principal(&'a Principal),
}

impl Caller<'_> {
    pub fn actor(&self) -> (String, String) {
        match self {
            Caller::Anonymous => ("anonymous".into(), "none".into()),
            Caller::Principal(p) => (p.subject.clone(), p.role.to_string()),
        }
    }
}

impl Services {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Clock,
        messenger: Arc<dyn Messenger>,
        reference: Arc<Reference>,
        settings: ServiceSettings,
    ) -> Self {
        let writer = Writer::start(store.clone(), clock.clone());
        Services {
            store,
            writer,
            clock,
            messenger,
            reference,
            settings,
            facilities: Arc::default(),
            listings: Arc::default(),
            slot_places: Arc::default(),
        }
    }

    fn cached_listing(&self, station: &str) -> Option<Arc<Vec<SlotInfo>>> {
        let map = self.listings.lock().ok()?;
        let (at, list) = map.get(station)?;
        (at.elapsed() < LISTING_TTL).then(|| list.clone())
    }

    fn cache_listing(&self, station: &str, list: Arc<Vec<SlotInfo>>) {
        if let Ok(mut map) = self.listings.lock() {
            map.insert(station.to_string(), (std::time::Instant::now(), list));
        }
    }

    /// Where and when a slot is, from memory or the store.
    pub(crate) async fn slot_place(&self, id: i64) -> Result<Option<SlotInfo>, ServiceError> {
        if let Some(s) = self.slot_places.lock().ok().and_then(|m| m.get(&id).cloned()) {
            return Ok(Some(s));
        }
        let found = self.store.slot(id).await?;
        if let (Some(s), Ok(mut m)) = (&found, self.slot_places.lock()) {
            if m.len() >= MAX_SLOT_PLACES {
                m.clear();
            }
            m.insert(id, s.clone());
        }
        Ok(found)
    }

    /// Forgets a station's cached listing after a change to its slots or bookings.
    pub(crate) fn changed_station(&self, station: &str) {
        if let Ok(mut map) = self.listings.lock() {
            map.remove(station);
        }
    }

    /// A facility by code, from the cache or the store.
    pub async fn facility(&self, code: &str) -> Result<Option<FacilityInfo>, ServiceError> {
        if let Some(f) = self.facilities.read().ok().and_then(|m| m.get(code).cloned()) {
            return Ok(Some(f));
        }
        let found = self.store.facility(code).await?;
        if let (Some(f), Ok(mut m)) = (&found, self.facilities.write()) {
            m.insert(f.code.clone(), f.clone());
        }
        Ok(found)
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A write on behalf of `caller`, audited as `ctx.action` on `target`.
    pub(crate) fn job(&self, caller: Caller<'_>, ctx: &WriteContext, target: Option<String>, w: writer::Work) -> Job {
        Job { idempotency: ctx.idempotency.clone(), ..Job::new(w, self.audit_entry(caller, &ctx.action, target)) }
    }

    /// An audit entry for `action` on `target`; the writer fills in the outcome.
    pub fn audit_entry(&self, caller: Caller<'_>, action: &str, target: Option<String>) -> AuditEntry {
        let (actor, role) = caller.actor();
        AuditEntry {
            at: self.now(),
            actor,
            role,
            action: action.to_string(),
            target,
            outcome: String::new(),
            status: 0,
        }
    }
}

/// What a write needs besides its work: who asked, what for, and its idempotency key.
#[derive(Debug, Clone)]
pub struct WriteContext {
    pub action: String,
    pub idempotency: Option<IdemKey>,
}

impl WriteContext {
    pub fn new(action: impl Into<String>) -> Self {
        WriteContext { action: action.into(), idempotency: None }
    }
}

fn dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
