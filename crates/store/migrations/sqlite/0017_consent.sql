-- Consent as data: what a person agreed to (processing, sharing, tracing), for which purpose,
-- with which organisations (sharing), from when, and when they withdrew it. The evidence (who
-- witnessed it, which form) is sealed under the person's key. The access policy reads these:
-- a referral shares who someone is only while they consent to share with that organisation.

create table consents (
    id blob primary key,
    person_id blob not null references persons (id),
    org_id blob not null references organisations (id),
    scope text not null,
    purpose text not null,
    -- The organisation ids a sharing consent names, space-separated.
    recipients text not null,
    given_on text not null,
    withdrawn_on text,
    evidence blob,
    recorded_by blob references users (id),
    recorded_at bigint not null,
    withdrawn_by blob references users (id)
);
create index consents_person on consents (person_id, given_on);
