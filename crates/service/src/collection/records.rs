//! Submissions made records, quarantined with the reason, corrected or tried again.

use super::*;

impl Passage {
    /// Register `answers` as the record of submission `s` (of its form version), marking the
    /// submission processed in the same transaction; `extra` adds the rest.
    pub(super) async fn register_submission(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        s: Submission,
        answers: passage_xlsform::check::Instance,
        extra: crate::cases::Extra,
    ) -> Result<uuid::Uuid, ServiceError> {
        let new = crate::NewCase {
            answers,
            person: None,
        };
        let (programme, org) = (s.programme.clone(), s.org_id);
        let extra = crate::cases::Extra {
            form_version: Some(s.form_version),
            submission: Some(s),
            ..extra
        };
        self.register_cases_with(actor, ctx, &programme, org, std::slice::from_ref(&new), extra)
            .await?
            .pop()
            .map(|c| c.id)
            .ok_or(ServiceError::NotFound)
    }

    /// Make the record of a complete submission, or quarantine it with the reason. Answers
    /// are checked as on every channel; the record is audited as the device's member's.
    pub(crate) async fn process_submission(&self, id: uuid::Uuid, ctx: &Ctx) -> Result<(), ServiceError> {
        self.process_submission_with(id, ctx, None).await
    }

    /// [`Self::process_submission`], with the XML and files when the caller has them.
    pub(super) async fn process_submission_with(
        &self,
        id: uuid::Uuid,
        ctx: &Ctx,
        in_hand: Option<(Vec<u8>, Vec<NamedFile>)>,
    ) -> Result<(), ServiceError> {
        let s = {
            let mut pooled = self.db.acquire().await?;
            collection::submission(&mut pooled.conn(), id)
                .await?
                .ok_or(ServiceError::NotFound)?
        };
        if s.state != State::Received {
            return Ok(());
        }
        let actor = match s.device_id {
            Some(d) => {
                let device = {
                    let mut pooled = self.db.acquire().await?;
                    collection::device(&mut pooled.conn(), d).await?
                };
                // A device revoked since it sent this still sent it while it was allowed to.
                self.collector(device.map(|d| Device {
                    revoked_at: None,
                    ..d
                }))
                .await
                .map(|c| c.actor)
            }
            None => Err(ServiceError::NotFound),
        };
        let content = if s.encrypted {
            match self.unlocked_key(&s.programme) {
                Some(key) => self.decrypted_content(&s, &key).await,
                None => {
                    // Its key was locked again before it was read: it waits for the key.
                    let back = Submission {
                        state: State::Encrypted,
                        updated_at: self.now(),
                        ..s.clone()
                    };
                    let mut tx = self.begin().await?;
                    collection::set_outcome(&mut tx.conn(), &back, State::Received).await?;
                    tx.commit().await?;
                    return Ok(());
                }
            }
        } else if let Some(content) = in_hand {
            Ok(content)
        } else {
            self.plain_content(&s).await
        };
        let outcome = match (actor, content) {
            (Ok(actor), Ok((xml, files))) => self.make_record(&actor, ctx, &s, &xml, files).await,
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(e @ ServiceError::Unavailable(_)) => Err(e),
            Err(e) => self.quarantine(ctx, &s, &e).await,
        }
    }

    /// The stored XML and files of a submission, opened.
    pub(super) async fn plain_content(
        &self,
        s: &Submission,
    ) -> Result<(Vec<u8>, Vec<NamedFile>), ServiceError> {
        let key = DataKey::unwrap(&s.wrapped_key, &self.master, s.id.as_bytes())?;
        let xml = key.open(s.id.as_bytes(), "xml", &s.xml)?;
        let stored_files = {
            let mut pooled = self.db.acquire().await?;
            collection::files(&mut pooled.conn(), s.id).await?
        };
        let mut files = Vec::with_capacity(stored_files.len());
        for f in &stored_files {
            let name = String::from_utf8(key.open(s.id.as_bytes(), "file-name", &f.name)?)
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
            let body = key.open(s.id.as_bytes(), &format!("file:{name}"), &f.body)?;
            files.push((name, body));
        }
        Ok((xml, files))
    }

