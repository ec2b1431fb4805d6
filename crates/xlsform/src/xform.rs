//! The XForm an ODK client fills: the same [`Form`] the web pages and checks use, written as
//! ODK XForms 1.0 the way pyxform 4.5 writes it (our differential test compares the two on
//! the shipped forms and pyxform's own examples).
//!
//! What pyxform does and we do too: the primary instance is `<data id version>` (settings
//! `name` renames `data`) with a `meta/instanceID` filled by the client; `${field}` becomes an
//! absolute path (` /data/g/f `), or a relative one (`../f`) when both ends share a repeat; a
//! repeat gets a `jr:template` and a first instance; every choice list is a secondary instance
//! shown through `itemset`s; a dynamic `default` is a `setvalue` on first load; `settings`
//! `public_key` and `submission_url` make a `<submission>` element, so that clients encrypt
//! what they send; a `table-list` group becomes a `field-list` with a label row.
//!
//! Texts follow pyxform's rule element by element: a label, hint or message goes through
//! `itext` when it has a language column (a text without one then counts as the default
//! language, settings `default_language` or `default`) or media (`image`, `audio`, …), and is
//! written inline otherwise; a choice list goes through `itext` when any of its choices does
//! (or has a `${}` in its label). A translation lacking a text says `-`.

use crate::model::{Field, FieldKind, Form, Group, LabelMedia, Node, Text, XFormAttributes};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use std::collections::BTreeMap;

/// The primary instance's root element unless settings `name` gives one (pyxform's default).
const ROOT: &str = "data";

/// pyxform's name for the language of texts written without one.
const DEFAULT_LANGUAGE: &str = "default";

