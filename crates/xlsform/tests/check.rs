//! Checking filled-in forms: the rules a caseworker meets on every channel.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use passage_xlsform::check::{Instance, check};
use passage_xlsform::read_xlsform;
use passage_xlsform::testing::workbook;

const EN: &str = "English (en)";

fn today() -> time::Date {
    time::macros::date!(2026 - 11 - 27)
}

fn form() -> passage_xlsform::Form {
    let survey: &[&[&str]] = &[
        &[
            "type",
            "name",
            "label::English (en)",
            "required",
            "relevant",
            "constraint",
            "constraint_message::English (en)",
            "calculation",
            "choice_filter",
        ],
        &["text", "given_name", "Given name", "yes", "", "", "", "", ""],
        &[
            "integer",
            "age",
            "Age",
            "yes",
            "",
            ". >= 0 and . < 120",
            "Age must be between 0 and 119",
            "",
            "",
        ],
        &[
            "calculate",
            "age_band",
            "",
            "",
            "",
            "",
            "",
            "if(${age} < 18, 'child', 'adult')",
            "",
        ],
        &["select_one sex", "sex", "Sex", "yes", "", "", "", "", ""],
        &[
            "select_one yes_no",
            "pregnant",
            "Pregnant?",
            "yes",
            "${sex} = 'female' and ${age} >= 12",
            "",
            "",
            "",
            "",
        ],
        &[
            "date",
            "arrival",
            "Arrival",
            "",
            "",
            ". <= today()",
            "Not in the future",
            "",
            "",
        ],
        &["select_multiple needs", "needs", "Needs", "", "", "", "", "", ""],
        &["select_one county", "county", "County", "", "", "", "", "", ""],
        &[
            "select_one district",
            "district",
            "District",
            "",
            "${county} != ''",
            "",
            "",
            "",
            "county = ${county}",
        ],
        &["begin repeat", "services", "Services", "", "", "", "", "", ""],
        &[
            "select_one service_type",
            "service_type",
            "Type",
            "yes",
            "",
            "",
            "",
            "",
            "",
        ],
        &[
            "decimal",
            "amount",
            "Amount",
            "",
            "",
            ". > 0",
            "Must be positive",
            "",
            "",
        ],
        &[
            "calculate",
            "line",
            "",
            "",
            "",
            "",
            "",
            "concat(position(..), ':', ${service_type}, ':', ${age_band})",
            "",
        ],
        &["end repeat", "", "", "", "", "", "", "", ""],
        &["geopoint", "location", "Location", "", "", "", "", "", ""],
    ];
    let choices: &[&[&str]] = &[
        &["list_name", "name", "label::English (en)", "county"],
        &["sex", "female", "Female", ""],
        &["sex", "male", "Male", ""],
        &["yes_no", "yes", "Yes", ""],
        &["yes_no", "no", "No", ""],
        &["needs", "shelter", "Shelter", ""],
        &["needs", "medical", "Medical", ""],
        &["needs", "legal", "Legal", ""],
        &["county", "LR-NI", "Nimba", ""],
        &["county", "LR-MO", "Montserrado", ""],
        &["district", "sanniquellie", "Sanniquellie-Mah", "LR-NI"],
        &["district", "greater_monrovia", "Greater Monrovia", "LR-MO"],
        &["service_type", "cash", "Cash", ""],
        &["service_type", "medical", "Medical", ""],
    ];
    read_xlsform(
        &workbook(&[("survey", survey), ("choices", choices)]),
        "check_test",
    )
    .unwrap()
}

fn good() -> Instance {
    Instance::default()
        .with("given_name", "  Musu ")
        .with("age", "16")
        .with("sex", "female")
        .with("pregnant", "no")
        .with("arrival", "2026-11-01")
        .with("needs", "medical shelter medical")
        .with("county", "LR-NI")
        .with("district", "sanniquellie")
        .with("location", "6.3106 -10.8047")
        .with_repeat(
            "services",
            vec![
                Instance::default()
                    .with("service_type", "cash")
                    .with("amount", "150.5"),
                Instance::default().with("service_type", "medical"),
            ],
        )
}

