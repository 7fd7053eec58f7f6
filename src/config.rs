//! Settings: built-in defaults, then an optional `homedoc.toml`, then `HOMEDOC_*`
//! environment variables, in that order of precedence (lowest first). With no
//! configuration at all everything lives in the data dir: a SQLite file, the lake
//! directory and the pseudonymisation key.

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::Deserialize;

pub const DEFAULT_DATA_DIR: &str = "homedoc-data";
pub const CONFIG_FILE: &str = "homedoc.toml";
const KEY_FILE: &str = "pseudonym.key";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

/// The optional `homedoc.toml`. Unknown keys are errors, so a typo never passes silently.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `sqlite://PATH` or `postgres://...`.
    pub database_url: Option<String>,
    /// A directory, or an object-store URL, for the Delta lake.
    pub lake: Option<String>,
    pub bind: Option<String>,
    pub timezone: Option<String>,
    /// 64 hex characters; by default a key is generated in the data dir.
    pub pseudonymisation_key: Option<String>,
    /// Where the reference data is read from; by default the copy built into the binary.
    pub reference_dir: Option<PathBuf>,
    /// Where the pipeline files are read from; by default the copy built into the binary.
    pub pipelines_dir: Option<PathBuf>,
    /// Where the SQL views and KPIs are read from; by default the copy built into the binary.
    pub sql_dir: Option<PathBuf>,
    /// Where the dashboard files are read from; by default the copy built into the binary.
    pub dashboards_dir: Option<PathBuf>,
    #[serde(default)]
    pub suppression: Option<Suppression>,
    #[serde(default)]
    pub services: Option<ServicesConfig>,
    /// `[targets]`: the shares of a target that a projection must reach to be on track or at risk.
    #[serde(default)]
    pub targets: Option<crate::kpi::targets::Thresholds>,
}

/// `[services]`: settings of `homedoc serve`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServicesConfig {
    /// Minutes after its slot starts that a booked appointment becomes a no-show.
    pub noshow_grace_minutes: u32,
    /// The header a trusted reverse proxy sets to the client address (e.g.
    /// `X-Forwarded-For`); unset, forwarding headers are ignored.
    pub trusted_proxy_header: Option<String>,
    /// Login and code requests allowed per minute per phone number or user name.
    pub login_limit_per_account: u32,
    /// Login and code requests allowed per minute per client address.
    pub login_limit_per_address: u32,
    /// Mark the session cookie Secure (when served over HTTPS).
    pub secure_cookies: bool,
}

impl Default for ServicesConfig {
    fn default() -> Self {
        ServicesConfig {
            noshow_grace_minutes: 120,
            trusted_proxy_header: None,
            login_limit_per_account: 5,
            login_limit_per_address: 30,
            secure_cookies: false,
        }
    }
}

/// `[suppression]`: small-cell suppression, per audience: counts from 1 to k-1 are
/// hidden (with the cells that would give them away) in that audience's outputs.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Suppression {
    /// k for donors (their outputs leave the ministry).
    pub donor: u32,
    /// k for provincial managers.
    pub provincial_manager: u32,
}

impl Default for Suppression {
    fn default() -> Self {
        Suppression { donor: 10, provincial_manager: 5 }
    }
}

impl Suppression {
    /// The k of an audience's outputs; none for evaluators and admins, who see
    /// figures as they are (outputs made for donors stay suppressed for anyone).
    pub fn k_for(&self, audience: Audience) -> Option<u32> {
        match audience {
            Audience::Open => None,
            Audience::ProvincialManager => Some(self.provincial_manager),
            Audience::Donor => Some(self.donor),
        }
    }
}

/// Whom an output is for, as far as small-cell suppression goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Audience {
    /// Evaluators, admins, and the command line on the machine that holds the lake.
    #[default]
    Open,
    ProvincialManager,
    Donor,
}

/// The resolved settings every command runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub lake: String,
    pub bind: SocketAddr,
    pub timezone: Tz,
    pub suppression: Suppression,
    pub reference_dir: Option<PathBuf>,
    pub pipelines_dir: Option<PathBuf>,
    pub sql_dir: Option<PathBuf>,
    pub dashboards_dir: Option<PathBuf>,
    pub services: ServicesConfig,
    pub targets: crate::kpi::targets::Thresholds,
    /// Serve KPIs from the rollups where they are up to date (`--raw` turns it off).
    pub rollups: bool,
    key_hex: Option<String>,
}

