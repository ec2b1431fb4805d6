-- Document bodies may live in pack files beside the database (SQLite): the row then keeps an
-- empty body and where the sealed bytes are.
alter table case_documents add column body_pack bigint;
alter table case_documents add column body_offset bigint;
alter table case_documents add column body_len bigint;
