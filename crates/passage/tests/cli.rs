//! The `passage` binary as an operator uses it: exit codes, one-line errors, and a real
//! server process stopped with SIGTERM. Runs on PostgreSQL too when
//! PASSAGE_TEST_DATABASE_URL is set.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::zombie_processes
)] // test helpers may fail loudly

use passage_store::DbTarget;
use passage_store::test_support::TestDb;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn passage() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_passage"));
    c.env_remove("PASSAGE_DATABASE_URL")
        .env_remove("PASSAGE_DATA_DIR")
        .env_remove("PASSAGE_CONFIG");
    c.env("PASSAGE_LOG", "warn");
    c
}

fn url_of(t: &TestDb) -> String {
    match &t.target {
        DbTarget::SqliteFile(p) => format!("sqlite://{}", p.display()),
        DbTarget::Postgres(url) => url.clone(),
    }
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn run_with_stdin(cmd: &mut Command, input: &str) -> (i32, String, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_malformed_config_is_named_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("passage.toml"),
        "listen = \"127.0.0.1:0\"\nsesion_idle_minutes = 5\n",
    )
    .unwrap();
    let (code, _, err) = run(passage().arg("check-config").arg("--data-dir").arg(dir.path()));
    assert_eq!(code, 1);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("passage.toml, line 2") && err.contains("sesion_idle_minutes"),
        "{err}"
    );
    std::fs::write(dir.path().join("passage.toml"), "break_glass_minutes = 0\n").unwrap();
    let (code, _, err) = run(passage().arg("check-config").arg("--data-dir").arg(dir.path()));
    assert_eq!(code, 1);
    assert!(
        err.contains("break_glass_minutes must be between 1 and 1440"),
        "{err}"
    );
}

#[test]
fn master_keys_are_generated_once_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("keys").join("passage.key");
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    let (code, out, err) = run(passage().args(["admin", "gen-key", "--out"]).arg(&key));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("fingerprint"));
    let (code, _, err) = run(passage().args(["admin", "gen-key", "--out"]).arg(&key));
    assert_eq!(code, 1, "an existing key is never replaced");
    assert!(err.contains("File exists"), "{err}");

    let (code, out, _) = run(passage()
        .arg("check-config")
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--master-key-file")
        .arg(&key));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("master key:") && out.contains("fingerprint"),
        "{out}"
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, out, _) = run(passage()
        .arg("check-config")
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--master-key-file")
        .arg(&key));
    assert_eq!(code, 1);
    assert!(out.contains("chmod 600"), "{out}");
}

#[test]
fn a_port_in_use_fails_before_anything_is_written() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (code, _, err) = run(passage()
        .args(["serve", "--listen", &addr])
        .arg("--data-dir")
        .arg(&data));
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("cannot listen on {addr}")) && err.contains("--listen"),
        "{err}"
    );
    assert!(!data.exists(), "nothing was written");
}

#[test]
fn an_unusable_data_dir_or_database_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let (code, _, err) = run(passage().arg("migrate").arg("--data-dir").arg(file.join("sub")));
    assert_eq!(code, 1);
    assert!(err.contains("cannot create data dir"), "{err}");

    let started = Instant::now();
    let (code, _, err) = run(passage().arg("migrate").arg("--data-dir").arg(dir.path()).args([
        "--database-url",
        "postgres://passage:secret-pw@127.0.0.1:9/passage",
    ]));
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot open database postgres://passage:***@127.0.0.1:9/passage"),
        "{err}"
    );
    assert!(!err.contains("secret-pw"), "the password never appears");
    assert!(started.elapsed() < Duration::from_secs(30));

    let (code, _, err) = run(passage().arg("migrate").args(["--database-url", "mysql://x"]));
    assert_eq!(code, 1);
    assert!(err.contains("postgres://"), "{err}");
}