    /// An encrypted bundle decrypted in memory with the programme's unlocked key: the inner
    /// XML must be the same record (form and instanceID) as its manifest.
    pub(super) async fn decrypted_content(
        &self,
        s: &Submission,
        key: &passage_openrosa::encryption::PrivateKeyHandle,
    ) -> Result<(Vec<u8>, Vec<NamedFile>), ServiceError> {
        let (manifest_xml, files) = self.plain_content(s).await?;
        let (envelope, _) = Envelope::read(&manifest_xml).map_err(|e| bad_submission(e.to_string()))?;
        let manifest = envelope
            .encrypted
            .as_ref()
            .ok_or_else(|| bad_submission("it is marked encrypted but has no encryption manifest"))?;
        let decrypted = passage_openrosa::encryption::decrypt(
            key.key(),
            &envelope.form_id,
            &envelope.version,
            &envelope.instance_id,
            manifest,
            |name| files.iter().find(|(n, _)| n == name).map(|(_, b)| b.clone()),
        )
        .map_err(|e| bad_submission(e.to_string()))?;
        let (inner, _) = Envelope::read(&decrypted.xml).map_err(|e| bad_submission(e.to_string()))?;
        if inner.instance_id != envelope.instance_id || inner.form_id != envelope.form_id {
            return Err(bad_submission(
                "the decrypted record is not the one its manifest names",
            ));
        }
        Ok((decrypted.xml, decrypted.media))
    }

    pub(super) async fn make_record(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        s: &Submission,
        xml: &[u8],
        files: Vec<NamedFile>,
    ) -> Result<(), ServiceError> {
        let (_, root) = Envelope::read(xml).map_err(|e| bad_submission(e.to_string()))?;
        let form = self.form_model(s.form_version).await?;
        let answers = passage_openrosa::answers(&root, &form);
        // Only files the record names become its documents.
        let files: Vec<_> = files
            .into_iter()
            .filter(|(n, _)| answers.files.contains(n))
            .collect();
        if let Some(replaced) = &s.deprecated_id {
            return self
                .apply_edit(actor, ctx, s, replaced, &answers.instance, files)
                .await;
        }
        let extra = crate::cases::Extra {
            files,
            ..Default::default()
        };
        self.register_submission(actor, ctx, s.clone(), answers.instance, extra)
            .await?;
        Ok(())
    }

