-- Installation keys other than the master key, each stored wrapped by the master key, with
-- the fingerprint of the master key that wraps it: a wrong key file is recognised at start
-- (before anything is written), and rotating the master key re-wraps these with the data
-- keys of every record.

create table key_material (
    name text primary key,
    master_fingerprint text not null,
    wrapped blob not null,
    created_at bigint not null,
    rotated_at bigint
);
