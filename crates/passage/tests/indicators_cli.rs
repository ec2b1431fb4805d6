//! `passage indicators check FILE`: an M&E officer checks a changed copy of the indicator
//! definitions against the installation's forms before it replaces the shipped file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::process::Command;

fn check(file: &std::path::Path, data: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_passage"))
        .args(["indicators", "check"])
        .arg(file)
        .arg("--data-dir")
        .arg(data)
        .env("PASSAGE_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_shipped_definitions_pass_and_a_broken_copy_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../../indicators/passage.toml");
    let (code, out, err) = check(std::path::Path::new(shipped), &dir.path().join("data"));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("34 computed and 2 manual indicators, all valid"),
        "{out}"
    );

    // A definition that names an identifying answer is refused, naming file, line and field.
    let text = std::fs::read_to_string(shipped).unwrap();
    let broken = text.replacen(
        "filter = \"case_type = 'return_from_lr'\"",
        "filter = \"date_of_birth is empty\"",
        1,
    );
    assert_ne!(broken, text);
    let copy = dir.path().join("copy.toml");
    std::fs::write(&copy, broken).unwrap();
    let (code, _, err) = check(&copy, &dir.path().join("data"));
    assert_eq!(code, 1);
    assert!(
        err.contains("copy.toml:") && err.contains("indicator AVRR-01: filter:"),
        "{err}"
    );
    assert!(err.contains("identifying or sensitive"), "{err}");
}