    /// An edit from the field (`deprecatedID`): applied to the record the earlier version
    /// made, unless that record changed in Passage since — then it waits for a person.
    pub(super) async fn apply_edit(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        s: &Submission,
        replaced: &str,
        answers: &passage_xlsform::check::Instance,
        files: Vec<NamedFile>,
    ) -> Result<(), ServiceError> {
        let earlier = {
            let mut pooled = self.db.acquire().await?;
            collection::submission_by_instance(&mut pooled.conn(), replaced).await?
        }
        .filter(|e| e.org_id == s.org_id && e.state == State::Processed)
        .ok_or_else(|| bad_submission("it edits a submission that is not registered in Passage"))?;
        let (Some(case), Some(revision)) = (earlier.case_id, earlier.case_revision) else {
            return Err(bad_submission(
                "it edits a submission that is not registered in Passage",
            ));
        };
        // Files the earlier version did not name (a new photo) join the record; the others
        // are the same files sent again with the edit.
        let known: Vec<String> = serde_json::from_str(&earlier.expected_files).unwrap_or_default();
        let new_files: Vec<NamedFile> = files.into_iter().filter(|(n, _)| !known.contains(n)).collect();
        for (name, bytes) in &new_files {
            crate::activity::document_type(name, bytes)?;
        }
        let updated = self.update_case(actor, ctx, case, answers, revision).await?;
        for (name, bytes) in &new_files {
            self.add_document(actor, ctx, case, name, bytes).await?;
        }
        let done = Submission {
            state: State::Processed,
            problem: None,
            case_id: Some(case),
            case_revision: Some(updated.revision),
            updated_at: self.now(),
            ..s.clone()
        };
        let mut tx = self.begin().await?;
        collection::set_outcome(&mut tx.conn(), &done, State::Received).await?;
        let event = self
            .event(ctx, AuditAction::SubmissionProcessed, actor.user_id())
            .org(Some(s.org_id))
            .target("submission", s.id)
            .detail("case", case)
            .detail("edit", true);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn quarantine(
        &self,
        ctx: &Ctx,
        s: &Submission,
        why: &ServiceError,
    ) -> Result<(), ServiceError> {
        // Problems name fields and rules, never the values (ServiceError's contract).
        let problem = match why {
            ServiceError::InvalidRecord(list) => list
                .iter()
                .map(|p| format!("{}: {}", p.path, crate::transfer::without_value(&p.reason)))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        };
        let q = Submission {
            state: State::Quarantined,
            problem: Some(problem),
            updated_at: self.now(),
            ..s.clone()
        };
        let mut tx = self.begin().await?;
        collection::set_outcome(&mut tx.conn(), &q, State::Received).await?;
        let event = self
            .event(ctx, AuditAction::SubmissionQuarantined, s.received_by)
            .org(Some(s.org_id))
            .target("submission", s.id);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Finish submissions a stopped process left complete but unregistered (run at start).
    pub async fn process_pending_submissions(&self) -> Result<usize, ServiceError> {
        let pending = {
            let mut pooled = self.db.acquire().await?;
            collection::unprocessed(&mut pooled.conn()).await?
        };
        let ctx = Ctx {
            channel: passage_domain::Channel::OpenRosa,
            request_id: None,
        };
        for id in &pending {
            self.process_submission(*id, &ctx).await?;
        }
        Ok(pending.len())
    }

    /// An organisation's submissions (quarantined ones with their reasons), no answers.
    pub async fn submissions(
        &self,
        actor: &Actor,
        org: OrgId,
        state: Option<&str>,
    ) -> Result<Vec<SubmissionSummary>, ServiceError> {
        authorize(actor, Permission::DevicesManage, Scope::Org(org))?;
        let state = match state {
            Some(raw) => Some(
                State::parse(raw).ok_or_else(|| InvalidValue::new("state", "is not a submission state"))?,
            ),
            None => None,
        };
        let mut pooled = self.db.acquire().await?;
        let rows = collection::submissions_of(&mut pooled.conn(), org, state, 500).await?;
        Ok(rows.into_iter().map(summary_of).collect())
    }

    /// Quarantined submissions the actor may correct: in their organisations, of the
    /// programmes whose records they register. No answers.
    pub async fn quarantined_for(&self, actor: &Actor) -> Result<Vec<SubmissionSummary>, ServiceError> {
        let mut out = Vec::new();
        let mut pooled = self.db.acquire().await?;
        for org in actor.grants().iter().map(|g| g.org) {
            for s in
                collection::submissions_of(&mut pooled.conn(), org, Some(State::Quarantined), 500).await?
            {
                let (view, edit) = record_permissions(&s.programme);
                let may = |p| actor.authorize(p, Scope::Org(org)).is_ok();
                if may(view) && may(edit) && s.deprecated_id.is_none() {
                    out.push(summary_of(s));
                }
            }
        }
        Ok(out)
    }

    /// A quarantined submission's answers, for someone who may register its programme's
    /// records in its organisation (audited as a record read).
    pub async fn submission_answers(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        id: uuid::Uuid,
    ) -> Result<(SubmissionSummary, passage_xlsform::check::Instance), ServiceError> {
        let s = self.fixable(actor, id).await?;
        let (xml, _) = self.readable_content(&s).await?;
        let (_, root) = Envelope::read(&xml).map_err(|e| bad_submission(e.to_string()))?;
        let form = self.form_model(s.form_version).await?;
        let answers = passage_openrosa::answers(&root, &form).instance;
        let mut tx = self.begin().await?;
        let event = self
            .event(ctx, AuditAction::CaseViewed, actor.user_id())
            .org(Some(s.org_id))
            .target("submission", s.id);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok((summary_of(s), answers))
    }

    /// A quarantined submission the actor may correct, without reading it.
    pub async fn submission_to_fix(
        &self,
        actor: &Actor,
        id: uuid::Uuid,
    ) -> Result<SubmissionSummary, ServiceError> {
        Ok(summary_of(self.fixable(actor, id).await?))
    }

    /// A submission's XML and files, decrypted if it is encrypted and its key is unlocked.
    async fn readable_content(&self, s: &Submission) -> Result<(Vec<u8>, Vec<NamedFile>), ServiceError> {
        match self.unlocked_key(&s.programme).filter(|_| s.encrypted) {
            Some(key) => self.decrypted_content(s, &key).await,
            None if s.encrypted => Err(ServiceError::Conflict(
                "an unlocked key for this encrypted submission",
            )),
            None => self.plain_content(s).await,
        }
    }

    /// Register a quarantined submission with corrected answers (checked like any record,
    /// against the form version it was filled in). The submission as received is kept.
    pub async fn fix_submission(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        id: uuid::Uuid,
        answers: &passage_xlsform::check::Instance,
    ) -> Result<uuid::Uuid, ServiceError> {
        let s = self.fixable(actor, id).await?;
        let (_, files) = self.readable_content(&s).await?;
        let mut tx = self.begin().await?;
        let ready = Submission {
            state: State::Received,
            problem: None,
            updated_at: self.now(),
            ..s.clone()
        };
        collection::set_outcome(&mut tx.conn(), &ready, State::Quarantined).await?;
        tx.commit().await?;
        let extra = crate::cases::Extra {
            files,
            ..Default::default()
        };
        let registered = self
            .register_submission(actor, ctx, ready, answers.clone(), extra)
            .await;
        match registered {
            Ok(case) => Ok(case),
            Err(e) => {
                // Still not a record: back to quarantine, with the submission as it was.
                let mut tx = self.begin().await?;
                collection::set_outcome(&mut tx.conn(), &s, State::Received).await?;
                tx.commit().await?;
                Err(e)
            }
        }
    }

    /// A quarantined submission the actor may correct: its programme's records are theirs to
    /// register. Others' submissions answer "not found".
    pub(super) async fn fixable(&self, actor: &Actor, id: uuid::Uuid) -> Result<Submission, ServiceError> {
        let s = {
            let mut pooled = self.db.acquire().await?;
            collection::submission(&mut pooled.conn(), id)
                .await?
                .ok_or(ServiceError::NotFound)?
        };
        let (view, edit) = record_permissions(&s.programme);
        authorize(actor, view, Scope::Org(s.org_id))?;
        authorize(actor, edit, Scope::Org(s.org_id))?;
        if s.state != State::Quarantined {
            return Err(ServiceError::Conflict(
                "a decision on this submission (it is not quarantined)",
            ));
        }
        if s.deprecated_id.is_some() {
            return Err(bad_submission(
                "it is an edit: fix the record it edits on its case page instead",
            ));
        }
        Ok(s)
    }

    /// Try a quarantined submission again (after its form, its person or its case was put
    /// right); it is registered or quarantined again with the new reason.
    pub async fn reprocess_submission(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        id: uuid::Uuid,
    ) -> Result<&'static str, ServiceError> {
        let s = {
            let mut pooled = self.db.acquire().await?;
            collection::submission(&mut pooled.conn(), id)
                .await?
                .ok_or(ServiceError::NotFound)?
        };
        authorize(actor, Permission::DevicesManage, Scope::Org(s.org_id))?;
        if s.state != State::Quarantined {
            return Err(ServiceError::Conflict(
                "a decision on this submission (it is not quarantined)",
            ));
        }
        let mut tx = self.begin().await?;
        let again = Submission {
            state: State::Received,
            updated_at: self.now(),
            ..s.clone()
        };
        collection::set_outcome(&mut tx.conn(), &again, State::Quarantined).await?;
        tx.commit().await?;
        self.process_submission(id, ctx).await?;
        let mut pooled = self.db.acquire().await?;
        let after = collection::submission(&mut pooled.conn(), id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok(after.state.as_str())
    }
}
