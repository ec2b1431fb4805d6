-- Media files a programme's form shows (label images, audio, video): uploaded by those who
-- manage forms, listed in the form's OpenRosa manifest and downloaded by ODK clients with
-- the form. Kept per programme and file name, so a new form version that shows the same
-- file needs no new upload. Not personal data: stored as uploaded.

create table form_media (
    programme text not null references programmes (code),
    name text not null,
    content_type text not null,
    size bigint not null,
    md5 text not null,
    body blob not null,
    uploaded_by blob references users (id),
    uploaded_at bigint not null,
    primary key (programme, name)
);
