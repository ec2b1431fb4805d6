//! The XLSForm reader on real workbooks (pyxform's examples, our shipped forms) and on
//! deliberately broken ones built here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use passage_xlsform::expr::{Expr, Scope, Value, eval};
use passage_xlsform::testing::workbook;
use passage_xlsform::{FieldKind, FormError, Node, Sensitivity, read_xlsform};
use std::path::Path;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pyxform")
            .join(name),
    )
    .unwrap()
}

const HEADER: &[&str] = &[
    "type",
    "name",
    "label::English (en)",
    "label::French (fr)",
    "required",
    "relevant",
    "constraint",
    "constraint_message::English (en)",
    "calculation",
    "choice_filter",
    "passage_sensitivity",
];

#[test]
fn pyxform_tutorial_with_its_repeat_and_old_column_names() {
    let form = read_xlsform(&fixture("tutorial.xls"), "tutorial").unwrap();
    assert_eq!(form.id, "tutorial");
    let [Node::Group(member)] = form.children.as_slice() else {
        panic!("{:?}", form.children)
    };
    assert!(member.repeat && member.name == "member");
    assert_eq!(form.fields().len(), 10);
    let (age, repeats) = form
        .fields()
        .into_iter()
        .find(|(f, _)| f.name == "age_in_years")
        .unwrap();
    assert_eq!(repeats, ["member"]);
    assert_eq!(age.kind, FieldKind::Integer);
    assert!(
        age.relevant.is_some() && age.constraint.is_some(),
        "bind:relevant and bind:constraint are read"
    );
    assert_eq!(
        age.sensitivity,
        Some(Sensitivity::Sensitive),
        "unmarked fields default to sensitive"
    );
    let sex = form.field("sex").unwrap();
    assert_eq!(
        sex.kind,
        FieldKind::SelectOne {
            list: "sexes".into(),
            or_other: false
        }
    );
    assert!(form.choices["yes_no"].iter().any(|c| c.name == "yes"));
}

#[test]
fn other_pyxform_examples_load() {
    for name in [
        "cascading_select_test_equivalent.xls",
        "repeat_date_test.xls",
        "table-list.xls",
        "or_other.xlsx",
    ] {
        read_xlsform(&fixture(name), "example").unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let other = read_xlsform(&fixture("specify_other.xlsx"), "x").unwrap();
    assert_eq!(
        other.field("sex").unwrap().kind,
        FieldKind::SelectMultiple {
            list: "sexes".into(),
            or_other: true
        }
        .clone()
        .into_one()
    );
}

trait IntoOne {
    fn into_one(self) -> FieldKind;
}

impl IntoOne for FieldKind {
    fn into_one(self) -> FieldKind {
        match self {
            FieldKind::SelectMultiple { list, or_other } => FieldKind::SelectOne { list, or_other },
            other => other,
        }
    }
}

struct Answers<'a>(&'a [(&'a str, &'a str)], Option<&'a passage_xlsform::Choice>);

impl Scope for Answers<'_> {
    fn field(&self, name: &str) -> Value {
        Value::Str(
            self.0
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
                .unwrap_or_default(),
        )
    }
    fn current(&self) -> Value {
        Value::Str(String::new())
    }
    fn position(&self) -> Option<usize> {
        None
    }
    fn today(&self) -> time::Date {
        time::macros::date!(2026 - 11 - 27)
    }
    fn choice_column(&self, name: &str) -> Value {
        Value::Str(
            self.1
                .and_then(|c| c.columns.get(name))
                .cloned()
                .unwrap_or_default(),
        )
    }
}

#[test]
fn cascading_choice_filters_pick_the_right_choices() {
    let form = read_xlsform(&fixture("choice_filter_test.xlsx"), "x").unwrap();
    let county = form.field("county").unwrap();
    let filter = county.choice_filter.as_ref().unwrap();
    let shown: Vec<&str> = form.choices["counties"]
        .iter()
        .filter(|c| {
            eval(filter, &Answers(&[("state", "texas")], Some(c)))
                .unwrap()
                .as_bool()
        })
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        shown,
        ["king", "cameron"],
        "allow_choice_duplicates lets `king` appear under both states"
    );
}