impl Settings {
    /// Resolves settings for `data_dir`, reading `config` (or `DATA_DIR/homedoc.toml`
    /// if it exists) and the environment.
    pub fn load(data_dir: &Path, config: Option<&Path>) -> Result<Self, ConfigError> {
        let default_path = data_dir.join(CONFIG_FILE);
        let file = match config {
            Some(p) => read_config(p)?,
            None if default_path.exists() => read_config(&default_path)?,
            None => FileConfig::default(),
        };
        Self::resolve(data_dir, file, |k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Applies defaults and `env` overrides to a parsed file.
    pub fn resolve(
        data_dir: &Path,
        file: FileConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let pick = |key: &str, from_file: Option<String>| env(key).or(from_file);
        let database_url = pick("HOMEDOC_DATABASE_URL", file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("homedoc.db").display()));
        let lake = pick("HOMEDOC_LAKE", file.lake).unwrap_or_else(|| data_dir.join("lake").display().to_string());
        let bind_text = pick("HOMEDOC_BIND", file.bind).unwrap_or_else(|| "127.0.0.1:8080".into());
        let bind = bind_text.parse().map_err(|_| ConfigError::Invalid {
            key: "bind".into(),
            message: format!("{bind_text:?} is not an address:port"),
        })?;
        let tz_text = pick("HOMEDOC_TIMEZONE", file.timezone).unwrap_or_else(|| "Asia/Ho_Chi_Minh".into());
        let timezone = tz_text.parse().map_err(|_| ConfigError::Invalid {
            key: "timezone".into(),
            message: format!("{tz_text:?} is not an IANA timezone"),
        })?;
        let key_hex = pick("HOMEDOC_PSEUDONYMISATION_KEY", file.pseudonymisation_key);
        if let Some(k) = &key_hex {
            decode_key(k)?;
        }
        let reference_dir = env("HOMEDOC_REFERENCE_DIR").map(PathBuf::from).or(file.reference_dir);
        let pipelines_dir = env("HOMEDOC_PIPELINES_DIR").map(PathBuf::from).or(file.pipelines_dir);
        let sql_dir = env("HOMEDOC_SQL_DIR").map(PathBuf::from).or(file.sql_dir);
        let dashboards_dir = env("HOMEDOC_DASHBOARDS_DIR").map(PathBuf::from).or(file.dashboards_dir);
        let suppression = file.suppression.unwrap_or_default();
        let services = file.services.unwrap_or_default();
        let targets = file.targets.unwrap_or_default();
        if !(targets.at_risk > 0.0 && targets.at_risk <= targets.on_track) {
            return Err(ConfigError::Invalid {
                key: "targets".into(),
                message: format!("need 0 < at_risk ({}) <= on_track ({})", targets.at_risk, targets.on_track),
            });
        }
        if let Some(h) = &services.trusted_proxy_header {
            axum::http::HeaderName::from_bytes(h.as_bytes()).map_err(|_| ConfigError::Invalid {
                key: "services.trusted_proxy_header".into(),
                message: format!("{h:?} is not a header name"),
            })?;
        }
        if services.login_limit_per_account == 0 || services.login_limit_per_address == 0 {
            return Err(ConfigError::Invalid {
                key: "services.login_limit_per_*".into(),
                message: "must be at least 1".into(),
            });
        }
        if suppression.donor < 2 || suppression.provincial_manager < 2 {
            return Err(ConfigError::Invalid {
                key: "suppression".into(),
                message: "k must be at least 2 for every audience (k = 1 would hide nothing)".into(),
            });
        }
        if !database_url.starts_with("sqlite:") && !database_url.starts_with("postgres") {
            return Err(ConfigError::Invalid {
                key: "database_url".into(),
                message: format!("{database_url:?} is neither sqlite://... nor postgres://..."),
            });
        }
        Ok(Settings {
            data_dir: data_dir.to_path_buf(),
            database_url,
            lake,
            bind,
            timezone,
            suppression,
            reference_dir,
            pipelines_dir,
            sql_dir,
            dashboards_dir,
            services,
            targets,
            rollups: true,
            key_hex,
        })
    }

    /// The pseudonymisation key: the configured one, or the data dir's key file,
    /// generated on first use and readable by its owner only.
    pub fn pseudonymisation_key(&self) -> Result<[u8; 32], ConfigError> {
        if let Some(k) = &self.key_hex {
            return decode_key(k);
        }
        let path = self.data_dir.join(KEY_FILE);
        let io = |source| ConfigError::Io { path: path.clone(), source };
        fs::create_dir_all(&self.data_dir).map_err(|source| ConfigError::Io { path: self.data_dir.clone(), source })?;
        let mut key = [0u8; 32];
        rand::fill(&mut key);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut f) => {
                f.write_all(hex::encode(key).as_bytes()).map_err(io)?;
                f.sync_all().map_err(io)?;
                Ok(key)
            }
            // Another process (or an earlier run) made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                decode_key(fs::read_to_string(&path).map_err(io)?.trim())
            }
            Err(e) => Err(io(e)),
        }
    }
}

fn read_config(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.into(), source })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })
}

fn decode_key(hex_text: &str) -> Result<[u8; 32], ConfigError> {
    let bad = || ConfigError::Invalid {
        key: "pseudonymisation_key".into(),
        message: "must be 64 hexadecimal characters (32 bytes)".into(),
    };
    let bytes = hex::decode(hex_text.trim()).map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

/// A config file of a folder of them: its id (the file stem), where it came from
/// (for messages) and its text.
pub struct ConfigFile {
    pub id: String,
    pub origin: String,
    pub text: String,
}

/// The `*.toml` files of `dir` in name order, or the built-in copies when no
/// folder is configured; with every file that could not be read.
pub fn toml_files(dir: Option<&Path>, built_in: &[(&str, &str)]) -> (Vec<ConfigFile>, Vec<String>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let Some(dir) = dir else {
        let copies = built_in.iter().map(|(id, text)| ConfigFile {
            id: id.to_string(),
            origin: format!("{id}.toml (built-in)"),
            text: text.to_string(),
        });
        return (copies.collect(), errors);
    };
    match std::fs::read_dir(dir) {
        Err(e) => errors.push(format!("{}: {e}", dir.display())),
        Ok(entries) => {
            let mut paths: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            paths.sort();
            for p in paths {
                let id = p.file_stem().unwrap_or_default().to_string_lossy().to_string();
                match std::fs::read_to_string(&p) {
                    Ok(text) => files.push(ConfigFile { id, origin: p.display().to_string(), text }),
                    Err(e) => errors.push(format!("{}: {e}", p.display())),
                }
            }
            if files.is_empty() && errors.is_empty() {
                errors.push(format!("{}: no *.toml files", dir.display()));
            }
        }
    }
    (files, errors)
}
