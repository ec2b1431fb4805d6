-- SQLite's blind-index tables became WITHOUT ROWID tables in this version; PostgreSQL's
-- tables have no rowid to remove, so nothing changes here.
select 1;