#[test]
fn a_broken_calculation_is_named_by_sheet_row_and_column() {
    let err = read_xlsform(&fixture("bad_calc.xlsx"), "x").unwrap_err();
    assert_eq!(err.0.len(), 1);
    let FormError {
        sheet,
        row,
        column,
        reason,
    } = &err.0[0];
    assert_eq!(
        (sheet.as_str(), *row, column.as_deref()),
        ("survey", Some(2), Some("calculation"))
    );
    assert!(reason.contains("unclosed quote"), "{reason}");
}

#[test]
fn unsupported_question_types_are_named() {
    let survey: &[&[&str]] = &[
        &["type", "name", "label"],
        &["begin loop over places", "visits", "Visits"],
        &["text", "note", "Note"],
        &["end loop", "", ""],
        &["rank colours", "order", "Order"],
    ];
    let err = read_xlsform(&workbook(&[("survey", survey)]), "x")
        .unwrap_err()
        .to_string();
    for expected in [
        "survey row 2, column type: type `begin loop over places` is not supported (loops over a choice list are not supported: use a repeat)",
        "survey row 4, column type: type `end loop` is not supported (loops",
        "survey row 5, column type: type `rank colours` is not supported (Passage supports",
    ] {
        assert!(err.contains(expected), "missing `{expected}` in:\n{err}");
    }
    // pyxform's metadata types are all supported (the SMS example uses phonenumber and imei).
    let form = read_xlsform(&fixture("sms_info.xls"), "x").unwrap();
    assert_eq!(
        form.field("phone").unwrap().kind,
        FieldKind::Metadata(passage_xlsform::Metadata::PhoneNumber)
    );
    assert_eq!(
        form.field("imei").unwrap().kind,
        FieldKind::Metadata(passage_xlsform::Metadata::DeviceId)
    );
}

#[test]
fn a_good_form_with_translations_and_sensitivity() {
    let survey: &[&[&str]] = &[
        HEADER,
        &[
            "text",
            "given_name",
            "Given name",
            "Prénom",
            "yes",
            "",
            "",
            "",
            "",
            "",
            "identifying",
        ],
        &[
            "select_one sex",
            "sex",
            "Sex",
            "Sexe",
            "yes",
            "",
            "",
            "",
            "",
            "",
            "reporting",
        ],
        &[
            "date",
            "dob",
            "Date of birth",
            "Date de naissance",
            "",
            "",
            ". <= today()",
            "Not in the future",
            "",
            "",
            "identifying",
        ],
        &[
            "calculate",
            "age",
            "",
            "",
            "",
            "",
            "",
            "",
            "int((today() - ${dob}) div 365.25)",
            "",
            "reporting",
        ],
        &[
            "select_one county",
            "county",
            "County",
            "Comté",
            "",
            "",
            "",
            "",
            "",
            "",
            "reporting",
        ],
        &[
            "select_one district",
            "district",
            "District",
            "District",
            "",
            "${county} != ''",
            "",
            "",
            "",
            "county = ${county}",
            "reporting",
        ],
        &[
            "begin repeat",
            "services",
            "Services",
            "Services",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ],
        &[
            "text",
            "service_note",
            "Note",
            "Note",
            "",
            "",
            "",
            "",
            "",
            "",
            "sensitive",
        ],
        &["end repeat", "", "", "", "", "", "", "", "", "", ""],
        &["note", "thanks", "Thank you", "Merci", "", "", "", "", "", "", ""],
    ];
    let choices: &[&[&str]] = &[
        &[
            "list_name",
            "name",
            "label::English (en)",
            "label::French (fr)",
            "county",
        ],
        &["sex", "female", "Female", "Femme", ""],
        &["sex", "male", "Male", "Homme", ""],
        &["county", "LR-NI", "Nimba", "Nimba", ""],
        &[
            "district",
            "sanniquellie_mah",
            "Sanniquellie-Mah",
            "Sanniquellie-Mah",
            "LR-NI",
        ],
    ];
    let settings: &[&[&str]] = &[
        &["form_id", "form_title", "version", "default_language"],
        &["test_case", "Test case", "2026112701", "English (en)"],
    ];
    let form = read_xlsform(
        &workbook(&[("survey", survey), ("choices", choices), ("settings", settings)]),
        "f",
    )
    .unwrap();
    assert_eq!(
        (form.id.as_str(), form.title.as_str(), form.version.as_str()),
        ("test_case", "Test case", "2026112701")
    );
    assert_eq!(form.languages, ["English (en)", "French (fr)"]);
    let name = form.field("given_name").unwrap();
    assert_eq!(name.label.get("French (fr)"), Some("Prénom"));
    assert_eq!(name.sensitivity, Some(Sensitivity::Identifying));
    assert!(name.required.is_some());
    assert_eq!(
        form.field("sex").unwrap().sensitivity,
        Some(Sensitivity::Reporting)
    );
    assert_eq!(
        form.field("thanks").unwrap().sensitivity,
        None,
        "notes hold no data"
    );
    assert_eq!(
        form.field("dob").unwrap().constraint_message.get("English (en)"),
        Some("Not in the future")
    );
    assert_eq!(form.choice_label("sex", "female", "French (fr)"), Some("Femme"));
    let (_, repeats) = form
        .fields()
        .into_iter()
        .find(|(f, _)| f.name == "service_note")
        .unwrap();
    assert_eq!(repeats, ["services"]);
    let age = form.field("age").unwrap().calculation.clone().unwrap();
    let value = eval(&age, &Answers(&[("dob", "2000-02-29")], None)).unwrap();
    assert_eq!(value, Value::Num(26.0));
    assert_eq!(Expr::parse("1").unwrap(), Expr::Num(1.0));
}

