//! The services' writes inside a [`SqlTx`]: savepoints (so that many requests can share
//! one commit and still fail alone), account changes and erasure, staff users,
//! sessions, login codes, idempotency records, the audit log and reminders.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::records::{AuditEntry, IdempotencyRecord};
use super::tx::{SqlTx, constraint};
use super::{Entity, Op, StoreError, ts};

/// What an account update may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountUpdate {
    pub name: Option<String>,
    pub sex: Option<String>,
    pub birth_year: Option<i64>,
    pub home_station: Option<String>,
}

/// A new staff or administrative user, its password already hashed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub scope: Option<String>,
}

impl SqlTx {
    pub(super) async fn savepoint(&mut self) -> Result<(), StoreError> {
        sqlx::query("SAVEPOINT request").execute(&mut *self.tx).await?;
        self.feed_marks.push(self.feed.len());
        Ok(())
    }

    pub(super) async fn release_savepoint(&mut self) -> Result<(), StoreError> {
        sqlx::query("RELEASE SAVEPOINT request").execute(&mut *self.tx).await?;
        self.feed_marks.pop();
        Ok(())
    }

    /// Undoes everything since the savepoint, the feed rows recorded since included.
    pub(super) async fn rollback_to_savepoint(&mut self) -> Result<(), StoreError> {
        sqlx::query("ROLLBACK TO SAVEPOINT request").execute(&mut *self.tx).await?;
        sqlx::query("RELEASE SAVEPOINT request").execute(&mut *self.tx).await?;
        if let Some(mark) = self.feed_marks.pop() {
            self.feed.truncate(mark);
        }
        Ok(())
    }

