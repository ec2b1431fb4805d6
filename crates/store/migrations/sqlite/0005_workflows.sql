-- Workflows as data: each programme's stages and the moves allowed between them. A move
-- marked `needs_approval` may only be made by someone with the approval permission.
-- Every move is kept in the case's history.

create table stages (
    programme text not null references programmes (code),
    code text not null,
    label text not null,
    position integer not null,
    closed boolean not null default false,
    primary key (programme, code)
);

create table transitions (
    programme text not null,
    from_stage text not null,
    to_stage text not null,
    needs_approval boolean not null default false,
    primary key (programme, from_stage, to_stage),
    foreign key (programme, from_stage) references stages (programme, code),
    foreign key (programme, to_stage) references stages (programme, code)
);

create table case_history (
    id integer primary key autoincrement,
    case_id blob not null references cases (id),
    at bigint not null,
    actor blob references users (id),
    from_stage text not null,
    to_stage text not null,
    reason text
);
create index case_history_case on case_history (case_id, at);

insert into stages (programme, code, label, position, closed) values
  ('avrr', 'registered', 'Registered', 1, false),
  ('avrr', 'counselling', 'Counselling', 2, false),
  ('avrr', 'eligibility_approved', 'Eligibility approved', 3, false),
  ('avrr', 'travel_arranged', 'Travel arranged', 4, false),
  ('avrr', 'departed', 'Departed', 5, false),
  ('avrr', 'arrived', 'Arrived', 6, false),
  ('avrr', 'reintegration_plan', 'Reintegration plan', 7, false),
  ('avrr', 'assistance_delivered', 'Assistance delivered', 8, false),
  ('avrr', 'monitoring', 'Monitoring', 9, false),
  ('avrr', 'closed', 'Closed', 10, true),
  ('ct', 'identified', 'Identified', 1, false),
  ('ct', 'screened', 'Screened', 2, false),
  ('ct', 'referred', 'Referred', 3, false),
  ('ct', 'protection_assistance', 'Protection and assistance', 4, false),
  ('ct', 'reintegration', 'Reintegration', 5, false),
  ('ct', 'closed', 'Closed', 6, true),
  ('rr', 'registered', 'Registered', 1, false),
  ('rr', 'assessed', 'Assessed', 2, false),
  ('rr', 'movement', 'Movement', 3, false),
  ('rr', 'arrived', 'Arrived', 4, false),
  ('rr', 'assistance', 'Assistance', 5, false),
  ('rr', 'closed', 'Closed', 6, true),
  ('border', 'recorded', 'Recorded', 1, false),
  ('border', 'secondary_inspection', 'Secondary inspection', 2, false),
  ('border', 'closed', 'Closed', 3, true),
  ('capacity', 'planned', 'Planned', 1, false),
  ('capacity', 'held', 'Held', 2, false),
  ('capacity', 'reported', 'Reported', 3, false),
  ('capacity', 'closed', 'Closed', 4, true);

-- Forward along the chain; eligibility needs a programme manager's approval; any open stage
-- may close (a closure reason is then required).
insert into transitions (programme, from_stage, to_stage, needs_approval) values
  ('avrr', 'registered', 'counselling', false),
  ('avrr', 'counselling', 'eligibility_approved', true),
  ('avrr', 'eligibility_approved', 'travel_arranged', false),
  ('avrr', 'travel_arranged', 'departed', false),
  ('avrr', 'departed', 'arrived', false),
  ('avrr', 'arrived', 'reintegration_plan', false),
  ('avrr', 'reintegration_plan', 'assistance_delivered', false),
  ('avrr', 'assistance_delivered', 'monitoring', false),
  ('ct', 'identified', 'screened', false),
  ('ct', 'screened', 'referred', false),
  ('ct', 'referred', 'protection_assistance', false),
  ('ct', 'protection_assistance', 'reintegration', false),
  ('rr', 'registered', 'assessed', false),
  ('rr', 'assessed', 'movement', true),
  ('rr', 'movement', 'arrived', false),
  ('rr', 'arrived', 'assistance', false),
  ('border', 'recorded', 'secondary_inspection', false),
  ('capacity', 'planned', 'held', false),
  ('capacity', 'held', 'reported', false);

insert into transitions (programme, from_stage, to_stage, needs_approval)
  select programme, code, 'closed', false from stages where not closed;
