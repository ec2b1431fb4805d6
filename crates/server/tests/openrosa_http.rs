//! The OpenRosa endpoints as ODK clients use them: form list and download, HEAD and POST
//! submissions, re-sends, split uploads, edits, Digest sign-in, quarantine, encrypted
//! collection and bad input. Runs on PostgreSQL too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use passage_domain::Actor;
use passage_openrosa::digest;
use passage_service::Ctx;
use passage_service::demo::DemoDevice;
use support::{App, Reply};

const BOUNDARY: &str = "----passage-test-boundary";
/// The smallest bytes Passage accepts as a JPEG (start and end markers).
const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0, 1, 0xFF, 0xD9,
];

/// A multipart body: the XML part, then files, then optionally `*isIncomplete*`.
fn multipart(xml: &str, files: &[(&str, &[u8])], incomplete: bool) -> Vec<u8> {
    let mut b = Vec::new();
    let part = |b: &mut Vec<u8>, head: String, body: &[u8]| {
        b.extend_from_slice(format!("--{BOUNDARY}\r\n{head}\r\n\r\n").as_bytes());
        b.extend_from_slice(body);
        b.extend_from_slice(b"\r\n");
    };
    part(
        &mut b,
        "Content-Disposition: form-data; name=\"xml_submission_file\"; filename=\"submission.xml\"\r\nContent-Type: text/xml".into(),
        xml.as_bytes(),
    );
    for (name, bytes) in files {
        part(
            &mut b,
            format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\nContent-Type: image/jpeg"
            ),
            bytes,
        );
    }
    if incomplete {
        part(
            &mut b,
            "Content-Disposition: form-data; name=\"*isIncomplete*\"".into(),
            b"yes",
        );
    }
    b.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    b
}

struct Field {
    app: App,
    tablet: DemoDevice,
    border: DemoDevice,
}

impl Field {
    async fn new() -> Self {
        let app = App::new().await;
        let mut devices = app.svc.seed_demo_devices().await.unwrap();
        let border = devices.pop().unwrap();
        let tablet = devices.pop().unwrap();
        Self { app, tablet, border }
    }

    /// A signed-in member, as the service sees them.
    async fn who(&self, user: &str) -> passage_service::Authenticated {
        let s = self
            .app
            .svc
            .login(&Ctx::cli(), user, &self.app.password(user), "t")
            .await
            .unwrap();
        self.app.finish_sign_in(&s).await;
        self.app.svc.authenticate_session(&s.token).await.unwrap()
    }

    async fn actor(&self, user: &str) -> Actor {
        self.who(user).await.actor
    }

    fn base(d: &DemoDevice) -> String {
        format!("/key/{}", d.device.token)
    }

    async fn post(&self, d: &DemoDevice, body: Vec<u8>) -> Reply {
        let req = Request::post(format!("{}/submission?deviceID=collect%3Aabc", Self::base(d)))
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .header("x-openrosa-version", "1.0")
            // Collect's date format, which must not matter.
            .header(header::DATE, "Tue, 01 Dec 2026 09:30:29 GMT+00:00")
            .body(Body::from(body))
            .unwrap();
        self.app.send(req).await
    }

    /// Valid answers to `programme`'s current form, and the form.
    async fn answers(
        &self,
        programme: &str,
        seed: u64,
    ) -> (std::sync::Arc<passage_xlsform::Form>, passage_service::Instance) {
        let (_, form) = self.app.svc.current_form(programme).await.unwrap();
        let mut s = passage_xlsform::fill::Seed::new(seed);
        let answers = passage_xlsform::fill::fill(&form, &mut s, self.app.svc.today()).unwrap();
        (form, answers)
    }

    /// A valid record of `programme`, as XML with `instance_id`.
    async fn record(
        &self,
        programme: &str,
        seed: u64,
        instance_id: &str,
    ) -> (String, passage_service::Instance) {
        let (form, answers) = self.answers(programme, seed).await;
        (
            passage_openrosa::to_xml(&form, &answers, instance_id, None),
            answers,
        )
    }

    async fn submissions(
        &self,
        device: &DemoDevice,
        state: Option<&str>,
    ) -> Vec<passage_service::SubmissionSummary> {
        let org = self.org_of(device).await;
        self.app
            .svc
            .submissions(&Actor::Operator, org, state)
            .await
            .unwrap()
    }

