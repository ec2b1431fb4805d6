//! Importing cases from CSV and XLSX (dry run, all-or-nothing commit, problems by row and
//! column) and exporting them (columns by permission, formula escaping, audit). Runs on
//! PostgreSQL too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use passage_domain::Actor;
use passage_service::{Authenticated, Ctx, ImportReport, Instance, RowProblem, ServiceError, SheetFormat};
use support::{World, web, workbook};

impl World {
    async fn import(&self, who: &Authenticated, name: &str, bytes: &[u8], commit: bool) -> ImportReport {
        self.svc
            .import_cases(&who.actor, &web(), "ct", self.iom, name, bytes, commit)
            .await
            .unwrap()
    }

    async fn case_count(&self, who: &Authenticated) -> usize {
        self.svc
            .cases(&who.actor, &web(), self.iom, Some("ct"))
            .await
            .unwrap()
            .len()
    }

    /// (action, details JSON) of audit events whose action starts with `prefix`, newest first.
    async fn events(&self, prefix: &str) -> Vec<(String, serde_json::Value)> {
        let mut c = self.t.db.acquire().await.unwrap();
        passage_store::audit::list(
            &mut c.conn(),
            &passage_store::audit::Filter {
                action_prefix: Some(prefix.into()),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, serde_json::from_str(&e.details).unwrap()))
        .collect()
    }
}

fn problem(row: usize, column: &str, reason: &str) -> RowProblem {
    RowProblem {
        row,
        column: column.into(),
        reason: reason.into(),
    }
}

const GOOD_CSV: &str = "\u{feff}given_name,family_name,sex,age,identified_on,exploitation,story\r\n\
Musu,Kollie-Example,female,17,2026-03-01,forced_labour sexual_exploitation,\"Recruited at Ganta market, \
with a false job offer\"\r\n\
Kebeh,,female,24,,\"forced_labour,sexual_exploitation\",\r\n\
Sekou,Example,male,,,,\"Two lines\nof story\"\r\n";

#[tokio::test]
async fn a_dry_run_lists_bad_rows_by_row_and_column_and_stores_nothing() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    let csv = "given_name,sex,age,exploitation\n\
               Musu,female,17,forced_labour\n\
               Kebeh,secret-choice,old,\n\
               \n\
               ,male,30,forced_labour bogus-code\n";
    let report = w.import(&caseworker, "cases.csv", csv.as_bytes(), false).await;
    assert_eq!(report.format, SheetFormat::Csv);
    assert_eq!(report.rows, 3, "the blank line is not a record");
    assert!(!report.committed);
    assert_eq!(report.imported, 0);
    assert_eq!(
        report.problems,
        [
            problem(3, "sex", "is not one of the choices"),
            problem(3, "age", "must be a whole number"),
            problem(5, "given_name", "is required"),
            problem(5, "exploitation", "is not one of the choices"),
        ],
        "row numbers count the header as row 1 and the blank line as a row; columns in sheet order"
    );
    let text = format!("{report:?}");
    for value in ["secret-choice", "old", "bogus-code", "Kebeh"] {
        assert!(
            !text.contains(value),
            "a problem repeats the value `{value}`: {text}"
        );
    }
    assert_eq!(w.case_count(&caseworker).await, 0, "a dry run stores nothing");

    // A clean file's dry run reports it ready, and still stores nothing.
    let ready = w
        .import(&caseworker, "cases.csv", GOOD_CSV.as_bytes(), false)
        .await;
    assert!(ready.is_clean(), "{:?}", ready.problems);
    assert_eq!((ready.rows, ready.committed), (3, false));
    assert_eq!(w.case_count(&caseworker).await, 0);
    assert!(w.events("case.import").await.is_empty());
}

