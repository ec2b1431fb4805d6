//! Persons: one identity shared by the cases of several programmes. The identity is sealed;
//! searching goes through keyed hashes of normalised values.

use crate::{Conn, StoreError, exec, on_conn};
use passage_domain::{OrgId, Timestamp};
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
         where p.owner_org = $1 and i.field = 'match' and i.hash in ({}) \
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
