//! Indicator benchmark driver (see bench/indicators.py, which runs it beside DuckDB).
//!
//!   cargo run --release -p passage-service --example indicator_bench -- DIR CASES SERVICES
//!
//! 1. Creates DIR/bench.sqlite3 once: the demo organisations and shipped forms, then CASES
//!    generated, fictional records (reporting answers only; nothing identifying is generated)
//!    shared between programmes like the demo, and SERVICES services on them.
//! 2. Times Passage loading its fact tables from SQLite, computing every shipped indicator
//!    with every disaggregation, the dashboard once computed (p50/p95 over 50 requests), the
//!    dashboard after 10, 1,000 and 10,000 cases were edited (facts brought up to date from
//!    the changed cases), and the GCM review for a year as PDF.
//! 3. Writes each fact table as CSV, one SQL query per indicator and disaggregation for
//!    DuckDB, and Passage's figures, so the script can time DuckDB on the same aggregations
//!    and check that both agree.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark tool

use passage_crypto::PasswordHasher;
use passage_domain::{Actor, SystemClock};
use passage_indicators::expr::{Expr, Op, Value};
use passage_indicators::table::{Column, NO_DATE};
use passage_indicators::{Indicator, Measure, Scope};
use passage_service::{IndicatorFilter, MasterKey, Passage, Settings};
use passage_store::{Db, DbTarget};
use passage_xlsform::fill::{Seed, fill};
use passage_xlsform::{Form, Sensitivity};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