#[tokio::test]
async fn a_commit_stores_every_row_and_is_audited_once_without_values() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    let report = w
        .import(&caseworker, "cases.csv", GOOD_CSV.as_bytes(), true)
        .await;
    assert!(report.is_clean(), "{:?}", report.problems);
    assert!(report.committed);
    assert_eq!(report.imported, 3);

    let cases = w
        .svc
        .cases(&caseworker.actor, &web(), w.iom, Some("ct"))
        .await
        .unwrap();
    assert_eq!(cases.len(), 3);
    let mut answers = Vec::new();
    for c in &cases {
        answers.push(w.svc.case(&caseworker.actor, &web(), c.id).await.unwrap().answers);
    }
    let musu = answers
        .iter()
        .find(|a| a.values.get("given_name").map(String::as_str) == Some("Musu"))
        .unwrap();
    assert_eq!(musu.values["exploitation"], "forced_labour sexual_exploitation");
    assert_eq!(musu.values["identified_on"], "2026-03-01");
    assert_eq!(
        musu.values["story"],
        "Recruited at Ganta market, with a false job offer"
    );
    let kebeh = answers
        .iter()
        .find(|a| a.values.get("given_name").map(String::as_str) == Some("Kebeh"))
        .unwrap();
    assert_eq!(
        kebeh.values["exploitation"], "forced_labour sexual_exploitation",
        "choices separated by commas are accepted"
    );
    assert!(!kebeh.values.contains_key("family_name"));

    let imports = w.events("case.import").await;
    assert_eq!(imports.len(), 1, "one event for the whole import");
    let details = &imports[0].1;
    assert_eq!(details["programme"], "ct");
    assert_eq!(details["rows"], "3");
    let text = details.to_string();
    assert!(
        !text.contains("Musu") && !text.contains("Ganta"),
        "no values in the audit: {text}"
    );
    assert_eq!(
        w.events("case.register").await.len(),
        3,
        "each case is audited as registered too"
    );
}

#[tokio::test]
async fn a_commit_with_one_bad_row_stores_none() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    let csv = "given_name,sex,age\nMusu,female,17\nKebeh,female,24\nSekou,male,-3.5\n";
    let report = w.import(&caseworker, "cases.csv", csv.as_bytes(), true).await;
    assert!(!report.committed);
    assert_eq!(report.imported, 0);
    assert_eq!(report.problems, [problem(4, "age", "must be a whole number")]);
    assert_eq!(w.case_count(&caseworker).await, 0, "all or nothing");
    assert!(w.events("case.import").await.is_empty());
    assert!(w.events("case.register").await.is_empty());
}

#[tokio::test]
async fn unknown_and_repeat_columns_are_refused_by_name() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    let csv = "given_name,sex,nickname,support_type,case_number,privacy_note,,sex\n\
               Musu,female,Mus,shelter,CT-2026-000001,,,female\n\
               Kebeh,female,,,,,stray,female\n";
    let report = w.import(&caseworker, "cases.csv", csv.as_bytes(), true).await;
    assert!(!report.committed);
    let header: Vec<(&str, &str)> = report
        .problems
        .iter()
        .filter(|p| p.row == 1)
        .map(|p| (p.column.as_str(), p.reason.as_str()))
        .collect();
    let find = |col: &str| {
        header
            .iter()
            .find(|(c, _)| *c == col)
            .unwrap_or_else(|| panic!("no header problem for {col}: {header:?}"))
            .1
    };
    assert!(find("nickname").contains("is not a field of the form"));
    assert!(find("support_type").contains("repeat group `support`"));
    assert!(find("case_number").contains("set by Passage"));
    assert!(find("privacy_note").contains("note"));
    assert!(find("column G").contains("no field name"));
    assert!(find("sex").contains("more than once"));
    assert_eq!(
        report.problems.iter().filter(|p| p.row > 1).count(),
        0,
        "{:?}",
        report.problems
    );
    assert_eq!(w.case_count(&caseworker).await, 0);

    // Files that cannot be read at all are errors that say why.
    let refused = |bytes: &'static [u8], name: &'static str| {
        let w = &w;
        let who = &caseworker;
        async move {
            match w
                .svc
                .import_cases(&who.actor, &web(), "ct", w.iom, name, bytes, false)
                .await
            {
                Err(ServiceError::Invalid(v)) => v.reason,
                other => panic!("{name}: expected a file error, got {other:?}"),
            }
        }
    };
    assert!(refused(b"", "empty.csv").await.contains("empty"));
    assert!(
        refused(b"given_name,sex\r\n", "header.csv")
            .await
            .contains("no data rows")
    );
    assert!(
        refused(b"%PDF-1.7\n\xff\xfe\x00", "scan.pdf")
            .await
            .contains("neither a CSV nor an XLSX")
    );

    // Someone who may not register cases cannot import, nor probe the form by dry run.
    let meofficer = w.sign_in("meofficer").await;
    assert!(matches!(
        w.svc
            .import_cases(
                &meofficer.actor,
                &web(),
                "ct",
                w.iom,
                "a.csv",
                GOOD_CSV.as_bytes(),
                false
            )
            .await,
        Err(ServiceError::Denied(_))
    ));
}

