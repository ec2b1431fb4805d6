-- Retention: a programme keeps a closed case's identity for so many years after closure,
-- then its data keys are destroyed (crypto-shredding) and its sealed parts removed; the
-- reporting answers stay, so that indicators do not change. No schedule: kept.

alter table programmes add column retention_years integer;
update programmes set retention_years = 10 where code = 'ct';
update programmes set retention_years = 7 where code in ('avrr', 'rr');
update programmes set retention_years = 5 where code = 'border';

alter table cases add column shredded_at bigint;
alter table persons add column shredded_at bigint;
