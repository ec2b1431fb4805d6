-- Watchlists that border crossings are screened against, and the hits awaiting review.
-- A list is kept as the CSV it was uploaded as, sealed under its own data key, so no listed
-- name stands in the clear; the screening index lives in memory and is rebuilt from these
-- rows at start and on every upload. A hit names the list entry by its id, never by name.

create table watchlists (
    id blob primary key,
    owner_org blob not null references organisations (id),
    name text not null,
    entries bigint not null,
    wrapped_key blob not null,
    body blob not null,
    uploaded_by blob references users (id),
    uploaded_at bigint not null,
    unique (owner_org, name)
);

create table screening_hits (
    id blob primary key,
    case_id blob not null references cases (id),
    watchlist_id blob not null references watchlists (id),
    entry_ref text not null,
    score real not null,
    explanation text not null,
    status text not null default 'open' check (status in ('open', 'confirmed', 'dismissed')),
    created_at bigint not null,
    reviewed_by blob references users (id),
    reviewed_at bigint
);
create index screening_hits_case on screening_hits (case_id);
create index screening_hits_status on screening_hits (status, created_at);

insert into role_permissions (role, permission) values
  ('administrator', 'watchlists.manage'),
  ('programme_manager', 'watchlists.manage'),
  ('border_officer', 'watchlists.manage');
