//! What a device downloads (its forms, as XForms) and sends (submissions, stored as
//! received, made records when complete).

use super::*;

impl Passage {
    /// The forms this device may fill: each programme whose records its member may register.
    pub async fn collection_forms(&self, who: &Collector) -> Result<Vec<CollectionForm>, ServiceError> {
        let mut out = Vec::new();
        for p in self.programmes().await? {
            let (_, edit) = record_permissions(&p.programme.code);
            let Some(current) = p.current else { continue };
            if who.actor.authorize(edit, Scope::Org(who.org)).is_err() {
                continue;
            }
            let form = self.form_model(current.id).await?;
            let mut f = self.xform_of(current.id, &form)?;
            let wanted = form.media_files();
            f.media = self
                .stored_form_media(&p.programme.code)
                .await?
                .into_iter()
                .filter(|m| wanted.contains(&m.name))
                .collect();
            out.push(f);
        }
        Ok(out)
    }

    /// A media file of a form this device may fill, as (content type, bytes).
    pub async fn collection_media(
        &self,
        who: &Collector,
        form_id: &str,
        name: &str,
    ) -> Result<(String, Vec<u8>), ServiceError> {
        let form = self
            .collection_forms(who)
            .await?
            .into_iter()
            .find(|f| f.form_id == form_id)
            .ok_or(ServiceError::NotFound)?;
        let file = form
            .media
            .iter()
            .find(|m| m.name == name)
            .ok_or(ServiceError::NotFound)?;
        let mut pooled = self.db.acquire().await?;
        passage_store::forms::media_body(&mut pooled.conn(), &file.programme, &file.name)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    pub(super) fn xform_of(
        &self,
        version: uuid::Uuid,
        form: &passage_xlsform::Form,
    ) -> Result<CollectionForm, ServiceError> {
        if let Ok(cache) = self.xforms.read()
            && let Some(f) = cache.get(&version)
        {
            return Ok(f.clone());
        }
        let xml =
            passage_xlsform::xform::to_xform(form).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let f = CollectionForm {
            form_id: form.id.clone(),
            title: form.title.clone(),
            version: form.version.clone(),
            md5: digest::md5_hex(xml.as_bytes()),
            xform: Arc::new(xml),
            media: Vec::new(),
        };
        if let Ok(mut cache) = self.xforms.write() {
            cache.insert(version, f.clone());
        }
        Ok(f)
    }

    /// The programme and form version a submission names, if this device may use them.
    pub(super) async fn submission_form(
        &self,
        who: &Collector,
        form_id: &str,
        version: &str,
    ) -> Result<(String, uuid::Uuid), ServiceError> {
        let programme = self
            .programmes()
            .await?
            .into_iter()
            .find(|p| p.programme.form_id == form_id)
            .ok_or(ServiceError::NotFound)?
            .programme
            .code;
        let (_, edit) = record_permissions(&programme);
        authorize(&who.actor, edit, Scope::Org(who.org))?;
        let found = self
            .form_versions(&programme)
            .await?
            .into_iter()
            .find(|v| v.version == version)
            .ok_or_else(|| {
                InvalidValue::new(
                    "version",
                    format!("form {form_id} version {version} is not known to Passage: get the current form on the device"),
                )
            })?;
        Ok((programme, found.id))
    }

    /// Take one POST: store what is new (sealed), then make the record once every file has
    /// arrived. Re-sends of the same XML are harmless; a different XML under a known
    /// instanceID is refused (409) so nothing is silently replaced.
    pub async fn receive_submission(
        &self,
        who: &Collector,
        ctx: &Ctx,
        upload: Upload,
    ) -> Result<Receipt, ServiceError> {
        let (envelope, root) = Envelope::read(&upload.xml).map_err(|e| bad_submission(e.to_string()))?;
        let (programme, form_version) = self
            .submission_form(who, &envelope.form_id, &envelope.version)
            .await?;
        let digest_of_xml = sha256(&upload.xml).to_vec();
        let stored = || async {
            let mut pooled = self.db.acquire().await?;
            collection::submission_by_instance(&mut pooled.conn(), &envelope.instance_id).await
        };
        let mut existing = stored().await?;
        let now = self.now();
        if existing.is_none() {
            if let Some(receipt) = self
                .receive_whole(who, ctx, &upload, &envelope, &root, &programme, form_version)
                .await?
            {
                return Ok(receipt);
            }
            // The same record may have arrived meanwhile from another POST.
            existing = stored().await?;
        }
        let (submission, key, created) = match existing {
            Some(s) if s.xml_sha256 != digest_of_xml => {
                return Err(ServiceError::Conflict(
                    "a different submission with this instanceID (send the identical XML, or a new instanceID for an edit)",
                ));
            }
            Some(s) if s.org_id != who.org => return Err(ServiceError::NotFound),
            Some(s) => {
                let key = DataKey::unwrap(&s.wrapped_key, &self.master, s.id.as_bytes())?;
                (s, key, false)
            }
            None => {
                let form = self.form_model(form_version).await?;
                if form.public_key.is_some() && envelope.encrypted.is_none() {
                    return Err(bad_submission(
                        "this form encrypts records on the device, but this one arrived unencrypted: get the current form on the device",
                    ));
                }
                let expected = match &envelope.encrypted {
                    Some(e) => {
                        let mut all = e.media.clone();
                        all.push(e.xml_file.clone());
                        all
                    }
                    None => passage_openrosa::answers(&root, &form).files,
                };
                let id = uuid::Uuid::now_v7();
                let key = DataKey::generate()?;
                let s = Submission {
                    id,
                    instance_id: envelope.instance_id.clone(),
                    org_id: who.org,
                    programme: programme.clone(),
                    form_version,
                    device_id: Some(who.device_id),
                    received_by: who.actor.user_id(),
                    received_at: now,
                    updated_at: now,
                    xml_sha256: digest_of_xml,
                    wrapped_key: key.wrap(&self.master, id.as_bytes())?,
                    xml: key.seal(id.as_bytes(), "xml", &upload.xml)?,
                    encrypted: envelope.encrypted.is_some(),
                    state: State::Incomplete,
                    problem: None,
                    expected_files: serde_json::to_string(&expected)
                        .map_err(|e| ServiceError::Internal(e.to_string()))?,
                    case_id: None,
                    case_revision: None,
                    deprecated_id: envelope.deprecated_id.clone(),
                };
                (s, key, true)
            }
        };
        let expected: Vec<String> = serde_json::from_str(&submission.expected_files).unwrap_or_default();
        let search = self.search_key();
        let name_key = |name: &str| search.index("submission_file", name);
        let mut files = Vec::new();
        for f in &upload.files {
            // Only files the record names are kept; clients may send others (Collect sends
            // the whole instance folder).
            if !expected.iter().any(|e| e == &f.name) {
                continue;
            }
            files.push(StoredFile {
                name_key: name_key(&f.name).to_vec(),
                name: key.seal(submission.id.as_bytes(), "file-name", f.name.as_bytes())?,
                content_type: f.content_type.clone(),
                size: f.bytes.len() as i64,
                body: key.seal(submission.id.as_bytes(), &format!("file:{}", f.name), &f.bytes)?,
            });
        }

        let mut tx = self.begin().await?;
        if created {
            collection::insert_submission(&mut tx.conn(), &submission)
                .await
                .map_err(|e| match e {
                    // Two POSTs of the same new record at once: the other one stored it.
                    passage_store::StoreError::Conflict => {
                        ServiceError::Conflict("this submission (being received)")
                    }
                    other => other.into(),
                })?;
        }
        let mut added = Vec::new();
        for (f, stored) in upload
            .files
            .iter()
            .filter(|f| expected.contains(&f.name))
            .zip(&files)
        {
            if collection::add_file(&mut tx.conn(), submission.id, stored).await? {
                added.push(f);
            }
        }
        let have = collection::file_keys(&mut tx.conn(), submission.id).await?;
        let missing = expected
            .iter()
            .filter(|e| !have.iter().any(|k| k.as_slice() == name_key(e).as_slice()))
            .count();
        // Complete when every named file is here, or when the client says nothing follows
        // (a file it lost must not hold the record back forever).
        let complete = missing == 0 || !upload.incomplete;
        let next = match (submission.state, complete, submission.encrypted) {
            (State::Incomplete, true, true) => Some(State::Encrypted),
            (State::Incomplete, true, false) => Some(State::Received),
            _ => None,
        };
        if let Some(state) = next {
            let s = Submission {
                state,
                problem: (missing > 0).then(|| format!("{missing} attached file(s) never arrived")),
                updated_at: now,
                ..submission.clone()
            };
            collection::set_outcome(&mut tx.conn(), &s, State::Incomplete).await?;
        }
        // Files arriving after the record was made (ODK Web Forms splits without saying more
        // follows) join its documents, and the note of what never arrived is brought up to date.
        let late = submission.state == State::Processed && !submission.encrypted && !added.is_empty();
        if late {
            let s = Submission {
                problem: (missing > 0).then(|| format!("{missing} attached file(s) never arrived")),
                updated_at: now,
                ..submission.clone()
            };
            collection::set_outcome(&mut tx.conn(), &s, State::Processed).await?;
        }
        if created || !added.is_empty() {
            let event = self
                .event(ctx, AuditAction::SubmissionReceived, who.actor.user_id())
                .org(Some(who.org))
                .target("submission", submission.id)
                .detail("programme", &programme)
                .detail("device", who.device_id)
                .detail("files", added.len());
            audit::append(&mut tx.conn(), &event).await?;
        }
        tx.commit().await?;
        if late && let Some(case) = submission.case_id {
            for f in &added {
                self.add_document(&who.actor, ctx, case, &f.name, &f.bytes)
                    .await?;
            }
        }

        // A complete record, or one a crash or a dropped connection left unregistered (the
        // client sends it again), is made now. The work runs in its own task so that a client
        // hanging up mid-request cannot leave it half done.
        let stuck = !created && submission.state == State::Received;
        if next == Some(State::Received) || stuck {
            // Everything arrived in this request: no need to read it back from the database.
            let in_hand = (created && missing == 0 && !submission.encrypted).then(|| {
                let files = upload
                    .files
                    .iter()
                    .filter(|f| expected.contains(&f.name))
                    .map(|f| (f.name.clone(), f.bytes.clone()))
                    .collect();
                (upload.xml.clone(), files)
            });
            let svc = self.clone();
            let ctx = ctx.clone();
            let id = submission.id;
            tokio::spawn(async move { svc.process_submission_with(id, &ctx, in_hand).await })
                .await
                .map_err(|e| ServiceError::Internal(e.to_string()))??;
        }
        let message = match next {
            Some(State::Encrypted) => {
                "Received (encrypted): it will be registered when the key holder unlocks it.".to_owned()
            }
            Some(_) => "Received by Passage.".to_owned(),
            None if missing > 0 => format!("Received; waiting for {missing} more file(s)."),
            None => "Already received.".to_owned(),
        };
        Ok(if created || !added.is_empty() || next.is_some() {
            Receipt::Created(message)
        } else {
            Receipt::Duplicate(message)
        })
    }

    /// A new, unencrypted submission with every file it names, that is a valid record:
    /// stored and registered in one transaction (the common case, and the fast one). `None`
    /// when it must go the long way (waiting for files, an edit, a record to quarantine).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn receive_whole(
        &self,
        who: &Collector,
        ctx: &Ctx,
        upload: &Upload,
        envelope: &Envelope,
        root: &passage_openrosa::xml::Element,
        programme: &str,
        form_version: uuid::Uuid,
    ) -> Result<Option<Receipt>, ServiceError> {
        if envelope.encrypted.is_some() || envelope.deprecated_id.is_some() {
            return Ok(None);
        }
        let form = self.form_model(form_version).await?;
        if form.public_key.is_some() {
            return Ok(None);
        }
        let answers = passage_openrosa::answers(root, &form);
        let mut files = Vec::with_capacity(answers.files.len());
        for name in &answers.files {
            match upload.files.iter().find(|f| &f.name == name) {
                Some(f) => files.push((name.clone(), f.bytes.clone())),
                None => return Ok(None),
            }
        }
        let id = uuid::Uuid::now_v7();
        let key = DataKey::generate()?;
        let now = self.now();
        let submission = Submission {
            id,
            instance_id: envelope.instance_id.clone(),
            org_id: who.org,
            programme: programme.to_owned(),
            form_version,
            device_id: Some(who.device_id),
            received_by: who.actor.user_id(),
            received_at: now,
            updated_at: now,
            xml_sha256: sha256(&upload.xml).to_vec(),
            wrapped_key: key.wrap(&self.master, id.as_bytes())?,
            xml: key.seal(id.as_bytes(), "xml", &upload.xml)?,
            encrypted: false,
            state: State::Processed,
            problem: None,
            expected_files: serde_json::to_string(&answers.files)
                .map_err(|e| ServiceError::Internal(e.to_string()))?,
            case_id: None,
            case_revision: None,
            deprecated_id: None,
        };
        let received = self
            .event(ctx, AuditAction::SubmissionReceived, who.actor.user_id())
            .org(Some(who.org))
            .target("submission", id)
            .detail("programme", programme)
            .detail("device", who.device_id)
            .detail("files", files.len());
        let svc = self.clone();
        let (ctx, actor) = (ctx.clone(), who.actor.clone());
        let extra = crate::cases::Extra {
            summary: Some(received),
            files,
            new_submission: true,
            ..Default::default()
        };
        // In its own task: a client hanging up cannot cut the registration in half.
        let registered = tokio::spawn(async move {
            svc.register_submission(&actor, &ctx, submission, answers.instance, extra)
                .await
        })
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
        match registered {
            Ok(_) => Ok(Some(Receipt::Created("Received by Passage.".to_owned()))),
            // Not a valid record, or the same record arriving twice at once: the long way
            // keeps it (quarantined) or answers as for a re-send.
            Err(ServiceError::InvalidRecord(_) | ServiceError::Invalid(_) | ServiceError::Conflict(_)) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}
