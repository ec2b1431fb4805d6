//! Persons: one identity shared by the cases of several programmes. The identity is sealed;
//! searching goes through keyed hashes of normalised values.

use crate::{Conn, StoreError, exec, on_conn};
use passage_domain::{OrgId, Timestamp, UserId};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPerson {
    pub id: Uuid,
    pub owner_org: OrgId,
    pub wrapped_key: Vec<u8>,
    /// Sealed JSON of the identity fields.
    pub identity: Vec<u8>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

pub async fn insert(conn: &mut Conn<'_>, p: &StoredPerson) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into persons (id, owner_org, wrapped_key, identity, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6)"
        )
        .bind(p.id)
        .bind(p.owner_org.as_uuid())
        .bind(&p.wrapped_key)
        .bind(&p.identity)
        .bind(p.created_at.micros())
        .bind(p.updated_at.micros())
    )?;
    Ok(())
}

type PersonRow = (Uuid, Uuid, Vec<u8>, Vec<u8>, i64, i64);

pub async fn get(conn: &mut Conn<'_>, id: Uuid) -> Result<Option<StoredPerson>, StoreError> {
    let row: Option<PersonRow> = on_conn!(
        conn,
        sqlx::query_as::<_, PersonRow>(
            "select id, owner_org, wrapped_key, identity, created_at, updated_at from persons where id = $1"
        )
        .bind(id),
        fetch_optional
    )?;
    Ok(row.map(person))
}

fn person((id, org, wrapped_key, identity, created, updated): PersonRow) -> StoredPerson {
    StoredPerson {
        id,
        owner_org: OrgId::from_uuid(org),
        wrapped_key,
        identity,
        created_at: Timestamp::from_micros(created),
        updated_at: Timestamp::from_micros(updated),
    }
}

/// The next `limit` persons after `after` (by id), for a pass over everyone.
pub async fn page(
    conn: &mut Conn<'_>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<StoredPerson>, StoreError> {
    let rows: Vec<PersonRow> = on_conn!(
        conn,
        sqlx::query_as::<_, PersonRow>(
            "select id, owner_org, wrapped_key, identity, created_at, updated_at from persons \
             where $1 is null or id > $1 order by id limit $2"
        )
        .bind(after)
        .bind(limit),
        fetch_all
    )?;
    Ok(rows.into_iter().map(person).collect())
}

/// Several persons at once (for a page of cases), in one query.
pub async fn get_many(conn: &mut Conn<'_>, ids: &[Uuid]) -> Result<Vec<StoredPerson>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    // Only placeholders are added to the text; the ids are bound.
    let sql = format!(
        "select id, owner_org, wrapped_key, identity, created_at, updated_at from persons where id in ({})",
        marks.join(", ")
    );
    let sql = sqlx::AssertSqlSafe(sql.as_str());
    let rows: Vec<PersonRow> = match conn {
        Conn::Sqlite(c) => {
            let mut q = sqlx::query_as::<_, PersonRow>(sql);
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(&mut **c).await
        }
        Conn::Postgres(c) => {
            let mut q = sqlx::query_as::<_, PersonRow>(sql);
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(&mut **c).await
        }
    }?;
    Ok(rows.into_iter().map(person).collect())
}

pub async fn update_identity(
    conn: &mut Conn<'_>,
    id: Uuid,
    identity: &[u8],
    at: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("update persons set identity = $1, updated_at = $2 where id = $3")
            .bind(identity)
            .bind(at.micros())
            .bind(id)
    )?;
    Ok(())
}

/// Replace a person's blind index with these (field, hash) pairs.
pub async fn set_index(
    conn: &mut Conn<'_>,
    person: Uuid,
    entries: &[(String, Vec<u8>)],
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("delete from person_index where person_id = $1").bind(person)
    )?;
    add_index(conn, person, entries).await
}

/// Index a person that has no entries yet (just inserted): [`set_index`] without the delete.
pub async fn add_index(
    conn: &mut Conn<'_>,
    person: Uuid,
    entries: &[(String, Vec<u8>)],
) -> Result<(), StoreError> {
    crate::cases::insert_hashes(conn, "person_index (person_id, field, hash)", person, entries).await
}