#[tokio::test]
async fn too_many_rows_are_refused() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    let mut csv = String::from("given_name,sex\n");
    for _ in 0..=passage_service::MAX_IMPORT_ROWS {
        csv.push_str("A,female\n");
    }
    match w
        .svc
        .import_cases(
            &caseworker.actor,
            &web(),
            "ct",
            w.iom,
            "big.csv",
            csv.as_bytes(),
            false,
        )
        .await
    {
        Err(ServiceError::Invalid(v)) => assert!(v.reason.contains("more than 50000 rows"), "{}", v.reason),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// One row of a test workbook: given_name, sex, age, date identified, story.
type XlsxRow<'a> = (&'a str, &'a str, f64, Option<(u16, u8, u8)>, &'a str);

/// A workbook of cases: a header, then the rows.
fn xlsx_cases(rows: &[XlsxRow<'_>]) -> Vec<u8> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (c, name) in ["given_name", "sex", "age", "identified_on", "story"]
        .iter()
        .enumerate()
    {
        ws.write_string(0, c as u16, *name).unwrap();
    }
    let date_format = Format::new().set_num_format("dd/mm/yyyy");
    for (r, (given, sex, age, date, story)) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        ws.write_string(r, 0, *given).unwrap();
        ws.write_string(r, 1, *sex).unwrap();
        ws.write_number(r, 2, *age).unwrap();
        if let Some((y, m, d)) = date {
            let date = ExcelDateTime::from_ymd(*y, *m, *d).unwrap();
            ws.write_datetime_with_format(r, 3, &date, &date_format).unwrap();
        }
        if !story.is_empty() {
            ws.write_string(r, 4, *story).unwrap();
        }
    }
    wb.save_to_buffer().unwrap()
}

#[tokio::test]
async fn an_xlsx_workbook_imports_with_numbers_and_dates() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    let musu = ("Musu", "female", 17.0, Some((2026, 3, 1)), "'=escaped on export");
    let kebeh = ("Kebeh", "female", 24.5, None, "");
    let refused = w
        .import(&caseworker, "cases.xlsx", &xlsx_cases(&[musu, kebeh]), true)
        .await;
    assert_eq!(refused.format, SheetFormat::Xlsx);
    assert_eq!(refused.problems, [problem(3, "age", "must be a whole number")]);
    assert!(!refused.committed);
    assert_eq!(w.case_count(&caseworker).await, 0);

    // Recognised by its content whatever its name.
    let report = w
        .import(&caseworker, "upload.bin", &xlsx_cases(&[musu]), true)
        .await;
    assert!(report.committed, "{:?}", report.problems);
    let cases = w
        .svc
        .cases(&caseworker.actor, &web(), w.iom, Some("ct"))
        .await
        .unwrap();
    assert_eq!(cases.len(), 1);
    let case = w.svc.case(&caseworker.actor, &web(), cases[0].id).await.unwrap();
    assert_eq!(
        case.answers.values["age"], "17",
        "a whole number cell is an integer"
    );
    assert_eq!(
        case.answers.values["identified_on"], "2026-03-01",
        "a date cell becomes an ISO date"
    );
    assert_eq!(
        case.answers.values["story"], "=escaped on export",
        "the export's formula escape is undone on import"
    );
}