const SHARES: [(&str, u64); 5] = [
    ("border", 40),
    ("avrr", 35),
    ("ct", 10),
    ("rr", 10),
    ("capacity", 5),
];
/// Distinct answer sets generated per programme; records reuse them (generation is the slow
/// part and not what is measured), with their own dates, counties and persons.
const TEMPLATES: u64 = 4_000;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(args.get(1).map_or("bench/indicators/data", String::as_str));
    let cases: u64 = args.get(2).map_or(1_000_000, |a| a.parse().unwrap());
    let services: u64 = args.get(3).map_or(2_000_000, |a| a.parse().unwrap());
    std::fs::create_dir_all(dir).unwrap();
    let db_path = dir.join("bench.sqlite3");
    let fresh = !db_path.exists();
    let db = Db::connect(&DbTarget::SqliteFile(db_path.clone())).await.unwrap();
    db.migrate().await.unwrap();
    let key_path = dir.join("master.key");
    let master = if key_path.exists() {
        MasterKey::read(&key_path).unwrap()
    } else {
        let k = MasterKey::generate().unwrap();
        k.write_new(&key_path).unwrap();
        k
    };
    let svc = Passage::new(
        db.clone(),
        Arc::new(SystemClock),
        PasswordHasher::fast_for_tests().unwrap(),
        Settings::default(),
        master,
    )
    .await
    .unwrap();
    if fresh {
        svc.seed_demo().await.unwrap();
        svc.install_shipped_forms().await.unwrap();
        let started = Instant::now();
        generate(&svc, &db, cases, services).await;
        eprintln!(
            "generated {cases} cases and {services} services in {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }

    let catalogue = svc.indicator_catalogue().await.unwrap();
    // Reading the cases' rows alone (no parsing), to split the load time.
    let started = Instant::now();
    let mut pooled = db.acquire().await.unwrap();
    let mut after = None;
    while let Some(last) = passage_store::facts::cases(&mut pooled.conn(), after)
        .await
        .unwrap()
        .last()
    {
        after = Some(last.id);
    }
    drop(pooled);
    let fetch = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let facts = svc.load_facts(&catalogue).await.unwrap();
    let load = started.elapsed().as_secs_f64();
    let rows: usize = facts.tables().map(|(_, t)| t.len()).sum();

    // Every shipped indicator, every disaggregation, all years, all organisations.
    let computed: Vec<&Arc<Indicator>> = catalogue
        .indicators
        .iter()
        .filter(|i| i.computation.is_some())
        .collect();
    let empty = passage_indicators::Table::default();
    let table_of = |i: &Indicator| {
        facts
            .table(&i.computation.as_ref().unwrap().source)
            .unwrap_or(&empty)
    };
    let mut best = f64::MAX;
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        outcomes = computed
            .iter()
            .map(|i| passage_indicators::compute(i, table_of(i), &Scope::default()))
            .collect();
        best = best.min(started.elapsed().as_secs_f64());
    }
    let cells: usize = outcomes.iter().map(|o| o.cells.len()).sum();

    // The dashboard as a viewer gets it: first request computes, later ones hit the cache.
    // The operator sees every organisation's records, exactly, as the host M&E officer does.
    let me = Actor::Operator;
    let year = svc.today().year();
    let filter = IndicatorFilter {
        year: Some(year),
        ..IndicatorFilter::default()
    };
    let started = Instant::now();
    svc.dashboard(&me, &filter).await.unwrap();
    let first = started.elapsed().as_secs_f64();
    let mut times = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        svc.dashboard(&me, &filter).await.unwrap();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);

    // The dashboard after edits (written as another process would, so they are seen after
    // FACTS_CHECK_INTERVAL): the facts are brought up to date from the changed cases only.
    let Db::Sqlite(pool, ..) = &db else {
        panic!("the benchmark runs on SQLite")
    };
    let mut after_edits = serde_json::Map::new();
    let mut offset = 0;
    for changed in [10i64, 1_000, 10_000] {
        sqlx::query(
            "update cases set revision = revision + 1 where id in (select id from cases order by id limit $1 offset $2)",
        )
        .bind(changed)
        .bind(offset)
        .execute(pool)
        .await
        .unwrap();
        offset += changed;
        tokio::time::sleep(passage_service::FACTS_CHECK_INTERVAL).await;
        let started = Instant::now();
        svc.dashboard(&me, &filter).await.unwrap();
        after_edits.insert(
            format!("dashboard_after_{changed}_edited_s"),
            serde_json::json!(started.elapsed().as_secs_f64()),
        );
    }
    let review_started = Instant::now();
    let review = svc.gcm_review(&me, &filter).await.unwrap();
    let pdf = pdf_seconds(&review, svc.today(), review_started);

    // The same facts and aggregations for DuckDB.
    let out = dir.join("duckdb");
    std::fs::create_dir_all(&out).unwrap();
    let mut exported = BTreeMap::new();
    for (source, table) in facts.tables() {
        let name = table_name(source);
        write_table(&out.join(format!("{name}.csv")), table);
        let types: serde_json::Map<String, serde_json::Value> = table
            .field_names()
            .map(|f| {
                let t = match table.column(f) {
                    Some(Column::Number(_)) => "DOUBLE",
                    Some(Column::Date(_)) => "DATE",
                    _ => "VARCHAR",
                };
                (f.to_owned(), serde_json::json!(t))
            })
            .collect();
        exported.insert(name, serde_json::Value::Object(types));
    }
    std::fs::write(
        out.join("tables.json"),
        serde_json::to_vec_pretty(&exported).unwrap(),
    )
    .unwrap();
    let mut queries = Vec::new();
    let mut ours = serde_json::Map::new();
    for (i, o) in computed.iter().zip(&outcomes) {
        let c = i.computation.as_ref().unwrap();
        let table = table_name(&c.source);
        queries.push(serde_json::json!({"code": i.code, "dimension": null, "sql": sql(i, &table, None)}));
        for (d, _) in c.disaggregate.iter().enumerate() {
            queries.push(serde_json::json!({"code": i.code, "dimension": d, "sql": sql(i, &table, Some(d))}));
        }
        let totals: serde_json::Map<String, serde_json::Value> = o
            .cells
            .iter()
            .filter(|c| c.dimension.is_none())
            .map(|c| (c.year.to_string(), serde_json::json!(c.value)))
            .collect();
        ours.insert(i.code.clone(), serde_json::Value::Object(totals));
    }
    std::fs::write(
        out.join("queries.json"),
        serde_json::to_vec_pretty(&queries).unwrap(),
    )
    .unwrap();
    std::fs::write(
        out.join("passage_totals.json"),
        serde_json::to_vec_pretty(&ours).unwrap(),
    )
    .unwrap();
    let result = serde_json::json!({
        "cases": cases, "services": services, "fact_rows": rows, "indicators": computed.len(), "fetch_cases_s": fetch,
        "queries": queries.len(), "cells": cells, "load_s": load, "compute_s": best,
        "dashboard_first_s": first, "dashboard_p50_ms": times[times.len() / 2],
        "dashboard_p95_ms": times[times.len() * 95 / 100], "gcm_review_pdf_s": pdf,
        "after_edits": after_edits,
    });
    println!("{}", serde_json::to_string(&result).unwrap());
}