fn problems(input: &Instance) -> Vec<String> {
    check(&form(), input, today(), EN)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_complete_record_is_cleaned_and_calculated() {
    let record = check(&form(), &good(), today(), EN).unwrap();
    assert_eq!(record.values["given_name"], "Musu", "trimmed");
    assert_eq!(record.values["age_band"], "child", "calculated");
    assert_eq!(record.values["needs"], "medical shelter", "duplicates removed");
    let services = &record.repeats["services"];
    assert_eq!(
        services[0].values["line"], "1:cash:child",
        "calculation inside a repeat sees position and outer fields"
    );
    assert_eq!(services[1].values["line"], "2:medical:child");
    assert!(!services[1].values.contains_key("amount"));
}

#[test]
fn answers_to_questions_that_do_not_apply_are_dropped() {
    let record = check(&form(), &good().with("sex", "male"), today(), EN).unwrap();
    assert!(
        !record.values.contains_key("pregnant"),
        "pregnancy does not apply to a male respondent"
    );
    let mut no_county = good();
    no_county.values.remove("county");
    let record = check(&form(), &no_county, today(), EN).unwrap();
    assert!(!record.values.contains_key("district"));
}

#[test]
fn every_problem_is_named_with_its_path() {
    let mut input = good()
        .with("age", "sixteen")
        .with("sex", "f")
        .with("arrival", "2027-01-01")
        .with("needs", "medical food")
        .with("district", "greater_monrovia")
        .with("location", "95 10")
        .with("nickname", "Mu");
    input.values.remove("given_name");
    input.repeats.insert(
        "services".into(),
        vec![
            Instance::default()
                .with("service_type", "cash")
                .with("amount", "-3"),
            Instance::default().with("amount", "3"),
        ],
    );
    assert_eq!(
        problems(&input),
        [
            "nickname: is not a field of this form",
            "given_name: is required",
            "age: must be a whole number",
            "sex: `f` is not one of the choices",
            "arrival: Not in the future",
            "needs: `food` is not one of the choices",
            "district: `greater_monrovia` is not one of the choices",
            "services[1]/amount: Must be positive",
            "services[2]/service_type: is required",
            "location: must be `latitude longitude` (optionally altitude and accuracy)",
        ]
    );
}

#[test]
fn constraints_and_conditional_requirements() {
    assert_eq!(
        problems(&good().with("age", "130")),
        ["age: Age must be between 0 and 119"]
    );
    let mut no_answer = good();
    no_answer.values.remove("pregnant");
    assert_eq!(problems(&no_answer), ["pregnant: is required"]);
    let record = check(
        &form(),
        &good().with("age", "10").with("pregnant", ""),
        today(),
        EN,
    )
    .unwrap();
    assert!(
        !record.values.contains_key("pregnant"),
        "not asked of a 10-year-old"
    );
    let bad_repeat = good().with_repeat("visits", vec![Instance::default()]);
    assert_eq!(problems(&bad_repeat), ["visits: is not a repeat of this form"]);
    let misplaced = good().with("amount", "3");
    assert_eq!(
        problems(&misplaced),
        ["amount: belongs in another part of the form (a repeat)"]
    );
}

#[test]
fn the_shipped_forms_evaluate_on_an_empty_record() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../forms");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "xlsx") {
            continue;
        }
        let form = read_xlsform(&std::fs::read(&path).unwrap(), "x").unwrap();
        match check(&form, &Instance::default(), today(), EN) {
            Ok(_) => panic!("{}: an empty record should miss required answers", path.display()),
            Err(problems) => {
                assert!(
                    problems.iter().all(|p| p.reason == "is required"),
                    "{}: {:?}",
                    path.display(),
                    problems
                );
            }
        }
    }
}

#[test]
fn generated_answers_pass_the_checks_of_every_shipped_form() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../forms");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "xlsx") {
            continue;
        }
        let form = read_xlsform(&std::fs::read(&path).unwrap(), "x").unwrap();
        let mut seed = passage_xlsform::fill::Seed::new(42);
        for _ in 0..10 {
            let record = passage_xlsform::fill::fill(&form, &mut seed, today())
                .unwrap_or_else(|| panic!("{}: could not generate a valid record", path.display()));
            assert!(check(&form, &record, today(), EN).is_ok());
            assert!(record.values.len() > 5, "{}", path.display());
        }
    }
    let record =
        passage_xlsform::fill::fill(&form(), &mut passage_xlsform::fill::Seed::new(1), today()).unwrap();
    assert!(
        record.values["given_name"].starts_with("Demo "),
        "fictional names are marked"
    );
}
