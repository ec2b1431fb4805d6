-- Linking a person's records across programmes (a merge that puts cases of more than one
-- programme under one person) needs a basis: the person's consent to linking, or a legal basis
-- the merging caseworker records. `basis` says which; the legal basis text is sealed under the
-- kept person's key (it may describe them).

alter table person_merges add column basis text;
alter table person_merges add column legal_basis blob;
