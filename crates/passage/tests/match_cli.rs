//! `passage match …` as a data officer uses it: CSV files in, CSV files out, bad rows named by
//! line, nothing half-written on failure. The data are small, fictional and built here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

fn passage(args: &[&str], dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_passage"))
        .args(args)
        .current_dir(dir)
        .env("PASSAGE_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            headers
                .iter()
                .zip(r.unwrap().iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// Twelve distinct fictional people, and three of them written again the way registrations
/// differ in the field: another spelling, names exchanged, an estimated date, a phone written
/// with its country code.
const PEOPLE: &str = "\
id,first_name,surname,dob,sex,phone,document_number,county
a1,Mohammed,Kollie,1990-04-09,M,0777123456,LB1234567,Montserrado
a2,Fatu,Sirleaf,1985-11-02,F,0886554433,,Bong
a3,Musu,Flomo,2001-06-30,F,,LB7654321,Nimba
a4,Emmanuel,Tarr,1978-01-15,M,0555443322,,Margibi
a5,Comfort,Pewee,1995-08-08,F,0778889990,,Lofa
a6,Joseph,Dolo,1969-03-21,M,,LB5550001,Grand Bassa
a7,Hawa,Konneh,1999-12-12,F,0881112223,,Montserrado
a8,Prince,Zayzay,1988-07-07,M,,,Bomi
a9,Esther,Gbeh,1992-02-29,F,0776665554,,Sinoe
a10,Varney,Sumo,1980-10-10,M,,LB3332221,Grand Gedeh
a11,Aminata,Kamara,1975-05-05,F,0883334445,,Cape Mount
a12,Ibrahim,Sherif,1983-09-19,M,0557778889,,River Cess
b1,Mamadee,Kolie,09/04/1990,male,+231 777 123 456,LB1234567,Montserrado
b2,Sirleaf,Fatu,1985-11-02,F,231886554433,,Bong
b3,Musu,Flomoh,2001,F,,LB7654312,Nimba
";

#[test]
fn dedupe_clusters_the_same_people_and_explains_why() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "people.csv", PEOPLE);
    let (code, stderr) = passage(
        &[
            "match",
            "dedupe",
            "people.csv",
            "--out",
            "clusters.csv",
            "--pairs",
            "pairs.csv",
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{stderr}");
    let clusters: HashMap<String, String> = rows(&dir.path().join("clusters.csv"))
        .into_iter()
        .map(|r| (r["id"].clone(), r["cluster"].clone()))
        .collect();
    assert_eq!(clusters.len(), 15);
    for (a, b) in [("a1", "b1"), ("a2", "b2"), ("a3", "b3")] {
        assert_eq!(clusters[a], clusters[b], "{a} and {b} should be one person");
    }
    let distinct: std::collections::HashSet<&String> = clusters.values().collect();
    assert_eq!(distinct.len(), 12, "{clusters:?}");
    let pairs = rows(&dir.path().join("pairs.csv"));
    let swapped = pairs
        .iter()
        .find(|p| (p["left"].as_str(), p["right"].as_str()) == ("a2", "b2"))
        .unwrap();
    assert!(
        swapped["explanation"].contains("given name and surname exchanged"),
        "{swapped:?}"
    );
    assert!(swapped["probability"].parse::<f64>().unwrap() >= 0.5);
    // Explanations say how fields compare, never what they contain.
    for pair in &pairs {
        for name in ["Kollie", "Sirleaf", "Flomo", "Fatu", "Musu"] {
            assert!(!pair["explanation"].contains(name), "{pair:?}");
        }
    }
}

#[test]
fn link_finds_people_across_two_files() {
    let dir = tempfile::tempdir().unwrap();
    let (left, right): (Vec<&str>, Vec<&str>) = PEOPLE.lines().skip(1).partition(|l| l.starts_with('a'));
    let header = PEOPLE.lines().next().unwrap();
    write(
        dir.path(),
        "left.csv",
        &format!("{header}\n{}\n", left.join("\n")),
    );
    write(
        dir.path(),
        "right.csv",
        &format!("{header}\n{}\n", right.join("\n")),
    );
    let (code, stderr) = passage(
        &["match", "link", "left.csv", "right.csv", "--out", "pairs.csv"],
        dir.path(),
    );
    assert_eq!(code, 0, "{stderr}");
    let mut found: Vec<(String, String)> = rows(&dir.path().join("pairs.csv"))
        .into_iter()
        .map(|r| (r["left"].clone(), r["right"].clone()))
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            ("a1".into(), "b1".into()),
            ("a2".into(), "b2".into()),
            ("a3".into(), "b3".into())
        ]
    );
}

#[test]
fn screening_flags_listed_people_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let mut list = String::from("id,full_name,aliases,date_of_birth,nationality,list,reason\n");
    list.push_str(
        "W1,Mohammed Ahmed Kollie,Momodu Kollie;M. A. Kollie,1984-03-02,LBR,Demo list,fictional entry\n",
    );
    list.push_str("W2,Boubacar Ouedraogo,,,BFA,Demo list,fictional entry\n");
    for (i, (given, family)) in [
        ("Fatu", "Sirleaf"),
        ("John", "Tarr"),
        ("Musu", "Dolo"),
        ("Prince", "Sumo"),
        ("Hawa", "Pewee"),
    ]
    .iter()
    .enumerate()
    {
        list.push_str(&format!(
            "X{i},{given} {family},,,LBR,Demo list,fictional entry\n"
        ));
    }
    write(dir.path(), "list.csv", &list);
    write(
        dir.path(),
        "travellers.csv",
        "id,full_name,date_of_birth,nationality\nT1,Kollie Mohamed,1984-03-02,LBR\nT2,Aboubakar Wedraogo,,BFA\nT3,Comfort Gbeh,1990-01-01,LBR\nT4,Mohamed Kollie,1950-07-07,LBR\n",
    );
    let (code, stderr) = passage(
        &[
            "match",
            "screen",
            "--watchlist",
            "list.csv",
            "--queries",
            "travellers.csv",
            "--out",
            "hits.csv",
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{stderr}");
    let hits = rows(&dir.path().join("hits.csv"));
    let of = |q: &str| {
        hits.iter()
            .filter(|h| h["query_id"] == q)
            .map(|h| h["entry_id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(of("T1"), vec!["W1"]);
    assert_eq!(of("T2"), vec!["W2"]);
    assert!(of("T3").is_empty());
    // Same name, a date of birth 34 years apart: a namesake, scored below the listed person.
    assert!(of("T4").is_empty(), "{hits:?}");
    let t1 = hits.iter().find(|h| h["query_id"] == "T1").unwrap();
    assert!(t1["explanation"].contains("date of birth agrees"), "{t1:?}");
    assert!(!t1["explanation"].contains("Kollie"));
}

#[test]
fn bad_input_is_named_by_file_and_line_and_leaves_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "ragged.csv",
        "id,full_name,dob\n1,Musu Kollie,1990-02-31\n2,Fatu\n3,Hawa Konneh,2000\n",
    );
    // Without --strict: bad rows and fields reported by line, the rest used.
    let (code, stderr) = passage(
        &["match", "dedupe", "ragged.csv", "--out", "clusters.csv"],
        dir.path(),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("ragged.csv: line 2, date_of_birth: not a date"),
        "{stderr}"
    );
    assert!(
        stderr.contains("ragged.csv: line 3: has 2 fields, the header has 3 (row skipped)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Musu") && !stderr.contains("Kollie"),
        "values must not be echoed: {stderr}"
    );
    assert_eq!(rows(&dir.path().join("clusters.csv")).len(), 2);

    // With --strict: refused, non-zero, no output written.
    let (code, stderr) = passage(
        &["match", "dedupe", "ragged.csv", "--out", "strict.csv", "--strict"],
        dir.path(),
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("2 row problem(s), refused in strict mode; first: line 2, date_of_birth"),
        "{stderr}"
    );
    assert!(!dir.path().join("strict.csv").exists() && !dir.path().join("strict.partial").exists());

    for (args, expected) in [
        (
            vec!["match", "dedupe", "missing.csv", "--out", "x.csv"],
            "missing.csv",
        ),
        (
            vec!["match", "dedupe", "ragged.csv", "--out", "x.csv", "--map", "dob"],
            "--map dob: expected HEADER=FIELD",
        ),
        (
            vec![
                "match",
                "dedupe",
                "ragged.csv",
                "--out",
                "x.csv",
                "--map",
                "dob=shoe_size",
            ],
            "unknown field",
        ),
        (
            vec![
                "match",
                "dedupe",
                "ragged.csv",
                "--out",
                "x.csv",
                "--threshold",
                "2",
            ],
            "--threshold must be between 0 and 1",
        ),
        (
            vec![
                "match",
                "screen",
                "--watchlist",
                "ragged.csv",
                "--queries",
                "missing.csv",
                "--out",
                "x.csv",
            ],
            "missing.csv",
        ),
    ] {
        let (code, stderr) = passage(&args, dir.path());
        assert_ne!(code, 0, "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!dir.path().join("x.csv").exists());
    }
    write(dir.path(), "nonames.csv", "id,dob\n1,1990\n");
    let (code, stderr) = passage(&["match", "dedupe", "nonames.csv", "--out", "x.csv"], dir.path());
    assert_ne!(code, 0);
    assert!(stderr.contains("nonames.csv: no name column"), "{stderr}");
}
