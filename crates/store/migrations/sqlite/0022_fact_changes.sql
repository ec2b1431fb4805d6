-- Which cases' indicator facts changed, in commit order, so that a process's fact tables can
-- be brought up to date by re-reading only those cases (with their services, referrals and
-- hits) instead of every record. Triggers fill it, so that no write path can forget to.
-- Nothing personal is kept: a case id and when. Entries older than a day are pruned; a
-- process reloads everything at least twice a day.

create table fact_changes (
    seq integer primary key autoincrement,
    case_id blob not null,
    at bigint not null
);
create index fact_changes_at on fact_changes (at);

create trigger cases_fact_insert after insert on cases
begin
    insert into fact_changes (case_id, at) values (new.id, unixepoch());
end;
create trigger cases_fact_update after update on cases
begin
    insert into fact_changes (case_id, at) values (new.id, unixepoch());
end;
create trigger cases_fact_delete after delete on cases
begin
    insert into fact_changes (case_id, at) values (old.id, unixepoch());
end;

create trigger case_services_fact_insert after insert on case_services
begin
    insert into fact_changes (case_id, at) values (new.case_id, unixepoch());
end;
create trigger case_services_fact_update after update on case_services
begin
    insert into fact_changes (case_id, at) values (new.case_id, unixepoch());
end;
create trigger case_services_fact_delete after delete on case_services
begin
    insert into fact_changes (case_id, at) values (old.case_id, unixepoch());
end;

create trigger referrals_fact_insert after insert on referrals
begin
    insert into fact_changes (case_id, at) values (new.case_id, unixepoch());
end;
create trigger referrals_fact_update after update on referrals
begin
    insert into fact_changes (case_id, at) values (new.case_id, unixepoch());
end;
create trigger referrals_fact_delete after delete on referrals
begin
    insert into fact_changes (case_id, at) values (old.case_id, unixepoch());
end;

create trigger screening_hits_fact_insert after insert on screening_hits
begin
    insert into fact_changes (case_id, at) values (new.case_id, unixepoch());
end;
create trigger screening_hits_fact_update after update on screening_hits
begin
    insert into fact_changes (case_id, at) values (new.case_id, unixepoch());
end;
create trigger screening_hits_fact_delete after delete on screening_hits
begin
    insert into fact_changes (case_id, at) values (old.case_id, unixepoch());
end;
