-- A case whose sealed answers fail to open (altered ciphertext, a copied value) is flagged
-- when it is first read that way; it is not served, and the audit trail records the event.

alter table cases add column integrity_failed_at bigint;
