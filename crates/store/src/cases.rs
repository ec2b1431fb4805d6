//! Cases as stored: plain reporting answers, sealed identifying and sensitive answers, and
//! the wrapped data key. This module never sees a decrypted value.

use crate::{Conn, StoreError, exec, on_conn};
use passage_domain::{OrgId, Timestamp, UserId};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCase {
    pub id: Uuid,
    pub number: String,
    pub programme: String,
    pub owner_org: OrgId,
    pub form_version: Uuid,
    pub stage: String,
    pub wrapped_key: Option<Vec<u8>>,
    /// JSON of the reporting answers.
    pub reporting: String,
    pub identifying: Option<Vec<u8>>,
    pub sensitive: Option<Vec<u8>>,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub revision: i64,
    /// The person this case is about (none for records such as training activities).
    pub person_id: Option<Uuid>,
    pub assigned_to: Option<UserId>,
    /// ISO date (`YYYY-MM-DD`) by which the next step is due.
    pub due_on: Option<String>,
    /// The county the case is filed under, copied from its reporting answers for filtering.
    pub county: Option<String>,
    pub closed: bool,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    number: String,
    programme: String,
    owner_org: Uuid,
    form_version: Uuid,
    stage: String,
    wrapped_key: Option<Vec<u8>>,
    reporting: String,
    identifying: Option<Vec<u8>>,
    sensitive: Option<Vec<u8>>,
    created_by: Option<Uuid>,
    created_at: i64,
    updated_at: i64,
    revision: i64,
    person_id: Option<Uuid>,
    assigned_to: Option<Uuid>,
    due_on: Option<String>,
    county: Option<String>,
    closed: bool,
}

impl From<Row> for StoredCase {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            number: r.number,
            programme: r.programme,
            owner_org: OrgId::from_uuid(r.owner_org),
            form_version: r.form_version,
            stage: r.stage,
            wrapped_key: r.wrapped_key,
            reporting: r.reporting,
            identifying: r.identifying,
            sensitive: r.sensitive,
            created_by: r.created_by.map(UserId::from_uuid),
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
            revision: r.revision,
            person_id: r.person_id,
            assigned_to: r.assigned_to.map(UserId::from_uuid),
            due_on: r.due_on,
            county: r.county,
            closed: r.closed,
        }
    }
}

macro_rules! case_columns {
    () => {
        "id, number, programme, owner_org, form_version, stage, wrapped_key, reporting, identifying, sensitive, \
         created_by, created_at, updated_at, revision, person_id, assigned_to, due_on, county, closed"
    };
}

macro_rules! select_case {
    ($rest:literal) => {
        concat!("select ", case_columns!(), " from cases", $rest)
    };
}

enum Arg {
    Text(String),
    Id(Uuid),
    Int(i64),
    Bytes(Vec<u8>),
}

macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Id(u) => q.bind(*u),
                Arg::Int(i) => q.bind(*i),
                Arg::Bytes(b) => q.bind(b.clone()),
            };
        }
        q
    }};
}

/// The next case number of a programme in a year (1, 2, …), inside the caller's transaction.
pub async fn next_number(conn: &mut Conn<'_>, programme: &str, year: i32) -> Result<i64, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_scalar::<_, i64>(
            "insert into case_numbers (programme, year, last) values ($1, $2, 1) \
             on conflict (programme, year) do update set last = case_numbers.last + 1 returning last"
        )
        .bind(programme)
        .bind(year),
        fetch_one
    )?)
}

pub async fn insert(conn: &mut Conn<'_>, c: &StoredCase) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into cases (id, number, programme, owner_org, form_version, stage, wrapped_key, reporting, \
             identifying, sensitive, created_by, created_at, updated_at, revision, person_id, assigned_to, due_on, \
             county, closed) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
        )
        .bind(c.id)
        .bind(&c.number)
        .bind(&c.programme)
        .bind(c.owner_org.as_uuid())
        .bind(c.form_version)
        .bind(&c.stage)
        .bind(&c.wrapped_key)
        .bind(&c.reporting)
        .bind(&c.identifying)
        .bind(&c.sensitive)
        .bind(c.created_by.map(|u| u.as_uuid()))
        .bind(c.created_at.micros())
        .bind(c.updated_at.micros())
        .bind(c.revision)
        .bind(c.person_id)
        .bind(c.assigned_to.map(|u| u.as_uuid()))
        .bind(&c.due_on)
        .bind(&c.county)
        .bind(c.closed)
    )?;
    Ok(())
}

