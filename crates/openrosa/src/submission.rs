//! What an ODK client submits: the envelope (which form, which record, is it an edit, is it
//! encrypted) and the answers, read against the form they were filled in.
//!
//! Clients serialise differently (JavaRosa declares every namespace and writes an XML
//! declaration; Web Forms and Enketo write neither; `meta` may or may not be namespaced), so
//! everything is matched by local name.

use crate::xml::{self, Element, XmlError};
use passage_xlsform::check::Instance;
use passage_xlsform::{FieldKind, Form, Node};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmissionError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("the submission's root element has no form id (`id` attribute)")]
    NoFormId,
    #[error("the submission has no meta/instanceID")]
    NoInstanceId,
    #[error("meta/instanceID `{0}` is not a valid id")]
    BadInstanceId(String),
    #[error("the encrypted submission lacks `{0}`")]
    IncompleteEncryption(&'static str),
}

/// The parts of an encrypted submission's manifest (ODK's encryption scheme).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encrypted {
    pub base64_key: String,
    pub signature: Option<String>,
    /// Encrypted media files, in manifest order (`*.enc`).
    pub media: Vec<String>,
    /// The encrypted instance (`submission.xml.enc`).
    pub xml_file: String,
}

/// Which form and record a submission is, read before anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub form_id: String,
    pub version: String,
    pub instance_id: String,
    /// Set on an edit: the instanceID of the record this one replaces.
    pub deprecated_id: Option<String>,
    pub encrypted: Option<Encrypted>,
}

/// Instance ids are opaque but short and printable (`uuid:…`); anything else is refused so
/// that they can be stored and shown safely.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_graphic())
}

fn meta_value<'a>(root: &'a Element, name: &str) -> Option<&'a str> {
    root.child("meta")
        .and_then(|m| m.child(name))
        .map(|e| e.text.trim())
        .filter(|t| !t.is_empty())
}

impl Envelope {
    pub fn read(bytes: &[u8]) -> Result<(Self, Element), SubmissionError> {
        let root = xml::parse(bytes)?;
        let envelope = Self::of(&root)?;
        Ok((envelope, root))
    }

    fn of(root: &Element) -> Result<Self, SubmissionError> {
        let form_id = root
            .attribute("id")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(SubmissionError::NoFormId)?
            .to_owned();
        let version = root.attribute("version").unwrap_or("").trim().to_owned();
        let instance_id = meta_value(root, "instanceID")
            .ok_or(SubmissionError::NoInstanceId)?
            .to_owned();
        if !valid_id(&instance_id) {
            return Err(SubmissionError::BadInstanceId(
                instance_id.chars().take(40).collect(),
            ));
        }
        let deprecated_id = meta_value(root, "deprecatedID").map(str::to_owned);
        if let Some(d) = &deprecated_id
            && !valid_id(d)
        {
            return Err(SubmissionError::BadInstanceId(d.chars().take(40).collect()));
        }
        let encrypted = if root
            .attribute("encrypted")
            .is_some_and(|v| v.eq_ignore_ascii_case("yes"))
        {
            let text = |name: &'static str| {
                root.child(name)
                    .map(|e| e.text.trim().to_owned())
                    .filter(|t| !t.is_empty())
                    .ok_or(SubmissionError::IncompleteEncryption(name))
            };
            Some(Encrypted {
                base64_key: text("base64EncryptedKey")?,
                signature: text("base64EncryptedElementSignature").ok(),
                media: root
                    .children_named("media")
                    .flat_map(|m| m.children_named("file"))
                    .map(|f| f.text.trim().to_owned())
                    .filter(|f| !f.is_empty())
                    .collect(),
                xml_file: text("encryptedXmlFile")?,
            })
        } else {
            None
        };
        Ok(Self {
            form_id,
            version,
            instance_id,
            deprecated_id,
            encrypted,
        })
    }
}

/// A submission's answers in the form's terms, and the files its media questions name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    pub instance: Instance,
    /// File names the record refers to (each should arrive as a part of the POST).
    pub files: Vec<String>,
}

/// Read the answers under `root` following the form's groups and repeats. Elements the form
/// does not know (client metadata, Kobo's `formhub`, a newer form's fields) are ignored here:
/// the raw XML is kept as received, so nothing is lost.
pub fn answers(root: &Element, form: &Form) -> Answers {
    let mut out = Answers::default();
    read_level(root, &form.children, &mut out.instance, &mut out.files);
    out
}

fn read_level(element: &Element, nodes: &[Node], into: &mut Instance, files: &mut Vec<String>) {
    for node in nodes {
        match node {
            Node::Field(f) => {
                if !f.kind.holds_value() {
                    continue;
                }
                let Some(child) = element.child(&f.name) else {
                    continue;
                };
                let value = child.text.trim();
                if value.is_empty() {
                    continue;
                }
                if matches!(f.kind, FieldKind::Media(_)) && !files.iter().any(|x| x == value) {
                    files.push(value.to_owned());
                }
                into.values.insert(f.name.clone(), value.to_owned());
            }
            Node::Group(g) if g.repeat => {
                let mut instances = Vec::new();
                for child in element.children_named(&g.name) {
                    // A template is the form's, not an answer.
                    if child.attribute("template").is_some() {
                        continue;
                    }
                    let mut instance = Instance::default();
                    read_level(child, &g.children, &mut instance, files);
                    // Clients may send the form's first, untouched instance: not an answer.
                    if !instance.values.is_empty() || !instance.repeats.is_empty() {
                        instances.push(instance);
                    }
                }
                if !instances.is_empty() {
                    into.repeats.insert(g.name.clone(), instances);
                }
            }
            Node::Group(g) => {
                if let Some(child) = element.child(&g.name) {
                    read_level(child, &g.children, into, files);
                }
            }
        }
    }
}

