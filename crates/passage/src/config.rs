//! Configuration: command-line flags and PASSAGE_* environment variables win over the
//! optional TOML file (`--config`, or `passage.toml` in the data dir), which wins over defaults.

use anyhow::{Context, Result, bail};
use passage_store::DbTarget;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const SQLITE_FILE: &str = "passage.sqlite3";
pub const MASTER_KEY_FILE: &str = "master.key";

/// The TOML file's keys; unknown keys are an error, so a typo never passes silently.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub public_url: Option<String>,
    pub trust_proxy: Option<bool>,
    pub session_idle_minutes: Option<i64>,
    pub session_absolute_hours: Option<i64>,
    pub break_glass_minutes: Option<i64>,
    pub master_key_file: Option<PathBuf>,
    pub sso: Option<SsoSection>,
}

/// `[sso]`: the organisation's OpenID Connect provider.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoSection {
    pub issuer: String,
    pub client_id: String,
    /// A file holding the client secret (kept out of the config file).
    pub client_secret_file: PathBuf,
    /// The button says "Sign in with {label}".
    pub label: Option<String>,
}

/// Everything `serve` needs, resolved and checked.
#[derive(Debug)]
pub struct Config {
    pub source: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub database: DbTarget,
    pub secure: bool,
    pub trust_proxy: bool,
    pub settings: passage_service::Settings,
    /// The master key that wraps every record's data key.
    pub master_key_file: PathBuf,
    pub sso: Option<passage_sso::SsoConfig>,
}

/// Values given on the command line or in the environment.
#[derive(Debug, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub master_key_file: Option<PathBuf>,
}

impl Config {
    pub fn resolve(o: Overrides) -> Result<Self> {
        let explicit = o.config_file.clone();
        let path = explicit
            .clone()
            .or_else(|| Some(o.data_dir.join("passage.toml")).filter(|p| p.exists()));
        let file = match &path {
            Some(p) => read_file(p)?,
            None => FileConfig::default(),
        };
        let listen_raw = o
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_raw.parse().with_context(|| {
            format!("listen address {listen_raw:?} is not HOST:PORT (e.g. 127.0.0.1:8080)")
        })?;
        let database = match o
            .database_url
            .or(file.database_url)
            .filter(|u| !u.trim().is_empty())
        {
            Some(url) => DbTarget::parse(url.trim())
                .map_err(anyhow::Error::msg)
                .context("database URL")?,
            None => DbTarget::SqliteFile(o.data_dir.join(SQLITE_FILE)),
        };
        let secure = match file.public_url.as_deref() {
            None => false,
            Some(u) if u.starts_with("https://") => true,
            Some(u) if u.starts_with("http://") => false,
            Some(_) => bail!("public_url must start with http:// or https://"),
        };
        let mut settings = passage_service::Settings::default();
        if let Some(m) = file.session_idle_minutes {
            if !(1..=24 * 60).contains(&m) {
                bail!("session_idle_minutes must be between 1 and 1440");
            }
            settings.session_idle_secs = m * 60;
        }
        if let Some(h) = file.session_absolute_hours {
            if !(1..=168).contains(&h) {
                bail!("session_absolute_hours must be between 1 and 168");
            }
            settings.session_absolute_secs = h * 3600;
        }
        if let Some(m) = file.break_glass_minutes {
            if !(1..=24 * 60).contains(&m) {
                bail!("break_glass_minutes must be between 1 and 1440");
            }
            settings.break_glass_secs = m * 60;
        }
        let sso = match (file.sso, file.public_url.as_deref()) {
            (None, _) => None,
            (Some(_), None) => bail!("[sso] needs public_url: the provider sends people back to it"),
            (Some(section), Some(public)) => Some(sso_config(section, public)?),
        };
        let master_key_file = o
            .master_key_file
            .or(file.master_key_file)
            .unwrap_or_else(|| o.data_dir.join(MASTER_KEY_FILE));
        Ok(Self {
            master_key_file,
            source: path,
            data_dir: o.data_dir,
            listen,
            database,
            secure,
            trust_proxy: file.trust_proxy.unwrap_or(false),
            settings,
            sso,
        })
    }
}