/// Add keyed hashes of a case's identifying answers: (field, hash) pairs, in one statement.
pub async fn insert_index(
    conn: &mut Conn<'_>,
    case: Uuid,
    entries: &[(String, Vec<u8>)],
) -> Result<(), StoreError> {
    insert_hashes(conn, "case_index (case_id, field, hash)", case, entries).await
}

/// Insert `(owner, field, hash)` rows into `target` (a fixed table and column list) with one
/// statement; a pair already there is left as it is.
pub(crate) async fn insert_hashes(
    conn: &mut Conn<'_>,
    target: &'static str,
    owner: Uuid,
    entries: &[(String, Vec<u8>)],
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut args = vec![Arg::Id(owner)];
    let mut rows = Vec::with_capacity(entries.len());
    for (field, hash) in entries {
        args.push(Arg::Text(field.clone()));
        args.push(Arg::Bytes(hash.clone()));
        rows.push(format!("($1, ${}, ${})", args.len() - 1, args.len()));
    }
    let sql = format!(
        "insert into {target} values {} on conflict do nothing",
        rows.join(", ")
    );
    let q = sqlx::AssertSqlSafe(sql.as_str());
    match conn {
        Conn::Sqlite(c) => bind_args!(sqlx::query(q), &args)
            .execute(&mut **c)
            .await
            .map(|_| ()),
        Conn::Postgres(c) => bind_args!(sqlx::query(q), &args)
            .execute(&mut **c)
            .await
            .map(|_| ()),
    }?;
    Ok(())
}

pub async fn get(conn: &mut Conn<'_>, id: Uuid) -> Result<Option<StoredCase>, StoreError> {
    let row: Option<Row> = on_conn!(
        conn,
        sqlx::query_as::<_, Row>(select_case!(" where id = $1")).bind(id),
        fetch_optional
    )?;
    Ok(row.map(StoredCase::from))
}

/// Cases whose identifying `field` has this blind-index hash.
pub async fn find_by_index(conn: &mut Conn<'_>, field: &str, hash: &[u8]) -> Result<Vec<Uuid>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_scalar::<_, Uuid>("select case_id from case_index where field = $1 and hash = $2")
            .bind(field)
            .bind(hash),
        fetch_all
    )?)
}

/// Replace a case's answers if it is still at `revision`; the revision then goes up by one.
pub async fn update_answers(conn: &mut Conn<'_>, c: &StoredCase, revision: i64) -> Result<(), StoreError> {
    let changed = exec!(
        conn,
        sqlx::query(
            "update cases set reporting = $1, identifying = $2, sensitive = $3, county = $4, updated_at = $5, \
             revision = revision + 1 where id = $6 and revision = $7"
        )
        .bind(&c.reporting)
        .bind(&c.identifying)
        .bind(&c.sensitive)
        .bind(&c.county)
        .bind(c.updated_at.micros())
        .bind(c.id)
        .bind(revision)
    )?;
    if changed == 0 {
        Err(StoreError::Conflict)
    } else {
        Ok(())
    }
}

/// Set who a case is assigned to and when its next step is due, if it is still at `revision`.
pub async fn assign(
    conn: &mut Conn<'_>,
    id: Uuid,
    assigned_to: Option<UserId>,
    due_on: Option<&str>,
    revision: i64,
    at: Timestamp,
) -> Result<(), StoreError> {
    let changed = exec!(
        conn,
        sqlx::query(
            "update cases set assigned_to = $1, due_on = $2, updated_at = $3, revision = revision + 1 \
             where id = $4 and revision = $5"
        )
        .bind(assigned_to.map(|u| u.as_uuid()))
        .bind(due_on)
        .bind(at.micros())
        .bind(id)
        .bind(revision)
    )?;
    if changed == 0 {
        Err(StoreError::Conflict)
    } else {
        Ok(())
    }
}

pub async fn clear_index(conn: &mut Conn<'_>, case: Uuid) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("delete from case_index where case_id = $1").bind(case)
    )?;
    Ok(())
}

/// One edit of a case's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub revision: i64,
    pub at: Timestamp,
    pub actor: Option<UserId>,
    /// JSON list of the changed field paths.
    pub changed: String,
    /// The earlier values of those fields, sealed with the case's key.
    pub previous: Vec<u8>,
}

