-- Foundation: organisations, users, roles, memberships, sessions, API tokens, login
-- throttling, the audit chain, and Liberia's reference places.
-- Timestamps are BIGINT microseconds since the Unix epoch (UTC) on both backends.

create table installation (
    id integer primary key check (id = 1),
    created_at bigint not null,
    -- key for pseudonymous hashes (login-failure addresses); never leaves the database
    throttle_key bytea not null
);

create table organisations (
    id uuid primary key,
    name text not null,
    name_key text not null unique,
    kind text not null check (kind in ('un_agency', 'government', 'ngo', 'other')),
    is_host boolean not null default false,
    created_at bigint not null
);
create unique index organisations_one_host on organisations (is_host) where is_host;

create table roles (
    name text primary key,
    label text not null,
    description text not null,
    position integer not null
);

create table role_permissions (
    role text not null references roles (name),
    permission text not null,
    primary key (role, permission)
);

create table users (
    id uuid primary key,
    username text not null unique,
    display_name text not null,
    email text,
    password_hash text not null,
    disabled boolean not null default false,
    created_at bigint not null,
    password_changed_at bigint not null
);

create table memberships (
    user_id uuid not null references users (id),
    org_id uuid not null references organisations (id),
    role text not null references roles (name),
    created_at bigint not null,
    primary key (user_id, org_id)
);
create index memberships_org on memberships (org_id);

create table sessions (
    token_hash bytea primary key,
    user_id uuid not null references users (id),
    csrf_token text not null,
    created_at bigint not null,
    last_seen_at bigint not null,
    expires_at bigint not null
);
create index sessions_user on sessions (user_id);

create table api_tokens (
    id uuid primary key,
    user_id uuid not null references users (id),
    name text not null,
    token_hash bytea not null unique,
    scope text not null check (scope in ('read', 'write')),
    created_at bigint not null,
    expires_at bigint,
    revoked_at bigint,
    last_used_at bigint
);
create index api_tokens_user on api_tokens (user_id);

create table login_failures (
    id bigint generated always as identity primary key,
    account_key bytea not null,
    address_key bytea not null,
    at bigint not null
);
create index login_failures_account on login_failures (account_key, at);
create index login_failures_address on login_failures (address_key, at);

create table audit_head (
    id integer primary key check (id = 1),
    last_seq bigint not null,
    last_hash bytea not null
);
insert into audit_head (id, last_seq, last_hash) values (1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);

create table audit_events (
    seq bigint primary key,
    at bigint not null,
    actor_user_id uuid,
    org_id uuid,
    action text not null,
    target_type text,
    target_id text,
    outcome text not null,
    channel text not null,
    request_id text,
    details text not null,
    prev_hash bytea not null,
    hash bytea not null
);
create index audit_events_at on audit_events (at);
create index audit_events_org on audit_events (org_id, seq);
create index audit_events_actor on audit_events (actor_user_id, seq);

create function audit_events_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'audit events are append-only';
end;
$$;
create trigger audit_events_no_update before update or delete on audit_events
    for each row execute function audit_events_append_only();

create table counties (
    code text primary key,
    name text not null,
    capital text not null
);

create table crossing_points (
    code text primary key,
    name text not null,
    county_code text not null references counties (code),
    kind text not null check (kind in ('air', 'sea', 'land', 'river')),
    neighbour text
);
