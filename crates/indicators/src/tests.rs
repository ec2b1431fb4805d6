#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn choices(c: &[&str]) -> Vec<(String, String)> {
    c.iter().map(|c| ((*c).to_owned(), (*c).to_owned())).collect()
}

fn sources() -> Sources {
    let mut s = Schema::default();
    s.add(
        "sex",
        FieldSpec::new(Kind::Category, "Sex").with_choices(choices(&["female", "male"])),
    );
    s.add(
        "forms",
        FieldSpec::new(Kind::Multi, "Forms").with_choices(choices(&["labour", "sexual"])),
    );
    s.add("score", FieldSpec::new(Kind::Number, "Score"));
    s.add("registered", FieldSpec::new(Kind::Date, "Registered"));
    s.add("departed", FieldSpec::new(Kind::Date, "Departed"));
    s.add(builtin::PERSON, FieldSpec::new(Kind::Category, "Person"));
    s.add(builtin::COUNTY, FieldSpec::new(Kind::Category, "County"));
    s.add(builtin::ORG, FieldSpec::new(Kind::Category, "Organisation"));
    s.withheld.insert("surname".into());
    let mut out = Sources::new();
    out.insert(
        SourceRef {
            kind: SourceKind::Cases,
            programme: "ct".into(),
            repeat: None,
        },
        s,
    );
    out
}

/// (sex, forms, score, registered, departed, person, county, org)
const ROWS: [[&str; 8]; 7] = [
    [
        "female",
        "labour sexual",
        "0.8",
        "2025-03-01",
        "2025-03-11",
        "p1",
        "LR-MO",
        "iom",
    ],
    [
        "female",
        "labour",
        "0.2",
        "2025-05-01",
        "2025-05-05",
        "p1",
        "LR-MO",
        "iom",
    ],
    ["male", "sexual", "0.5", "2025-06-01", "", "p2", "LR-NI", "iom"],
    ["", "", "", "2025-07-01", "2025-07-31", "", "LR-MO", "ngo"],
    [
        "male",
        "labour",
        "0.9",
        "2026-01-10",
        "2026-01-12",
        "p3",
        "LR-MO",
        "iom",
    ],
    ["male", "labour", "", "", "", "p4", "LR-MO", "iom"],
    [
        "female",
        "",
        "0.7",
        "2026-02-01",
        "2026-01-01",
        "p5",
        "LR-NI",
        "iom",
    ],
];

fn table(sources: &Sources) -> Table {
    let schema = sources.values().next().unwrap();
    let names = [
        "sex",
        "forms",
        "score",
        "registered",
        "departed",
        builtin::PERSON,
        builtin::COUNTY,
        builtin::ORG,
    ];
    let mut t = Table::new(schema, names);
    for r in ROWS {
        t.push(|f| names.iter().position(|n| *n == f).map(|i| r[i]));
    }
    t
}

fn indicator(body: &str) -> Indicator {
    let text =
        format!("[[indicator]]\ncode = \"T-1\"\ntitle = \"Test\"\nunit = \"u\"\nprogramme = \"ct\"\n{body}");
    load("test.toml", &text, &sources()).unwrap().remove(0)
}

fn cell(o: &Outcome, year: i32, dim: Option<usize>, category: &str) -> (Option<f64>, u64) {
    o.cells
        .iter()
        .find(|c| c.year == year && c.dimension == dim && c.category == category)
        .map(|c| (c.value, c.n))
        .unwrap_or((None, 0))
}

#[test]
fn counts_split_by_year_and_category_and_add_up() {
    let s = sources();
    let i = indicator("date = \"registered\"\ndisaggregate = [\"sex\", \"forms\"]");
    let o = compute(&i, &table(&s), &Scope::default());
    assert_eq!(o.years(), [2025, 2026]);
    assert_eq!(cell(&o, 2025, None, ""), (Some(4.0), 4));
    assert_eq!(cell(&o, 2025, Some(0), "female"), (Some(2.0), 2));
    assert_eq!(
        cell(&o, 2025, Some(0), ""),
        (Some(1.0), 1),
        "no answer is 'unknown', not dropped"
    );
    let parts: u64 = o.breakdown(2025, 0).map(|c| c.n).sum();
    assert_eq!(parts, 4, "single-choice parts add up to the total");
    assert_eq!(cell(&o, 2025, Some(1), "labour"), (Some(2.0), 2));
    assert!(
        o.notes.iter().any(|n| n.contains("no registered")),
        "the undated record is reported"
    );
    assert!(
        o.notes
            .iter()
            .any(|n| n.contains("forms: a record with several answers"))
    );
}

