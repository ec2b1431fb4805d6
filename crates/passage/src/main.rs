//! `passage`: one binary to serve Passage, seed a demo, migrate, administer and verify.

mod backup;
mod config;
mod matching;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use config::{Config, Overrides};
use passage_domain::{Actor, SystemClock};
use passage_service::{Ctx, NewUser, Passage};
use passage_store::Db;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "passage",
    version,
    about = "Migration case work and evidence, in one binary"
)]
struct Cli {
    /// Where Passage keeps its SQLite database and files.
    #[arg(long, global = true, env = "PASSAGE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// postgres://… to use PostgreSQL instead of the embedded SQLite file.
    #[arg(long, global = true, env = "PASSAGE_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// A TOML configuration file (default: passage.toml in the data dir, if present).
    #[arg(long, global = true, env = "PASSAGE_CONFIG")]
    config: Option<PathBuf>,
    /// The master key file (default: master.key in the data dir, created on first start).
    #[arg(long, global = true, env = "PASSAGE_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the web pages and API.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long, env = "PASSAGE_LISTEN")]
        listen: Option<String>,
    },
    /// Create (or reuse) a demo data dir with fictional data set in Liberia, then serve it.
    Demo {
        #[arg(long, env = "PASSAGE_LISTEN")]
        listen: Option<String>,
        /// How many fictional records to generate in a new demo data dir (shared between
        /// programmes, spread over their stages).
        #[arg(long, default_value_t = 600)]
        cases: u64,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Check the configuration, data dir and database, and report what would be used.
    CheckConfig,
    /// Administer organisations and accounts.
    #[command(subcommand)]
    Admin(Admin),
    /// Work with the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Identity resolution on CSV files: dedupe, link, screen against a watchlist.
    #[command(subcommand)]
    Match(matching::MatchCommand),
    /// Work with indicator definitions.
    #[command(subcommand)]
    Indicators(IndicatorsCommand),
    /// Work with XLSForm files, without a database.
    #[command(subcommand)]
    Forms(FormsCommand),
    /// Write an encrypted, integrity-checked backup of the whole database (sealed for the
    /// master key, which it does not contain).
    Backup {
        #[arg(long)]
        out: PathBuf,
    },
    /// Replace the database with a backup, after checking all of it (stop Passage first; a
    /// SQLite file is kept aside). Needs the master key the backup was made with.
    Restore { file: PathBuf },
    /// Retention schedules, and crypto-shredding of closed cases past them.
    #[command(subcommand)]
    Retention(RetentionCommand),
}

#[derive(Subcommand, Debug)]
enum RetentionCommand {
    /// Each programme's schedule (years after closure).
    Show,
    /// Destroy the data keys of closed cases past their schedule, keeping the reporting
    /// answers (Passage also does this once a day).
    Run {
        /// Only count what would be shredded.
        #[arg(long)]
        dry_run: bool,
    },
    /// Set a programme's schedule, or `--keep` to keep its cases.
    Set {
        #[arg(long)]
        programme: String,
        #[arg(long, conflicts_with = "keep", required_unless_present = "keep")]
        years: Option<i64>,
        #[arg(long)]
        keep: bool,
    },
}

#[derive(Subcommand, Debug)]
enum FormsCommand {
    /// Print the XForm that ODK clients receive for an XLSForm (.xlsx or .xls); exit 1 with
    /// every problem (sheet, row, column) if Passage would refuse the form.
    Xform { file: PathBuf },
}

#[derive(Subcommand, Debug)]
enum IndicatorsCommand {
    /// Check a definitions file (like indicators/passage.toml) against this installation's
    /// programme forms; exit 1 with the file, line, indicator and field of the first problem.
    Check { file: PathBuf },
}

