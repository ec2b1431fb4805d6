-- Cases: one enrolment of a person in a programme, made with one form version. Answers are
-- split by the form's sensitivity: reporting answers in plain JSON (for indicators),
-- identifying and sensitive answers sealed with the case's own data key, which is stored
-- only wrapped by the master key (destroying it destroys the data: crypto-shredding).

create table case_numbers (
    programme text not null references programmes (code),
    year integer not null,
    last bigint not null,
    primary key (programme, year)
);

create table cases (
    id uuid primary key,
    number text not null unique,
    programme text not null references programmes (code),
    owner_org uuid not null references organisations (id),
    form_version uuid not null references form_versions (id),
    stage text not null,
    wrapped_key bytea,
    reporting text not null,
    identifying bytea,
    sensitive bytea,
    created_by uuid references users (id),
    created_at bigint not null,
    updated_at bigint not null,
    revision bigint not null
);
create index cases_owner on cases (owner_org, programme, created_at);

-- Blind index: keyed hashes of normalised identifying answers, for exact-match search.
create table case_index (
    case_id uuid not null references cases (id),
    field text not null,
    hash bytea not null,
    primary key (case_id, field)
);
create index case_index_lookup on case_index (field, hash);
