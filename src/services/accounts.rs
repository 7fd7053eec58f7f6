//! Citizens' accounts (registration with consent, login by one-time code, profile,
//! data export, consent withdrawal) and staff users (password login, administration).

use serde::{Deserialize, Serialize};

use super::auth::{self, Principal, Role, Scope};
use super::{Caller, Reply, ServiceError, Services, WriteContext, dur, work};
use crate::domain::{Account, BirthYear, FacilityCode, PersonName, Phone, Sex, Vulnerability};
use crate::store::{AccountInfo, AccountUpdate, AppointmentView, NewUser, SessionOwner};

/// A citizen's registration.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    pub phone: String,
    pub name: String,
    /// `female`, `male` or `other`.
    pub sex: String,
    pub birth_year: i32,
    /// The code of the citizen's commune health station.
    pub home_station: String,
    /// Consent to the processing of health data: without it there is no account.
    pub consent: bool,
    #[serde(default)]
    pub ethnic_minority: bool,
}

/// A session token, shown once.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub token: String,
    /// Send it back in `X-CSRF-Token` on unsafe requests authenticated by the cookie.
    pub csrf: String,
    pub role: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// A citizen's own view of their account.
pub type Profile = AccountInfo;

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    pub name: Option<String>,
    pub sex: Option<String>,
    pub birth_year: Option<i32>,
    pub home_station: Option<String>,
}

/// Everything the store holds about a citizen.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccountExport {
    pub account: AccountInfo,
    pub appointments: Vec<AppointmentView>,
}

impl Services {
    pub async fn register(&self, r: Registration, ctx: &WriteContext) -> Result<Reply, ServiceError> {
        let now = self.now();
        let account = Account::new(
            Phone::parse(&r.phone)?,
            PersonName::parse(&r.name)?,
            Sex::parse(&r.sex)?,
            BirthYear::new(r.birth_year, now)?,
            r.ethnic_minority,
            Vulnerability::default(),
            FacilityCode::parse(&r.home_station)?,
            r.consent.then_some(now),
            now,
        )?;
        self.station_exists(account.home_station.as_str(), "home_station").await?;
        let job = self.job(
            Caller::Anonymous,
            ctx,
            Some(format!("station:{}", account.home_station)),
            work(move |tx| {
                Box::pin(async move {
                    let id = tx.add_account(&account).await?;
                    Ok(Reply::new(201, serde_json::json!({ "id": id })))
                })
            }),
        );
        self.writer.submit(job).await
    }

    async fn station_exists(&self, code: &str, field: &str) -> Result<crate::store::FacilityInfo, ServiceError> {
        match self.facility(code).await? {
            Some(f) if f.level == "commune_station" => Ok(f),
            Some(_) => Err(ServiceError::invalid(field, format!("{code} is not a commune health station"))),
            None => Err(ServiceError::invalid(field, format!("no station has the code {code}"))),
        }
    }

    /// Sends a login code to the phone if it has an open account. The answer is the
    /// same either way, so the endpoint does not tell who has an account.
    pub async fn request_code(&self, phone: &str, ctx: &WriteContext) -> Result<Reply, ServiceError> {
        let phone = Phone::parse(phone)?;
        let accepted =
            Reply::new(202, serde_json::json!({ "sent": "if the number has an account, a code is on its way" }));
        let Some(account) = self.store.account_by_phone(phone.as_str()).await? else {
            return Ok(accepted);
        };
        let code = auth::new_login_code();
        let hash = auth::login_code_hash(account.id, &code);
        let expires = self.now() + dur(self.settings.login_code_ttl);
        let id = account.id;
        let reply = accepted.clone();
        let job = self.job(
            Caller::Anonymous,
            ctx,
            Some(format!("account:{id}")),
            work(move |tx| {
                Box::pin(async move {
                    tx.set_login_code(id, &hash, expires).await?;
                    Ok(reply)
                })
            }),
        );
        self.writer.submit(job).await?;
        let minutes = self.settings.login_code_ttl.as_secs() / 60;
        let message = super::Message {
            at: self.now(),
            phone: phone.as_str().to_string(),
            kind: "login_code".into(),
            text: format!("Mã đăng nhập Bác sĩ cho mọi nhà: {code} (hiệu lực {minutes} phút)"),
        };
        self.messenger.send(&message).await.map_err(|e| ServiceError::Internal(e.to_string()))?;
        Ok(accepted)
    }

