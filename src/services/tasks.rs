//! Background work of the services, each step a function of the one clock so tests
//! can run it at a chosen time: marking no-shows, sending reminders the day before,
//! dropping idempotency keys past their keeping time.

use std::time::Duration;

use chrono::{NaiveTime, TimeZone, Utc};
use tokio::sync::watch;

use super::{Caller, Job, Message, Reply, ServiceError, Services, dur, work};
use crate::domain::AppointmentStatus;

/// What one pass of the background work did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pass {
    pub noshows: usize,
    pub reminders: usize,
    pub pruned_keys: u64,
}

const PAGE: u32 = 500;

impl Services {
    /// Marks as no-show the booked appointments whose slot started more than the grace
    /// time ago.
    pub async fn mark_noshows(&self) -> Result<usize, ServiceError> {
        let cutoff = self.now() - dur(self.settings.noshow_grace);
        let mut done = 0;
        loop {
            let due = self.store.due_noshows(cutoff, PAGE).await?;
            let n = due.len();
            let before = done;
            for id in due {
                let now = self.now();
                let job = Job::new(
                    work(move |tx| {
                        Box::pin(async move {
                            tx.set_status(id, AppointmentStatus::Noshow, now).await?;
                            Ok(Reply::new(200, serde_json::json!({ "id": id })))
                        })
                    }),
                    system_entry(self, "noshow", id),
                );
                // One appointment changed by its staff meanwhile is not a failure of the pass.
                if self.writer.submit(job).await.is_ok() {
                    done += 1;
                }
            }
            // A full page of which none could be changed would come back the same: stop.
            if n < PAGE as usize || done == before {
                return Ok(done);
            }
        }
    }

    /// Sends a reminder for each appointment of tomorrow (local time) not yet reminded.
    pub async fn send_reminders(&self) -> Result<usize, ServiceError> {
        let tz = self.settings.timezone;
        let tomorrow = self.now().with_timezone(&tz).date_naive().succ_opt().ok_or(ServiceError::Unavailable)?;
        let local_start = |d: chrono::NaiveDate| {
            tz.from_local_datetime(&d.and_time(NaiveTime::MIN)).earliest().map(|t| t.with_timezone(&Utc))
        };
        let (Some(from), Some(to)) = (local_start(tomorrow), tomorrow.succ_opt().and_then(local_start)) else {
            return Ok(0);
        };
        let mut sent = 0;
        loop {
            let due = self.store.due_reminders(from, to, PAGE).await?;
            let n = due.len();
            for r in due {
                let local = r.start.with_timezone(&tz);
                let message = Message {
                    at: self.now(),
                    phone: r.phone,
                    kind: "reminder".into(),
                    text: format!(
                        "Nhắc lịch hẹn: {} lúc {} tại {}.",
                        local.format("%d/%m/%Y"),
                        local.format("%H:%M"),
                        r.station_name
                    ),
                };
                // Sent before it is marked: after a crash a reminder may go twice, never not at all.
                self.messenger.send(&message).await.map_err(|e| ServiceError::Internal(e.to_string()))?;
                let id = r.appointment_id;
                let now = self.now();
                let job = Job::new(
                    work(move |tx| {
                        Box::pin(async move {
                            tx.mark_reminded(id, now).await?;
                            Ok(Reply::new(200, serde_json::Value::Null))
                        })
                    }),
                    system_entry(self, "reminder", id),
                );
                self.writer.submit(job).await?;
                sent += 1;
            }
            if n < PAGE as usize {
                return Ok(sent);
            }
        }
    }

    pub async fn prune_idempotency_keys(&self) -> Result<u64, ServiceError> {
        let before = self.now() - dur(self.settings.idempotency_ttl);
        let job = Job::new(
            work(move |tx| {
                Box::pin(async move {
                    let n = tx.prune_idempotency(before).await?;
                    Ok(Reply::new(200, serde_json::json!({ "pruned": n })))
                })
            }),
            self.audit_entry(Caller::Anonymous, "prune_idempotency_keys", None),
        );
        let reply = self.writer.submit(job).await?;
        Ok(reply.body["pruned"].as_u64().unwrap_or(0))
    }

    /// One pass of all background work.
    pub async fn background_pass(&self) -> Result<Pass, ServiceError> {
        Ok(Pass {
            noshows: self.mark_noshows().await?,
            reminders: self.send_reminders().await?,
            pruned_keys: self.prune_idempotency_keys().await?,
        })
    }

    /// Runs [`Services::background_pass`] every `every` until `stop` turns true.
    pub async fn run_background(&self, every: Duration, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = self.background_pass().await {
                        eprintln!("homedoc: background work failed (retried at the next pass): {e}");
                    }
                }
                _ = stop.changed() => return,
            }
        }
    }
}

fn system_entry(s: &Services, action: &str, appointment: i64) -> crate::store::AuditEntry {
    let mut e = s.audit_entry(Caller::Anonymous, action, Some(format!("appointment:{appointment}")));
    e.actor = "system".into();
    e.role = "system".into();
    e
}
