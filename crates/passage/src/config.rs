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
        })
    }
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
