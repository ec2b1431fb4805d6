-- Field collection with ODK clients (OpenRosa). A device is issued to a member of an
-- organisation and acts with that member's permissions; it signs in with the secret in its
-- URL (only the secret's SHA-256 is kept) or by HTTP Digest (its HA1 sealed under the
-- device's data key). A submission is kept as received, sealed under its own data key,
-- whatever happens to it next: registered as a record, quarantined with the reason, or
-- waiting for the key holder if the form encrypts on the device.

create table devices (
    id uuid primary key,
    org_id uuid not null references organisations (id),
    user_id uuid not null references users (id),
    name text not null,
    token_hash bytea not null unique,
    digest_username text not null unique,
    wrapped_key bytea not null,
    digest_ha1 bytea not null,
    created_by uuid references users (id),
    created_at bigint not null,
    revoked_at bigint,
    last_seen_at bigint
);
create index devices_org on devices (org_id, created_at);

create table submissions (
    id uuid primary key,
    instance_id text not null unique,
    org_id uuid not null references organisations (id),
    programme text not null references programmes (code),
    form_version uuid not null references form_versions (id),
    device_id uuid references devices (id),
    received_by uuid references users (id),
    received_at bigint not null,
    updated_at bigint not null,
    xml_sha256 bytea not null,
    wrapped_key bytea not null,
    xml bytea not null,
    encrypted boolean not null default false,
    state text not null check (state in ('incomplete', 'received', 'processed', 'quarantined', 'encrypted')),
    problem text,
    expected_files text not null,
    case_id uuid references cases (id),
    case_revision bigint,
    deprecated_id text
);
create index submissions_state on submissions (org_id, state, received_at);

create table submission_files (
    submission_id uuid not null references submissions (id),
    name_key bytea not null,
    name bytea not null,
    content_type text not null,
    size bigint not null,
    body bytea not null,
    primary key (submission_id, name_key)
);

-- The RSA key pair of a programme whose form encrypts on the device (settings `public_key`).
-- The private key is sealed under a passphrase its holder keeps (argon2id): Passage can
-- decrypt submissions only while the holder has unlocked it, and only in memory.
create table collection_keys (
    programme text primary key references programmes (code),
    public_key text not null,
    private_key bytea not null,
    created_by uuid references users (id),
    created_at bigint not null
);

insert into role_permissions (role, permission) values
  ('administrator', 'devices.manage');
