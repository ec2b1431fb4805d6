-- The blind-index tables are their primary keys: kept as such (WITHOUT ROWID), a row is one
-- b-tree entry instead of a table row plus a copy in the key's index. Every registration
-- writes some twenty of them.
create table person_index_keyed (
    person_id blob not null references persons (id),
    field text not null,
    hash blob not null,
    primary key (person_id, field, hash)
) without rowid;
insert into person_index_keyed select person_id, field, hash from person_index;
drop table person_index;
alter table person_index_keyed rename to person_index;
create index person_index_lookup on person_index (field, hash, person_id);

create table case_index_keyed (
    case_id blob not null references cases (id),
    field text not null,
    hash blob not null,
    primary key (case_id, field)
) without rowid;
insert into case_index_keyed select case_id, field, hash from case_index;
drop table case_index;
alter table case_index_keyed rename to case_index;
create index case_index_lookup on case_index (field, hash, case_id);