fn sso_config(section: SsoSection, public_url: &str) -> Result<passage_sso::SsoConfig> {
    let secret = std::fs::read_to_string(&section.client_secret_file).with_context(|| {
        format!(
            "[sso] client_secret_file {} cannot be read",
            section.client_secret_file.display()
        )
    })?;
    let secret = secret.trim().to_owned();
    if secret.is_empty() {
        bail!(
            "[sso] client_secret_file {} is empty",
            section.client_secret_file.display()
        );
    }
    Ok(passage_sso::SsoConfig {
        issuer: section.issuer,
        client_id: section.client_id,
        client_secret: secret,
        redirect_url: format!("{}/login/sso/callback", public_url.trim_end_matches('/')),
        label: section
            .label
            .unwrap_or_else(|| "your organisation account".to_owned()),
    })
}

fn read_file(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
        let message = e.message().trim().to_owned();
        match line {
            Some(line) => anyhow::anyhow!("config file {}, line {line}: {message}", path.display()),
            None => anyhow::anyhow!("config file {}: {message}", path.display()),
        }
    })
}

/// Create the data dir if needed and prove it is writable (before anything else is written).
pub fn prepare_data_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create data dir {}", dir.display()))?;
    let probe = dir.join(".passage-write-test");
    std::fs::write(&probe, b"").with_context(|| format!("data dir {} is not writable", dir.display()))?;
    std::fs::remove_file(&probe).with_context(|| format!("data dir {} is not writable", dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(dir: &Path) -> Overrides {
        Overrides {
            data_dir: dir.to_path_buf(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_use_sqlite_in_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::resolve(overrides(dir.path())).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.database, DbTarget::SqliteFile(dir.path().join(SQLITE_FILE)));
        assert!(!c.secure);
    }

    #[test]
    fn a_typo_in_the_file_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("passage.toml"),
            "listen = \"127.0.0.1:9000\"\nlisten_adress = 1\n",
        )
        .unwrap();
        let err = Config::resolve(overrides(dir.path())).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("listen_adress"), "{err}");
    }

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("passage.toml"),
            "listen = \"127.0.0.1:9000\"\npublic_url = \"https://passage.example\"\n",
        )
        .unwrap();
        let c = Config::resolve(Overrides {
            listen: Some("0.0.0.0:8081".into()),
            ..overrides(dir.path())
        })
        .unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:8081");
        assert!(c.secure);
    }

    #[test]
    fn single_sign_on_needs_a_public_url_and_a_readable_secret() {
        let dir = tempfile::tempdir().unwrap();
        let sso = "[sso]\nissuer = \"https://login.example.org/realms/iom\"\nclient_id = \"passage\"\nclient_secret_file = \"oidc-secret\"\n";
        std::fs::write(dir.path().join("passage.toml"), sso).unwrap();
        let err = Config::resolve(overrides(dir.path())).unwrap_err().to_string();
        assert!(err.contains("[sso] needs public_url"), "{err}");

        let secret = dir.path().join("oidc-secret");
        let toml = format!(
            "public_url = \"https://passage.example.org/\"\n{}",
            sso.replace("oidc-secret", &secret.display().to_string())
        );
        std::fs::write(dir.path().join("passage.toml"), &toml).unwrap();
        let err = Config::resolve(overrides(dir.path())).unwrap_err().to_string();
        assert!(
            err.contains("client_secret_file") && err.contains("cannot be read"),
            "{err}"
        );

        std::fs::write(&secret, "s3cret\n").unwrap();
        let c = Config::resolve(overrides(dir.path())).unwrap().sso.unwrap();
        assert_eq!(c.redirect_url, "https://passage.example.org/login/sso/callback");
        assert_eq!(c.client_secret, "s3cret");
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "the secret is never printed"
        );
    }

    #[test]
    fn bad_values_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let bad_listen = Config::resolve(Overrides {
            listen: Some("localhost".into()),
            ..overrides(dir.path())
        });
        assert!(bad_listen.unwrap_err().to_string().contains("HOST:PORT"));
        let bad_db = Config::resolve(Overrides {
            database_url: Some("mysql://x".into()),
            ..overrides(dir.path())
        });
        assert!(format!("{:#}", bad_db.unwrap_err()).contains("postgres://"));
    }
}