#[test]
fn distinct_persons_count_each_person_once() {
    let s = sources();
    let i = indicator("measure = \"distinct_persons\"\ndate = \"registered\"");
    let o = compute(&i, &table(&s), &Scope::default());
    // p1 twice, p2, and a case without a person record (a person of its own).
    assert_eq!(cell(&o, 2025, None, ""), (Some(3.0), 3));
}

#[test]
fn shares_means_and_medians() {
    let s = sources();
    let t = table(&s);
    let share = indicator(
        "measure = \"share\"\nshare_of = \"score >= 0.5\"\nfilter = \"score is not empty\"\ndate = \"registered\"",
    );
    let o = compute(&share, &t, &Scope::default());
    assert_eq!(cell(&o, 2025, None, ""), (Some(200.0 / 3.0), 3));
    let mean = indicator("measure = \"mean\"\nfield = \"score\"\ndate = \"registered\"");
    let o = compute(&mean, &t, &Scope::default());
    assert_eq!(cell(&o, 2025, None, "").1, 3);
    assert!((cell(&o, 2025, None, "").0.unwrap() - 0.5).abs() < 1e-9);
    assert!(o.notes.iter().any(|n| n.contains("without a value")));
    let days = indicator(
        "measure = \"median_days\"\nfrom = \"registered\"\nto = \"departed\"\ndate = \"registered\"",
    );
    let o = compute(&days, &t, &Scope::default());
    // 10, 4 and 30 days; the row without a departure and the one departing before it
    // registered are left out.
    assert_eq!(cell(&o, 2025, None, ""), (Some(10.0), 3));
    assert_eq!(cell(&o, 2026, None, ""), (Some(2.0), 1));
}

#[test]
fn empty_periods_are_not_applicable_not_zero_or_a_crash() {
    let s = sources();
    let mean = indicator("measure = \"mean\"\nfield = \"score\"\ndate = \"registered\"");
    let scope = Scope {
        years: Some((2030, 2030)),
        ..Scope::default()
    };
    let o = compute(&mean, &table(&s), &scope);
    assert_eq!(cell(&o, 2030, None, ""), (None, 0));
    let count = indicator("date = \"registered\"");
    let o = compute(&count, &table(&s), &scope);
    assert_eq!(cell(&o, 2030, None, ""), (Some(0.0), 0));
    let o = compute(&count, &Table::default(), &Scope::default());
    assert!(o.cells.is_empty());
}

#[test]
fn scope_limits_county_and_organisations() {
    let s = sources();
    let t = table(&s);
    let i = indicator("date = \"registered\"");
    let county = Scope {
        county: Some("LR-NI".into()),
        ..Scope::default()
    };
    assert_eq!(cell(&compute(&i, &t, &county), 2025, None, "").1, 1);
    let orgs = Scope {
        orgs: Some(vec!["ngo".into()]),
        ..Scope::default()
    };
    assert_eq!(cell(&compute(&i, &t, &orgs), 2025, None, "").1, 1);
    let nobody = Scope {
        orgs: Some(vec![]),
        ..Scope::default()
    };
    assert!(compute(&i, &t, &nobody).cells.is_empty());
}

#[test]
fn retired_rows_count_nowhere() {
    let s = sources();
    let i = indicator("date = \"registered\"\ndisaggregate = [\"sex\"]");
    let mut t = table(&s);
    t.retire(0);
    t.retire(0);
    assert_eq!(t.retired(), 1, "a row is retired once");
    let o = compute(&i, &t, &Scope::default());
    assert_eq!(cell(&o, 2025, None, ""), (Some(3.0), 3));
    assert_eq!(cell(&o, 2025, Some(0), "female"), (Some(1.0), 1));
    assert_eq!(rows_behind(&i, &t, &Scope::default(), 2025, None), [1, 2, 3]);
    // Its replacement, pushed as a new row, counts instead.
    let names = ["sex", "registered"];
    let values = ["male", "2025-05-01"];
    t.push(|f| names.iter().position(|n| *n == f).map(|k| values[k]));
    let o = compute(&i, &t, &Scope::default());
    assert_eq!(cell(&o, 2025, None, ""), (Some(4.0), 4));
    assert_eq!(cell(&o, 2025, Some(0), "female"), (Some(1.0), 1));
}