pub async fn add_version(conn: &mut Conn<'_>, case: Uuid, v: &Version) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into case_versions (case_id, revision, at, actor, changed, previous) values ($1, $2, $3, $4, $5, $6)"
        )
        .bind(case)
        .bind(v.revision)
        .bind(v.at.micros())
        .bind(v.actor.map(|a| a.as_uuid()))
        .bind(&v.changed)
        .bind(&v.previous)
    )?;
    Ok(())
}

type VersionRow = (i64, i64, Option<Uuid>, String, Vec<u8>);

/// A case's edits after `since` (a revision), oldest first.
pub async fn versions(conn: &mut Conn<'_>, case: Uuid, since: i64) -> Result<Vec<Version>, StoreError> {
    let rows: Vec<VersionRow> = on_conn!(
        conn,
        sqlx::query_as::<_, VersionRow>(
            "select revision, at, actor, changed, previous from case_versions \
             where case_id = $1 and revision > $2 order by revision"
        )
        .bind(case)
        .bind(since),
        fetch_all
    )?;
    Ok(rows
        .into_iter()
        .map(|(revision, at, actor, changed, previous)| Version {
            revision,
            at: Timestamp::from_micros(at),
            actor: actor.map(UserId::from_uuid),
            changed,
            previous,
        })
        .collect())
}

/// What a case list is narrowed to. Name tokens are keyed hashes: a case matches when its
/// person has every one of them.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub org: Option<OrgId>,
    pub programmes: Vec<String>,
    pub stage: Option<String>,
    pub county: Option<String>,
    pub assigned_to: Option<UserId>,
    pub number: Option<String>,
    pub name_hashes: Vec<Vec<u8>>,
    /// `created_at` bounds, inclusive.
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub open_only: bool,
    /// Only open cases due before this ISO date.
    pub due_before: Option<String>,
    pub sort: CaseSort,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaseSort {
    #[default]
    Newest,
    Oldest,
    Number,
    Due,
    Stage,
}

impl CaseSort {
    fn sql(self) -> &'static str {
        match self {
            Self::Newest => "created_at desc",
            Self::Oldest => "created_at asc",
            Self::Number => "number asc",
            Self::Due => "case when due_on is null then 1 else 0 end, due_on asc, created_at desc",
            Self::Stage => "stage asc, created_at desc",
        }
    }
}

/// A `where` clause and its arguments, numbered in the order they are added.
#[derive(Default)]
struct Where {
    conds: Vec<String>,
    args: Vec<Arg>,
}

impl Where {
    /// Add a condition whose `?` stands for `arg`.
    fn push(&mut self, cond: &str, arg: Arg) {
        self.args.push(arg);
        self.conds
            .push(cond.replace('?', &format!("${}", self.args.len())));
    }

    fn sql(&self) -> String {
        if self.conds.is_empty() {
            String::new()
        } else {
            format!(" where {}", self.conds.join(" and "))
        }
    }
}

/// The `where` clause of a filter. Only fixed SQL text is added; every value is bound.
fn filter_sql(f: &CaseFilter, w: &mut Where) {
    if let Some(org) = f.org {
        w.push("owner_org = ?", Arg::Id(org.as_uuid()));
    }
    if !f.programmes.is_empty() {
        let mut marks = Vec::new();
        for p in &f.programmes {
            w.args.push(Arg::Text(p.clone()));
            marks.push(format!("${}", w.args.len()));
        }
        w.conds.push(format!("programme in ({})", marks.join(", ")));
    }
    if let Some(s) = &f.stage {
        w.push("stage = ?", Arg::Text(s.clone()));
    }
    if let Some(c) = &f.county {
        w.push("county = ?", Arg::Text(c.clone()));
    }
    if let Some(u) = f.assigned_to {
        w.push("assigned_to = ?", Arg::Id(u.as_uuid()));
    }
    if let Some(n) = &f.number {
        w.push("number = ?", Arg::Text(n.clone()));
    }

    if let Some(t) = f.from {
        w.push("created_at >= ?", Arg::Int(t.micros()));
    }
    if let Some(t) = f.to {
        w.push("created_at <= ?", Arg::Int(t.micros()));
    }
    if f.open_only || f.due_before.is_some() {
        w.conds.push("closed = false".into());
    }
    if let Some(d) = &f.due_before {
        w.push("due_on < ?", Arg::Text(d.clone()));
    }
}