/// From building the review to its PDF bytes.
fn pdf_seconds(review: &passage_reports::Report, today: time::Date, started: Instant) -> f64 {
    let bytes = passage_pdf::render(&passage_reports::typst(review), today).unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    started.elapsed().as_secs_f64()
}

fn table_name(source: &passage_indicators::SourceRef) -> String {
    let mut n = format!("{}_{}", source.kind.as_str(), source.programme);
    if let Some(r) = &source.repeat {
        n.push('_');
        n.push_str(r);
    }
    n
}

fn column_name(field: &str) -> String {
    format!("\"{field}\"")
}

/// A fact table as CSV: codes as text, numbers, dates as YYYY-MM-DD, multi-selects
/// space-separated; empty for no answer.
fn write_table(path: &Path, table: &passage_indicators::Table) {
    let names: Vec<&str> = table.field_names().collect();
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(&names).unwrap();
    let columns: Vec<&Column> = names.iter().map(|n| table.column(n).unwrap()).collect();
    let mut record = Vec::with_capacity(names.len());
    for row in 0..table.len() {
        record.clear();
        for c in &columns {
            record.push(match c {
                Column::Category { codes, dict } => dict.name(codes[row]).to_owned(),
                Column::Multi { dict, .. } => c
                    .multi(row)
                    .iter()
                    .map(|k| dict.name(*k))
                    .collect::<Vec<_>>()
                    .join(" "),
                Column::Number(v) if v[row].is_nan() => String::new(),
                Column::Number(v) => v[row].to_string(),
                Column::Date(v) if v[row] == NO_DATE => String::new(),
                Column::Date(v) => time::Date::from_julian_day(v[row]).unwrap().to_string(),
            });
        }
        w.write_record(&record).unwrap();
    }
    w.flush().unwrap();
}

/// The same condition in SQL. Multi-selects are matched as whole space-separated words.
fn condition(e: &Expr) -> String {
    let lit = |v: &Value| match v {
        Value::Text(t) => format!("'{}'", t.replace('\'', "''")),
        Value::Number(n) => n.to_string(),
    };
    match e {
        Expr::And(a, b) => format!("({} AND {})", condition(a), condition(b)),
        Expr::Or(a, b) => format!("({} OR {})", condition(a), condition(b)),
        Expr::Not(a) => format!("(NOT coalesce({}, false))", condition(a)),
        Expr::Compare { field, op, value } => {
            let op = match op {
                Op::Eq => "=",
                Op::Ne => "<>",
                Op::Lt => "<",
                Op::Le => "<=",
                Op::Gt => ">",
                Op::Ge => ">=",
            };
            let rhs = match value {
                Value::Text(t) if t.len() == 10 && t.as_bytes()[4] == b'-' => format!("DATE '{t}'"),
                v => lit(v),
            };
            format!("({} {op} {rhs})", column_name(field))
        }
        Expr::In { field, values } => {
            format!(
                "({} IN ({}))",
                column_name(field),
                values.iter().map(lit).collect::<Vec<_>>().join(", ")
            )
        }
        Expr::Has { field, value } => format!(
            "list_contains(string_split({}, ' '), '{value}')",
            column_name(field)
        ),
        Expr::Empty {
            field,
            negated: false,
        } => format!("({} IS NULL)", column_name(field)),
        Expr::Empty { field, negated: true } => format!("({} IS NOT NULL)", column_name(field)),
    }
}