#[test]
fn rows_behind_a_figure_are_the_ones_counted() {
    let s = sources();
    let t = table(&s);
    let i = indicator("date = \"registered\"\ndisaggregate = [\"sex\", \"forms\"]");
    assert_eq!(rows_behind(&i, &t, &Scope::default(), 2025, None), [0, 1, 2, 3]);
    assert_eq!(
        rows_behind(&i, &t, &Scope::default(), 2025, Some((0, "female"))),
        [0, 1]
    );
    assert_eq!(rows_behind(&i, &t, &Scope::default(), 2025, Some((0, ""))), [3]);
    assert_eq!(
        rows_behind(&i, &t, &Scope::default(), 2025, Some((1, "sexual"))),
        [0, 2]
    );
}

#[test]
fn small_cells_are_suppressed_and_cannot_be_worked_out_from_the_total() {
    let c = |dimension: Option<usize>, n: u64| Cell {
        year: 2025,
        dimension,
        category: String::new(),
        value: Some(n as f64),
        n,
    };
    let cells = [
        c(None, 30),
        c(Some(0), 3),
        c(Some(0), 12),
        c(Some(0), 15),
        c(Some(1), 0),
        c(Some(1), 30),
    ];
    let hide = suppressed(&cells, 5);
    assert_eq!(hide, [false, true, true, false, false, false]);
    assert_eq!(suppressed(&[c(None, 4)], 5), [true]);
}

#[test]
fn definitions_are_refused_with_a_precise_message() {
    let err = |body: &str| {
        let text = format!(
            "# comment\n[[indicator]]\ncode = \"T-9\"\ntitle = \"Test\"\nunit = \"u\"\nprogramme = \"ct\"\n{body}"
        );
        load("defs.toml", &text, &sources()).unwrap_err().to_string()
    };
    let e = err("date = \"registered\"\nfilter = \"surname = 'x'\"");
    assert!(e.starts_with("defs.toml:3: indicator T-9: filter:"), "{e}");
    assert!(e.contains("identifying or sensitive"), "{e}");
    assert!(err("date = \"registered\"\ndisaggregate = [\"colour\"]").contains("unknown field 'colour'"));
    assert!(err("date = \"registered\"\ndisaggregate = [\"score\"]").contains("is a number"));
    assert!(err("date = \"registered\"\nmeasure = \"mode\"").contains("unknown measure 'mode'"));
    assert!(err("date = \"registered\"\nmeasure = \"mean\"").contains("measure needs 'field'"));
    assert!(
        err("date = \"registered\"\nmeasure = \"mean\"\nfield = \"sex\"").contains("'sex' is not a number")
    );
    assert!(err("").contains("needs a 'date'"));
    assert!(err("date = \"sex\"").contains("'sex' is not a date"));
    assert!(err("date = \"registered\"\ngcm = [\"GCM-O24\"]").contains("'GCM-O24' is not a GCM"));
    assert!(err("date = \"registered\"\nsdg = [\"10.7.9\"]").contains("'10.7.9'"));
    assert!(err("date = \"registered\"\nfield = \"score\"").contains("'field' does not apply"));
    assert!(
        err("date = \"registered\"\nfilter = \"sex = 'woman'\"")
            .contains("'woman' is not one of the choices")
    );
    assert!(err("date = \"registered\"\ncolour = 1").contains("unknown field `colour`"));
    assert!(err("date = \"registered\"\nsource = \"hits\"").contains("there is no source 'hits of ct'"));
    assert!(err("kind = \"manual\"\ndate = \"registered\"").contains("'date' does not apply"));
    assert!(
        err("date = \"registered\"\nsdmx_series = \"VC_HTF_DETV\"").contains("not a series of the linked")
    );
    let dup = "[[indicator]]\ncode = \"A\"\ntitle = \"t\"\nunit = \"u\"\nkind = \"manual\"\n".repeat(2);
    assert!(
        load("d.toml", &dup, &sources())
            .unwrap_err()
            .to_string()
            .contains("earlier indicator")
    );
    let syntax = load("d.toml", "[[indicator]]\ncode = \n", &sources()).unwrap_err();
    assert_eq!(syntax.line, Some(2));
}
