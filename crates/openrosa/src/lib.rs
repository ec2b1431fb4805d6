//! OpenRosa 1.0 for Passage, without I/O: reading submissions (envelope and answers) against
//! a form, writing the form list and OpenRosa responses, and HTTP Digest arithmetic. The
//! server carries the bytes; the service decides.

pub mod digest;
pub mod encryption;
pub mod submission;
pub mod xml;

pub use submission::{Answers, Encrypted, Envelope, SubmissionError, answers, to_xml};

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

/// The header every OpenRosa response carries.
pub const VERSION_HEADER: &str = "x-openrosa-version";
/// The largest POST body a client should send; Collect splits larger submissions.
pub const ACCEPT_CONTENT_LENGTH_HEADER: &str = "x-openrosa-accept-content-length";

/// One form in the form list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormListEntry {
    pub form_id: String,
    pub name: String,
    pub version: String,
    /// MD5 of the XForm's bytes, hex.
    pub md5: String,
    pub download_url: String,
    pub manifest_url: Option<String>,
}

fn leaf(w: &mut Writer<Vec<u8>>, name: &str, text: &str) -> std::io::Result<()> {
    w.write_event(Event::Start(BytesStart::new(name)))?;
    w.write_event(Event::Text(BytesText::new(text)))?;
    w.write_event(Event::End(BytesEnd::new(name)))
}

fn finish(w: Writer<Vec<u8>>) -> String {
    String::from_utf8_lossy(&w.into_inner()).into_owned()
}

/// The OpenRosa form list (`xformsList`).
pub fn form_list(entries: &[FormListEntry]) -> std::io::Result<String> {
    let mut w = Writer::new(Vec::new());
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let mut root = BytesStart::new("xforms");
    root.push_attribute(("xmlns", "http://openrosa.org/xforms/xformsList"));
    w.write_event(Event::Start(root))?;
    for e in entries {
        w.write_event(Event::Start(BytesStart::new("xform")))?;
        leaf(&mut w, "formID", &e.form_id)?;
        leaf(&mut w, "name", &e.name)?;
        leaf(&mut w, "version", &e.version)?;
        leaf(&mut w, "hash", &format!("md5:{}", e.md5))?;
        leaf(&mut w, "downloadUrl", &e.download_url)?;
        if let Some(m) = &e.manifest_url {
            leaf(&mut w, "manifestUrl", m)?;
        }
        w.write_event(Event::End(BytesEnd::new("xform")))?;
    }
    w.write_event(Event::End(BytesEnd::new("xforms")))?;
    Ok(finish(w))
}

/// One file of a form's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaEntry {
    pub filename: String,
    /// MD5 of the file's bytes, hex: clients download it again when this changes.
    pub md5: String,
    pub download_url: String,
}

/// The manifest of a form's media files (OpenRosa form list API, `xformsManifest`).
pub fn manifest(files: &[MediaEntry]) -> std::io::Result<String> {
    let mut w = Writer::new(Vec::new());
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let mut root = BytesStart::new("manifest");
    root.push_attribute(("xmlns", "http://openrosa.org/xforms/xformsManifest"));
    w.write_event(Event::Start(root))?;
    for f in files {
        w.write_event(Event::Start(BytesStart::new("mediaFile")))?;
        leaf(&mut w, "filename", &f.filename)?;
        leaf(&mut w, "hash", &format!("md5:{}", f.md5))?;
        leaf(&mut w, "downloadUrl", &f.download_url)?;
        w.write_event(Event::End(BytesEnd::new("mediaFile")))?;
    }
    w.write_event(Event::End(BytesEnd::new("manifest")))?;
    Ok(finish(w))
}

/// An `OpenRosaResponse` with one message; clients show the text to the data collector.
pub fn response(message: &str, error: bool) -> String {
    let mut w = Writer::new(Vec::new());
    let mut root = BytesStart::new("OpenRosaResponse");
    root.push_attribute(("xmlns", "http://openrosa.org/http/response"));
    root.push_attribute(("items", "0"));
    let mut msg = BytesStart::new("message");
    if error {
        msg.push_attribute(("nature", "error"));
    }
    // Writing into a Vec cannot fail; an empty body would still be answered with its status.
    let _ = w
        .write_event(Event::Start(root))
        .and_then(|_| w.write_event(Event::Start(msg)))
        .and_then(|_| w.write_event(Event::Text(BytesText::new(message))))
        .and_then(|_| w.write_event(Event::End(BytesEnd::new("message"))))
        .and_then(|_| w.write_event(Event::End(BytesEnd::new("OpenRosaResponse"))));
    finish(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_list_and_response_are_well_formed() {
        let list = form_list(&[FormListEntry {
            form_id: "avrr_case".into(),
            name: "AVRR & reintegration".into(),
            version: "2026120101".into(),
            md5: "abc".into(),
            download_url: "http://h/key/t/forms/avrr_case.xml".into(),
            manifest_url: None,
        }])
        .unwrap();
        let root = xml::parse(list.as_bytes()).unwrap();
        let form = root.child("xform").unwrap();
        assert_eq!(form.child("name").unwrap().text, "AVRR & reintegration");
        assert_eq!(form.child("hash").unwrap().text, "md5:abc");
        let m = manifest(&[MediaEntry {
            filename: "flag & map.png".into(),
            md5: "def".into(),
            download_url: "https://x/forms/f/media/flag%20%26%20map.png".into(),
        }])
        .unwrap();
        let root = xml::parse(m.as_bytes()).unwrap();
        let file = root.child("mediaFile").unwrap();
        assert_eq!(file.child("filename").unwrap().text, "flag & map.png");
        assert_eq!(file.child("hash").unwrap().text, "md5:def");
        let r = response("Saved <AVRR-2026-000001>", true);
        let root = xml::parse(r.as_bytes()).unwrap();
        assert_eq!(root.child("message").unwrap().text, "Saved <AVRR-2026-000001>");
        assert_eq!(root.child("message").unwrap().attribute("nature"), Some("error"));
    }
}
