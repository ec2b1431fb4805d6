-- Persons registered twice, merged and unmerged. A merge moves the cases of one person to the
-- other and marks the first as merged; nothing is deleted, so an unmerge moves exactly those
-- cases back. Pairs judged to be different people are remembered so they are not offered again.

alter table persons add column merged_into uuid references persons (id);

create table person_merges (
    id uuid primary key,
    owner_org uuid not null references organisations (id),
    kept uuid not null references persons (id),
    merged uuid not null references persons (id),
    -- The ids of the cases moved, comma-separated.
    cases text not null,
    merged_by uuid references users (id),
    merged_at bigint not null,
    undone_by uuid references users (id),
    undone_at bigint
);
create index person_merges_org on person_merges (owner_org, merged_at);

create table person_distinct (
    person_a uuid not null references persons (id),
    person_b uuid not null references persons (id),
    decided_by uuid references users (id),
    decided_at bigint not null,
    primary key (person_a, person_b)
);