fn risky() -> Instance {
    Instance::default()
        .with("given_name", "=HYPERLINK(\"http://evil.example\",\"x\")")
        .with("family_name", "@SUM(1+1)")
        .with("sex", "female")
        .with("age", "17")
        .with("story", "+2 then tab")
        .with_repeat(
            "support",
            vec![
                Instance::default().with("support_type", "shelter"),
                Instance::default().with("support_type", "medical"),
            ],
        )
}

fn read_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(bytes).unwrap();
    let text = text
        .strip_prefix('\u{feff}')
        .expect("a byte-order mark for spreadsheet programs");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
async fn an_export_escapes_formulas_and_shows_protected_columns_to_case_readers_only() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    let case = w
        .svc
        .register_case(&caseworker.actor, &web(), "ct", w.iom, &risky())
        .await
        .unwrap();

    let (name, content_type, bytes) = w
        .svc
        .export_cases(&caseworker.actor, &web(), w.iom, "ct", None, SheetFormat::Csv)
        .await
        .unwrap();
    assert!(
        name.starts_with("ct-cases-2099010101-") && name.ends_with(".csv"),
        "{name}"
    );
    assert_eq!(content_type, "text/csv; charset=utf-8");
    let rows = read_csv(&bytes);
    assert_eq!(
        rows[0],
        [
            "case_number",
            "stage",
            "registered_at",
            "given_name",
            "family_name",
            "sex",
            "age",
            "identified_on",
            "exploitation",
            "story",
            "support_count"
        ]
    );
    assert_eq!(rows.len(), 2);
    let row = &rows[1];
    assert_eq!(row[0], case.number);
    assert_eq!(row[1], "identified");
    assert_eq!(row[3], "'=HYPERLINK(\"http://evil.example\",\"x\")");
    assert_eq!(row[4], "'@SUM(1+1)");
    assert_eq!(row[5], "female");
    assert_eq!(row[9], "'+2 then tab");
    assert_eq!(row[10], "2");

    // An M&E officer may produce reports but not read case files: reporting columns only.
    let meofficer = w.sign_in("meofficer").await;
    let (_, _, bytes) = w
        .svc
        .export_cases(&meofficer.actor, &web(), w.iom, "ct", None, SheetFormat::Csv)
        .await
        .unwrap();
    let rows = read_csv(&bytes);
    assert_eq!(
        rows[0],
        [
            "case_number",
            "stage",
            "registered_at",
            "sex",
            "age",
            "identified_on",
            "support_count"
        ]
    );
    assert_eq!(rows[1][3], "female");
    assert_eq!(rows[1][6], "2");
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains("HYPERLINK") && !text.contains("SUM"), "{text}");

    // An auditor of the organisation may do neither; another organisation's caseworker does
    // not even learn that the organisation has cases.
    let auditor = w.sign_in("auditor").await;
    assert!(matches!(
        w.svc
            .export_cases(&auditor.actor, &web(), w.iom, "ct", None, SheetFormat::Csv)
            .await,
        Err(ServiceError::Denied(_))
    ));
    let shelter = w.sign_in("shelter.caseworker").await;
    assert!(matches!(
        w.svc
            .export_cases(&shelter.actor, &web(), w.iom, "ct", None, SheetFormat::Csv)
            .await,
        Err(ServiceError::NotFound)
    ));

    // Both exports are audited, with whether protected columns were included.
    let exports = w.events("case.export").await;
    assert_eq!(exports.len(), 2);
    assert_eq!(exports[0].1["protected_columns"], "false", "newest first");
    assert_eq!(exports[1].1["protected_columns"], "true");
    assert_eq!(exports[1].1["rows"], "1");
    assert_eq!(exports[1].1["programme"], "ct");
    assert!(!exports[1].1.to_string().contains("HYPERLINK"));
}