#[derive(Debug, thiserror::Error)]
#[error("could not write the XForm: {0}")]
pub struct XFormError(#[from] std::io::Error);

/// Where a node sits: its path segments from the root element, and which prefixes are
/// repeats.
#[derive(Debug, Clone)]
struct Place {
    /// The root element first.
    segments: Vec<String>,
    /// Lengths of the `segments` prefixes that are repeats, outermost first.
    repeats: Vec<usize>,
}

impl Place {
    fn root(name: &str) -> Self {
        Self {
            segments: vec![name.to_owned()],
            repeats: Vec::new(),
        }
    }
    fn child(&self, name: &str) -> Self {
        let mut p = self.clone();
        p.segments.push(name.to_owned());
        p
    }
    fn absolute(&self) -> String {
        let mut p = String::new();
        for s in &self.segments {
            p.push('/');
            p.push_str(s);
        }
        p
    }
}

/// Every named node's place, for turning `${name}` into a path.
struct Places {
    root: Place,
    by_name: BTreeMap<String, Place>,
}

impl Places {
    fn of(form: &Form, root: &str) -> Self {
        fn walk(nodes: &[Node], at: &Place, out: &mut BTreeMap<String, Place>) {
            for node in nodes {
                match node {
                    Node::Field(f) => {
                        out.insert(f.name.clone(), at.child(&f.name));
                    }
                    Node::Group(g) => {
                        let mut here = at.child(&g.name);
                        if g.repeat {
                            here.repeats.push(here.segments.len());
                        }
                        out.insert(g.name.clone(), here.clone());
                        walk(&g.children, &here, out);
                    }
                }
            }
        }
        let root = Place::root(root);
        let mut by_name = BTreeMap::new();
        walk(&form.children, &root, &mut by_name);
        Self { root, by_name }
    }

    fn place_of(&self, name: &str) -> Place {
        self.by_name
            .get(name)
            .cloned()
            .unwrap_or_else(|| self.root.child(name))
    }

    /// The path to `target` as seen from `context`: relative through their innermost shared
    /// repeat, else absolute. `current` prefixes relative paths with `current()/` (itemsets).
    fn path(&self, target: &str, context: &Place, current: bool) -> Option<String> {
        let to = self.by_name.get(target)?;
        let shared_repeat = context
            .repeats
            .iter()
            .rev()
            .find(|&&len| to.repeats.contains(&len) && to.segments[..len] == context.segments[..len]);
        if shared_repeat.is_none() {
            return Some(to.absolute());
        }
        let common = context
            .segments
            .iter()
            .zip(&to.segments)
            .take_while(|(a, b)| a == b)
            .count()
            .min(context.segments.len().saturating_sub(1));
        let ups = context.segments.len() - common;
        let mut p = if current {
            "current()/".to_owned()
        } else {
            String::new()
        };
        p.push_str(&vec![".."; ups].join("/"));
        for s in &to.segments[common..] {
            p.push('/');
            p.push_str(s);
        }
        Some(p)
    }

    /// An expression as written, with each `${name}` replaced by its path (spaced as pyxform
    /// spaces it, so that nothing runs into a neighbouring token).
    fn expression(&self, src: &str, context: &Place, current: bool) -> String {
        let mut out = String::with_capacity(src.len() + 32);
        let mut rest = src;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            match after.find('}') {
                Some(end) => {
                    let name = after[..end].trim();
                    match self.path(name, context, current) {
                        Some(path) => {
                            out.push(' ');
                            out.push_str(&path);
                            out.push(' ');
                        }
                        None => out.push_str(&rest[start..start + 3 + end]),
                    }
                    rest = &after[end + 1..];
                }
                None => {
                    out.push_str(&rest[start..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// `yes`/`true` as XPath `true()`, else the expression.
fn truth(src: &str, places: &Places, at: &Place) -> Option<String> {
    match src.trim().to_lowercase().as_str() {
        "" | "no" | "false" | "false()" | "0" => None,
        "yes" | "true" | "true()" | "1" => Some("true()".to_owned()),
        _ => Some(places.expression(src, at, false)),
    }
}

/// A `default` is dynamic (set on load) when it is an expression rather than a value.
fn is_dynamic_default(raw: &str) -> bool {
    raw.contains("${") || raw.contains('(')
}

/// Whether a text was written in a language column (pyxform then makes it a translation).
fn has_language(text: &Text) -> bool {
    text.0.iter().any(|(lang, v)| !lang.is_empty() && !v.is_empty())
}

/// The plain (language-less) text of an element written inline.
fn plain(text: &Text) -> &str {
    text.0.get("").map(String::as_str).unwrap_or("")
}

/// A label goes through `itext` when translated or when it has media.
fn label_itext(label: &Text, media: &LabelMedia) -> bool {
    has_language(label) || !media.is_empty()
}

/// A constraint or required message also does when it holds a `${}`.
fn message_itext(text: &Text) -> bool {
    has_language(text) || plain(text).contains("${")
}

struct Out {
    w: Writer<Vec<u8>>,
}

impl Out {
    fn open(&mut self, name: &str, attrs: &[(&str, &str)]) -> std::io::Result<()> {
        let mut e = BytesStart::new(name);
        for a in attrs {
            e.push_attribute(*a);
        }
        self.w.write_event(Event::Start(e))
    }
    fn close(&mut self, name: &str) -> std::io::Result<()> {
        self.w.write_event(Event::End(BytesEnd::new(name)))
    }
    fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> std::io::Result<()> {
        let mut e = BytesStart::new(name);
        for a in attrs {
            e.push_attribute(*a);
        }
        self.w.write_event(Event::Empty(e))
    }
    fn text(&mut self, t: &str) -> std::io::Result<()> {
        self.w.write_event(Event::Text(BytesText::new(t)))
    }
    fn leaf(&mut self, name: &str, text: &str) -> std::io::Result<()> {
        self.leaf_with(name, &[], text)
    }
    fn leaf_with(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) -> std::io::Result<()> {
        if text.is_empty() {
            return self.empty(name, attrs);
        }
        self.open(name, attrs)?;
        self.text(text)?;
        self.close(name)
    }
}

/// Write a text that may hold `${name}`s: they become `<output value="path"/>`.
fn write_rich(out: &mut Out, text: &str, places: &Places, at: &Place) -> std::io::Result<()> {
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = after[..end].trim();
        let Some(path) = places.path(name, at, false) else {
            break;
        };
        out.text(&rest[..start])?;
        out.empty("output", &[("value", &format!(" {path} "))])?;
        rest = &after[end + 1..];
    }
    out.text(rest)
}

/// One `<text id>` of the `itext` block: its text (label, hint or message) and media, each
/// by language as pyxform keys them.
struct Entry {
    id: String,
    /// (language, text); empty when the entry is media only.
    long: Vec<(String, String)>,
    /// (kind, [(language, file)])
    media: Vec<(String, Vec<(String, String)>)>,
    /// Where `${}`s in the text are seen from.
    context: Place,
}

/// The texts of a form keyed by language as pyxform keys them: a text without a language
/// belongs to the default language (unless that language has its own), and languages come in
/// the order their columns do.
struct Languages<'a> {
    form: &'a Form,
    default: String,
}

impl Languages<'_> {
    fn keyed(&self, text: &Text) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        if let Some(v) = text.0.get("").filter(|v| !v.is_empty())
            && !text.0.contains_key(&self.default)
        {
            out.push((self.default.clone(), v.clone()));
        }
        let rank = |lang: &str| {
            self.form
                .languages
                .iter()
                .position(|l| l == lang)
                .unwrap_or(usize::MAX)
        };
        let mut named: Vec<(&String, &String)> = text
            .0
            .iter()
            .filter(|(lang, v)| !lang.is_empty() && !v.is_empty())
            .collect();
        named.sort_by_key(|(lang, _)| rank(lang));
        out.extend(named.into_iter().map(|(l, v)| (l.clone(), v.clone())));
        out
    }

    fn entry(&self, id: String, text: Option<&Text>, media: &LabelMedia, context: &Place) -> Entry {
        Entry {
            id,
            long: text.map(|t| self.keyed(t)).unwrap_or_default(),
            media: media
                .iter()
                .map(|(kind, files)| (kind.clone(), self.keyed(files)))
                .filter(|(_, files)| !files.is_empty())
                .collect(),
            context: context.clone(),
        }
    }
}

/// The `jr://` URI of a media file, as pyxform writes it.
fn media_uri(kind: &str, file: &str) -> String {
    match kind {
        "image" | "big-image" => format!("jr://images/{file}"),
        other => format!("jr://{other}/{file}"),
    }
}

struct XForm<'a> {
    form: &'a Form,
    places: Places,
    languages: Languages<'a>,
}

/// Write `form` as an XForm.
pub fn to_xform(form: &Form) -> Result<String, XFormError> {
    // pyxform's table-list groups and repeat counts (see `xform_only`).
    let rewritten = Form {
        children: xform_only(&form.children),
        ..form.clone()
    };
    let form = &rewritten;
    let root = form.root_name.as_deref().unwrap_or(ROOT);
    let x = XForm {
        form,
        places: Places::of(form, root),
        languages: Languages {
            form,
            default: form
                .default_language
                .clone()
                .unwrap_or_else(|| DEFAULT_LANGUAGE.to_owned()),
        },
    };
    let mut out = Out {
        w: Writer::new(Vec::new()),
    };
    out.w
        .write_event(Event::Decl(BytesDecl::new("1.0", None, None)))?;
    out.open(
        "h:html",
        &[
            ("xmlns", "http://www.w3.org/2002/xforms"),
            ("xmlns:h", "http://www.w3.org/1999/xhtml"),
            ("xmlns:ev", "http://www.w3.org/2001/xml-events"),
            ("xmlns:xsd", "http://www.w3.org/2001/XMLSchema"),
            ("xmlns:jr", "http://openrosa.org/javarosa"),
            ("xmlns:orx", "http://openrosa.org/xforms"),
            ("xmlns:odk", "http://www.opendatakit.org/xforms"),
        ],
    )?;
    out.open("h:head", &[])?;
    out.leaf("h:title", &form.title)?;
    out.open("model", &[("odk:xforms-version", "1.0.0")])?;
    if form.public_key.is_some() || form.submission_url.is_some() {
        let mut attrs = vec![("method", "post")];
        if let Some(url) = &form.submission_url {
            attrs.push(("action", url));
        }
        if let Some(key) = &form.public_key {
            attrs.push(("base64RsaPublicKey", key));
        }
        out.empty("submission", &attrs)?;
    }
    x.write_itext(&mut out)?;
    x.primary_instance(&mut out)?;
    x.choice_instances(&mut out)?;
    x.binds(&mut out, &form.children)?;
    let meta = x.places.root.child("meta");
    out.empty(
        "bind",
        &[
            ("nodeset", &meta.child("instanceID").absolute()),
            ("type", "string"),
            ("readonly", "true()"),
            ("jr:preload", "uid"),
        ],
    )?;
    if let Some(name) = &form.instance_name {
        let at = meta.child("instanceName");
        let calculate = x.places.expression(name, &at, false);
        out.empty(
            "bind",
            &[
                ("nodeset", &at.absolute()),
                ("type", "string"),
                ("calculate", &calculate),
            ],
        )?;
    }
    out.close("model")?;
    out.close("h:head")?;
    match &form.style {
        Some(style) => out.open("h:body", &[("class", style)])?,
        None => out.open("h:body", &[])?,
    }
    x.controls(&mut out, &form.children)?;
    out.close("h:body")?;
    out.close("h:html")?;
    String::from_utf8(out.w.into_inner())
        .map_err(|e| XFormError(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
}

/// What pyxform adds to the XForm only (the added nodes hold nothing worth keeping): a
/// `table-list` group becomes a `field-list` whose label and hint move to a note on top, then
/// a header select (appearance `label`) showing the choices once, and every select of the
/// group loses its own choice labels (`list-nolabel`); a repeat count that is not just a
/// `${field}` is computed in a `NAME_count` node before the repeat.
fn xform_only(nodes: &[Node]) -> Vec<Node> {
    let mut out = Vec::with_capacity(nodes.len());
    for node in nodes {
        match node {
            Node::Field(f) => out.push(Node::Field(f.clone())),
            Node::Group(g) => {
                let mut g = g.clone();
                g.children = xform_only(&g.children);
                let appearance = g.appearance.clone().unwrap_or_default();
                let words: Vec<&str> = appearance.split_whitespace().collect();
                if words.contains(&"table-list") {
                    table_list(&mut g, &words);
                }
                if let Some(count) = g.source.get("repeat_count").cloned()
                    && g.repeat
                    && !is_reference(&count)
                {
                    let name = format!("{}_count", g.name);
                    let mut f = synthetic(name.clone(), FieldKind::Calculate, g.row);
                    f.source.insert("calculation".into(), count);
                    f.read_only = true;
                    out.push(Node::Field(f));
                    g.source.insert("repeat_count".into(), format!("${{{name}}}"));
                }
                out.push(Node::Group(g));
            }
        }
    }
    out
}

/// Whether an expression is just `${name}`.
fn is_reference(src: &str) -> bool {
    let src = src.trim();
    src.strip_prefix("${")
        .and_then(|s| s.strip_suffix('}'))
        .is_some_and(|name| !name.is_empty() && !name.contains(['{', '}', '$']))
}

/// A node of the XForm only.
fn synthetic(name: String, kind: FieldKind, row: usize) -> Field {
    Field {
        name,
        kind,
        label: Text::default(),
        hint: Text::default(),
        required: None,
        required_message: Text::default(),
        relevant: None,
        constraint: None,
        constraint_message: Text::default(),
        calculation: None,
        choice_filter: None,
        default: None,
        read_only: false,
        appearance: None,
        sensitivity: None,
        media: LabelMedia::new(),
        attributes: BTreeMap::new(),
        source: BTreeMap::new(),
        row,
    }
}

fn table_list(g: &mut Group, words: &[&str]) {
    let mut appearance = vec!["field-list"];
    appearance.extend(words.iter().filter(|w| **w != "table-list"));
    g.appearance = Some(appearance.join(" "));
    let mut children = Vec::with_capacity(g.children.len() + 2);
    if !g.label.is_empty() || !g.hint.is_empty() {
        let mut note = synthetic(
            format!("generated_table_list_label_{}", g.row),
            FieldKind::Note,
            g.row,
        );
        note.label = std::mem::take(&mut g.label);
        note.hint = std::mem::take(&mut g.hint);
        children.push(Node::Field(note));
    }
    let mut header_done = false;
    for node in std::mem::take(&mut g.children) {
        match node {
            Node::Field(mut f) if f.kind.choice_list().is_some() => {
                if !header_done {
                    header_done = true;
                    let kind = match &f.kind {
                        FieldKind::SelectMultiple { list, .. } => FieldKind::SelectMultiple {
                            list: list.clone(),
                            or_other: false,
                        },
                        other => FieldKind::SelectOne {
                            list: other.choice_list().unwrap_or_default().to_owned(),
                            or_other: false,
                        },
                    };
                    let mut header = synthetic(
                        format!("reserved_name_for_field_list_labels_{}", f.row),
                        kind,
                        f.row,
                    );
                    header.appearance = Some("label".into());
                    children.push(Node::Field(header));
                }
                f.appearance = Some("list-nolabel".into());
                children.push(Node::Field(f));
            }
            other => children.push(other),
        }
    }
    g.children = children;
}

/// Borrowed `(name, value)` pairs for [`Out`].
fn pairs(owned: &[(String, String)]) -> Vec<(&str, &str)> {
    owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

impl XForm<'_> {
    /// The pass-through attributes for one part of the XForm (`bind`, `body`, `instance`),
    /// with each `${}` made a path.
    fn attributes(&self, attrs: &XFormAttributes, part: &str, at: &Place) -> Vec<(String, String)> {
        attrs
            .iter()
            .filter_map(|(key, value)| {
                let name = key.strip_prefix(part)?.strip_prefix("::")?;
                Some((name.to_owned(), self.places.expression(value, at, false)))
            })
            .collect()
    }

    /// A choice list goes through `itext` when any choice is translated, has media, or has a
    /// `${}` in its label.
    fn list_itext(&self, list: &str) -> bool {
        self.form.choices.get(list).is_some_and(|choices| {
            choices
                .iter()
                .any(|c| !c.media.is_empty() || has_language(&c.label) || plain(&c.label).contains("${"))
        })
    }

    /// Every `itext` entry, in the order pyxform makes them: choices, then the survey's
    /// messages, labels and hints in document order.
    fn entries(&self) -> (Vec<Entry>, Vec<String>) {
        let mut entries = Vec::new();
        let root = &self.places.root;
        for (list, choices) in &self.form.choices {
            if self.list_itext(list) {
                for (i, c) in choices.iter().enumerate() {
                    let text = (!c.label.is_empty()).then_some(&c.label);
                    entries.push(self.languages.entry(format!("{list}-{i}"), text, &c.media, root));
                }
            }
        }
        let choice_entries = entries.len();
        self.node_entries(&self.form.children, &mut entries);
        // Languages in the order they first appear: pyxform takes the choices' texts and
        // media, then the survey's texts, then the survey's media.
        let mut languages: Vec<String> = Vec::new();
        let (choices, survey) = entries.split_at(choice_entries);
        let choice_langs = choices
            .iter()
            .flat_map(|e| e.long.iter().chain(e.media.iter().flat_map(|(_, f)| f)));
        let survey_texts = survey.iter().flat_map(|e| &e.long);
        let survey_media = survey.iter().flat_map(|e| e.media.iter().flat_map(|(_, f)| f));
        for (lang, _) in choice_langs.chain(survey_texts).chain(survey_media) {
            if !languages.contains(lang) {
                languages.push(lang.clone());
            }
        }
        (entries, languages)
    }

    fn node_entries(&self, nodes: &[Node], entries: &mut Vec<Entry>) {
        for node in nodes {
            let (name, label, hint, node_media) = match node {
                Node::Field(f) => (&f.name, &f.label, &f.hint, &f.media),
                Node::Group(g) => (&g.name, &g.label, &g.hint, &g.media),
            };
            let place = self.places.place_of(name);
            let path = place.absolute();
            if let Node::Field(f) = node {
                for (text, what) in [
                    (&f.constraint_message, "jr:constraintMsg"),
                    (&f.required_message, "jr:requiredMsg"),
                ] {
                    if !text.is_empty() && message_itext(text) {
                        entries.push(self.languages.entry(
                            format!("{path}:{what}"),
                            Some(text),
                            &LabelMedia::new(),
                            &place,
                        ));
                    }
                }
            }
            if label_itext(label, node_media) {
                let text = (!label.is_empty()).then_some(label);
                entries.push(
                    self.languages
                        .entry(format!("{path}:label"), text, node_media, &place),
                );
            }
            // A group's hint is not shown (pyxform writes none).
            if matches!(node, Node::Field(_)) && has_language(hint) {
                entries.push(self.languages.entry(
                    format!("{path}:hint"),
                    Some(hint),
                    &LabelMedia::new(),
                    &place,
                ));
            }
            if let Node::Group(g) = node {
                self.node_entries(&g.children, entries);
            }
        }
    }

    fn write_itext(&self, out: &mut Out) -> std::io::Result<()> {
        let (entries, languages) = self.entries();
        if entries.is_empty() {
            return Ok(());
        }
        out.open("itext", &[])?;
        for lang in &languages {
            let mut attrs = vec![("lang", lang.as_str())];
            if *lang == self.languages.default {
                attrs.push(("default", "true()"));
            }
            out.open("translation", &attrs)?;
            for e in &entries {
                out.open("text", &[("id", &e.id)])?;
                if !e.long.is_empty() {
                    let text = e.long.iter().find(|(l, _)| l == lang).map(|(_, t)| t.as_str());
                    out.open("value", &[])?;
                    write_rich(out, text.unwrap_or("-"), &self.places, &e.context)?;
                    out.close("value")?;
                }
                for (kind, files) in &e.media {
                    if let Some((_, file)) = files.iter().find(|(l, _)| l == lang)
                        && file != "-"
                    {
                        out.open("value", &[("form", kind)])?;
                        out.text(&media_uri(kind, file))?;
                        out.close("value")?;
                    }
                }
                out.close("text")?;
            }
            out.close("translation")?;
        }
        out.close("itext")
    }

    /// A label, hint or message: a reference into `itext`, or the text itself.
    fn text_element(
        &self,
        out: &mut Out,
        element: &str,
        text: &Text,
        itext: bool,
        id: &str,
        at: &Place,
    ) -> std::io::Result<()> {
        if itext {
            return out.empty(element, &[("ref", &format!("jr:itext('{id}')"))]);
        }
        let text = plain(text);
        if text.is_empty() {
            return out.empty(element, &[]);
        }
        out.open(element, &[])?;
        write_rich(out, text, &self.places, at)?;
        out.close(element)
    }

    fn controls(&self, out: &mut Out, nodes: &[Node]) -> std::io::Result<()> {
        for node in nodes {
            match node {
                Node::Field(f) => self.control(out, f)?,
                Node::Group(g) => self.group_control(out, g)?,
            }
        }
        Ok(())
    }

    fn group_control(&self, out: &mut Out, g: &Group) -> std::io::Result<()> {
        let place = self.places.place_of(&g.name);
        let path = place.absolute();
        let body = self.attributes(&g.attributes, "body", &place);
        let mut attrs = vec![("ref", path.as_str())];
        if let Some(a) = &g.appearance
            && !g.repeat
        {
            attrs.insert(0, ("appearance", a.as_str()));
        }
        if !g.repeat {
            attrs.extend(pairs(&body));
        }
        out.open("group", &attrs)?;
        let itext = label_itext(&g.label, &g.media);
        let label_id = format!("{path}:label");
        // A repeat always has a label, empty if need be; a group only when it has text.
        if g.repeat || !g.label.is_empty() {
            self.text_element(out, "label", &g.label, itext, &label_id, &place)?;
        }
        if g.repeat {
            let count = g
                .source
                .get("repeat_count")
                .map(|c| self.places.expression(c, &place, false));
            let mut attrs = vec![("nodeset", path.as_str())];
            if let Some(a) = &g.appearance {
                attrs.push(("appearance", a.as_str()));
            }
            if let Some(c) = &count {
                attrs.push(("jr:count", c.as_str()));
            }
            attrs.extend(pairs(&body));
            out.open("repeat", &attrs)?;
            self.controls(out, &g.children)?;
            out.close("repeat")?;
        } else {
            self.controls(out, &g.children)?;
        }
        out.close("group")
    }

    fn control(&self, out: &mut Out, f: &Field) -> std::io::Result<()> {
        let element = match &f.kind {
            FieldKind::Calculate | FieldKind::Metadata(_) => return Ok(()),
            FieldKind::SelectOne { .. } => "select1",
            FieldKind::SelectMultiple { .. } => "select",
            FieldKind::Acknowledge => "trigger",
            FieldKind::Media(_) => "upload",
            _ => "input",
        };
        let place = self.places.place_of(&f.name);
        let path = place.absolute();
        let mut attrs = vec![("ref", path.as_str())];
        if let Some(a) = &f.appearance {
            attrs.push(("appearance", a.as_str()));
        }
        if let FieldKind::Media(m) = &f.kind {
            attrs.push(("mediatype", m.media_type()));
        }
        let body = self.attributes(&f.attributes, "body", &place);
        attrs.extend(pairs(&body));
        out.open(element, &attrs)?;
        // pyxform gives an element with the `label` appearance and no label a blank one.
        let blank = Text(BTreeMap::from([(String::new(), " ".to_owned())]));
        let label = if f.label.is_empty() && f.media.is_empty() && f.appearance.as_deref() == Some("label") {
            &blank
        } else {
            &f.label
        };
        let has_label = !label.is_empty() || !f.media.is_empty();
        if has_label || !f.hint.is_empty() {
            let itext = label_itext(label, &f.media);
            self.text_element(out, "label", label, itext, &format!("{path}:label"), &place)?;
        }
        if !f.hint.is_empty() {
            let itext = has_language(&f.hint);
            self.text_element(out, "hint", &f.hint, itext, &format!("{path}:hint"), &place)?;
        }
        if let Some(list) = f.kind.choice_list() {
            let filter = f
                .source
                .get("choice_filter")
                .map(|c| format!("[{}]", self.places.expression(c, &place, true)))
                .unwrap_or_default();
            let label = if self.list_itext(list) {
                "jr:itext(itextId)"
            } else {
                "label"
            };
            out.open(
                "itemset",
                &[("nodeset", &format!("instance('{list}')/root/item{filter}"))],
            )?;
            out.empty("value", &[("ref", "name")])?;
            out.empty("label", &[("ref", label)])?;
            out.close("itemset")?;
        }
        out.close(element)
    }

    fn primary_instance(&self, out: &mut Out) -> std::io::Result<()> {
        let root = &self.places.root.segments[0];
        out.open("instance", &[])?;
        let mut attrs = vec![("id", self.form.id.as_str())];
        if !self.form.version.is_empty() {
            attrs.push(("version", self.form.version.as_str()));
        }
        out.open(root, &attrs)?;
        self.instance_nodes(out, &self.form.children)?;
        out.open("meta", &[])?;
        out.empty("instanceID", &[])?;
        if self.form.instance_name.is_some() {
            out.empty("instanceName", &[])?;
        }
        out.close("meta")?;
        out.close(root)?;
        out.close("instance")
    }

    fn instance_nodes(&self, out: &mut Out, nodes: &[Node]) -> std::io::Result<()> {
        for node in nodes {
            match node {
                Node::Field(f) => {
                    let default = f
                        .default
                        .as_deref()
                        .filter(|d| !is_dynamic_default(d))
                        .unwrap_or("");
                    let place = self.places.place_of(&f.name);
                    let attrs = self.attributes(&f.attributes, "instance", &place);
                    out.leaf_with(&f.name, &pairs(&attrs), default)?;
                }
                Node::Group(g) => {
                    let place = self.places.place_of(&g.name);
                    let attrs = self.attributes(&g.attributes, "instance", &place);
                    if g.repeat {
                        // The template clients copy for each new instance, then a first one.
                        out.open(&g.name, &[("jr:template", "")])?;
                        self.instance_nodes(out, &g.children)?;
                        out.close(&g.name)?;
                    }
                    out.open(&g.name, &pairs(&attrs))?;
                    self.instance_nodes(out, &g.children)?;
                    out.close(&g.name)?;
                }
            }
        }
        Ok(())
    }

    /// Every list of the choices sheet, used or not (as pyxform does).
    fn choice_instances(&self, out: &mut Out) -> std::io::Result<()> {
        for (list, choices) in &self.form.choices {
            let itext = self.list_itext(list);
            out.open("instance", &[("id", list.as_str())])?;
            out.open("root", &[])?;
            for (i, c) in choices.iter().enumerate() {
                out.open("item", &[])?;
                if itext {
                    out.leaf("itextId", &format!("{list}-{i}"))?;
                }
                out.leaf("name", &c.name)?;
                if !itext && !plain(&c.label).is_empty() {
                    out.leaf("label", plain(&c.label))?;
                }
                for (column, value) in c.columns.iter().filter(|(_, v)| !v.is_empty()) {
                    out.leaf(column, value)?;
                }
                out.close("item")?;
            }
            out.close("root")?;
            out.close("instance")?;
        }
        Ok(())
    }

    fn binds(&self, out: &mut Out, nodes: &[Node]) -> std::io::Result<()> {
        for node in nodes {
            match node {
                Node::Field(f) => self.field_bind(out, f)?,
                Node::Group(g) => {
                    let place = self.places.place_of(&g.name);
                    let mut attrs = vec![("nodeset".to_owned(), place.absolute())];
                    if let Some(r) = g.source.get("relevant") {
                        attrs.push(("relevant".into(), self.places.expression(r, &place, false)));
                    }
                    attrs.extend(self.attributes(&g.attributes, "bind", &place));
                    if attrs.len() > 1 {
                        out.empty("bind", &pairs(&attrs))?;
                    }
                    self.binds(out, &g.children)?;
                }
            }
        }
        Ok(())
    }

    /// A message attribute: a reference into `itext`, or the text itself.
    fn message(&self, text: &Text, path: &str, what: &str) -> Option<String> {
        if text.is_empty() {
            None
        } else if message_itext(text) {
            Some(format!("jr:itext('{path}:{what}')"))
        } else {
            Some(plain(text).to_owned())
        }
    }

    fn field_bind(&self, out: &mut Out, f: &Field) -> std::io::Result<()> {
        let place = self.places.place_of(&f.name);
        let path = place.absolute();
        let (kind, preload): (Option<&str>, Option<(&str, &str)>) = match &f.kind {
            FieldKind::Integer => (Some("int"), None),
            FieldKind::Decimal => (Some("decimal"), None),
            FieldKind::Date => (Some("date"), None),
            FieldKind::Time => (Some("time"), None),
            FieldKind::DateTime => (Some("dateTime"), None),
            FieldKind::Geopoint => (Some("geopoint"), None),
            FieldKind::Media(_) => (Some("binary"), None),
            FieldKind::Barcode => (Some("barcode"), None),
            FieldKind::Metadata(m) => {
                let (preload, params, kind) = m.preload();
                (Some(kind), Some((preload, params)))
            }
            // pyxform's `trigger` has no bind type (`acknowledge` has string).
            FieldKind::Acknowledge
                if f.source
                    .get("type")
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("trigger")) =>
            {
                (None, None)
            }
            _ => (Some("string"), None),
        };
        let expr = |column: &str| {
            f.source
                .get(column)
                .map(|src| self.places.expression(src, &place, false))
        };
        let required = f
            .source
            .get("required")
            .and_then(|r| truth(r, &self.places, &place));
        let read_only = (f.read_only || f.kind == FieldKind::Note).then_some("true()");
        let constraint_msg = self.message(&f.constraint_message, &path, "jr:constraintMsg");
        let required_msg = self.message(&f.required_message, &path, "jr:requiredMsg");
        let relevant = expr("relevant");
        let constraint = expr("constraint");
        let calculate = expr("calculation");
        let mut attrs: Vec<(&str, &str)> = vec![("nodeset", &path)];
        if let Some(kind) = kind {
            attrs.push(("type", kind));
        }
        let optional = [
            ("readonly", read_only),
            ("required", required.as_deref()),
            ("jr:requiredMsg", required_msg.as_deref()),
            ("relevant", relevant.as_deref()),
            ("constraint", constraint.as_deref()),
            ("jr:constraintMsg", constraint_msg.as_deref()),
            ("calculate", calculate.as_deref()),
        ];
        attrs.extend(optional.iter().filter_map(|(k, v)| v.map(|v| (*k, v))));
        if let Some((preload, params)) = preload {
            attrs.push(("jr:preload", preload));
            attrs.push(("jr:preloadParams", params));
        }
        let extra = self.attributes(&f.attributes, "bind", &place);
        attrs.extend(pairs(&extra));
        if attrs.len() > 1 {
            out.empty("bind", &attrs)?;
        }
        if let Some(default) = f.default.as_deref().filter(|d| is_dynamic_default(d)) {
            let value = self.places.expression(default, &place, false);
            let event = if place.repeats.is_empty() {
                "odk-instance-first-load"
            } else {
                "odk-instance-first-load odk-new-repeat"
            };
            out.empty("setvalue", &[("ref", &path), ("event", event), ("value", &value)])?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly
mod tests {
    use super::*;
    use crate::check::{Instance, check};
    use crate::model::Metadata;
    use crate::read_xlsform;
    use crate::testing::workbook;

    type Sheet<'a> = (&'a str, &'a [&'a [&'a str]]);

    fn form(sheets: &[Sheet<'_>]) -> Form {
        read_xlsform(&workbook(sheets), "f").unwrap_or_else(|e| panic!("{e}"))
    }

    fn xform(sheets: &[Sheet<'_>]) -> String {
        to_xform(&form(sheets)).unwrap()
    }

    fn refused(sheets: &[Sheet<'_>]) -> String {
        read_xlsform(&workbook(sheets), "f").unwrap_err().to_string()
    }

    /// Whether the XForm holds `part` (quotes in attributes are written `&apos;`).
    fn has(xml: &str, part: &str) {
        let xml = xml.replace("&apos;", "'");
        assert!(xml.contains(part), "missing {part}\nin {xml}");
    }

    fn lacks(xml: &str, part: &str) {
        let xml = xml.replace("&apos;", "'");
        assert!(!xml.contains(part), "unexpected {part}\nin {xml}");
    }

    fn checked(form: &Form, answers: &[(&str, &str)]) -> Result<Instance, Vec<crate::check::Problem>> {
        let mut input = Instance::default();
        for (k, v) in answers {
            input = input.with(k, v);
        }
        check(form, &input, time::macros::date!(2026 - 11 - 27), "")
    }

    const SURVEY: &[&str] = &["type", "name", "label"];

    #[test]
    fn settings_name_style_title_and_id_spellings() {
        let xml = xform(&[
            ("survey", &[SURVEY, &["text", "a", "A"]]),
            (
                "settings",
                &[
                    &["name", "id_string", "title", "style", "version"],
                    &["household", "hh_2026", "Household survey", "pages", "3"],
                ],
            ),
        ]);
        has(&xml, "<h:title>Household survey</h:title>");
        has(
            &xml,
            r#"<household id="hh_2026" version="3"><a/><meta><instanceID/></meta></household>"#,
        );
        has(&xml, r#"<bind nodeset="/household/a" type="string"/>"#);
        has(&xml, r#"<bind nodeset="/household/meta/instanceID""#);
        has(&xml, r#"<h:body class="pages"><input ref="/household/a">"#);
        let err = refused(&[
            ("survey", &[SURVEY, &["text", "a", "A"]]),
            ("settings", &[&["name"], &["2bad"]]),
        ]);
        assert!(
            err.starts_with("settings row 2, column name: `2bad` must start"),
            "{err}"
        );
        let err = refused(&[
            ("survey", &[SURVEY, &["text", "a", "A"]]),
            ("settings", &[&["flat"], &["yes"]]),
        ]);
        assert!(
            err.starts_with("settings row 2, column flat: flat groups"),
            "{err}"
        );
    }

    #[test]
    fn notes_without_a_name_are_named_as_pyxform_names_them() {
        let f = form(&[("survey", &[SURVEY, &["note", "", "Welcome"], &["text", "a", "A"]])]);
        assert!(f.field("generated_note_name_2").is_some());
        let xml = to_xform(&f).unwrap();
        has(
            &xml,
            r#"<input ref="/data/generated_note_name_2"><label>Welcome</label></input>"#,
        );
        has(
            &xml,
            r#"<bind nodeset="/data/generated_note_name_2" type="string" readonly="true()"/>"#,
        );
    }

    #[test]
    fn or_other_adds_the_other_choice_and_a_text_kept_only_when_other_is_chosen() {
        let sheets: &[Sheet<'_>] = &[
            (
                "survey",
                &[SURVEY, &["select_one colours or_other", "colour", "Colour"]],
            ),
            (
                "choices",
                &[&["list_name", "name", "label"], &["colours", "red", "Red"]],
            ),
        ];
        let f = form(sheets);
        let other = f.field("colour_other").unwrap();
        assert_eq!(other.kind, FieldKind::Text);
        assert_eq!(
            f.choices["colours"].last().map(|c| c.name.as_str()),
            Some("other")
        );
        let xml = to_xform(&f).unwrap();
        has(&xml, "<item><name>other</name><label>Other</label></item>");
        has(
            &xml,
            r#"<bind nodeset="/data/colour_other" type="string" relevant="selected(../colour, 'other')"/>"#,
        );
        has(
            &xml,
            r#"<input ref="/data/colour_other"><label>Specify other.</label></input>"#,
        );

        let kept = checked(&f, &[("colour", "other"), ("colour_other", "Mauve")]).unwrap();
        assert_eq!(kept.values.get("colour_other").map(String::as_str), Some("Mauve"));
        let dropped = checked(&f, &[("colour", "red"), ("colour_other", "Mauve")]).unwrap();
        assert_eq!(
            dropped.values.get("colour_other"),
            None,
            "not relevant unless `other`"
        );
        assert!(checked(&f, &[("colour", "mauve")]).is_err());

        // A translated list gets "Other" in each of its languages.
        let f = form(&[
            (
                "survey",
                &[
                    &["type", "name", "label::en"],
                    &["select_multiple c or_other", "c", "C"],
                ],
            ),
            (
                "choices",
                &[
                    &["list_name", "name", "label::en", "label::fr"],
                    &["c", "a", "A", "A fr"],
                ],
            ),
        ]);
        let other = f.choices["c"].iter().find(|c| c.name == "other").unwrap();
        assert_eq!(other.label.get("fr"), Some("Other"));
        let kept = checked(&f, &[("c", "a other"), ("c_other", "x")]).unwrap();
        assert_eq!(kept.values.get("c_other").map(String::as_str), Some("x"));

        let err = refused(&[
            (
                "survey",
                &[
                    &["type", "name", "label", "choice_filter"],
                    &["select_one c or_other", "c", "C", "x = 1"],
                ],
            ),
            (
                "choices",
                &[&["list_name", "name", "label", "x"], &["c", "a", "A", "1"]],
            ),
        ]);
        assert!(
            err.contains("survey row 2, column choice_filter: cannot be used with or_other"),
            "{err}"
        );
        let err = refused(&[
            (
                "survey",
                &[
                    SURVEY,
                    &["select_one c or_other", "c", "C"],
                    &["text", "c_other", "Again"],
                ],
            ),
            ("choices", &[&["list_name", "name", "label"], &["c", "a", "A"]]),
        ]);
        assert!(
            err.contains("survey row 3, column name: `c_other` is already used on row 2"),
            "{err}"
        );
    }

    #[test]
    fn metadata_types_are_preloaded_and_accepted_as_text() {
        let f = form(&[(
            "survey",
            &[
                &["type", "name"],
                &["simserial", "sim"],
                &["subscriber id", "imsi"],
                &["phonenumber", "phone"],
                &["email", "mail"],
                &["uri:deviceid", "device"],
                &["imei", "imei"],
                &["uri:username", "user"],
            ],
        )]);
        assert_eq!(
            f.field("device").unwrap().kind,
            FieldKind::Metadata(Metadata::UriDeviceId)
        );
        let xml = to_xform(&f).unwrap();
        for (name, param) in [
            ("sim", "simserial"),
            ("imsi", "subscriberid"),
            ("phone", "phonenumber"),
            ("mail", "email"),
            ("device", "uri:deviceid"),
            ("imei", "deviceid"),
            ("user", "uri:username"),
        ] {
            has(
                &xml,
                &format!(
                    r#"<bind nodeset="/data/{name}" type="string" jr:preload="property" jr:preloadParams="{param}"/>"#
                ),
            );
            lacks(&xml, &format!(r#"ref="/data/{name}""#));
        }
        let kept = checked(&f, &[("device", "collect:Xyz12"), ("mail", "a@example.org")]).unwrap();
        assert_eq!(
            kept.values.get("device").map(String::as_str),
            Some("collect:Xyz12")
        );
    }

    #[test]
    fn trigger_has_no_bind_type_and_phone_number_checks_digits() {
        let f = form(&[(
            "survey",
            &[
                SURVEY,
                &["trigger", "t", "Push"],
                &["acknowledge", "ack", "OK?"],
                &["phone number", "tel", "Phone"],
            ],
        )]);
        let xml = to_xform(&f).unwrap();
        has(&xml, r#"<trigger ref="/data/t"><label>Push</label></trigger>"#);
        lacks(&xml, r#"<bind nodeset="/data/t""#);
        has(&xml, r#"<bind nodeset="/data/ack" type="string"/>"#);
        has(
            &xml,
            r#"<bind nodeset="/data/tel" type="string" constraint="regex(., '^\d*$')"/>"#,
        );
        has(&xml, "<label>Phone</label><hint>Enter numbers only.</hint>");
        assert!(checked(&f, &[("t", "OK"), ("tel", "0770123456")]).is_ok());
        assert!(checked(&f, &[("tel", "0770-12")]).is_err());
    }

    #[test]
    fn texts_go_through_itext_element_by_element_as_in_pyxform() {
        let xml = xform(&[(
            "survey",
            &[
                &[
                    "type",
                    "name",
                    "label",
                    "label::French",
                    "hint",
                    "constraint",
                    "constraint_message",
                ],
                &["text", "a", "A", "", "Plain hint", "", ""],
                &["integer", "b", "", "B fr", "", ". > 1", "More than 1, ${a}"],
            ],
        )]);
        // `a` has no language column: inline, even though the form is translated.
        has(
            &xml,
            r#"<input ref="/data/a"><label>A</label><hint>Plain hint</hint></input>"#,
        );
        has(
            &xml,
            r#"<input ref="/data/b"><label ref="jr:itext('/data/b:label')"/></input>"#,
        );
        // The language-less texts belong to pyxform's `default`; a missing one says `-`.
        has(
            &xml,
            r#"<translation lang="default" default="true()"><text id="/data/b:jr:constraintMsg"><value>More than 1, <output value=" /data/a "/></value></text><text id="/data/b:label"><value>-</value></text></translation>"#,
        );
        has(
            &xml,
            r#"<translation lang="French"><text id="/data/b:jr:constraintMsg"><value>-</value></text><text id="/data/b:label"><value>B fr</value></text></translation>"#,
        );
        has(&xml, r#"jr:constraintMsg="jr:itext('/data/b:jr:constraintMsg')""#);
        // With no language anywhere there is no itext at all.
        let xml = xform(&[("survey", &[SURVEY, &["text", "a", "A"]])]);
        lacks(&xml, "<itext>");
    }

    #[test]
    fn every_choice_list_is_written_and_media_goes_through_itext() {
        let f = form(&[
            (
                "survey",
                &[
                    &["type", "name", "label", "image"],
                    &["select_one yn", "q", "Q", "q.png"],
                ],
            ),
            (
                "choices",
                &[
                    &[
                        "list_name",
                        "name",
                        "label",
                        "image",
                        "media::audio::French",
                        "Region Code",
                        "group",
                    ],
                    &["yn", "yes", "Yes", "", "", "", "g1"],
                    &["pics", "a", "", "a.jpg", "a.mp3", "x", ""],
                ],
            ),
        ]);
        assert_eq!(f.choices["pics"][0].media["audio"].get("French"), Some("a.mp3"));
        assert_eq!(f.media_files(), ["a.jpg", "a.mp3", "q.png"]);
        assert_eq!(
            f.choices["yn"][0].columns.get("group").map(String::as_str),
            Some("g1")
        );
        assert!(
            !f.choices["pics"][0].columns.contains_key("Region Code"),
            "a column with a space is a note"
        );
        let xml = to_xform(&f).unwrap();
        has(
            &xml,
            "<instance id=\"yn\"><root><item><name>yes</name><label>Yes</label><group>g1</group></item></root></instance>",
        );
        has(
            &xml,
            "<instance id=\"pics\"><root><item><itextId>pics-0</itextId><name>a</name></item></root></instance>",
        );
        has(
            &xml,
            r#"<translation lang="default" default="true()"><text id="pics-0"><value form="image">jr://images/a.jpg</value></text><text id="/data/q:label"><value>Q</value><value form="image">jr://images/q.png</value></text></translation>"#,
        );
        has(
            &xml,
            r#"<translation lang="French"><text id="pics-0"><value form="audio">jr://audio/a.mp3</value></text><text id="/data/q:label"><value>-</value></text></translation>"#,
        );
        has(
            &xml,
            r#"<label ref="jr:itext('/data/q:label')"/><itemset nodeset="instance('yn')/root/item"><value ref="name"/><label ref="label"/>"#,
        );
    }

    #[test]
    fn a_table_list_becomes_a_field_list_with_a_header_row() {
        let xml = xform(&[
            (
                "survey",
                &[
                    &["type", "name", "label", "appearance"],
                    &["begin group", "t", "Table", "table-list"],
                    &["select_one yn", "q1", "Q1", ""],
                    &["select_one yn", "q2", "Q2", ""],
                    &["end group", "", "", ""],
                ],
            ),
            (
                "choices",
                &[&["list_name", "name", "label"], &["yn", "yes", "Yes"]],
            ),
        ]);
        has(
            &xml,
            r#"<t><generated_table_list_label_2/><reserved_name_for_field_list_labels_3/><q1/><q2/></t>"#,
        );
        has(
            &xml,
            r#"<group appearance="field-list" ref="/data/t"><input ref="/data/t/generated_table_list_label_2"><label>Table</label></input><select1 ref="/data/t/reserved_name_for_field_list_labels_3" appearance="label"><label> </label>"#,
        );
        has(
            &xml,
            r#"<select1 ref="/data/t/q2" appearance="list-nolabel"><label>Q2</label>"#,
        );
        let err = refused(&[
            (
                "survey",
                &[
                    &["type", "name", "label", "appearance"],
                    &["begin group", "t", "Table", "table-list"],
                    &["select_one yn", "q1", "Q1", ""],
                    &["select_one other", "q2", "Q2", ""],
                    &["end group", "", "", ""],
                ],
            ),
            (
                "choices",
                &[
                    &["list_name", "name", "label"],
                    &["yn", "yes", "Yes"],
                    &["other", "x", "X"],
                ],
            ),
        ]);
        assert!(
            err.contains(
                "survey row 4, column type: the selects of table-list group `t` must share one choice list"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_repeat_count_that_is_not_a_field_gets_its_own_node() {
        let xml = xform(&[(
            "survey",
            &[
                &["type", "name", "label", "repeat_count"],
                &["integer", "n", "N", ""],
                &["begin repeat", "r", "R", "${n} + 1"],
                &["text", "x", "X", ""],
                &["end repeat", "", "", ""],
                &["begin repeat", "s", "", "${n}"],
                &["text", "y", "Y", ""],
                &["end repeat", "", "", ""],
            ],
        )]);
        has(
            &xml,
            r#"<bind nodeset="/data/r_count" type="string" readonly="true()" calculate=" /data/n  + 1"/>"#,
        );
        has(&xml, r#"<repeat nodeset="/data/r" jr:count=" /data/r_count ">"#);
        has(
            &xml,
            r#"<group ref="/data/s"><label/><repeat nodeset="/data/s" jr:count=" /data/n ">"#,
        );
        lacks(&xml, "s_count");
    }

    #[test]
    fn client_attributes_pass_through_and_required_messages_are_used() {
        let f = form(&[(
            "survey",
            &[
                &[
                    "type",
                    "name",
                    "label",
                    "rows",
                    "bind::odk:length",
                    "body::accuracyThreshold",
                    "instance::tag",
                    "required",
                    "required_message",
                ],
                &["text", "a", "A", "3", "", "", "${b}", "yes", "Please answer"],
                &["geopoint", "b", "B", "", "", "5", "", "", ""],
                &["text", "c", "C", "", "10", "", "", "", ""],
            ],
        )]);
        let xml = to_xform(&f).unwrap();
        has(&xml, r#"<a tag=" /data/b "/>"#);
        has(&xml, r#"<input ref="/data/a" rows="3">"#);
        has(&xml, r#"<input ref="/data/b" accuracyThreshold="5">"#);
        has(&xml, r#"<bind nodeset="/data/c" type="string" odk:length="10"/>"#);
        has(
            &xml,
            r#"<bind nodeset="/data/a" type="string" required="true()" jr:requiredMsg="Please answer"/>"#,
        );
        let problems = checked(&f, &[]).unwrap_err();
        assert_eq!(problems[0].to_string(), "a: Please answer");
        let err = refused(&[(
            "survey",
            &[
                &["type", "name", "label", "bind::type"],
                &["text", "a", "A", "int"],
            ],
        )]);
        assert!(
            err.contains("survey row 2, column bind::type: is set by Passage"),
            "{err}"
        );
        let err = refused(&[(
            "survey",
            &[
                &["type", "name", "label", "body::x"],
                &["text", "a", "A", "${nope}"],
            ],
        )]);
        assert!(err.contains("refers to ${nope}"), "{err}");
    }

    #[test]
    fn excel_times_dates_and_smart_quotes_read_as_pyxform_reads_them() {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        ws.set_name("survey").unwrap();
        for (c, h) in ["type", "name", "label", "default", "constraint"]
            .iter()
            .enumerate()
        {
            ws.write_string(0, c as u16, *h).unwrap();
        }
        let time = rust_xlsxwriter::Format::new().set_num_format("hh:mm");
        let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
        ws.write_string(1, 0, "time").unwrap();
        ws.write_string(1, 1, "start_time").unwrap();
        ws.write_string(1, 2, "Start").unwrap();
        ws.write_number_with_format(1, 3, 0.395_833_333_333_333_3, &time)
            .unwrap();
        ws.write_string(1, 4, ". != \u{201c}00:00\u{201d}").unwrap();
        ws.write_string(2, 0, "note").unwrap();
        ws.write_number_with_format(2, 2, 41_255.0, &date).unwrap();
        ws.write_boolean(2, 3, true).unwrap();
        let f = read_xlsform(&wb.save_to_buffer().unwrap(), "f").unwrap();
        let start = f.field("start_time").unwrap();
        assert_eq!(start.default.as_deref(), Some("09:30:00"));
        assert_eq!(
            start.source.get("constraint").map(String::as_str),
            Some(". != \"00:00\"")
        );
        let note = f.field("generated_note_name_3").unwrap();
        assert_eq!(note.label.get(""), Some("2012-12-12 00:00:00"));
        assert_eq!(note.default.as_deref(), Some("TRUE"));
        has(&to_xform(&f).unwrap(), "<start_time>09:30:00</start_time>");
    }
}
