//! `passage forms xform FILE`: the XForm ODK clients receive for an XLSForm, or every problem
//! with sheet, row and column when Passage would refuse the form. No database is touched.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::process::Command;

fn xform(file: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_passage"))
        .args(["forms", "xform"])
        .arg(file)
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
fn a_shipped_form_becomes_an_xform_and_a_broken_one_is_refused_with_its_place() {
    let shipped = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../forms/avrr_case.xlsx"));
    let (code, out, err) = xform(shipped);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("<data id=\"avrr_case\""),
        "{}",
        &out[..out.len().min(400)]
    );
    assert!(out.contains("<upload ref=\"/data/person/id_photo\" mediatype=\"image/*\""));
    assert!(out.contains("jr:preload=\"uid\""));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.xlsx");
    std::fs::write(&bad, "not a spreadsheet").unwrap();
    let (code, out, err) = xform(&bad);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains("bad.xlsx: refused") && err.contains("workbook: not a readable"),
        "{err}"
    );
}