    async fn org_of(&self, device: &DemoDevice) -> passage_domain::OrgId {
        let user = device.username.as_str();
        let orgs = self.app.svc.organisations(&Actor::Operator).await.unwrap();
        // The caseworker is at the host; the border officer at the immigration service.
        if user == "caseworker" {
            orgs.iter().find(|o| o.is_host).unwrap().id
        } else {
            orgs[1].id
        }
    }
}

fn assert_openrosa(r: &Reply) {
    assert_eq!(
        r.headers.get("x-openrosa-version").and_then(|v| v.to_str().ok()),
        Some("1.0"),
        "{r:?}",
        r = r.status
    );
}

#[tokio::test]
async fn form_list_and_download_follow_the_protocol() {
    let f = Field::new().await;
    let r = f
        .app
        .get(&format!("{}/formList", Field::base(&f.tablet)), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_openrosa(&r);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    let list = passage_openrosa::xml::parse(r.body.as_bytes()).unwrap();
    let ids: Vec<String> = list
        .children_named("xform")
        .map(|x| x.child("formID").unwrap().text.clone())
        .collect();
    // The caseworker registers case records, not border crossings.
    assert!(ids.contains(&"avrr_case".to_owned()) && ids.contains(&"ct_victim_case".to_owned()));
    assert!(!ids.contains(&"border_crossing".to_owned()), "{ids:?}");
    for x in list.children_named("xform") {
        let url = &x.child("downloadUrl").unwrap().text;
        let path = url.split_once("://").unwrap().1.split_once('/').unwrap().1;
        let form = f.app.get(&format!("/{path}"), None).await;
        assert_eq!(form.status, StatusCode::OK, "{url}");
        assert_eq!(
            format!("md5:{}", digest::md5_hex(&form.bytes)),
            x.child("hash").unwrap().text,
            "the listed hash is the hash of the bytes served"
        );
        assert!(form.body.contains("<h:html") && form.body.contains("jr:preload=\"uid\""));
    }
    let border = f
        .app
        .get(&format!("{}/formList", Field::base(&f.border)), None)
        .await;
    assert!(border.body.contains("<formID>border_crossing</formID>"));
    assert!(!border.body.contains("avrr_case"));

    let head = f
        .app
        .send(
            Request::head(format!("{}/submission", Field::base(&f.tablet)))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(head.status, StatusCode::NO_CONTENT);
    assert_openrosa(&head);
    assert!(head.headers.contains_key("x-openrosa-accept-content-length"));

    let unknown = f.app.get("/key/not-a-device/formList", None).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_openrosa(&unknown);
    assert!(unknown.body.contains("<OpenRosaResponse"));
}

#[tokio::test]
async fn a_submission_becomes_a_record_once_and_resends_are_harmless() {
    let f = Field::new().await;
    let (xml, answers) = f.record("border", 7, "uuid:0001-border").await;
    let r = f.post(&f.border, multipart(&xml, &[], false)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_openrosa(&r);
    assert!(r.body.contains("<OpenRosaResponse") && r.body.contains("Received"));

    let done = f.submissions(&f.border, Some("processed")).await;
    assert_eq!(done.len(), 1, "{done:?}");
    let case = done[0].case_id.unwrap();
    let who = f.who("border").await;
    let record = f.app.svc.case(&who.actor, &Ctx::cli(), case).await.unwrap();
    for (k, v) in &answers.values {
        if let Some(stored) = record.answers.values.get(k) {
            assert_eq!(stored, v, "{k}");
        }
    }

    // The same XML again (a lost response): accepted, nothing new.
    let again = f.post(&f.border, multipart(&xml, &[], false)).await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    // A different record under the same instanceID: refused, nothing replaced.
    let (other, _) = f.record("border", 8, "uuid:0001-border").await;
    let clash = f.post(&f.border, multipart(&other, &[], false)).await;
    assert_eq!(clash.status, StatusCode::CONFLICT, "{}", clash.body);
    assert_openrosa(&clash);
    assert_eq!(f.submissions(&f.border, None).await.len(), 1);
}

#[tokio::test]
async fn a_split_upload_waits_for_its_photo_and_the_photo_becomes_a_document() {
    let f = Field::new().await;
    let (form, mut answers) = f.answers("avrr", 3).await;
    answers
        .values
        .insert("id_photo".into(), "1700000000001.jpg".into());
    let xml = passage_openrosa::to_xml(&form, &answers, "uuid:split-1", None);
    let jpeg = JPEG;

    let first = f.post(&f.tablet, multipart(&xml, &[], true)).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert!(first.body.contains("waiting for 1 more file"), "{}", first.body);
    assert_eq!(f.submissions(&f.tablet, Some("incomplete")).await.len(), 1);

    let second = f
        .post(&f.tablet, multipart(&xml, &[("1700000000001.jpg", jpeg)], false))
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    let done = f.submissions(&f.tablet, Some("processed")).await;
    assert_eq!(done.len(), 1, "{:?}", f.submissions(&f.tablet, None).await);
    let who = f.who("caseworker").await;
    let docs = f
        .app
        .svc
        .documents(&who.actor, done[0].case_id.unwrap())
        .await
        .unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].content_type, "image/jpeg");
}

#[tokio::test]
async fn an_edit_from_the_field_changes_the_record_and_keeps_its_history() {
    let f = Field::new().await;
    let (xml, answers) = f.record("border", 11, "uuid:edit-1").await;
    assert_eq!(
        f.post(&f.border, multipart(&xml, &[], false)).await.status,
        StatusCode::CREATED
    );
    let (_, form) = f.app.svc.current_form("border").await.unwrap();
    let mut changed = answers.clone();
    changed.values.insert("carrier".into(), "Demo Ferry Line".into());
    let edit = passage_openrosa::to_xml(&form, &changed, "uuid:edit-2", Some("uuid:edit-1"));
    let r = f.post(&f.border, multipart(&edit, &[], false)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let all = f.submissions(&f.border, None).await;
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|s| s.state == "processed"), "{all:?}");
    assert_eq!(all[0].case_id, all[1].case_id, "the edit changed the same record");
    let who = f.who("border").await;
    let case = f
        .app
        .svc
        .case(&who.actor, &Ctx::cli(), all[0].case_id.unwrap())
        .await
        .unwrap();
    assert_eq!(
        case.answers.values.get("carrier").map(String::as_str),
        Some("Demo Ferry Line")
    );
    assert_eq!(case.revision, 2);

    // An edit of something Passage never registered waits in quarantine.
    let orphan = passage_openrosa::to_xml(&form, &changed, "uuid:edit-3", Some("uuid:never-seen"));
    assert_eq!(
        f.post(&f.border, multipart(&orphan, &[], false)).await.status,
        StatusCode::CREATED
    );
    let q = f.submissions(&f.border, Some("quarantined")).await;
    assert_eq!(q.len(), 1);
    assert!(q[0].problem.as_deref().unwrap().contains("not registered"));
}