/// Write answers as an ODK client would submit them (no namespaces, no declaration, like
/// ODK Web Forms): for tests, load generators and demo data.
pub fn to_xml(form: &Form, answers: &Instance, instance_id: &str, deprecated_id: Option<&str>) -> String {
    use quick_xml::Writer;
    use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
    fn level(w: &mut Writer<Vec<u8>>, nodes: &[Node], at: &Instance) -> std::io::Result<()> {
        for node in nodes {
            match node {
                Node::Field(f) => {
                    let value = at.values.get(&f.name).map(String::as_str).unwrap_or("");
                    w.write_event(Event::Start(BytesStart::new(f.name.as_str())))?;
                    w.write_event(Event::Text(BytesText::new(value)))?;
                    w.write_event(Event::End(BytesEnd::new(f.name.as_str())))?;
                }
                Node::Group(g) if g.repeat => {
                    for instance in at.repeats.get(&g.name).into_iter().flatten() {
                        w.write_event(Event::Start(BytesStart::new(g.name.as_str())))?;
                        level(w, &g.children, instance)?;
                        w.write_event(Event::End(BytesEnd::new(g.name.as_str())))?;
                    }
                }
                Node::Group(g) => {
                    w.write_event(Event::Start(BytesStart::new(g.name.as_str())))?;
                    level(w, &g.children, at)?;
                    w.write_event(Event::End(BytesEnd::new(g.name.as_str())))?;
                }
            }
        }
        Ok(())
    }
    let mut w = Writer::new(Vec::new());
    let root_name = form.root_name.as_deref().unwrap_or("data");
    let mut root = BytesStart::new(root_name);
    root.push_attribute(("id", form.id.as_str()));
    if !form.version.is_empty() {
        root.push_attribute(("version", form.version.as_str()));
    }
    // Writing into a Vec cannot fail.
    let _ = (|| -> std::io::Result<()> {
        w.write_event(Event::Start(root))?;
        level(&mut w, &form.children, answers)?;
        w.write_event(Event::Start(BytesStart::new("meta")))?;
        w.write_event(Event::Start(BytesStart::new("instanceID")))?;
        w.write_event(Event::Text(BytesText::new(instance_id)))?;
        w.write_event(Event::End(BytesEnd::new("instanceID")))?;
        if let Some(d) = deprecated_id {
            w.write_event(Event::Start(BytesStart::new("deprecatedID")))?;
            w.write_event(Event::Text(BytesText::new(d)))?;
            w.write_event(Event::End(BytesEnd::new("deprecatedID")))?;
        }
        w.write_event(Event::End(BytesEnd::new("meta")))?;
        w.write_event(Event::End(BytesEnd::new(root_name)))
    })();
    String::from_utf8_lossy(&w.into_inner()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAVAROSA: &[u8] = br#"<?xml version='1.0' encoding='UTF-8' ?><data xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms" id="border_crossing" version="2026112701"><intro/><crossing><direction>entry</direction><carrier> Demo Air </carrier></crossing><kid jr:template=""><kid_name/></kid><kid><kid_name>A</kid_name></kid><kid><kid_name>B</kid_name></kid><kid><kid_name/></kid><photo>1700000000.jpg</photo><meta><instanceID>uuid:6b1c</instanceID><orx:deprecatedID>uuid:5a0b</orx:deprecatedID></meta></data>"#;

    #[test]
    fn reads_the_envelope_whatever_the_namespaces() {
        let (e, _) = Envelope::read(JAVAROSA).unwrap();
        assert_eq!(e.form_id, "border_crossing");
        assert_eq!(e.version, "2026112701");
        assert_eq!(e.instance_id, "uuid:6b1c");
        assert_eq!(e.deprecated_id.as_deref(), Some("uuid:5a0b"));
        assert!(e.encrypted.is_none());
        let web_forms = br#"<data xmlns="http://www.w3.org/2002/xforms" id="f"><orx:meta xmlns:orx="http://openrosa.org/xforms"><orx:instanceID>uuid:1</orx:instanceID></orx:meta></data>"#;
        assert_eq!(Envelope::read(web_forms).unwrap().0.instance_id, "uuid:1");
    }

    #[test]
    fn refuses_envelopes_without_identity() {
        assert_eq!(
            Envelope::read(b"<data><meta><instanceID>uuid:1</instanceID></meta></data>").unwrap_err(),
            SubmissionError::NoFormId
        );
        assert_eq!(
            Envelope::read(b"<data id='f'><meta/></data>").unwrap_err(),
            SubmissionError::NoInstanceId
        );
        assert!(matches!(
            Envelope::read(b"<data id='f'><meta><instanceID>uuid 1</instanceID></meta></data>").unwrap_err(),
            SubmissionError::BadInstanceId(_)
        ));
    }

    #[test]
    fn reads_an_encrypted_manifest() {
        let manifest = br#"<data xmlns="http://www.opendatakit.org/xforms/encrypted" id="f" version="1" encrypted="yes"><base64EncryptedKey>a2V5</base64EncryptedKey><orx:meta xmlns:orx="http://openrosa.org/xforms"><orx:instanceID>uuid:9</orx:instanceID></orx:meta><media><file>1.jpg.enc</file></media><encryptedXmlFile>submission.xml.enc</encryptedXmlFile><base64EncryptedElementSignature>c2ln</base64EncryptedElementSignature></data>"#;
        let e = Envelope::read(manifest).unwrap().0.encrypted.unwrap();
        assert_eq!(e.media, vec!["1.jpg.enc"]);
        assert_eq!(e.xml_file, "submission.xml.enc");
        assert_eq!(e.signature.as_deref(), Some("c2ln"));
    }
}