/// One indicator's figure per year (and per category of disaggregation `dimension`).
fn sql(i: &Indicator, table: &str, dimension: Option<usize>) -> String {
    let c = i.computation.as_ref().unwrap();
    let date = column_name(&c.date);
    let mut filters = vec![format!("{date} IS NOT NULL")];
    if let Some(f) = &c.filter {
        filters.push(format!("coalesce({}, false)", condition(f)));
    }
    let measure = match &c.measure {
        Measure::Count => "count(*)".to_owned(),
        Measure::DistinctPersons => format!(
            "count(DISTINCT coalesce(nullif({}, ''), 'case:' || {}))",
            column_name("case.person"),
            column_name("case.id")
        ),
        Measure::Sum(f) => format!("sum({})", column_name(f)),
        Measure::Mean(f) => format!("avg({})", column_name(f)),
        Measure::Median(f) => format!("median({})", column_name(f)),
        Measure::Share(e) => format!(
            "100.0 * avg(CASE WHEN coalesce({}, false) THEN 1 ELSE 0 END)",
            condition(e)
        ),
        Measure::MedianDays { from, to } => {
            let (a, b) = (column_name(from), column_name(to));
            format!("median(CASE WHEN {b} >= {a} THEN date_diff('day', {a}, {b}) END)")
        }
    };
    let from = match dimension {
        None => format!("\"{table}\""),
        Some(d) => {
            let field = column_name(&c.disaggregate[d]);
            // One row per selected answer of a multi-select; no answer is "unknown".
            format!(
                "(SELECT *, unnest(CASE WHEN {field} IS NULL THEN [''] ELSE string_split({field}::VARCHAR, ' ') END) AS category FROM \"{table}\")"
            )
        }
    };
    let group = if dimension.is_some() {
        "year(".to_owned() + &date + "), category"
    } else {
        format!("year({date})")
    };
    let select = if dimension.is_some() { "category, " } else { "" };
    format!(
        "SELECT year({date}) AS year, {select}{measure} AS value FROM {from} WHERE {} GROUP BY {group}",
        filters.join(" AND ")
    )
}

/// Reporting answers only, as stored (identifying and sensitive ones are not generated).
fn reporting_json(form: &Form, answers: &passage_xlsform::check::Instance) -> serde_json::Value {
    let reporting = |name: &str| form.field(name).and_then(|f| f.sensitivity) == Some(Sensitivity::Reporting);
    let mut map = serde_json::Map::new();
    for (k, v) in &answers.values {
        if reporting(k) {
            map.insert(k.clone(), serde_json::Value::String(v.clone()));
        }
    }
    for (k, list) in &answers.repeats {
        map.insert(
            k.clone(),
            serde_json::Value::Array(list.iter().map(|i| reporting_json(form, i)).collect()),
        );
    }
    serde_json::Value::Object(map)
}