#[tokio::test]
async fn invalid_answers_are_quarantined_with_the_reason_never_dropped() {
    let f = Field::new().await;
    let (xml, _) = f.record("border", 5, "uuid:bad-1").await;
    let xml = with_bad_sex(&xml);
    let r = f.post(&f.border, multipart(&xml, &[], false)).await;
    // Stored: the client must not resend it.
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let q = f.submissions(&f.border, Some("quarantined")).await;
    assert_eq!(q.len(), 1);
    let problem = q[0].problem.clone().unwrap();
    assert!(problem.contains("sex"), "{problem}");
    assert!(
        !problem.contains("zz-unknown"),
        "reasons never repeat the value: {problem}"
    );
    // Trying again without a fix leaves it quarantined.
    let state = f
        .app
        .svc
        .reprocess_submission(&Actor::Operator, &Ctx::cli(), q[0].id)
        .await
        .unwrap();
    assert_eq!(state, "quarantined");

    // The border officer reads it through the API, corrects the answer and registers it.
    let token = f.app.token("border", passage_domain::TokenScope::Write).await;
    let (status, got) = f
        .app
        .api("GET", &format!("/api/v1/submissions/{}", q[0].id), &token, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["answers"]["sex"], "zz-unknown");
    let mut answers = got["answers"].clone();
    answers["sex"] = "female".into();
    let body = serde_json::json!({ "answers": answers }).to_string();
    let path = format!("/api/v1/submissions/{}/answers", q[0].id);
    let (status, wrong) = f
        .app
        .api(
            "POST",
            &path,
            &token,
            Some(&body.replace("female", "still-wrong")),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{wrong}");
    assert_eq!(
        f.submissions(&f.border, Some("quarantined")).await.len(),
        1,
        "still waiting after a bad fix"
    );
    let (status, fixed) = f.app.api("POST", &path, &token, Some(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{fixed}");
    let done = f.submissions(&f.border, Some("processed")).await;
    assert_eq!(
        done[0].case_id.map(|c| c.to_string()).as_deref(),
        fixed["case_id"].as_str()
    );
    // An administrator (no access to records) cannot read its answers, only the list.
    let admin = f.app.token("admin", passage_domain::TokenScope::Write).await;
    let (status, _) = f
        .app
        .api("GET", &format!("/api/v1/submissions/{}", q[0].id), &admin, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let org = f.org_of(&f.border).await;
    let list_path = format!("/api/v1/organisations/{org}/submissions?state=processed");
    let (status, list) = f.app.api("GET", &list_path, &admin, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1);
}

/// Put a value that is not a choice into `sex`.
fn with_bad_sex(xml: &str) -> String {
    let start = xml.find("<sex>").unwrap() + "<sex>".len();
    let end = xml[start..].find("</sex>").unwrap() + start;
    format!("{}zz-unknown{}", &xml[..start], &xml[end..])
}

#[tokio::test]
async fn digest_sign_in_works_and_revocation_ends_it_at_once() {
    let f = Field::new().await;
    let challenge = f.app.get("/formList", None).await;
    assert_eq!(challenge.status, StatusCode::UNAUTHORIZED);
    let www = challenge.headers[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        www.starts_with("Digest ") && www.contains("qop=\"auth\""),
        "{www}"
    );
    let nonce = www
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let authorization = |password: &str| {
        let user = &f.tablet.device.device.digest_username;
        let creds = digest::Credentials {
            username: user.clone(),
            realm: "Passage".into(),
            nonce: nonce.clone(),
            uri: "/formList".into(),
            response: String::new(),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("0a4f113b".into()),
            opaque: None,
        };
        let response = digest::expected_response(&digest::ha1(user, "Passage", password), "GET", &creds);
        format!(
            "Digest username=\"{user}\", realm=\"Passage\", nonce=\"{nonce}\", uri=\"/formList\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"{response}\""
        )
    };
    let get = |auth: String| {
        Request::get("/formList")
            .header(header::AUTHORIZATION, auth)
            .body(Body::empty())
            .unwrap()
    };
    let ok = f.app.send(get(authorization(&f.tablet.device.password))).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert!(ok.body.contains("avrr_case"));
    let wrong = f.app.send(get(authorization("not-the-password"))).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let forged = f
        .app
        .send(get(
            authorization(&f.tablet.device.password).replace(&nonce, "1.abc")
        ))
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);

    f.app
        .svc
        .revoke_device(&Actor::Operator, &Ctx::cli(), f.tablet.device.device.id)
        .await
        .unwrap();
    assert_eq!(
        f.app
            .send(get(authorization(&f.tablet.device.password)))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        f.app
            .get(&format!("{}/formList", Field::base(&f.tablet)), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn bad_input_gets_the_status_and_message_a_client_handles() {
    let f = Field::new().await;
    let (xml, _) = f.record("border", 9, "uuid:bad-input").await;
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        ("truncated XML", multipart(&xml[..xml.len() / 2], &[], false), StatusCode::BAD_REQUEST, "XML"),
        ("not XML", multipart("just text", &[], false), StatusCode::BAD_REQUEST, "XML"),
        (
            "no instanceID",
            multipart(&xml.replace("<instanceID>uuid:bad-input</instanceID>", ""), &[], false),
            StatusCode::BAD_REQUEST,
            "instanceID",
        ),
        (
            "unknown form",
            multipart(&xml.replace("id=\"border_crossing\"", "id=\"no_such_form\""), &[], false),
            StatusCode::NOT_FOUND,
            "form",
        ),
        (
            "unknown version",
            multipart(&xml.replace("version=\"", "version=\"1999"), &[], false),
            StatusCode::BAD_REQUEST,
            "version",
        ),
        (
            "no XML part",
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--{BOUNDARY}--\r\n").into_bytes(),
            StatusCode::BAD_REQUEST,
            "xml_submission_file",
        ),
        (
            "cut-off multipart",
            multipart(&xml, &[], false)[..200].to_vec(),
            StatusCode::BAD_REQUEST,
            "multipart",
        ),
    ];
    for (what, body, status, word) in cases {
        let r = f.post(&f.border, body).await;
        assert_eq!(r.status, status, "{what}: {}", r.body);
        assert_openrosa(&r);
        assert!(
            r.body.contains("<OpenRosaResponse") && r.body.contains(word),
            "{what}: {}",
            r.body
        );
    }
    // A form posted as JSON is not a submission.
    let json = Request::post(format!("{}/submission", Field::base(&f.border)))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(f.app.send(json).await.status, StatusCode::BAD_REQUEST);
    // Too large for one POST.
    let big = vec![0u8; passage_service::MAX_SUBMISSION_BYTES + 100 * 1024];
    let r = f
        .post(&f.border, multipart(&xml, &[("big.jpg", &big)], false))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    // Nothing half-written: no submission was stored by any of these.
    assert!(f.submissions(&f.border, None).await.is_empty());
}

/// A small border-crossing form whose settings make ODK clients encrypt each record.
fn encrypting_border_form(public_key: &str) -> Vec<u8> {
    let survey: &[&[&str]] = &[
        &["type", "name", "label", "required", "passage_sensitivity"],
        &["text", "given_names", "Given names", "yes", "identifying"],
        &["text", "surname", "Surname", "yes", "identifying"],
        &["select_one sex", "sex", "Sex", "yes", "reporting"],
        &["image", "doc_photo", "Document photo", "", "identifying"],
    ];
    let choices: &[&[&str]] = &[
        &["list_name", "name", "label"],
        &["sex", "female", "Female"],
        &["sex", "male", "Male"],
    ];
    let settings: &[&[&str]] = &[
        &["form_id", "version", "public_key"],
        &["border_crossing", "2099010101", public_key],
    ];
    passage_xlsform::testing::workbook(&[("survey", survey), ("choices", choices), ("settings", settings)])
}

#[tokio::test]
async fn encrypted_collection_stays_sealed_until_the_key_holder_unlocks_it() {
    use passage_openrosa::encryption;
    let f = Field::new().await;
    let dpo = f.actor("dpo").await;
    let passphrase = "a long demo passphrase";
    let public = f
        .app
        .svc
        .create_collection_key(&dpo, &Ctx::cli(), "border", passphrase, None)
        .await
        .unwrap();
    // A key is never replaced: records sealed for it would become unreadable.
    assert!(matches!(
        f.app
            .svc
            .create_collection_key(&dpo, &Ctx::cli(), "border", passphrase, None)
            .await,
        Err(passage_service::ServiceError::Conflict(_))
    ));
    f.app
        .svc
        .upload_form(
            &Actor::Operator,
            &Ctx::cli(),
            "border",
            &encrypting_border_form(&public),
        )
        .await
        .unwrap();
    let form = f
        .app
        .get(
            &format!("{}/forms/border_crossing.xml", Field::base(&f.border)),
            None,
        )
        .await;
    assert!(
        form.body.contains(&format!("base64RsaPublicKey=\"{public}\"")),
        "{}",
        form.body
    );

    let (_, model) = f.app.svc.current_form("border").await.unwrap();
    let answers = passage_service::Instance::default()
        .with("given_names", "Demo Sealed")
        .with("surname", "Traveller")
        .with("sex", "female")
        .with("doc_photo", "1700000000002.jpg");
    let xml = passage_openrosa::to_xml(&model, &answers, "uuid:sealed-1", None);
    // The form encrypts: a plaintext record is refused, not stored in the clear.
    let plain = f.post(&f.border, multipart(&xml, &[], false)).await;
    assert_eq!(plain.status, StatusCode::BAD_REQUEST, "{}", plain.body);

    let photo = vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 0xFF, 0xD9];
    let key = encryption::public_key_from_base64(&public).unwrap();
    let (manifest, files) = encryption::encrypt(
        &key,
        "border_crossing",
        "2099010101",
        "uuid:sealed-1",
        xml.as_bytes(),
        &[("1700000000002.jpg".to_owned(), photo.clone())],
    )
    .unwrap();
    let parts: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let r = f.post(&f.border, multipart(&manifest, &parts, false)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body.contains("encrypted"), "{}", r.body);
    assert_eq!(f.submissions(&f.border, Some("encrypted")).await.len(), 1);

    let keys = f.app.svc.collection_keys(&dpo).await.unwrap();
    assert_eq!(keys[0].waiting, 1);
    assert!(!keys[0].unlocked);
    assert!(
        f.app
            .svc
            .unlock_collection_key(&dpo, &Ctx::cli(), "border", "not the passphrase")
            .await
            .is_err()
    );
    // Only the data protection focal point holds it, not the border officer.
    let border = f.actor("border").await;
    assert!(
        f.app
            .svc
            .unlock_collection_key(&border, &Ctx::cli(), "border", passphrase)
            .await
            .is_err()
    );

    assert_eq!(
        f.app
            .svc
            .unlock_collection_key(&dpo, &Ctx::cli(), "border", passphrase)
            .await
            .unwrap(),
        1
    );
    let done = f.submissions(&f.border, Some("processed")).await;
    assert_eq!(done.len(), 1, "{:?}", f.submissions(&f.border, None).await);
    let case = f
        .app
        .svc
        .case(&border, &Ctx::cli(), done[0].case_id.unwrap())
        .await
        .unwrap();
    assert_eq!(
        case.answers.values.get("given_names").map(String::as_str),
        Some("Demo Sealed")
    );
    let docs = f.app.svc.documents(&border, case.id).await.unwrap();
    assert_eq!(docs.len(), 1, "the decrypted photo is the record's document");

    // Locked again: the next encrypted record waits.
    f.app
        .svc
        .lock_collection_key(&dpo, &Ctx::cli(), "border")
        .await
        .unwrap();
    let xml2 = passage_openrosa::to_xml(&model, &answers, "uuid:sealed-2", None);
    let (manifest2, files2) = encryption::encrypt(
        &key,
        "border_crossing",
        "2099010101",
        "uuid:sealed-2",
        xml2.as_bytes(),
        &[],
    )
    .unwrap();
    let parts2: Vec<(&str, &[u8])> = files2.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    assert_eq!(
        f.post(&f.border, multipart(&manifest2, &parts2, false))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(f.submissions(&f.border, Some("encrypted")).await.len(), 1);
}

#[tokio::test]
async fn a_photo_sent_after_its_record_joins_the_record() {
    // ODK Web Forms splits big submissions without saying more will follow.
    let f = Field::new().await;
    let (form, mut answers) = f.answers("avrr", 4).await;
    answers
        .values
        .insert("id_photo".into(), "1700000000009.jpg".into());
    let xml = passage_openrosa::to_xml(&form, &answers, "uuid:late-1", None);
    let first = f.post(&f.tablet, multipart(&xml, &[], false)).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let done = f.submissions(&f.tablet, Some("processed")).await;
    assert_eq!(
        done[0].problem.as_deref(),
        Some("1 attached file(s) never arrived")
    );

    let jpeg = JPEG;
    let second = f
        .post(&f.tablet, multipart(&xml, &[("1700000000009.jpg", jpeg)], false))
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    let done = f.submissions(&f.tablet, Some("processed")).await;
    assert_eq!(done[0].problem, None, "nothing is missing any more");
    let who = f.who("caseworker").await;
    assert_eq!(
        f.app
            .svc
            .documents(&who.actor, done[0].case_id.unwrap())
            .await
            .unwrap()
            .len(),
        1
    );
    // The same photo again changes nothing.
    let third = f
        .post(&f.tablet, multipart(&xml, &[("1700000000009.jpg", jpeg)], false))
        .await;
    assert_eq!(third.status, StatusCode::ACCEPTED, "{}", third.body);
    assert_eq!(
        f.app
            .svc
            .documents(&who.actor, done[0].case_id.unwrap())
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_caseworker_corrects_a_quarantined_record_in_the_registration_page() {
    let f = Field::new().await;
    let (xml, _) = f.record("border", 21, "uuid:fix-page-1").await;
    assert_eq!(
        f.post(&f.border, multipart(&with_bad_sex(&xml), &[], false))
            .await
            .status,
        StatusCode::CREATED
    );
    let (cookie, csrf) = f.app.sign_in("border").await;
    let list = f.app.get("/collection/quarantine", Some(&cookie)).await;
    assert_eq!(list.status, StatusCode::OK);
    let id = f.submissions(&f.border, Some("quarantined")).await[0].id;
    assert!(
        list.body.contains(&format!("/collection/submissions/{id}/fix")),
        "{}",
        list.body
    );
    let page = f
        .app
        .get(&format!("/collection/submissions/{id}/fix"), Some(&cookie))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Sent from the field but not registered: sex"),
        "{}",
        page.body
    );

    // Save what the page holds, with the one answer corrected.
    let token = f.app.token("border", passage_domain::TokenScope::Write).await;
    let (_, got) = f
        .app
        .api("GET", &format!("/api/v1/submissions/{id}"), &token, None)
        .await;
    let mut form: Vec<(String, String)> = got["answers"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
        .map(|(k, v)| {
            if k == "sex" {
                (k, "male".to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    form.push(("csrf_token".into(), csrf));
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let saved = f
        .app
        .post_form(&format!("/collection/submissions/{id}/fix"), Some(&cookie), &body)
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let done = f.submissions(&f.border, Some("processed")).await;
    let location = saved.headers[header::LOCATION].to_str().unwrap();
    assert_eq!(location, format!("/cases/{}", done[0].case_id.unwrap()));
    let after = f.app.get("/collection/quarantine", Some(&cookie)).await;
    assert!(after.body.contains("Nothing waits for a correction"));
}

#[tokio::test]
async fn an_edit_that_adds_a_photo_with_a_non_ascii_name_adds_it_to_the_record() {
    let f = Field::new().await;
    let (form, mut answers) = f.answers("avrr", 8).await;
    answers.values.remove("id_photo");
    let first = passage_openrosa::to_xml(&form, &answers, "uuid:photo-edit-1", None);
    assert_eq!(
        f.post(&f.tablet, multipart(&first, &[], false)).await.status,
        StatusCode::CREATED
    );

    // Collect sends part names as raw UTF-8; multipart readers see them as Latin-1.
    let name = "fîlé photo.jpg";
    answers.values.insert("id_photo".into(), name.into());
    let edit = passage_openrosa::to_xml(&form, &answers, "uuid:photo-edit-2", Some("uuid:photo-edit-1"));
    let jpeg = JPEG;
    let r = f.post(&f.tablet, multipart(&edit, &[(name, jpeg)], false)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let all = f.submissions(&f.tablet, Some("processed")).await;
    assert_eq!(all.len(), 2, "{:?}", f.submissions(&f.tablet, None).await);
    let who = f.who("caseworker").await;
    let docs = f
        .app
        .svc
        .documents(&who.actor, all[0].case_id.unwrap())
        .await
        .unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].name, name);
}

/// The smallest bytes Passage accepts as a PNG (its signature).
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

#[tokio::test]
async fn form_media_is_uploaded_listed_in_the_manifest_and_downloaded() {
    let f = Field::new().await;
    let survey: &[&[&str]] = &[
        &[
            "type",
            "name",
            "label",
            "image",
            "required",
            "passage_sensitivity",
        ],
        &["text", "given_names", "Given names", "", "yes", "identifying"],
        &["text", "surname", "Surname", "", "yes", "identifying"],
        &["select_one sex", "sex", "Sex", "post map.png", "yes", "reporting"],
    ];
    let choices: &[&[&str]] = &[
        &["list_name", "name", "label", "image"],
        &["sex", "female", "Female", "female.jpg"],
        &["sex", "male", "Male", ""],
    ];
    let settings: &[&[&str]] = &[&["form_id", "version"], &["border_crossing", "2099010102"]];
    let xlsx = passage_xlsform::testing::workbook(&[
        ("survey", survey),
        ("choices", choices),
        ("settings", settings),
    ]);
    f.app
        .svc
        .upload_form(&Actor::Operator, &Ctx::cli(), "border", &xlsx)
        .await
        .unwrap();

    // The M&E officer sees which files the form shows and which are missing.
    let (cookie, csrf) = f.app.sign_in("meofficer").await;
    let page = f.app.get("/forms", Some(&cookie)).await;
    assert!(page.body.contains("id=\"media-border\""), "{}", page.body);
    assert_eq!(
        page.body
            .matches("Missing: devices show the label without it")
            .count(),
        2
    );
    // Until a file is uploaded the form has no manifest.
    let list = f
        .app
        .get(&format!("{}/formList", Field::base(&f.border)), None)
        .await;
    assert!(!list.body.contains("<manifestUrl>"), "{}", list.body);

    let upload = |name: &str, file: &str, bytes: &[u8]| {
        let mut b = Vec::new();
        for (field, value) in [("programme", "border"), ("name", name)] {
            b.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        b.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file}\"\r\nContent-Type: image/png\r\n\r\n"
            )
            .as_bytes(),
        );
        b.extend_from_slice(bytes);
        b.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        Request::post(format!("/forms/media?csrf_token={csrf}"))
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .header(header::COOKIE, &cookie)
            .body(Body::from(b))
            .unwrap()
    };
    // A file the form does not show, or one that is not what its name says, is refused.
    let r = f.app.send(upload("other.png", "other.png", PNG)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("is not a file the current form shows"),
        "{}",
        r.body
    );
    let r = f.app.send(upload("post map.png", "x.png", b"GIF89a")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("is not really a .png file"), "{}", r.body);
    let r = f.app.send(upload("post map.png", "map.png", PNG)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body
            .matches("Missing: devices show the label without it")
            .count(),
        1
    );
    // A border officer may not upload media.
    let (officer, officer_csrf) = f.app.sign_in("border").await;
    let denied = f
        .app
        .send(
            Request::post(format!("/forms/media?csrf_token={officer_csrf}"))
                .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"))
                .header(header::COOKIE, &officer)
                .body(Body::from(format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"programme\"\r\n\r\nborder\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\npost map.png\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\nPNG\r\n--{BOUNDARY}--\r\n"
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);

    // The form list now points to the manifest; the manifest's hash is the served file's.
    let list = f
        .app
        .get(&format!("{}/formList", Field::base(&f.border)), None)
        .await;
    let root = passage_openrosa::xml::parse(list.body.as_bytes()).unwrap();
    let form = root.child("xform").unwrap();
    let manifest_url = &form.child("manifestUrl").unwrap().text;
    assert!(
        manifest_url.ends_with("/forms/border_crossing/manifest"),
        "{manifest_url}"
    );
    let path = |url: &str| format!("/{}", url.split_once("://").unwrap().1.split_once('/').unwrap().1);
    let manifest = f.app.get(&path(manifest_url), None).await;
    assert_eq!(manifest.status, StatusCode::OK);
    assert_openrosa(&manifest);
    let root = passage_openrosa::xml::parse(manifest.body.as_bytes()).unwrap();
    assert_eq!(root.name, "manifest");
    let files: Vec<_> = root.children_named("mediaFile").collect();
    assert_eq!(
        files.len(),
        1,
        "only uploaded files are listed: {}",
        manifest.body
    );
    assert_eq!(files[0].child("filename").unwrap().text, "post map.png");
    let url = &files[0].child("downloadUrl").unwrap().text;
    assert!(url.ends_with("/media/post%20map.png"), "{url}");
    let media = f.app.get(&path(url), None).await;
    assert_eq!(media.status, StatusCode::OK);
    assert_eq!(media.headers[header::CONTENT_TYPE], "image/png");
    assert_eq!(media.bytes, PNG);
    assert_eq!(
        files[0].child("hash").unwrap().text,
        format!("md5:{}", digest::md5_hex(&media.bytes))
    );
    // A device that may not fill the form gets neither the manifest nor the file.
    let other = f
        .app
        .get(
            &path(url).replace(&Field::base(&f.border), &Field::base(&f.tablet)),
            None,
        )
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let missing = f
        .app
        .get(
            &format!(
                "{}/forms/border_crossing/media/female.jpg",
                Field::base(&f.border)
            ),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // The same through the API: the list, then the missing file put by its name.
    let token = f.app.token("meofficer", passage_domain::TokenScope::Write).await;
    let (status, listed) = f
        .app
        .api("GET", "/api/v1/programmes/border/media", &token, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed[0]["name"], "female.jpg");
    assert_eq!(listed[0]["uploaded"], false);
    assert_eq!(listed[1]["md5"], digest::md5_hex(PNG));
    let put = f
        .app
        .send(
            Request::put("/api/v1/programmes/border/media/female.jpg")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::from(JPEG))
                .unwrap(),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{}", put.body);
    assert_eq!(put.json()["content_type"], "image/jpeg");
    let manifest = f.app.get(&path(manifest_url), None).await;
    assert_eq!(manifest.body.matches("<mediaFile>").count(), 2);
}
