//! The programme forms shipped in `forms/` load cleanly and mark every field's sensitivity.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use passage_xlsform::{Sensitivity, read_xlsform};
use std::path::Path;

#[test]
fn the_shipped_programme_forms_load_and_mark_every_field() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../forms");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "xlsx") {
            continue;
        }
        seen += 1;
        let bytes = std::fs::read(&path).unwrap();
        let stem = path.file_stem().unwrap().to_str().unwrap();
        let form = read_xlsform(&bytes, stem).unwrap_or_else(|e| panic!("{}:\n{e}", path.display()));
        assert_eq!(form.id, stem, "{}: form_id matches the file name", path.display());
        assert!(
            form.languages.contains(&"French (fr)".to_owned()),
            "{}",
            path.display()
        );
        let fields = form.fields();
        assert!(
            fields.iter().any(|(f, _)| f.name == "sex"),
            "{}: a sex field for disaggregation",
            path.display()
        );
        assert!(
            fields
                .iter()
                .any(|(f, _)| f.sensitivity == Some(Sensitivity::Reporting))
        );
    }
    assert_eq!(seen, 5, "five programme forms are shipped");
}