#[tokio::test]
async fn an_xlsx_export_writes_text_cells_per_form_version() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    let first_version = w.svc.current_form("ct").await.unwrap().0;
    w.svc
        .register_case(&caseworker.actor, &web(), "ct", w.iom, &risky())
        .await
        .unwrap();

    let (name, _, bytes) = w
        .svc
        .export_cases(&caseworker.actor, &web(), w.iom, "ct", None, SheetFormat::Xlsx)
        .await
        .unwrap();
    assert!(name.ends_with(".xlsx"));
    use calamine::{Data, Reader};
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let range = book.worksheet_range_at(0).unwrap().unwrap();
    assert_eq!(range.get((0, 3)), Some(&Data::String("given_name".into())));
    assert_eq!(
        range.get((1, 3)),
        Some(&Data::String("'=HYPERLINK(\"http://evil.example\",\"x\")".into()))
    );
    assert_eq!(
        range.get((1, 6)),
        Some(&Data::String("17".into())),
        "answers are text cells"
    );

    // A new form version: the default export follows it; the old version is still exportable.
    w.svc
        .upload_form(&Actor::Operator, &Ctx::cli(), "ct", &workbook("2099010102"))
        .await
        .unwrap();
    let (_, _, now) = w
        .svc
        .export_cases(&caseworker.actor, &web(), w.iom, "ct", None, SheetFormat::Csv)
        .await
        .unwrap();
    assert_eq!(
        read_csv(&now).len(),
        1,
        "header only: no case uses the new version"
    );
    let (name, _, old) = w
        .svc
        .export_cases(
            &caseworker.actor,
            &web(),
            w.iom,
            "ct",
            Some(first_version),
            SheetFormat::Csv,
        )
        .await
        .unwrap();
    assert!(name.contains("2099010101"), "{name}");
    assert_eq!(read_csv(&old).len(), 2);
    assert!(matches!(
        w.svc
            .export_cases(
                &caseworker.actor,
                &web(),
                w.iom,
                "ct",
                Some(uuid::Uuid::now_v7()),
                SheetFormat::Csv
            )
            .await,
        Err(ServiceError::NotFound)
    ));
}

#[tokio::test]
async fn an_export_imports_back_as_new_cases_once_its_case_columns_are_removed() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    w.svc
        .register_case(&caseworker.actor, &web(), "ct", w.iom, &risky())
        .await
        .unwrap();
    let (_, _, bytes) = w
        .svc
        .export_cases(&caseworker.actor, &web(), w.iom, "ct", None, SheetFormat::Csv)
        .await
        .unwrap();
    let rows = read_csv(&bytes);
    let mut out = csv::Writer::from_writer(Vec::new());
    for r in &rows {
        // Without case_number, stage, registered_at and the repeat count.
        out.write_record(&r[3..r.len() - 1]).unwrap();
    }
    let file = out.into_inner().unwrap();
    let report = w.import(&caseworker, "again.csv", &file, true).await;
    assert!(report.committed, "{:?}", report.problems);
    let cases = w
        .svc
        .cases(&caseworker.actor, &web(), w.iom, Some("ct"))
        .await
        .unwrap();
    assert_eq!(cases.len(), 2);
    let copy = w.svc.case(&caseworker.actor, &web(), cases[0].id).await.unwrap();
    let original = w.svc.case(&caseworker.actor, &web(), cases[1].id).await.unwrap();
    assert_eq!(copy.answers.values, original.answers.values);
}

#[tokio::test]
async fn a_dry_run_names_rows_that_may_be_people_already_registered() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    let first = w
        .import(&caseworker, "cases.csv", GOOD_CSV.as_bytes(), true)
        .await;
    assert!(first.committed);
    // The same file checked again: the rows with a full name name someone registered a moment
    // ago (row 3 has a given name only: too little to call anyone a duplicate).
    let again = w
        .import(&caseworker, "cases.csv", GOOD_CSV.as_bytes(), false)
        .await;
    assert!(!again.committed);
    let rows: Vec<usize> = again.possible_duplicates.iter().map(|(row, _)| *row).collect();
    assert_eq!(
        rows,
        vec![2, 4],
        "rows as the spreadsheet numbers them: {:?}",
        again.possible_duplicates
    );
    assert!(
        again
            .possible_duplicates
            .iter()
            .all(|(_, s)| s.probability >= 0.5 && s.explanation.contains("given_name exact"))
    );
    assert_eq!(
        w.events("person.match").await.len(),
        1,
        "one audit event for the whole check"
    );
}
