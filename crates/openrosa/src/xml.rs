//! A small element tree read with quick-xml, with the limits a server needs for XML that
//! arrives from the network: no DOCTYPE (so no entity tricks), bounded depth and size.

use quick_xml::events::Event;
use quick_xml::{Reader, XmlVersion};

/// Elements nested deeper than this are refused (real forms nest a few levels).
const MAX_DEPTH: usize = 64;
/// More elements than this in one document are refused.
const MAX_ELEMENTS: usize = 200_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("the XML is malformed near byte {at}: {reason}")]
    Malformed { at: u64, reason: String },
    #[error("the XML ends before its root element is closed")]
    Truncated,
    #[error("the XML has no root element")]
    Empty,
    #[error("a DOCTYPE is not accepted")]
    Doctype,
    #[error("the XML nests more than {MAX_DEPTH} elements deep")]
    TooDeep,
    #[error("the XML has more than {MAX_ELEMENTS} elements")]
    TooLarge,
}

/// One element: local name (namespace prefix dropped: clients differ in how they declare
/// them), attributes by local name, text (concatenated, untrimmed) and children in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn attribute(&self, local: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == local)
            .map(|(_, v)| v.as_str())
    }
    pub fn child(&self, local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == local)
    }
    pub fn children_named<'a>(&'a self, local: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == local)
    }
}

fn local(qualified: &str) -> String {
    match qualified.rsplit_once(':') {
        Some((_, l)) => l.to_owned(),
        None => qualified.to_owned(),
    }
}

fn malformed(reader: &Reader<&[u8]>, reason: impl ToString) -> XmlError {
    XmlError::Malformed {
        at: reader.buffer_position(),
        reason: reason.to_string(),
    }
}

fn element(reader: &Reader<&[u8]>, start: &quick_xml::events::BytesStart<'_>) -> Result<Element, XmlError> {
    let mut attributes = Vec::new();
    for a in start.attributes() {
        let a = a.map_err(|e| malformed(reader, e))?;
        let key = a.key.as_ref();
        // Namespace declarations are not data.
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = a
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| malformed(reader, e))?;
        attributes.push((local(key), value.into_owned()));
    }
    Ok(Element {
        name: local(start.name().as_ref()),
        attributes,
        ..Element::default()
    })
}

/// Parse a whole document into its root element.
pub fn parse(bytes: &[u8]) -> Result<Element, XmlError> {
    let mut reader = Reader::from_reader(bytes);
    let mut stack: Vec<Element> = Vec::new();
    let mut count = 0usize;
    let mut root: Option<Element> = None;
    loop {
        let event = reader.read_event().map_err(|e| malformed(&reader, e))?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(malformed(&reader, "content after the root element"));
                }
                count += 1;
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                if count > MAX_ELEMENTS {
                    return Err(XmlError::TooLarge);
                }
                stack.push(element(&reader, &start)?);
            }
            Event::Empty(start) => {
                if root.is_some() {
                    return Err(malformed(&reader, "content after the root element"));
                }
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(XmlError::TooLarge);
                }
                let e = element(&reader, &start)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(e),
                    None => root = Some(e),
                }
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(malformed(&reader, "a closing tag without an opening one"));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                if let Some(open) = stack.last_mut() {
                    let text = t.xml_content(XmlVersion::Implicit1_0);
                    open.text.push_str(&text);
                } else if !t.chars().all(char::is_whitespace) {
                    return Err(malformed(&reader, "text outside the root element"));
                }
            }
            Event::GeneralRef(r) => {
                let Some(open) = stack.last_mut() else {
                    return Err(malformed(&reader, "a reference outside the root element"));
                };
                // Only the predefined entities and character references: no DTD, no expansion.
                let name: &str = &r;
                let ch = match name {
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "amp" => Some('&'),
                    "apos" => Some('\''),
                    "quot" => Some('"'),
                    _ => r.resolve_char_ref().map_err(|e| malformed(&reader, e))?,
                };
                match ch {
                    Some(c) => open.text.push(c),
                    None => return Err(malformed(&reader, format!("unknown entity &{name};"))),
                }
            }
            Event::CData(c) => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&c);
                }
            }
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Truncated);
    }
    root.ok_or(XmlError::Empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_local_names_attributes_and_entities() {
        let doc = br#"<?xml version='1.0' encoding='UTF-8' ?><data xmlns:orx="http://openrosa.org/xforms" id="f" orx:version="3"><a>x &amp; y &#233;</a><orx:meta><orx:instanceID>uuid:1</orx:instanceID></orx:meta></data>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "data");
        assert_eq!(root.attribute("id"), Some("f"));
        assert_eq!(root.attribute("version"), Some("3"));
        assert_eq!(root.child("a").unwrap().text, "x & y é");
        assert_eq!(
            root.child("meta").unwrap().child("instanceID").unwrap().text,
            "uuid:1"
        );
    }

    #[test]
    fn refuses_what_a_server_must_not_accept() {
        assert_eq!(parse(b"<data><a>1</a>"), Err(XmlError::Truncated));
        assert_eq!(parse(b""), Err(XmlError::Empty));
        assert_eq!(
            parse(b"<!DOCTYPE d [<!ENTITY x \"y\">]><d>&x;</d>"),
            Err(XmlError::Doctype)
        );
        assert!(matches!(parse(b"<a></b>"), Err(XmlError::Malformed { .. })));
        assert!(matches!(parse(b"<a/><b/>"), Err(XmlError::Malformed { .. })));
        assert!(matches!(
            parse(b"<a>&bogus;</a>"),
            Err(XmlError::Malformed { .. })
        ));
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert_eq!(parse(deep.as_bytes()), Err(XmlError::TooDeep));
    }
}
