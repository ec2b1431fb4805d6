-- A person's access report reads the audit trail by target (the person, their cases).

create index audit_events_target on audit_events (target_type, target_id, seq);