/// Persons of `org` sharing at least one of these `match` keys (blocking keys as keyed hashes),
/// most shared keys first: the candidates a new registration is compared with.
pub async fn matching(
    conn: &mut Conn<'_>,
    org: OrgId,
    hashes: &[Vec<u8>],
    limit: i64,
) -> Result<Vec<Uuid>, StoreError> {
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (3..hashes.len() + 3).map(|i| format!("${i}")).collect();
    // Only placeholders are added to the text; the hashes are bound.
    let sql = format!(
        "select i.person_id from person_index i join persons p on p.id = i.person_id \
         where p.owner_org = $1 and p.merged_into is null and i.field = 'match' and i.hash in ({}) \
         group by i.person_id order by count(*) desc, i.person_id limit $2",
        marks.join(", ")
    );
    let sql = sqlx::AssertSqlSafe(sql.as_str());
    let rows: Vec<(Uuid,)> = match conn {
        Conn::Sqlite(c) => {
            let mut q = sqlx::query_as::<_, (Uuid,)>(sql).bind(org.as_uuid()).bind(limit);
            for h in hashes {
                q = q.bind(h);
            }
            q.fetch_all(&mut **c).await
        }
        Conn::Postgres(c) => {
            let mut q = sqlx::query_as::<_, (Uuid,)>(sql).bind(org.as_uuid()).bind(limit);
            for h in hashes {
                q = q.bind(h);
            }
            q.fetch_all(&mut **c).await
        }
    }?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Pairs of the organisation's persons (neither merged away, not judged different) sharing at
/// least one `match` key, most shared keys first: the duplicates queue's candidates.
pub async fn candidate_pairs(
    conn: &mut Conn<'_>,
    org: OrgId,
    limit: i64,
) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
    let rows: Vec<(Uuid, Uuid, i64)> = on_conn!(
        conn,
        sqlx::query_as::<_, (Uuid, Uuid, i64)>(
            "select a.person_id, b.person_id, count(*) as shared from person_index a \
             join person_index b on b.field = 'match' and b.hash = a.hash and a.person_id < b.person_id \
             join persons pa on pa.id = a.person_id join persons pb on pb.id = b.person_id \
             where a.field = 'match' and pa.owner_org = $1 and pb.owner_org = $1 \
             and pa.merged_into is null and pb.merged_into is null \
             and not exists (select 1 from person_distinct d where d.person_a = a.person_id and d.person_b = b.person_id) \
             group by a.person_id, b.person_id order by shared desc, a.person_id, b.person_id limit $2"
        )
        .bind(org.as_uuid())
        .bind(limit),
        fetch_all
    )?;
    Ok(rows.into_iter().map(|(a, b, _)| (a, b)).collect())
}

/// Remembers that two persons are different people (`a < b`).
pub async fn set_distinct(
    conn: &mut Conn<'_>,
    a: Uuid,
    b: Uuid,
    by: Option<UserId>,
    at: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into person_distinct (person_a, person_b, decided_by, decided_at) values ($1, $2, $3, $4)"
        )
        .bind(a)
        .bind(b)
        .bind(by.map(|u| u.as_uuid()))
        .bind(at.micros())
    )?;
    Ok(())
}