    pub(super) async fn update_account(
        &mut self,
        id: i64,
        update: &AccountUpdate,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let station = match &update.home_station {
            Some(code) => {
                let station: Option<(i64, String)> = sqlx::query_as("SELECT id, level FROM facilities WHERE code = $1")
                    .bind(code)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                match station {
                    Some((id, level)) if level == "commune_station" => Some(id),
                    Some(_) => {
                        return Err(crate::domain::DomainError::invalid(
                            "home_station",
                            "must be a commune health station",
                        )
                        .into());
                    }
                    None => return Err(StoreError::not_found("station", code)),
                }
            }
            None => None,
        };
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE accounts SET name = COALESCE($1, name), sex = COALESCE($2, sex), \
             birth_year = COALESCE($3, birth_year), home_station_id = COALESCE($4, home_station_id), \
             version = version + 1 WHERE id = $5 AND closed_at IS NULL RETURNING version",
        )
        .bind(update.name.as_deref())
        .bind(update.sex.as_deref())
        .bind(update.birth_year)
        .bind(station)
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(constraint)?;
        let version = version.ok_or_else(|| StoreError::not_found("open account", id))?;
        self.record(Entity::Account, id, version, Op::Update, ts(at));
        Ok(version)
    }

    /// Closes an account: phone and name erased, sessions and codes dropped. Its
    /// appointments stay, tied to the account id only, which the lake pseudonymises.
    pub(super) async fn close_account(&mut self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE accounts SET phone = NULL, name = NULL, closed_at = $1, version = version + 1 \
             WHERE id = $2 AND closed_at IS NULL RETURNING version",
        )
        .bind(ts(at))
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await?;
        let version = version.ok_or_else(|| StoreError::not_found("open account", id))?;
        sqlx::query("DELETE FROM sessions WHERE account_id = $1").bind(id).execute(&mut *self.tx).await?;
        sqlx::query("DELETE FROM login_codes WHERE account_id = $1").bind(id).execute(&mut *self.tx).await?;
        self.record(Entity::Account, id, version, Op::Update, ts(at));
        Ok(())
    }

    pub(super) async fn add_user(&mut self, user: &NewUser, at: DateTime<Utc>) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "INSERT INTO users (username, password_hash, role, scope, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(&user.role)
        .bind(user.scope.as_deref())
        .bind(ts(at))
        .fetch_one(&mut *self.tx)
        .await
        .map_err(constraint)
    }

    /// Disables or enables a user, or sets a new password hash; either ends its sessions.
    pub(super) async fn change_user(
        &mut self,
        username: &str,
        disabled: Option<bool>,
        password_hash: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let id: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET disabled = COALESCE($1, disabled), password_hash = COALESCE($2, password_hash), \
             updated_at = $3 WHERE username = $4 RETURNING id",
        )
        .bind(disabled.map(i64::from))
        .bind(password_hash)
        .bind(ts(at))
        .bind(username)
        .fetch_optional(&mut *self.tx)
        .await?;
        let id = id.ok_or_else(|| StoreError::not_found("user", username))?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *self.tx).await?;
        Ok(())
    }

    pub(super) async fn create_session(
        &mut self,
        token_hash: &str,
        owner: super::SessionOwner,
        csrf: &str,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (account, user) = match owner {
            super::SessionOwner::Account(a) => (Some(a), None),
            super::SessionOwner::User(u) => (None, Some(u)),
        };
        sqlx::query(
            "INSERT INTO sessions (token_hash, account_id, user_id, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(account)
        .bind(user)
        .bind(csrf)
        .bind(ts(at))
        .bind(ts(expires_at))
        .execute(&mut *self.tx)
        .await
        .map_err(constraint)?;
        // Expired sessions go as new ones come, so the table never grows without bound.
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(ts(at)).execute(&mut *self.tx).await?;
        Ok(())
    }

    pub(super) async fn delete_session(&mut self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(&mut *self.tx).await?;
        Ok(())
    }

    pub(super) async fn set_login_code(
        &mut self,
        account_id: i64,
        code_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO login_codes (account_id, code_hash, expires_at, attempts) VALUES ($1, $2, $3, 0) \
             ON CONFLICT (account_id) DO UPDATE SET code_hash = excluded.code_hash, \
             expires_at = excluded.expires_at, attempts = 0",
        )
        .bind(account_id)
        .bind(code_hash)
        .bind(ts(expires_at))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Checks a login code: a match consumes it; a miss counts against `max_attempts`,
    /// after which the code is void.
    pub(super) async fn use_login_code(
        &mut self,
        account_id: i64,
        code_hash: &str,
        now: DateTime<Utc>,
        max_attempts: i64,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT code_hash, expires_at, attempts FROM login_codes WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        let Some(row) = row else { return Ok(false) };
        let stored: String = row.try_get(0)?;
        let expires_at: i64 = row.try_get(1)?;
        let attempts: i64 = row.try_get(2)?;
        if expires_at < ts(now) || attempts >= max_attempts {
            sqlx::query("DELETE FROM login_codes WHERE account_id = $1")
                .bind(account_id)
                .execute(&mut *self.tx)
                .await?;
            return Ok(false);
        }
        if stored == code_hash {
            sqlx::query("DELETE FROM login_codes WHERE account_id = $1")
                .bind(account_id)
                .execute(&mut *self.tx)
                .await?;
            return Ok(true);
        }
        sqlx::query("UPDATE login_codes SET attempts = attempts + 1 WHERE account_id = $1")
            .bind(account_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(false)
    }

    /// Keeps the first result of each key: a second one (which the server's in-flight
    /// guard should prevent) is ignored rather than failing the shared commit.
    pub(super) async fn put_idempotency(&mut self, records: &[IdempotencyRecord]) -> Result<(), StoreError> {
        super::bulk::insert_with(
            self,
            "idempotency_keys",
            &["caller", "key", "body_hash", "status", "response", "created_at"],
            records,
            " ON CONFLICT (caller, key) DO NOTHING",
            |q, r| {
                q.bind(r.caller.clone())
                    .bind(r.key.clone())
                    .bind(r.body_hash.clone())
                    .bind(i64::from(r.status))
                    .bind(r.response.clone())
                    .bind(ts(r.at))
            },
        )
        .await
    }

    pub(super) async fn prune_idempotency(&mut self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(ts(before))
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected())
    }

    pub(super) async fn append_audit(&mut self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        super::bulk::insert(
            self,
            "audit_log",
            &["at", "actor", "role", "action", "target", "outcome", "status"],
            entries,
            |q, e| {
                q.bind(ts(e.at))
                    .bind(e.actor.clone())
                    .bind(e.role.clone())
                    .bind(e.action.clone())
                    .bind(e.target.clone())
                    .bind(e.outcome.clone())
                    .bind(i64::from(e.status))
            },
        )
        .await
    }

    pub(super) async fn add_station_note(
        &mut self,
        station: &str,
        author: &str,
        body: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO station_notes (station, author, body, created_at) VALUES ($1, $2, $3, $4)")
            .bind(station)
            .bind(author)
            .bind(body)
            .bind(ts(at))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub(super) async fn mark_reminded(&mut self, appointment_id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE appointments SET reminded_at = $1 WHERE id = $2")
            .bind(ts(at))
            .bind(appointment_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}
