-- Case work: persons shared across programmes, versioned edits, assignment and due dates,
-- services, notes, encrypted documents, referrals between organisations and saved filters.
-- Personal values are sealed with the owning record's data key; only codes, dates and
-- keyed hashes are stored in the clear.

create table persons (
    id blob primary key,
    owner_org blob not null references organisations (id),
    wrapped_key blob not null,
    identity blob not null,
    created_at bigint not null,
    updated_at bigint not null
);

-- Blind index of a person's normalised name tokens, date of birth, phone and document.
create table person_index (
    person_id blob not null references persons (id),
    field text not null,
    hash blob not null,
    primary key (person_id, field, hash)
);
create index person_index_lookup on person_index (field, hash);

alter table cases add column person_id blob references persons (id);
alter table cases add column assigned_to blob references users (id);
alter table cases add column due_on text;
alter table cases add column county text;
alter table cases add column closed boolean not null default false;
create index cases_person on cases (person_id);
create index cases_filter on cases (owner_org, programme, stage, county, created_at);
create index cases_assigned on cases (owner_org, assigned_to, closed, due_on);
create index cases_due on cases (owner_org, closed, due_on);

-- One row per edit of a case's answers: which fields changed (names only) and, sealed, the
-- values they had before, so that every earlier version can be shown to a permitted reader.
create table case_versions (
    case_id blob not null references cases (id),
    revision bigint not null,
    at bigint not null,
    actor blob references users (id),
    changed text not null,
    previous blob not null,
    primary key (case_id, revision)
);

create table case_services (
    id blob primary key,
    case_id blob not null references cases (id),
    service_type text not null,
    delivered_on text not null,
    provider_org blob references organisations (id),
    value text,
    currency text,
    recorded_by blob references users (id),
    recorded_at bigint not null
);
create index case_services_case on case_services (case_id, delivered_on);

create table case_notes (
    id blob primary key,
    case_id blob not null references cases (id),
    body blob not null,
    author blob references users (id),
    at bigint not null
);
create index case_notes_case on case_notes (case_id, at);

create table case_documents (
    id blob primary key,
    case_id blob not null references cases (id),
    name blob not null,
    content_type text not null,
    size bigint not null,
    body blob not null,
    uploaded_by blob references users (id),
    at bigint not null
);
create index case_documents_case on case_documents (case_id, at);

-- A referral shares a sealed snapshot of chosen answers with the receiving organisation,
-- under its own data key; the receiving organisation never reads the case itself.
create table referrals (
    id blob primary key,
    case_id blob not null references cases (id),
    from_org blob not null references organisations (id),
    to_org blob not null references organisations (id),
    status text not null,
    service_type text not null,
    shared_fields text not null,
    wrapped_key blob not null,
    shared blob not null,
    requested_by blob references users (id),
    requested_at bigint not null,
    responded_by blob references users (id),
    responded_at bigint,
    decline_reason text,
    completed_at bigint,
    revision bigint not null
);
create index referrals_to on referrals (to_org, status, requested_at);
create index referrals_case on referrals (case_id);

create table saved_filters (
    id blob primary key,
    user_id blob not null references users (id),
    name text not null,
    query text not null,
    created_at bigint not null,
    unique (user_id, name)
);
