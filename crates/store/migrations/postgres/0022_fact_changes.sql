-- Which cases' indicator facts changed, so that a process's fact tables can be brought up to
-- date by re-reading only those cases (with their services, referrals and hits) instead of
-- every record. Triggers fill it, so that no write path can forget to. Nothing personal is
-- kept: a case id and when. Entries older than a day are pruned; a process reloads everything
-- at least twice a day. Concurrent transactions commit out of sequence order, so readers also
-- re-read the last seconds by `at` (the clock time of the change, not of its transaction).

create table fact_changes (
    seq bigint generated always as identity primary key,
    case_id uuid not null,
    at bigint not null
);
create index fact_changes_at on fact_changes (at);

create function fact_change_of_case() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        insert into fact_changes (case_id, at) values (old.id, extract(epoch from clock_timestamp())::bigint);
    else
        insert into fact_changes (case_id, at) values (new.id, extract(epoch from clock_timestamp())::bigint);
    end if;
    return null;
end;
$$;

create function fact_change_of_case_part() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        insert into fact_changes (case_id, at) values (old.case_id, extract(epoch from clock_timestamp())::bigint);
    else
        insert into fact_changes (case_id, at) values (new.case_id, extract(epoch from clock_timestamp())::bigint);
    end if;
    return null;
end;
$$;

create trigger cases_fact_changes after insert or update or delete on cases
    for each row execute function fact_change_of_case();
create trigger case_services_fact_changes after insert or update or delete on case_services
    for each row execute function fact_change_of_case_part();
create trigger referrals_fact_changes after insert or update or delete on referrals
    for each row execute function fact_change_of_case_part();
create trigger screening_hits_fact_changes after insert or update or delete on screening_hits
    for each row execute function fact_change_of_case_part();
