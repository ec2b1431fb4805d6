-- Second factor: a TOTP secret per user, sealed under its own data key (wrapped by the master
-- key like every record's). `confirmed_at` is null until the user has typed a first code;
-- `last_step` is the time step of the last accepted code, so a code is never accepted twice.
-- Roles say whether their holders must use one (administrators and whoever can open
-- counter-trafficking identities); a session is not usable until its second factor is done.

create table second_factors (
    id blob primary key references users (id),
    wrapped_key blob not null,
    secret blob not null,
    created_at bigint not null,
    confirmed_at bigint,
    last_step bigint not null default 0
);

alter table sessions add column second_factor text not null default 'done';

alter table roles add column requires_second_factor boolean not null default false;
update roles set requires_second_factor = true
 where name in ('administrator', 'programme_manager', 'caseworker', 'data_protection_focal_point');