/// The rows a filter starts from. A name search starts from the persons who have every name
/// word (few) and joins their cases by person. SQLite's planner, without statistics, would
/// rather scan the organisation's cases for each person (seconds at 200,000 cases), so it is
/// told the join order (`cross join`) and the index; PostgreSQL plans it from statistics.
fn from_sql(f: &CaseFilter, w: &mut Where, sqlite: bool) -> String {
    if f.name_hashes.is_empty() {
        return "cases".to_owned();
    }
    let mut words = Vec::new();
    for h in &f.name_hashes {
        w.args.push(Arg::Bytes(h.clone()));
        words.push(format!(
            "select person_id as named_person from person_index where field = 'name' and hash = ${}",
            w.args.len()
        ));
    }
    w.conds.push("person_id = named_person".into());
    let hint = if sqlite { " indexed by cases_person" } else { "" };
    format!("({}) as named cross join cases{hint}", words.join(" intersect "))
}

/// One page of the cases matching a filter, and how many match in all.
pub async fn search(conn: &mut Conn<'_>, f: &CaseFilter) -> Result<(Vec<StoredCase>, i64), StoreError> {
    let mut w = Where::default();
    let from = from_sql(f, &mut w, matches!(conn, Conn::Sqlite(_)));
    filter_sql(f, &mut w);
    let (clause, args) = (w.sql(), &w.args);
    let count_sql = format!("select count(*) from {from}{clause}");
    let total: i64 = match &mut *conn {
        Conn::Sqlite(c) => {
            bind_args!(
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql.as_str())),
                args
            )
            .fetch_one(&mut **c)
            .await
        }
        Conn::Postgres(c) => {
            bind_args!(
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql.as_str())),
                args
            )
            .fetch_one(&mut **c)
            .await
        }
    }?;
    let page_sql = format!(
        "select {} from {from}{clause} order by {} limit {} offset {}",
        case_columns!(),
        f.sort.sql(),
        f.limit.clamp(1, 1000),
        f.offset.max(0)
    );
    let rows: Vec<Row> = match conn {
        Conn::Sqlite(c) => {
            bind_args!(
                sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(page_sql.as_str())),
                args
            )
            .fetch_all(&mut **c)
            .await
        }
        Conn::Postgres(c) => {
            bind_args!(
                sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(page_sql.as_str())),
                args
            )
            .fetch_all(&mut **c)
            .await
        }
    }?;
    Ok((rows.into_iter().map(StoredCase::from).collect(), total))
}

/// The cases of one person, oldest first.
pub async fn of_person(conn: &mut Conn<'_>, person: Uuid) -> Result<Vec<StoredCase>, StoreError> {
    let rows: Vec<Row> = on_conn!(
        conn,
        sqlx::query_as::<_, Row>(select_case!(" where person_id = $1 order by created_at")).bind(person),
        fetch_all
    )?;
    Ok(rows.into_iter().map(StoredCase::from).collect())
}

/// The cases of `org` in `programme` made with `form_version`, oldest first (then by number,
/// for cases registered in the same instant, e.g. by one import): for exports.
pub async fn for_export(
    conn: &mut Conn<'_>,
    org: OrgId,
    programme: &str,
    form_version: Uuid,
) -> Result<Vec<StoredCase>, StoreError> {
    let rows: Vec<Row> = on_conn!(
        conn,
        sqlx::query_as::<_, Row>(select_case!(
            " where owner_org = $1 and programme = $2 and form_version = $3 order by created_at, number"
        ))
        .bind(org.as_uuid())
        .bind(programme)
        .bind(form_version),
        fetch_all
    )?;
    Ok(rows.into_iter().map(StoredCase::from).collect())
}

/// Flag a case whose sealed answers did not open (the first time only).
pub async fn flag_integrity_failure(
    conn: &mut Conn<'_>,
    case: Uuid,
    at: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "update cases set integrity_failed_at = $2 where id = $1 and integrity_failed_at is null"
        )
        .bind(case)
        .bind(at.micros())
    )?;
    Ok(())
}

/// A case by its number (`CT-2026-000123`).
pub async fn by_number(conn: &mut Conn<'_>, number: &str) -> Result<Option<StoredCase>, StoreError> {
    let row: Option<Row> = on_conn!(
        conn,
        sqlx::query_as::<_, Row>(select_case!(" where number = $1")).bind(number),
        fetch_optional
    )?;
    Ok(row.map(StoredCase::from))
}
