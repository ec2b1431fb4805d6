-- Need to know: in a programme marked need_to_know (counter-trafficking), a case's identity
-- (the person's name and every identifying answer) is shown only to its team — whoever
-- registered it, the caseworker it is assigned to, and supervisors (members who approve
-- stage changes). Anyone else who may read the programme's records sees them masked, unless
-- they break the glass: a reasoned, expiring grant for one case, highlighted in the audit
-- trail and listed for the data protection focal point to review.

alter table programmes add column need_to_know boolean not null default false;
update programmes set need_to_know = true where code = 'ct';

create table break_glass (
    id uuid primary key,
    case_id uuid not null references cases (id),
    org_id uuid not null references organisations (id),
    user_id uuid not null references users (id),
    -- The reason, sealed under the case's data key (it may name the person).
    reason bytea not null,
    granted_at bigint not null,
    expires_at bigint not null,
    reviewed_by uuid references users (id),
    reviewed_at bigint
);
create index break_glass_user on break_glass (user_id, case_id, expires_at);
create index break_glass_org on break_glass (org_id, granted_at);