    pub async fn login_citizen(&self, phone: &str, code: &str, ctx: &WriteContext) -> Result<Reply, ServiceError> {
        let phone = Phone::parse(phone)?;
        let account = self.store.account_by_phone(phone.as_str()).await?;
        let Some(account) = account.filter(|a| a.closed_at.is_none()) else {
            return Err(ServiceError::Unauthenticated);
        };
        let id = account.id;
        let hash = auth::login_code_hash(id, code);
        let now = self.now();
        let session = self.new_session(Role::Citizen, now + dur(self.settings.citizen_session));
        let max = self.settings.login_code_attempts;
        let job = self.job(
            Caller::Anonymous,
            ctx,
            Some(format!("account:{id}")),
            work(move |tx| {
                Box::pin(async move {
                    // A miss must commit its attempt count, so it is a reply, not an error.
                    if !tx.use_login_code(id, &hash, now, max).await? {
                        return Ok(Reply::new(401, ServiceError::Unauthenticated.body()));
                    }
                    let (token_hash, info) = session;
                    tx.create_session(&token_hash, SessionOwner::Account(id), &info.csrf, now, info.expires_at).await?;
                    Ok(Reply::new(201, info))
                })
            }),
        );
        self.writer.submit(job).await
    }

    fn new_session(&self, role: Role, expires_at: chrono::DateTime<chrono::Utc>) -> (String, SessionInfo) {
        let token = auth::new_token();
        let hash = auth::token_hash(&token);
        (hash, SessionInfo { token, csrf: auth::new_token(), role: role.to_string(), expires_at })
    }

    pub async fn login_staff(&self, username: &str, password: &str, ctx: &WriteContext) -> Result<Reply, ServiceError> {
        let user = self.store.user(username.trim()).await?;
        let hash = user.as_ref().map_or_else(|| auth::decoy_hash().to_string(), |u| u.password_hash.clone());
        let password = password.to_string();
        // argon2 takes tens of milliseconds of CPU: keep it off the async workers.
        let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let user = match user {
            Some(u) if ok && !u.disabled => u,
            _ => {
                return Err(ServiceError::Unauthenticated);
            }
        };
        let role = Role::parse(&user.role)?;
        let now = self.now();
        let (token_hash, info) = self.new_session(role, now + dur(self.settings.staff_session));
        let id = user.id;
        let job = self.job(
            Caller::Anonymous,
            ctx,
            Some(format!("user:{id}")),
            work(move |tx| {
                Box::pin(async move {
                    tx.create_session(&token_hash, SessionOwner::User(id), &info.csrf, now, info.expires_at).await?;
                    Ok(Reply::new(201, info))
                })
            }),
        );
        self.writer.submit(job).await
    }

    /// The principal of a session token, if the session is live and its owner active.
    pub async fn authenticate(&self, token: &str, via_cookie: bool) -> Result<Option<Principal>, ServiceError> {
        let Some(session) = self.store.session(&auth::token_hash(token)).await? else { return Ok(None) };
        if session.expires_at <= self.now() {
            return Ok(None);
        }
        if !session.owner_active {
            return Ok(None);
        }
        let (subject, role, scope) = match session.owner {
            SessionOwner::Account(id) => (format!("account:{id}"), Role::Citizen, Scope::Account(id)),
            SessionOwner::User(id) => {
                let role = Role::parse(session.user_role.as_deref().unwrap_or_default())?;
                (format!("user:{id}"), role, Scope::for_user(role, session.user_scope.as_deref())?)
            }
        };
        Ok(Some(Principal { subject, role, scope, csrf: session.csrf, via_cookie }))
    }

    pub async fn logout(&self, p: &Principal, token: &str, ctx: &WriteContext) -> Result<Reply, ServiceError> {
        let hash = auth::token_hash(token);
        let job = self.job(
            Caller::Principal(p),
            ctx,
            None,
            work(move |tx| {
                Box::pin(async move {
                    tx.delete_session(&hash).await?;
                    Ok(Reply::new(200, serde_json::json!({ "logged_out": true })))
                })
            }),
        );
        self.writer.submit(job).await
    }

    fn own_account(p: &Principal) -> Result<i64, ServiceError> {
        p.account_id().ok_or_else(|| ServiceError::forbidden("only a citizen has a profile"))
    }

    pub async fn profile(&self, p: &Principal) -> Result<Profile, ServiceError> {
        let id = Self::own_account(p)?;
        self.store.account(id).await?.ok_or_else(|| ServiceError::NotFound(format!("account {id}")))
    }

    pub async fn update_profile(
        &self,
        p: &Principal,
        u: ProfileUpdate,
        ctx: &WriteContext,
    ) -> Result<Reply, ServiceError> {
        let id = Self::own_account(p)?;
        let now = self.now();
        let update = AccountUpdate {
            name: u.name.as_deref().map(PersonName::parse).transpose()?.map(|n| n.as_str().to_string()),
            sex: u.sex.as_deref().map(Sex::parse).transpose()?.map(|s| s.as_str().to_string()),
            birth_year: u.birth_year.map(|y| BirthYear::new(y, now)).transpose()?.map(|y| i64::from(y.get())),
            home_station: match u.home_station.as_deref() {
                Some(code) => {
                    Some(self.station_exists(FacilityCode::parse(code)?.as_str(), "home_station").await?.code)
                }
                None => None,
            },
        };
        if update == AccountUpdate::default() {
            return Err(ServiceError::invalid("body", "nothing to update"));
        }
        let store = self.store.clone();
        let job = self.job(
            Caller::Principal(p),
            ctx,
            Some(format!("account:{id}")),
            work(move |tx| {
                Box::pin(async move {
                    tx.update_account(id, &update, now).await?;
                    Ok(Reply::new(200, serde_json::json!({ "id": id })))
                })
            }),
        );
        let reply = self.writer.submit(job).await?;
        // The stored profile after the commit, so the caller sees what is kept.
        match store.account(id).await? {
            Some(a) if reply.status == 200 => Ok(Reply::new(200, a)),
            _ => Ok(reply),
        }
    }