#[tokio::test]
async fn administration_from_the_command_line() {
    let t = TestDb::new().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cli = || {
        let mut c = passage();
        c.arg("--data-dir")
            .arg(dir.path())
            .args(["--database-url", &url_of(&t)]);
        c
    };
    let (code, out, err) = run(cli().args([
        "admin",
        "create-org",
        "--name",
        "IOM Liberia",
        "--kind",
        "un_agency",
        "--host",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created organisation IOM Liberia"));
    let (code, _, err) = run(cli().args(["admin", "create-org", "--name", "iom liberia"]));
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = run(cli().args([
        "admin",
        "create-org",
        "--name",
        "Ministry of Labour",
        "--kind",
        "ministry",
    ]));
    assert_eq!(code, 1);
    assert!(err.contains("kind: must be one of"), "{err}");

    let (code, out, err) = run_with_stdin(
        cli().args([
            "admin",
            "create-user",
            "--username",
            "musu.k",
            "--name",
            "Musu Example (fictional)",
            "--org",
            "IOM Liberia",
            "--role",
            "administrator",
            "--password-stdin",
        ]),
        "cassava-lantern-river\n",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("created user musu.k in IOM Liberia") && !out.contains("cassava"),
        "{out}"
    );
    let (code, _, err) = run(cli().args([
        "admin",
        "create-user",
        "--username",
        "x1",
        "--name",
        "X",
        "--org",
        "Nowhere",
        "--role",
        "caseworker",
    ]));
    assert_eq!(code, 1);
    assert!(err.contains("organisation: not found"), "{err}");

    let (code, out, _) = run(cli().args([
        "admin",
        "create-user",
        "--username",
        "border.one",
        "--name",
        "Border One (fictional)",
        "--org",
        "IOM Liberia",
        "--role",
        "caseworker",
    ]));
    assert_eq!(code, 0);
    assert!(out.contains("initial password (shown once): pw-"));
    let (code, out, _) = run(cli().args([
        "admin",
        "add-member",
        "--username",
        "border.one",
        "--org",
        "IOM Liberia",
        "--role",
        "border_officer",
    ]));
    assert_eq!(code, 0);
    assert!(out.contains("border.one is now border_officer in IOM Liberia"));
    let (code, _, err) = run(cli().args([
        "admin",
        "add-member",
        "--username",
        "border.one",
        "--org",
        "IOM Liberia",
        "--role",
        "king",
    ]));
    assert_eq!(code, 1);
    assert!(err.contains("role: is not a known role"), "{err}");

    let (code, out, _) = run(cli().args(["admin", "reset-password", "--username", "border.one"]));
    assert_eq!(code, 0);
    assert!(out.contains("new password (shown once): pw-"));
    let (code, _, err) = run(cli().args(["admin", "reset-password", "--username", "nobody"]));
    assert_eq!(code, 1);
    assert!(err.contains("user: not found"), "{err}");

    let (code, out, _) = run(cli().args(["admin", "reset-second-factor", "--username", "border.one"]));
    assert_eq!(code, 0);
    assert!(
        out.contains("two-step verification removed for border.one"),
        "{out}"
    );
    let (code, _, err) = run(cli().args(["admin", "reset-second-factor", "--username", "nobody"]));
    assert_eq!(code, 1);
    assert!(err.contains("user: not found"), "{err}");

    let (code, out, _) = run(cli().args(["admin", "list-users"]));
    assert_eq!(code, 0);
    assert!(out.contains("musu.k") && out.contains("border_officer"));

    // ODK devices go to members who register records, never to an administrator.
    let device = |username: &str| {
        run(cli().args([
            "admin",
            "issue-device",
            "--org",
            "IOM Liberia",
            "--username",
            username,
            "--name",
            "Tablet 1 (fictional)",
        ]))
    };
    let (code, out, err) = device("border.one");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("server URL path: /key/") && out.contains("Digest: username device-"),
        "{out}"
    );
    let (code, _, err) = device("musu.k");
    assert_eq!(code, 1);
    assert!(err.contains("who registers records"), "{err}");
    let (code, _, err) = device("nobody");
    assert_eq!(code, 1);
    assert!(err.contains("device: not found"), "{err}");

    // Forms: the shipped ones are installed; a bad workbook is refused with its problems.
    let bad = dir.path().join("bad.xlsx");
    std::fs::write(&bad, "not a spreadsheet").unwrap();
    let (code, _, err) = run(cli()
        .args(["admin", "upload-form", "--programme", "avrr"])
        .arg(&bad));
    assert_eq!(code, 1);
    assert!(
        err.contains("bad.xlsx: workbook: not a readable .xlsx") && err.contains("nothing was changed"),
        "{err}"
    );
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../forms/avrr_case.xlsx");
    let (code, _, err) = run(cli()
        .args(["admin", "upload-form", "--programme", "avrr"])
        .arg(&shipped));
    assert_eq!(code, 1);
    assert!(
        err.contains("column version") && err.contains("already uploaded"),
        "{err}"
    );
    let (code, _, err) = run(cli()
        .args(["admin", "upload-form", "--programme", "visa"])
        .arg(&shipped));
    assert_eq!(code, 1);
    assert!(err.contains("programme `visa` does not exist"), "{err}");

    let (code, out, _) = run(cli().args(["audit", "verify"]));
    assert_eq!(code, 0);
    assert!(out.contains("audit chain intact"), "{out}");

    // Retention schedules: shown, set, and a run with nothing due.
    let (code, out, _) = run(cli().args(["retention", "show"]));
    assert_eq!(code, 0);
    assert!(
        out.contains("ct") && out.contains("10 years after closure"),
        "{out}"
    );
    let (code, out, err) = run(cli().args(["retention", "set", "--programme", "capacity", "--years", "3"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("capacity: closed cases are shredded 3 years after closure"),
        "{out}"
    );
    let (code, _, err) = run(cli().args(["retention", "set", "--programme", "visa", "--years", "3"]));
    assert_eq!(code, 1);
    assert!(err.contains("programme: is not a programme code"), "{err}");
    let (code, out, _) = run(cli().args(["retention", "run", "--dry-run"]));
    assert_eq!(code, 0);
    assert!(out.contains("no closed case is past"), "{out}");
    let (code, out, _) = run(cli().arg("check-config"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("reachable"));
    let (code, out, err) = run(cli().args(["admin", "reindex-persons"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("reindexed 0 persons; 0 could not be read"),
        "{out}"
    );

    // The master key: rotated to a new key file, the previous one kept beside it by name.
    let master = dir.path().join("master.key");
    let new_key = dir.path().join("next.key");
    let (code, _, err) = run(passage().args(["admin", "gen-key", "--out"]).arg(&new_key));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(cli()
        .args(["admin", "rotate-master-key", "--new-key"])
        .arg(&new_key));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("re-wrapped 1 data keys"), "the device's key: {out}");
    assert!(!new_key.exists(), "the new key moved into place");
    let retired: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("master.key.retired-"))
        .collect();
    assert_eq!(retired.len(), 1, "{retired:?}");
    let (code, _, err) = run(cli().args(["admin", "list-users"]));
    assert_eq!(code, 0, "the new key in place opens the database: {err}");
    // Starting with the retired key is refused, and nothing is written.
    let (code, _, err) = run(cli()
        .args(["admin", "list-users", "--master-key-file"])
        .arg(dir.path().join(&retired[0])));
    assert_eq!(code, 1);
    assert!(
        err.contains("wrong master key") && err.contains("nothing was changed"),
        "{err}"
    );
    // A missing key file is never replaced by a new key while records are sealed.
    std::fs::remove_file(&master).unwrap();
    let (code, _, err) = run(cli().args(["admin", "list-users"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("master key file") && err.contains("is missing"),
        "{err}"
    );
    assert!(!master.exists(), "no new key was created");
}

type Logs = std::sync::Arc<std::sync::Mutex<String>>;

/// Start `passage` and wait for the line that says it is serving; its log lines are
/// collected in the background.
fn start(cmd: &mut Command) -> (std::process::Child, String, String, Logs) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let logs = Logs::default();
    let stderr = child.stderr.take().unwrap();
    let sink = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || Instant::now() > deadline {
            let err = logs.lock().unwrap().clone();
            let _ = child.kill();
            let _ = child.wait();
            panic!("passage did not start: {banner}{err}");
        }
        banner.push_str(&line);
        if let Some(rest) = line.strip_prefix("Passage is serving http://") {
            let addr = rest.split('/').next().unwrap().to_owned();
            // Keep draining stdout so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in reader.lines() {});
            return (child, addr, banner, logs);
        }
    }
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn http_post_form(addr: &str, path: &str, body: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn terminate(child: &mut std::process::Child) -> i32 {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap().code().unwrap_or(-1)
}

#[test]
fn demo_serves_then_stops_gracefully_and_reuses_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let demo = || {
        let mut c = passage();
        c.args(["demo", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&data);
        c
    };
    let (mut child, addr, banner, logs) = start(demo().env("PASSAGE_LOG", "info"));
    assert!(
        banner.contains("fictional") && banner.contains("caseworker"),
        "{banner}"
    );
    assert!(http_get(&addr, "/healthz").ends_with("ok"));
    assert!(http_get(&addr, "/readyz").starts_with("HTTP/1.1 200"));
    assert!(http_get(&addr, "/login").contains("Sign in to Passage"));
    let accounts = std::fs::read_to_string(data.join("demo-accounts.txt")).unwrap();
    let line = accounts.lines().find(|l| l.starts_with("caseworker\t")).unwrap();
    let password = line.split('\t').nth(1).unwrap().to_owned();
    let form = format!("username=caseworker&password={password}");
    let signed_in = http_post_form(&addr, "/login?next=Musu-Kollie", &form);
    assert!(signed_in.starts_with("HTTP/1.1 303"), "{signed_in}");
    assert_eq!(terminate(&mut child), 0, "SIGTERM is a clean stop");

    // Requests are logged with their route and request id, never the URL, the form or a secret.
    let logs = logs.lock().unwrap().clone();
    assert!(
        logs.contains("route=/login") && logs.contains("request_id="),
        "{logs}"
    );
    for secret in [password.as_str(), "caseworker", "Musu-Kollie", "Demo Caseworker"] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs:\n{logs}");
    }

    use std::os::unix::fs::PermissionsExt;
    for file in ["passage.sqlite3", "demo-accounts.txt", "master.key"] {
        let mode = std::fs::metadata(data.join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }

    // A second start reuses the data and shows the same accounts.
    let (mut child, _, banner, _) = start(&mut demo());
    assert!(banner.contains(&password));
    assert_eq!(terminate(&mut child), 0);

    let (code, out, _) = run(passage().args(["audit", "verify"]).arg("--data-dir").arg(&data));
    assert_eq!(code, 0);
    assert!(out.contains("intact"));
}

#[tokio::test]
async fn a_backup_restores_what_it_held_and_a_damaged_one_changes_nothing() {
    let t = TestDb::new().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cli = || {
        let mut c = passage();
        c.arg("--data-dir")
            .arg(dir.path())
            .args(["--database-url", &url_of(&t)]);
        c
    };
    let ok = |(code, out, err): (i32, String, String)| {
        assert_eq!(code, 0, "{out}{err}");
        out
    };
    ok(run(cli().args([
        "admin",
        "create-org",
        "--name",
        "IOM Liberia",
        "--kind",
        "un_agency",
        "--host",
    ])));
    ok(run(cli().args([
        "admin",
        "create-user",
        "--username",
        "kollie.w",
        "--name",
        "Demo Kollie (fictional)",
        "--org",
        "IOM Liberia",
        "--role",
        "caseworker",
    ])));
    // A device: a sealed record with its own data key.
    ok(run(cli().args([
        "admin",
        "issue-device",
        "--org",
        "IOM Liberia",
        "--username",
        "kollie.w",
        "--name",
        "Tablet 7 (fictional)",
    ])));
    // A case with a document (SQLite keeps its body in a file beside the database).
    let (case, document) = {
        let svc = open_service(&t.target, dir.path()).await;
        svc.seed_demo_cases(1).await.unwrap();
        let case = first_case(&svc).await;
        let document = svc
            .add_document(
                &passage_domain::Actor::Operator,
                &passage_service::Ctx::cli(),
                case,
                "letter.txt",
                b"Fictional letter from Demo Sumo-2291",
            )
            .await
            .unwrap();
        svc.db().close().await;
        (case, document)
    };
    let archive = dir.path().join("passage.backup");
    let out = ok(run(cli().args(["backup", "--out"]).arg(&archive)));
    assert!(
        out.contains("encrypted backup") && out.contains("sealed for master key"),
        "{out}"
    );
    let bytes = std::fs::read(&archive).unwrap();
    for plain in [
        "IOM Liberia",
        "kollie.w",
        "Demo Kollie",
        "Tablet 7",
        "Demo Sumo-2291",
    ] {
        assert!(
            !bytes.windows(plain.len()).any(|w| w == plain.as_bytes()),
            "{plain} is sealed"
        );
    }

    // Changes after the backup.
    ok(run(cli().args([
        "admin",
        "create-org",
        "--name",
        "Ministry of Labour",
    ])));
    let orgs = |c: &mut Command| ok(run(c.args(["admin", "list-users"])));
    assert!(orgs(&mut cli()).contains("kollie.w"));

    // A damaged copy, a copy for another key, or something else: refused, nothing replaced.
    let damaged = dir.path().join("damaged.backup");
    let mut altered = bytes.clone();
    let middle = altered.len() / 2;
    altered[middle] ^= 0x40;
    std::fs::write(&damaged, &altered).unwrap();
    let (code, _, err) = run(cli().arg("restore").arg(&damaged));
    assert_eq!(code, 1);
    assert!(
        err.contains("damaged or was altered") && err.contains("nothing was restored"),
        "{err}"
    );
    let other_key = dir.path().join("other.key");
    ok(run(passage().args(["admin", "gen-key", "--out"]).arg(&other_key)));
    let (code, _, err) = run(cli()
        .arg("restore")
        .arg(&archive)
        .arg("--master-key-file")
        .arg(&other_key));
    assert_eq!(code, 1);
    assert!(
        err.contains("was sealed for master key") && err.contains("nothing was restored"),
        "{err}"
    );
    let (code, _, err) = run(cli().arg("restore").arg(dir.path().join("other.key")));
    assert_eq!(code, 1);
    assert!(err.contains("not a Passage backup"), "{err}");
    let (code, out, _) = run(cli().arg("check-config"));
    assert_eq!(code, 0, "{out}");
    let (_, audit, _) = run(cli().args(["audit", "verify"]));
    assert!(audit.contains("audit chain intact"), "{audit}");

    // The real one: the organisation made after it is gone, the rest is back and opens.
    let out = ok(run(cli().arg("restore").arg(&archive)));
    assert!(out.contains("restored the backup made"), "{out}");
    let (code, out, err) = run(cli().args(["admin", "create-org", "--name", "Ministry of Labour"]));
    assert_eq!(
        code, 0,
        "the organisation made after the backup is gone: {out}{err}"
    );
    assert!(orgs(&mut cli()).contains("kollie.w"));
    let audit = ok(run(cli().args(["audit", "verify"])));
    assert!(audit.contains("audit chain intact"), "{audit}");
    // The document came back with the database that names it.
    let svc = open_service(&t.target, dir.path()).await;
    let (_, body) = svc
        .document(
            &passage_domain::Actor::Operator,
            &passage_service::Ctx::cli(),
            case,
            document,
        )
        .await
        .unwrap();
    assert_eq!(body, b"Fictional letter from Demo Sumo-2291");
}

/// The service over the database a test's commands use (a new pool: a restore replaces the
/// SQLite file under an open one).
async fn open_service(target: &DbTarget, data_dir: &std::path::Path) -> passage_service::Passage {
    let db = passage_store::Db::connect(target).await.unwrap();
    let svc = passage_service::Passage::new(
        db,
        std::sync::Arc::new(passage_domain::SystemClock),
        passage_crypto::PasswordHasher::fast_for_tests().unwrap(),
        passage_service::Settings::default(),
        passage_service::MasterKey::read(&data_dir.join("master.key")).unwrap(),
    )
    .await
    .unwrap();
    svc.install_shipped_forms().await.unwrap();
    svc
}

async fn first_case(svc: &passage_service::Passage) -> uuid::Uuid {
    let mut pooled = svc.db().acquire().await.unwrap();
    let row: (uuid::Uuid,) = match pooled.conn() {
        passage_store::Conn::Sqlite(c) => sqlx::query_as("select id from cases order by id limit 1")
            .fetch_one(&mut *c)
            .await
            .unwrap(),
        passage_store::Conn::Postgres(c) => sqlx::query_as("select id from cases order by id limit 1")
            .fetch_one(&mut *c)
            .await
            .unwrap(),
    };
    row.0
}