#[test]
fn a_bad_upload_lists_every_problem_with_sheet_row_and_column() {
    let survey: &[&[&str]] = &[
        HEADER,
        &[
            "text",
            "given_name",
            "Given name",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "identifying",
        ],
        &[
            "select_one_external places",
            "picture",
            "Photo",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "identifying",
        ],
        &[
            "text",
            "given_name",
            "Again",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "identifying",
        ],
        &[
            "integer",
            "age",
            "Age",
            "",
            "",
            "${agee} > 3",
            "",
            "",
            "",
            "",
            "reporting",
        ],
        &[
            "integer",
            "children",
            "Children",
            "",
            "",
            "",
            ". >= 0 and now()",
            "",
            "",
            "",
            "reporting",
        ],
        &[
            "select_one colours",
            "colour",
            "Colour",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "reporting",
        ],
        &["text", "story", "Story", "", "", "", "", "", "", "", "secret"],
        &[
            "text",
            "2bad",
            "Bad name",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "sensitive",
        ],
        &[
            "begin group",
            "household",
            "Household",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ],
        &["text", "head", "Head", "", "", "", "", "", "", "", "identifying"],
    ];
    let err = read_xlsform(&workbook(&[("survey", survey)]), "f").unwrap_err();
    let lines: Vec<String> = err.0.iter().map(ToString::to_string).collect();
    let expected = [
        "survey row 3, column type: type `select_one_external places` is not supported (choices from a file",
        "survey row 4, column name: `given_name` is already used on row 2",
        "survey row 5, column relevant: refers to ${agee}, which is not a field of this form",
        "survey row 6, column constraint: at character 12: function `now()` is not supported",
        "survey row 7, column type: choice list `colours` is not on the choices sheet",
        "survey row 8, column passage_sensitivity: `secret` must be identifying, sensitive or reporting",
        "survey row 9, column name: `2bad` must start with a letter",
        "survey row 10, column type: group `household` is never closed",
    ];
    for e in expected {
        assert!(
            lines.iter().any(|l| l.starts_with(e)),
            "missing `{e}` in:\n{}",
            lines.join("\n")
        );
    }
    assert_eq!(lines.len(), expected.len(), "{}", lines.join("\n"));
}

#[test]
fn not_a_workbook_or_no_survey() {
    let err = read_xlsform(b"this is not a spreadsheet", "x")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("workbook: not a readable .xlsx or .xls file"),
        "{err}"
    );
    let err = read_xlsform(
        &workbook(&[("questions", &[&["type", "name"]]), ("notes", &[&["text"]])]),
        "x",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(err, "workbook: has no `survey` sheet");
    // A workbook with a single sheet is the survey, whatever its name (as in pyxform).
    let form = read_xlsform(
        &workbook(&[(
            "Sheet1",
            &[&["type", "name", "label"], &["text", "state", "State"]],
        )]),
        "x",
    )
    .unwrap();
    assert_eq!(form.fields().len(), 1);
    let err = read_xlsform(
        &workbook(&[("survey", &[&["type", "label"], &["text", "x"]])]),
        "x",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(err, "survey row 1, column name: this column is missing");
}

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