#[derive(Subcommand, Debug)]
enum Admin {
    /// Create an organisation.
    CreateOrg {
        #[arg(long)]
        name: String,
        /// un_agency, government, ngo or other.
        #[arg(long, default_value = "government")]
        kind: String,
        /// This organisation hosts the installation (its administrators manage all others).
        #[arg(long)]
        host: bool,
    },
    /// Create an account with a role in an organisation. The password is read from standard
    /// input with --password-stdin, otherwise generated and printed once.
    CreateUser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
        /// Organisation name.
        #[arg(long)]
        org: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Give an existing user a role in an organisation.
    AddMember {
        #[arg(long)]
        username: String,
        #[arg(long)]
        org: String,
        #[arg(long)]
        role: String,
    },
    /// Issue an ODK collection device to a member who registers records; prints its server
    /// URL path and Digest credentials once (revoke it on the Collection page).
    IssueDevice {
        #[arg(long)]
        org: String,
        #[arg(long)]
        username: String,
        /// A name for the device, e.g. the tablet's label.
        #[arg(long)]
        name: String,
    },
    /// Set a new password (read from stdin with --password-stdin, else generated) and end
    /// the user's sessions.
    ResetPassword {
        #[arg(long)]
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user's two-step verification (a lost phone) and end their sessions; they set
    /// up a new authenticator at their next sign-in.
    ResetSecondFactor {
        #[arg(long)]
        username: String,
    },
    /// Rebuild every person's search and duplicate-finding index from their sealed identity
    /// (after an upgrade, or for persons registered before duplicate finding existed).
    ReindexPersons,
    /// List accounts with their organisations and roles.
    ListUsers,
    /// Write a new master key file (never replaces an existing one).
    GenKey {
        #[arg(long)]
        out: PathBuf,
    },
    /// Everything held about one person (their identity, consents, cases with every answer,
    /// notes and documents, referrals, and who accessed them) as JSON, for their subject access
    /// request; audited. Give the person's id or one of their case numbers.
    SubjectAccess {
        #[arg(long, conflicts_with = "case", required_unless_present = "case")]
        person: Option<String>,
        #[arg(long)]
        case: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Who read or changed a person and their cases, newest first; audited.
    AccessReport {
        #[arg(long, conflicts_with = "case", required_unless_present = "case")]
        person: Option<String>,
        #[arg(long)]
        case: Option<String>,
    },
    /// Re-wrap every record's data key under a new master key (made with `gen-key`), in one
    /// transaction; the data is not touched. Stop Passage first. The new key then takes the
    /// master key file's place and the previous key is kept beside it, named by fingerprint.
    RotateMasterKey {
        #[arg(long)]
        new_key: PathBuf,
    },
    /// Upload a new version of a programme's form (an XLSForm .xlsx). A bad workbook is
    /// refused whole and every problem is listed with its sheet, row and column.
    UploadForm {
        /// Programme code: avrr, ct, rr, border or capacity.
        #[arg(long)]
        programme: String,
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Check the hash chain; exits 1 and names the first broken link if any row was edited,
    /// inserted or deleted.
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    // Files in, files out: no configuration, database or async runtime.
    let offline = match cli.command {
        Command::Match(command) => matching::run(command),
        Command::Forms(FormsCommand::Xform { file }) => print_xform(&file),
        command => return with_runtime(Cli { command, ..cli }),
    };
    offline.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}

/// `passage forms xform FILE`: the XForm ODK clients receive, or the problems on stderr.
fn print_xform(file: &std::path::Path) -> Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("form");
    match passage_xlsform::read_xlsform(&bytes, stem) {
        Ok(form) => {
            println!("{}", passage_xlsform::xform::to_xform(&form)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            eprintln!("{}: refused\n{problems}", file.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

fn with_runtime(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("PASSAGE_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let json = std::env::var("PASSAGE_LOG_FORMAT").is_ok_and(|f| f == "json");
    // Colours only on a terminal: journald and log files get plain text.
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let default_dir = if matches!(cli.command, Command::Demo { .. }) {
        "passage-demo"
    } else {
        "passage-data"
    };
    let listen = match &cli.command {
        Command::Serve { listen } | Command::Demo { listen, .. } => listen.clone(),
        _ => None,
    };
    let config = Config::resolve(Overrides {
        config_file: cli.config.clone(),
        data_dir: cli.data_dir.clone().unwrap_or_else(|| PathBuf::from(default_dir)),
        listen,
        database_url: cli.database_url.clone(),
        master_key_file: cli.master_key_file.clone(),
    })?;

    match cli.command {
        Command::Serve { .. } => {
            // Bind first: if the port is taken, fail before touching the database.
            let listener = bind(&config).await?;
            let svc = service(&config).await?;
            serve(config, listener, svc, None).await
        }
        Command::Demo { cases, .. } => demo(config, cases).await,
        Command::Migrate => {
            let db = open(&config).await?;
            let (applied, known) = db.migration_status().await?;
            println!(
                "database {} is at migration {applied} of {known}",
                config.database.redacted()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig => check_config(&config).await,
        Command::Retention(cmd) => retention(&config, cmd).await,
        Command::Backup { out } => backup::backup(&config, &out).await,
        Command::Restore { file } => backup::restore(&config, &file).await,
        Command::Admin(cmd) => admin(&config, cmd).await,
        Command::Match(command) => matching::run(command),
        Command::Forms(FormsCommand::Xform { file }) => print_xform(&file),
        Command::Indicators(IndicatorsCommand::Check { file }) => {
            let text =
                std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let svc = service(&config).await?;
            match svc
                .check_indicator_definitions(&file.display().to_string(), &text)
                .await
            {
                Ok((computed, manual)) => {
                    println!(
                        "{}: {computed} computed and {manual} manual indicators, all valid",
                        file.display()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(passage_service::ServiceError::Indicators(e)) => {
                    eprintln!("{e}");
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Audit(AuditCommand::Verify) => {
            let svc = service(&config).await?;
            let report = svc.verify_audit_chain(&Actor::Operator).await?;
            match report.first_break {
                None => {
                    println!("audit chain intact: {} events verified", report.checked);
                    Ok(ExitCode::SUCCESS)
                }
                Some(b) => {
                    println!(
                        "audit chain BROKEN at event {}: {} ({} events before it verified)",
                        b.seq, b.reason, report.checked
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

/// A person given by id, or by the number of one of their cases.
async fn person_arg(svc: &Passage, person: Option<String>, case: Option<String>) -> Result<uuid::Uuid> {
    match (person, case) {
        (Some(p), _) => p.parse().context("--person is not a person id"),
        (None, Some(number)) => svc
            .person_of_case_number(&number)
            .await
            .with_context(|| format!("no person is known by case {number}")),
        (None, None) => bail!("give --person or --case"),
    }
}

async fn retention(config: &Config, cmd: RetentionCommand) -> Result<ExitCode> {
    let svc = service(config).await?;
    let ctx = Ctx::cli();
    match cmd {
        RetentionCommand::Show => {
            for s in svc.retention_schedules().await? {
                match s.years {
                    Some(y) => println!("{:<10} {y} years after closure  ({})", s.programme, s.name),
                    None => println!("{:<10} kept  ({})", s.programme, s.name),
                }
            }
        }
        RetentionCommand::Run { dry_run } => {
            let report = svc.run_retention(&ctx, dry_run).await?;
            let verb = if dry_run { "would shred" } else { "shredded" };
            if report.cases.is_empty() {
                println!("no closed case is past its programme's retention schedule");
            }
            for (programme, n) in &report.cases {
                println!("{programme}: {verb} {n} closed case(s)");
            }
            if !dry_run && report.persons > 0 {
                println!("and {} person(s) with no case left", report.persons);
            }
        }
        RetentionCommand::Set { programme, years, .. } => {
            svc.set_retention(&Actor::Operator, &ctx, &programme, years)
                .await?;
            match years {
                Some(y) => println!("{programme}: closed cases are shredded {y} years after closure"),
                None => println!("{programme}: closed cases are kept"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prepare the data dir, connect and migrate.
async fn open(config: &Config) -> Result<Db> {
    config::prepare_data_dir(&config.data_dir)?;
    let db = Db::connect(&config.database)
        .await
        .with_context(|| format!("cannot open database {}", config.database.redacted()))?;
    db.migrate()
        .await
        .with_context(|| format!("cannot migrate database {}", config.database.redacted()))?;
    Ok(db)
}

async fn service(config: &Config) -> Result<Passage> {
    let db = open(config).await?;
    let hasher = passage_crypto::PasswordHasher::standard()?;
    let master = master_key(config, &db).await?;
    let svc = Passage::new(db, Arc::new(SystemClock), hasher, config.settings.clone(), master).await?;
    svc.install_shipped_forms()
        .await
        .context("installing the shipped programme forms")?;
    // Submissions a stopped process had stored but not yet registered.
    let finished = svc
        .process_pending_submissions()
        .await
        .context("finishing submissions received before the last stop")?;
    if finished > 0 {
        tracing::info!(finished, "registered submissions received before the last stop");
    }
    Ok(svc)
}

/// Load the master key; on first start (no file yet, nothing sealed yet) create one and say
/// so. A missing key file for a database that holds sealed data is an error: a new key would
/// make every record unreadable.
async fn master_key(config: &Config, db: &Db) -> Result<passage_service::MasterKey> {
    let path = &config.master_key_file;
    if !path.exists() {
        if Passage::holds_sealed_data(db).await? {
            bail!(
                "the master key file {} is missing, but this database holds encrypted records: \
                 restore the key file from your backup, or point PASSAGE_MASTER_KEY_FILE at it \
                 (no new key was created, nothing was changed)",
                path.display()
            );
        }
        let key = passage_service::MasterKey::generate()?;
        key.write_new(path)?;
        eprintln!(
            "Created a new master key at {} (fingerprint {}). Back it up apart from the database: \
             without it, encrypted personal data cannot be read.",
            path.display(),
            key.fingerprint()
        );
        return Ok(key);
    }
    Ok(passage_service::MasterKey::read(path)?)
}

async fn bind(config: &Config) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(config.listen).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " (another program is using it; choose another with --listen)"
        } else {
            ""
        };
        anyhow::anyhow!("cannot listen on {}: {e}{hint}", config.listen)
    })
}

async fn serve(
    config: Config,
    listener: tokio::net::TcpListener,
    svc: Passage,
    banner: Option<String>,
) -> Result<ExitCode> {
    let sso = match config.sso.clone() {
        Some(c) => Some(std::sync::Arc::new(
            passage_sso::SsoClient::new(c).context("single sign-on")?,
        )),
        None => None,
    };
    // Pack space a stopped process left for records that never committed: given back
    // before this process appends to those packs.
    match svc.sweep_document_files().await {
        Ok(0) => {}
        Ok(bytes) => tracing::info!(bytes, "gave back document pack space no record names"),
        Err(e) => tracing::warn!(error = %e, "sweeping the document packs failed"),
    }
    let app = passage_server::router(
        svc.clone(),
        passage_server::ServerOptions {
            secure: config.secure,
            trust_proxy: config.trust_proxy,
            sso,
        },
    );
    let shutdown = shutdown_signal()?;
    if let Some(text) = banner {
        println!("{text}");
    }
    println!(
        "Passage is serving http://{}/ (database: {})",
        listener.local_addr()?,
        config.database.redacted()
    );

    // Load the indicator facts now, so that the first dashboard view does not wait for it
    // (at a million records that takes tens of seconds; afterwards only changes are read).
    let preload = svc.clone();
    tokio::spawn(async move {
        if let Err(e) = preload.indicator_facts().await {
            tracing::warn!(error = %e, "loading the indicator facts failed; the dashboard will retry");
        }
    });

    let pruner = svc.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            tick.tick().await;
            if let Err(e) = pruner.prune().await {
                tracing::warn!(error = %e, "pruning sessions failed");
            }
        }
    });

    // Each organisation's matching model, learned from its persons at start and twice a day.
    let learner = svc.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(12 * 3600));
        loop {
            tick.tick().await;
            match learner.learn_match_models(&Ctx::cli()).await {
                Ok(learned) if !learned.is_empty() => {
                    let persons: usize = learned.iter().map(|(_, n)| n).sum();
                    tracing::info!(organisations = learned.len(), persons, "learned matching models");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "learning the matching models failed"),
            }
        }
    });

    // Retention once a day (and at start): expired closed cases are crypto-shredded.
    let keeper = svc.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(24 * 3600));
        loop {
            tick.tick().await;
            match keeper.run_retention(&Ctx::cli(), false).await {
                Ok(r) if !r.cases.is_empty() => {
                    let cases: u64 = r.cases.iter().map(|(_, n)| n).sum();
                    tracing::info!(
                        cases,
                        persons = r.persons,
                        "retention: shredded expired closed cases"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention run failed"),
            }
        }
    });

    passage_server::serve(listener, app, shutdown)
        .await
        .context("server failed")?;
    svc.db().close().await;
    println!("Passage stopped.");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed here, when called — before the
/// server says it is serving — so a signal that arrives at once still stops it cleanly.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
    })
}

const DEMO_ACCOUNTS_FILE: &str = "demo-accounts.txt";
const DEMO_DEVICES_FILE: &str = "demo-devices.txt";

async fn demo(config: Config, cases: u64) -> Result<ExitCode> {
    let listener = bind(&config).await?;
    let svc = service(&config).await?;
    let accounts_file = config.data_dir.join(DEMO_ACCOUNTS_FILE);
    if svc.is_empty().await? {
        let accounts = svc.seed_demo().await?;
        let started = std::time::Instant::now();
        let report = |done: u64, total: u64| {
            if done % 10_000 < 500 || done >= total {
                eprintln!("generating demo records: {done} of {total}");
            }
        };
        let created = svc
            .seed_demo_volume(cases, &report)
            .await
            .context("generating demo cases")?;
        eprintln!(
            "generated {created} fictional records in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let mut text = String::from(
            "# Passage demo accounts (fictional). Anyone who can read this file can sign in: delete it\n\
             # and the demo data dir when you are done.\n",
        );
        for a in &accounts {
            text.push_str(&format!(
                "{}\t{}\t{}\t{}\n",
                a.username, a.password, a.role, a.organisation
            ));
        }
        write_private(&accounts_file, &text)?;
        let mut devices = String::from(
            "# Passage demo ODK devices (fictional): name, URL path for ODK Collect, Digest username, Digest password.\n",
        );
        for d in svc.seed_demo_devices().await? {
            devices.push_str(&format!(
                "{}\t/key/{}\t{}\t{}\n",
                d.name, d.device.token, d.device.device.digest_username, d.device.password
            ));
        }
        write_private(&config.data_dir.join(DEMO_DEVICES_FILE), &devices)?;
    } else if !accounts_file.exists() {
        bail!(
            "{} already holds data that is not a Passage demo; use `passage serve` for it, or choose another --data-dir",
            config.data_dir.display()
        );
    }
    let text = std::fs::read_to_string(&accounts_file)
        .with_context(|| format!("cannot read {}", accounts_file.display()))?;
    let mut banner = format!(
        "Passage demo — generated, fictional data set in Liberia ({}).\nSign in with one of these accounts:\n\n  {:<20} {:<38} {:<28} {}\n",
        config.data_dir.display(),
        "username",
        "password",
        "role",
        "organisation"
    );
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        if let [user, password, role, org] = f.as_slice() {
            banner.push_str(&format!("  {user:<20} {password:<38} {role:<28} {org}\n"));
        }
    }
    if let Ok(devices) = std::fs::read_to_string(config.data_dir.join(DEMO_DEVICES_FILE)) {
        banner.push_str("\nODK Collect / Enketo / Web Forms: set the server URL to\n\n");
        for line in devices.lines().filter(|l| !l.starts_with('#')) {
            if let [name, path, ..] = line.split('\t').collect::<Vec<_>>().as_slice() {
                banner.push_str(&format!("  http://{}{path}   ({name})\n", config.listen));
            }
        }
    }
    serve(config, listener, svc, Some(banner)).await
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

async fn check_config(config: &Config) -> Result<ExitCode> {
    println!(
        "config file:   {}",
        config
            .source
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "none (defaults)".to_owned())
    );
    println!("data dir:      {}", config.data_dir.display());
    println!("listen:        {}", config.listen);
    println!(
        "secure cookies and HSTS: {}",
        if config.secure {
            "yes (public_url is https)"
        } else {
            "no (plain http)"
        }
    );
    println!("database:      {}", config.database.redacted());
    let mut ok = true;
    if config.master_key_file.exists() {
        match passage_service::MasterKey::read(&config.master_key_file) {
            Ok(key) => println!(
                "master key:    {} (fingerprint {})",
                config.master_key_file.display(),
                key.fingerprint()
            ),
            Err(e) => {
                println!("master key:    PROBLEM: {e}");
                ok = false;
            }
        }
    } else {
        println!(
            "master key:    {} (will be created at first start)",
            config.master_key_file.display()
        );
    }
    match config::prepare_data_dir(&config.data_dir) {
        Ok(()) => println!("data dir:      writable"),
        Err(e) => {
            println!("data dir:      PROBLEM: {e:#}");
            ok = false;
        }
    }
    if ok {
        match Db::connect(&config.database).await {
            Ok(db) => {
                let (applied, known) = db.migration_status().await?;
                let state = if applied as usize == known {
                    "up to date"
                } else {
                    "will be migrated at start"
                };
                println!("database:      reachable, {applied} of {known} migrations applied ({state})");
            }
            Err(e) => {
                println!("database:      PROBLEM: {e}");
                ok = false;
            }
        }
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn password_input(from_stdin: bool, username: &str) -> Result<(String, bool)> {
    if from_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the password from standard input")?;
        let password = text.lines().next().unwrap_or_default().to_owned();
        Ok((password, false))
    } else {
        Ok((passage_service::generate_password("pw-", username)?, true))
    }
}

async fn admin(config: &Config, cmd: Admin) -> Result<ExitCode> {
    if let Admin::GenKey { out } = &cmd {
        let key = passage_service::MasterKey::generate()?;
        key.write_new(out)?;
        println!(
            "wrote a new master key to {} (fingerprint {})",
            out.display(),
            key.fingerprint()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let svc = service(config).await?;
    let (operator, ctx) = (Actor::Operator, Ctx::cli());
    match cmd {
        Admin::SubjectAccess { person, case, out } => {
            let person = person_arg(&svc, person, case).await?;
            let export = svc.subject_access_export(&operator, &ctx, person).await?;
            write_private(&out, &serde_json::to_string_pretty(&export)?)?;
            println!("wrote everything held about person {person} to {}", out.display());
        }
        Admin::AccessReport { person, case } => {
            let person = person_arg(&svc, person, case).await?;
            let users = svc.users(&operator, &ctx).await?;
            for e in svc.person_access_report(&operator, &ctx, person).await? {
                let by = e
                    .actor
                    .and_then(|u| users.iter().find(|m| m.user.id == u))
                    .map_or("operator".to_owned(), |m| m.user.username.to_string());
                println!(
                    "{}  {:<24} {:<20} {} {}",
                    e.at,
                    e.action,
                    by,
                    e.target_type.unwrap_or_default(),
                    e.target_id.unwrap_or_default()
                );
            }
        }
        Admin::RotateMasterKey { new_key } => {
            let new = passage_service::MasterKey::read(&new_key)?;
            let done = svc.rotate_master_key(&ctx, &new).await?;
            let path = &config.master_key_file;
            let retired = PathBuf::from(format!("{}.retired-{}", path.display(), done.old_fingerprint));
            std::fs::rename(path, &retired)
                .with_context(|| format!("moving the previous key file to {}", retired.display()))?;
            new.write_new(path)?;
            std::fs::remove_file(&new_key).with_context(|| format!("removing {}", new_key.display()))?;
            println!(
                "re-wrapped {} data keys under master key {}, now in {}; the previous key ({}) is kept at {}: \
                 keep it while backups made with it are kept, then destroy it",
                done.data_keys,
                done.new_fingerprint,
                path.display(),
                done.old_fingerprint,
                retired.display()
            );
        }
        Admin::CreateOrg { name, kind, host } => {
            let org = svc.create_org(&operator, &ctx, &name, &kind, host).await?;
            println!("created organisation {} ({})", org.name, org.id);
        }
        Admin::CreateUser {
            username,
            name,
            email,
            org,
            role,
            password_stdin,
        } => {
            let org = svc
                .organisation_named(&operator, &org)
                .await
                .context("organisation")?;
            let (password, generated) = password_input(password_stdin, &username)?;
            let new = NewUser {
                username,
                display_name: name,
                email,
                password: password.clone(),
                org: org.id,
                role,
            };
            let user = svc.create_user(&operator, &ctx, &new).await?;
            println!("created user {} in {}", user.username, org.name);
            if generated {
                println!("initial password (shown once): {password}");
            }
        }
        Admin::AddMember { username, org, role } => {
            let org = svc
                .organisation_named(&operator, &org)
                .await
                .context("organisation")?;
            let user = svc
                .add_member(&operator, &ctx, &username, org.id, &role)
                .await
                .context("user")?;
            println!("{} is now {role} in {}", user.username, org.name);
        }
        Admin::IssueDevice { org, username, name } => {
            let org = svc
                .organisation_named(&operator, &org)
                .await
                .context("organisation")?;
            let issued = svc
                .issue_device_to(&operator, &ctx, org.id, &username, &name)
                .await
                .context("device")?;
            println!(
                "Issued {} to {username} in {} (shown once):\n  server URL path: /key/{}\n  or Digest: username {} password {}",
                issued.device.name, org.name, issued.token, issued.device.digest_username, issued.password
            );
        }
        Admin::ResetSecondFactor { username } => {
            let user = svc
                .reset_second_factor(&operator, &ctx, &username)
                .await
                .context("user")?;
            println!(
                "two-step verification removed for {}; their sessions have ended",
                user.username
            );
        }
        Admin::ReindexPersons => {
            let (done, unreadable) = svc.reindex_persons(&operator, &ctx).await?;
            println!(
                "reindexed {done} persons; {unreadable} could not be read (destroyed under the retention schedule)"
            );
        }
        Admin::ResetPassword {
            username,
            password_stdin,
        } => {
            let (password, generated) = password_input(password_stdin, &username)?;
            let user = svc
                .reset_password(&operator, &ctx, &username, &password)
                .await
                .context("user")?;
            println!("password reset for {}; their sessions have ended", user.username);
            if generated {
                println!("new password (shown once): {password}");
            }
        }
        Admin::UploadForm { programme, file } => {
            let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            match svc.upload_form(&operator, &ctx, &programme, &bytes).await {
                Ok(v) => println!(
                    "{}: version {} of {} is now the current form",
                    file.display(),
                    v.version,
                    v.title
                ),
                Err(passage_service::ServiceError::InvalidForm(problems)) => {
                    for p in &problems {
                        eprintln!("{}: {p}", file.display());
                    }
                    eprintln!(
                        "error: {} was not accepted ({} problem(s)); nothing was changed",
                        file.display(),
                        problems.len()
                    );
                    return Ok(ExitCode::FAILURE);
                }
                Err(passage_service::ServiceError::NotFound) => {
                    bail!("programme `{programme}` does not exist (avrr, ct, rr, border, capacity)")
                }
                Err(e) => return Err(e.into()),
            }
        }
        Admin::GenKey { .. } => {}
        Admin::ListUsers => {
            let members = svc.users(&operator, &ctx).await?;
            let orgs = svc.organisations(&operator).await?;
            println!("{:<24} {:<36} {:<28} organisation", "username", "name", "role");
            for m in members {
                let org = orgs
                    .iter()
                    .find(|o| o.id == m.org)
                    .map(|o| o.name.to_string())
                    .unwrap_or_default();
                println!(
                    "{:<24} {:<36} {:<28} {org}",
                    m.user.username, m.user.display_name, m.role
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
