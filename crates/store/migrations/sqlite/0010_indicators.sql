-- Indicators: who may see exact small counts (everyone else sees cells under the
-- suppression threshold hidden, on screen and in anything exported).

insert into role_permissions (role, permission) values
  ('programme_manager', 'indicators.exact'),
  ('me_officer', 'indicators.exact');

-- The narrative an M&E officer writes for a section of a report (e.g. one GCM objective of
-- the voluntary review), per year. Aggregate reporting text, never about a person.
create table report_narratives (
    report text not null,
    section text not null,
    year integer not null,
    body text not null,
    updated_by blob references users (id),
    updated_at bigint not null,
    primary key (report, section, year)
);

-- Values of manual indicators (what case data cannot give, e.g. SDG 10.7.2), one per year,
-- with where the figure comes from and the evidence that supports it.
create table indicator_values (
    indicator text not null,
    year integer not null,
    value real not null,
    source text not null,
    evidence text not null,
    entered_by blob references users (id),
    entered_at bigint not null,
    primary key (indicator, year)
);

-- The UN Cooperation Framework's results matrix and the national development plan, as edited
-- by the mission: strategic priority → outcome → output → key activity (or pillars), with lead
-- agencies, SDG targets, gender and human rights markers and the indicators that measure each.
create table framework_nodes (
    id blob primary key,
    framework text not null check (framework in ('unsdcf', 'national')),
    parent_id blob references framework_nodes (id),
    level text not null,
    code text not null,
    title text not null,
    lead_agencies text not null default '',
    sdg_targets text not null default '',
    gender_marker integer,
    human_rights_marker integer,
    indicators text not null default '',
    updated_at bigint not null,
    unique (framework, code)
);
create index framework_nodes_parent on framework_nodes (framework, parent_id);