/// Generated cases straight into the tables, in large transactions (the service's
/// registration path, with its encryption and audit, is measured elsewhere).
async fn generate(svc: &Passage, db: &Db, cases: u64, services: u64) {
    let Db::Sqlite(pool, ..) = db else {
        panic!("the benchmark runs on SQLite")
    };
    let orgs = svc.organisations(&Actor::Operator).await.unwrap();
    let org = orgs.iter().find(|o| o.is_host).unwrap().id.as_uuid();
    let counties: Vec<String> = svc.counties().iter().map(|c| c.code.clone()).collect();
    let today = svc.today();
    let mut case_ids: Vec<(uuid::Uuid, &str)> = Vec::new();
    let mut number = 0u64;
    // Persons (sealed identities are placeholders: nothing identifying is generated), shared
    // between programmes: case k of each programme belongs to person k / 2.
    let mut tx = pool.begin().await.unwrap();
    for p in 0..=(cases * 40 / 100 / 2 + 1) {
        sqlx::query(
            "insert into persons (id, owner_org, wrapped_key, identity, created_at, updated_at) values ($1, $2, $3, $3, 0, 0)",
        )
        .bind(uuid::Uuid::from_u128(u128::from(p) + 1))
        .bind(org)
        .bind(b"bench".as_slice())
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    for (programme, share) in SHARES {
        let (version, form) = svc.current_form(programme).await.unwrap();
        let stages: Vec<String> = svc.stages(programme).iter().map(|s| s.code.clone()).collect();
        let templates: Vec<serde_json::Value> = (0..TEMPLATES)
            .filter_map(|t| {
                fill(&form, &mut Seed::new(7_000_000 + t), today).map(|a| reporting_json(&form, &a))
            })
            .collect();
        let n = cases * share / 100;
        let mut tx = pool.begin().await.unwrap();
        for k in 0..n {
            number += 1;
            let id = uuid::Uuid::now_v7();
            let mut reporting = templates[(k as usize * 7919) % templates.len()].clone();
            // Spread registration over five years so that every year has figures.
            if let Some(obj) = reporting.as_object_mut() {
                for date in ["registration_date", "start_date"] {
                    if obj.contains_key(date) {
                        let day = today - time::Duration::days(((k * 37) % 1800) as i64);
                        obj.insert(date.into(), serde_json::Value::String(day.to_string()));
                    }
                }
            }
            let person = (k % 5 != 0).then(|| uuid::Uuid::from_u128(u128::from(k / 2) + 1));
            sqlx::query(
                "insert into cases (id, number, programme, owner_org, form_version, stage, reporting, created_at, \
                 updated_at, revision, person_id, county, closed) values ($1, $2, $3, $4, $5, $6, $7, $8, $8, 1, $9, $10, false)",
            )
            .bind(id)
            .bind(format!("BENCH-{number:07}"))
            .bind(programme)
            .bind(org)
            .bind(version)
            .bind(&stages[(k as usize) % stages.len()])
            .bind(reporting.to_string())
            .bind(0i64)
            .bind(person)
            .bind(&counties[(k as usize * 31) % counties.len()])
            .execute(&mut *tx)
            .await
            .unwrap();
            if matches!(programme, "avrr" | "ct" | "rr") {
                case_ids.push((id, programme));
            }
            if k % 100_000 == 99_999 {
                eprintln!("  {programme}: {} of {n}", k + 1);
            }
        }
        tx.commit().await.unwrap();
    }
    let kinds = [
        "counselling",
        "medical",
        "psychosocial",
        "shelter",
        "cash",
        "transport",
        "education",
    ];
    let mut tx = pool.begin().await.unwrap();
    for k in 0..services {
        let (case, _) = case_ids[(k as usize * 104_729) % case_ids.len()];
        let kind = kinds[(k as usize) % kinds.len()];
        let day = today - time::Duration::days(((k * 13) % 1800) as i64);
        sqlx::query(
            "insert into case_services (id, case_id, service_type, delivered_on, value, currency, recorded_at) \
             values ($1, $2, $3, $4, $5, $6, 0)",
        )
        .bind(uuid::Uuid::now_v7())
        .bind(case)
        .bind(kind)
        .bind(day.to_string())
        .bind((kind == "cash").then(|| (50 + k % 200).to_string()))
        .bind((kind == "cash").then_some("USD"))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let _ = std::io::stderr().flush();
}
