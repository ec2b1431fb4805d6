-- Blind-index lookups read only the index: a name word common to thousands of persons is
-- matched without visiting the table row of each.
drop index person_index_lookup;
create index person_index_lookup on person_index (field, hash, person_id);
drop index case_index_lookup;
create index case_index_lookup on case_index (field, hash, case_id);