/// Where a person was merged into, if anywhere.
pub async fn merged_into(conn: &mut Conn<'_>, id: Uuid) -> Result<Option<Uuid>, StoreError> {
    let row: Option<(Option<Uuid>,)> = on_conn!(
        conn,
        sqlx::query_as::<_, (Option<Uuid>,)>("select merged_into from persons where id = $1").bind(id),
        fetch_optional
    )?;
    Ok(row.and_then(|(m,)| m))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge {
    pub id: Uuid,
    pub owner_org: OrgId,
    pub kept: Uuid,
    pub merged: Uuid,
    pub cases: Vec<Uuid>,
    pub merged_by: Option<UserId>,
    pub merged_at: Timestamp,
    pub undone_at: Option<Timestamp>,
}

type MergeRow = (Uuid, Uuid, Uuid, Uuid, String, Option<Uuid>, i64, Option<i64>);

fn merge(r: MergeRow) -> Merge {
    Merge {
        id: r.0,
        owner_org: OrgId::from_uuid(r.1),
        kept: r.2,
        merged: r.3,
        cases: r.4.split(',').filter_map(|c| c.parse().ok()).collect(),
        merged_by: r.5.map(UserId::from_uuid),
        merged_at: Timestamp::from_micros(r.6),
        undone_at: r.7.map(Timestamp::from_micros),
    }
}

/// Moves every case of `merged` to `kept`, marks `merged` as merged and records the merge.
pub async fn merge_persons(conn: &mut Conn<'_>, m: &Merge) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("update cases set person_id = $1 where person_id = $2")
            .bind(m.kept)
            .bind(m.merged)
    )?;
    let changed = exec!(
        conn,
        sqlx::query("update persons set merged_into = $1 where id = $2 and merged_into is null")
            .bind(m.kept)
            .bind(m.merged)
    )?;
    if changed == 0 {
        return Err(StoreError::Conflict);
    }
    exec!(
        conn,
        sqlx::query(
            "insert into person_merges (id, owner_org, kept, merged, cases, merged_by, merged_at) values ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(m.id)
        .bind(m.owner_org.as_uuid())
        .bind(m.kept)
        .bind(m.merged)
        .bind(m.cases.iter().map(Uuid::to_string).collect::<Vec<_>>().join(","))
        .bind(m.merged_by.map(|u| u.as_uuid()))
        .bind(m.merged_at.micros())
    )?;
    Ok(())
}

/// The ids of a person's cases (to record which ones a merge moves).
pub async fn case_ids(conn: &mut Conn<'_>, person: Uuid) -> Result<Vec<Uuid>, StoreError> {
    let rows: Vec<(Uuid,)> = on_conn!(
        conn,
        sqlx::query_as::<_, (Uuid,)>("select id from cases where person_id = $1 order by id").bind(person),
        fetch_all
    )?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// The programmes the persons' cases are in.
pub async fn programmes_of(conn: &mut Conn<'_>, persons: [Uuid; 2]) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = on_conn!(
        conn,
        sqlx::query_as::<_, (String,)>(
            "select distinct programme from cases where person_id = $1 or person_id = $2 order by programme"
        )
        .bind(persons[0])
        .bind(persons[1]),
        fetch_all
    )?;
    Ok(rows.into_iter().map(|(p,)| p).collect())
}

/// Record on what basis a merge links records across programmes (`consent` or
/// `legal_basis`, the latter's text sealed by the service).
pub async fn set_merge_basis(
    conn: &mut Conn<'_>,
    merge: Uuid,
    basis: &str,
    sealed_legal_basis: Option<&[u8]>,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("update person_merges set basis = $2, legal_basis = $3 where id = $1")
            .bind(merge)
            .bind(basis)
            .bind(sealed_legal_basis)
    )?;
    Ok(())
}

pub async fn get_merge(conn: &mut Conn<'_>, id: Uuid) -> Result<Option<Merge>, StoreError> {
    let row: Option<MergeRow> = on_conn!(
        conn,
        sqlx::query_as::<_, MergeRow>(
            "select id, owner_org, kept, merged, cases, merged_by, merged_at, undone_at from person_merges where id = $1"
        )
        .bind(id),
        fetch_optional
    )?;
    Ok(row.map(merge))
}

/// The organisation's merges, newest first.
pub async fn merges(conn: &mut Conn<'_>, org: OrgId) -> Result<Vec<Merge>, StoreError> {
    let rows: Vec<MergeRow> = on_conn!(
        conn,
        sqlx::query_as::<_, MergeRow>(
            "select id, owner_org, kept, merged, cases, merged_by, merged_at, undone_at from person_merges \
             where owner_org = $1 order by merged_at desc limit 200"
        )
        .bind(org.as_uuid()),
        fetch_all
    )?;
    Ok(rows.into_iter().map(merge).collect())
}

/// Undoes a merge: exactly the cases it moved go back, the person is no longer merged.
pub async fn unmerge(
    conn: &mut Conn<'_>,
    m: &Merge,
    by: Option<UserId>,
    at: Timestamp,
) -> Result<(), StoreError> {
    let changed = exec!(
        conn,
        sqlx::query(
            "update person_merges set undone_by = $1, undone_at = $2 where id = $3 and undone_at is null"
        )
        .bind(by.map(|u| u.as_uuid()))
        .bind(at.micros())
        .bind(m.id)
    )?;
    if changed == 0 {
        return Err(StoreError::Conflict);
    }
    for case in &m.cases {
        exec!(
            conn,
            sqlx::query("update cases set person_id = $1 where id = $2 and person_id = $3")
                .bind(m.merged)
                .bind(case)
                .bind(m.kept)
        )?;
    }
    exec!(
        conn,
        sqlx::query("update persons set merged_into = null where id = $1").bind(m.merged)
    )?;
    Ok(())
}
