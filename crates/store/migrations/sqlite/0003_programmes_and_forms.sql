-- Programmes and their forms. A form version is an uploaded XLSForm kept byte for byte, with
-- the parsed model beside it; records will point at the version they were made with.

create table programmes (
    code text primary key,
    name text not null,
    form_id text not null unique,
    position integer not null
);

insert into programmes (code, name, form_id, position) values
  ('avrr', 'Assisted voluntary return and reintegration', 'avrr_case', 1),
  ('ct', 'Counter-trafficking', 'ct_victim_case', 2),
  ('rr', 'Resettlement and reintegration assistance', 'rr_case', 3),
  ('border', 'Migration management: border crossings', 'border_crossing', 4),
  ('capacity', 'Capacity building', 'capacity_activity', 5);

create table form_versions (
    id blob primary key,
    programme text not null references programmes (code),
    version text not null,
    title text not null,
    xlsx blob not null,
    sha256 blob not null,
    model text not null,
    uploaded_by blob references users (id),
    uploaded_at bigint not null,
    unique (programme, version)
);
create index form_versions_programme on form_versions (programme, uploaded_at);
