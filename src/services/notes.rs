//! Station notes: a provincial manager annotates a station of their province (for
//! example "closed for renovation until March") and the note shows beside the
//! station's low-uptake flags. Notes are written once and never edited; the latest
//! one per station is shown.

use super::auth::{Principal, Role, Scope};
use super::{Caller, Reply, ServiceError, Services, WriteContext, work};
use crate::store::StationNote;

/// The longest note kept (the column allows no more).
pub const MAX_NOTE_CHARS: usize = 500;

impl Services {
    /// Adds a note to a commune station of the caller's province.
    pub async fn annotate_station(
        &self,
        p: &Principal,
        station: &str,
        body: &str,
        ctx: &WriteContext,
    ) -> Result<Reply, ServiceError> {
        let Scope::Province34(own) = &p.scope else {
            return Err(ServiceError::forbidden("station notes are written by provincial managers"));
        };
        if p.role != Role::ProvincialManager {
            return Err(ServiceError::forbidden("station notes are written by provincial managers"));
        }
        let body = body.trim().to_string();
        let chars = body.chars().count();
        if chars == 0 || chars > MAX_NOTE_CHARS {
            return Err(ServiceError::invalid("note", format!("write 1 to {MAX_NOTE_CHARS} characters (got {chars})")));
        }
        let facility =
            self.store.facility(station).await?.ok_or_else(|| ServiceError::NotFound(format!("station {station}")))?;
        if facility.level != "commune_station" {
            return Err(ServiceError::invalid("station", format!("{station} is not a commune health station")));
        }
        if facility.province_34 != *own {
            return Err(ServiceError::forbidden(format!("station {station} is outside your province")));
        }
        let (station, author, now) = (facility.code.clone(), p.subject.clone(), self.now());
        let job = self.job(
            Caller::Principal(p),
            ctx,
            Some(format!("station:{station}")),
            work(move |tx| {
                Box::pin(async move {
                    tx.add_station_note(&station, &author, &body, now).await?;
                    Ok(Reply::new(201, serde_json::json!({ "station": station, "note": body })))
                })
            }),
        );
        self.writer.submit(job).await
    }

    /// The latest note of every station.
    pub async fn station_notes(&self) -> Result<Vec<StationNote>, ServiceError> {
        Ok(self.store.station_notes().await?)
    }
}