    pub async fn export(&self, p: &Principal) -> Result<AccountExport, ServiceError> {
        let account = self.profile(p).await?;
        let appointments = self.store.citizen_appointments(account.id).await?;
        Ok(AccountExport { account, appointments })
    }

    /// Withdraws consent: the account closes and its phone and name are erased.
    pub async fn withdraw(&self, p: &Principal, ctx: &WriteContext) -> Result<Reply, ServiceError> {
        let id = Self::own_account(p)?;
        let now = self.now();
        let job = self.job(
            Caller::Principal(p),
            ctx,
            Some(format!("account:{id}")),
            work(move |tx| {
                Box::pin(async move {
                    tx.close_account(id, now).await?;
                    Ok(Reply::new(200, serde_json::json!({ "id": id, "closed_at": now })))
                })
            }),
        );
        self.writer.submit(job).await
    }

    /// Creates a staff user (admin only, or the CLI with `caller` = None).
    pub async fn add_user(
        &self,
        caller: Option<&Principal>,
        username: &str,
        password: &str,
        role: &str,
        scope: Option<&str>,
        ctx: &WriteContext,
    ) -> Result<Reply, ServiceError> {
        Self::require_admin(caller)?;
        let username = check_username(username)?;
        let role = Role::parse(role)?;
        let scope = Scope::for_user(role, scope)?;
        if let Scope::Facility(code) = &scope {
            let f = self
                .store
                .facility(code)
                .await?
                .ok_or_else(|| ServiceError::invalid("scope", format!("no facility {code}")))?;
            let station = f.level == "commune_station";
            if station != (role == Role::StationStaff) {
                return Err(ServiceError::invalid(
                    "scope",
                    format!("{code} is not the kind of facility a {role} works at"),
                ));
            }
        }
        if let Scope::Project(id) = &scope {
            if self.reference.project(id).is_none() {
                return Err(ServiceError::invalid("scope", format!("no project {id}")));
            }
        }
        let hash = hash_off_thread(password).await?;
        let user =
            NewUser { username: username.clone(), password_hash: hash, role: role.to_string(), scope: scope.stored() };
        let now = self.now();
        let job = self.job(
            caller.map_or(Caller::Anonymous, Caller::Principal),
            ctx,
            Some(format!("username:{username}")),
            work(move |tx| {
                Box::pin(async move {
                    let id = tx.add_user(&user, now).await?;
                    Ok(Reply::new(201, serde_json::json!({ "id": id, "username": user.username, "role": user.role })))
                })
            }),
        );
        self.writer.submit(job).await
    }

    /// Disables (or re-enables) a user, or resets its password; either ends its sessions.
    pub async fn change_user(
        &self,
        caller: Option<&Principal>,
        username: &str,
        disabled: Option<bool>,
        password: Option<&str>,
        ctx: &WriteContext,
    ) -> Result<Reply, ServiceError> {
        Self::require_admin(caller)?;
        let username = username.trim().to_string();
        let hash = match password {
            Some(pw) => Some(hash_off_thread(pw).await?),
            None => None,
        };
        let now = self.now();
        let job = self.job(
            caller.map_or(Caller::Anonymous, Caller::Principal),
            ctx,
            Some(format!("username:{username}")),
            work(move |tx| {
                Box::pin(async move {
                    tx.change_user(&username, disabled, hash.as_deref(), now).await?;
                    Ok(Reply::new(200, serde_json::json!({ "username": username })))
                })
            }),
        );
        self.writer.submit(job).await
    }

    fn require_admin(caller: Option<&Principal>) -> Result<(), ServiceError> {
        match caller {
            None => Ok(()),
            Some(p) if p.role == Role::Admin => Ok(()),
            Some(_) => Err(ServiceError::forbidden("only an admin manages users")),
        }
    }
}

/// argon2 takes tens of milliseconds of CPU: hashing runs off the async workers.
async fn hash_off_thread(password: &str) -> Result<String, ServiceError> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?
}

fn check_username(s: &str) -> Result<String, ServiceError> {
    let s = s.trim();
    let ok =
        (3..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(s.to_string())
    } else {
        Err(ServiceError::invalid("username", "3 to 64 characters: letters, digits, '.', '_' or '-'"))
    }
}
