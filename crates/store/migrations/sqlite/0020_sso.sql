-- Single sign-on: which provider account (issuer + subject) is which Passage user. Linked the
-- first time someone signs in with a verified e-mail address that a Passage account carries;
-- after that the subject alone decides, so a changed address at the provider cannot move the
-- link to another account.

create table sso_identities (
    issuer text not null,
    subject text not null,
    user_id blob not null references users (id),
    linked_at bigint not null,
    primary key (issuer, subject)
);
create index sso_identities_user on sso_identities (user_id);
