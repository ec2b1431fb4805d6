-- A file supporting a manual indicator's value (the law, survey report or review it comes
-- from), kept with the value. Replacing the value without a new file keeps the old one.

alter table indicator_values add column evidence_name text;
alter table indicator_values add column evidence_type text;
alter table indicator_values add column evidence_file bytea;
