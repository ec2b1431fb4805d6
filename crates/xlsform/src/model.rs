//! The form model: what an XLSForm says, parsed and checked, independent of the spreadsheet.

use crate::expr::Expr;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Text in several languages; the key is the language as written in the column header
/// (`English (en)`), or `""` for a column without a language.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Text(pub BTreeMap<String, String>);

impl Text {
    /// The text in `language`, else the untagged text, else any.
    pub fn get(&self, language: &str) -> Option<&str> {
        self.0
            .get(language)
            .or_else(|| self.0.get(""))
            .or_else(|| self.0.values().next())
            .map(String::as_str)
    }
    pub fn is_empty(&self) -> bool {
        self.0.values().all(|v| v.is_empty())
    }
}

/// How a field's value is protected (our `passage_sensitivity` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    /// Names, contacts, document numbers: encrypted, searchable only by keyed hash.
    Identifying,
    /// Exploitation details, health, narratives: encrypted.
    Sensitive,
    /// Sex, age band, nationality, county, programme facts: plain, used for indicators.
    Reporting,
}

impl Sensitivity {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_lowercase().as_str() {
            "identifying" => Some(Self::Identifying),
            "sensitive" => Some(Self::Sensitive),
            "reporting" => Some(Self::Reporting),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identifying => "identifying",
            Self::Sensitive => "sensitive",
            Self::Reporting => "reporting",
        }
    }
}

/// ODK metadata a client fills in by itself (never shown, accepted as sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metadata {
    Start,
    End,
    Today,
    DeviceId,
    Username,
    /// `simserial`: the SIM card's serial number.
    SimSerial,
    /// `subscriberid`: the SIM subscriber's IMSI.
    SubscriberId,
    /// `phonenumber`: the device's phone number.
    PhoneNumber,
    /// `email`: the email address configured in the client.
    Email,
    /// `uri:deviceid` and the other `uri:` forms: the same, written as a URI
    /// (`collect:…`, `mailto:…`, `tel:…`).
    UriDeviceId,
    UriUsername,
    UriSimSerial,
    UriSubscriberId,
    UriPhoneNumber,
    UriEmail,
}

impl Metadata {
    /// The XForm preload (`jr:preload`, `jr:preloadParams`) and bind type.
    pub fn preload(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Start => ("timestamp", "start", "dateTime"),
            Self::End => ("timestamp", "end", "dateTime"),
            Self::Today => ("date", "today", "date"),
            Self::DeviceId => ("property", "deviceid", "string"),
            Self::Username => ("property", "username", "string"),
            Self::SimSerial => ("property", "simserial", "string"),
            Self::SubscriberId => ("property", "subscriberid", "string"),
            Self::PhoneNumber => ("property", "phonenumber", "string"),
            Self::Email => ("property", "email", "string"),
            Self::UriDeviceId => ("property", "uri:deviceid", "string"),
            Self::UriUsername => ("property", "uri:username", "string"),
            Self::UriSimSerial => ("property", "uri:simserial", "string"),
            Self::UriSubscriberId => ("property", "uri:subscriberid", "string"),
            Self::UriPhoneNumber => ("property", "uri:phonenumber", "string"),
            Self::UriEmail => ("property", "uri:email", "string"),
        }
    }
}

/// Attributes of the XForm that only clients read, from the `bind::X`, `body::X` (or
/// `control::X`) and `instance::X` columns and the named columns `rows`, `autoplay` (body)
/// and `noAppErrorString` (bind): keyed `bind::X`, `body::X`, `instance::X`, values as
/// written (a `${}` becomes a path in the XForm).
pub type XFormAttributes = BTreeMap<String, String>;

/// Media shown with a label (`image`, `big-image`, `audio`, `video` columns), by kind, each
/// possibly per language like [`Text`]: file names as written, e.g. `a.jpg`.
pub type LabelMedia = BTreeMap<String, Text>;

/// What kind of file a media question takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Audio,
    Video,
    File,
}

impl MediaKind {
    /// The `mediatype` of the XForm's `upload` control.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Image => "image/*",
            Self::Audio => "audio/*",
            Self::Video => "video/*",
            Self::File => "application/*",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Integer,
    Decimal,
    Date,
    Time,
    DateTime,
    /// `or_other` adds an "other" choice with a free-text answer.
    SelectOne {
        list: String,
        or_other: bool,
    },
    SelectMultiple {
        list: String,
        or_other: bool,
    },
    Geopoint,
    /// `image`, `audio`, `video`, `file`: the answer is the attached file's name.
    Media(MediaKind),
    Barcode,
    Note,
    Calculate,
    Acknowledge,
    Metadata(Metadata),
}

impl FieldKind {
    /// Whether the field holds an answer (notes do not).
    pub fn holds_value(&self) -> bool {
        !matches!(self, FieldKind::Note)
    }
    pub fn choice_list(&self) -> Option<&str> {
        match self {
            FieldKind::SelectOne { list, .. } | FieldKind::SelectMultiple { list, .. } => Some(list),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub kind: FieldKind,
    pub label: Text,
    pub hint: Text,
    /// `yes` becomes `true()`; an expression is kept as written.
    pub required: Option<Expr>,
    /// `required_message`: shown instead of "is required".
    #[serde(default)]
    pub required_message: Text,
    pub relevant: Option<Expr>,
    pub constraint: Option<Expr>,
    pub constraint_message: Text,
    pub calculation: Option<Expr>,
    pub choice_filter: Option<Expr>,
    pub default: Option<String>,
    pub read_only: bool,
    pub appearance: Option<String>,
    /// `None` for notes; defaults to `Sensitive` when the column is absent or empty, so an
    /// unmarked field is never stored in plain text.
    pub sensitivity: Option<Sensitivity>,
    /// Media shown with the label.
    #[serde(default)]
    pub media: LabelMedia,
    /// XForm attributes passed through to clients, which Passage does not interpret.
    #[serde(default)]
    pub attributes: XFormAttributes,
    /// The expressions as written, by column (`relevant`, `constraint`, …), for the XForm;
    /// also `type` as written (`trigger` and `acknowledge` are written differently).
    #[serde(default)]
    pub source: BTreeMap<String, String>,
    /// The survey sheet row it came from (1-based, as Excel shows it).
    pub row: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub label: Text,
    #[serde(default)]
    pub hint: Text,
    #[serde(default)]
    pub media: LabelMedia,
    #[serde(default)]
    pub attributes: XFormAttributes,
    pub relevant: Option<Expr>,
    pub appearance: Option<String>,
    /// A repeat holds any number of instances of its children.
    pub repeat: bool,
    /// A fixed number of repeat instances, if the form sets one.
    pub repeat_count: Option<Expr>,
    pub children: Vec<Node>,
    /// The expressions as written, by column (`relevant`, `repeat_count`), for the XForm.
    #[serde(default)]
    pub source: BTreeMap<String, String>,
    pub row: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Node {
    Field(Field),
    Group(Group),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub name: String,
    pub label: Text,
    #[serde(default)]
    pub media: LabelMedia,
    /// Other columns of the choices sheet, for `choice_filter`s (named as written).
    pub columns: BTreeMap<String, String>,
}

/// A whole form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Form {
    pub id: String,
    pub title: String,
    pub version: String,
    pub default_language: Option<String>,
    /// Languages that appear in text columns (labels, hints, messages, media) of the choices
    /// and survey sheets, e.g. `English (en)`, `French (fr)`, in the order first seen.
    pub languages: Vec<String>,
    pub children: Vec<Node>,
    pub choices: BTreeMap<String, Vec<Choice>>,
    /// The settings sheet's `instance_name` expression, as written.
    #[serde(default)]
    pub instance_name: Option<String>,
    /// Base64 RSA public key (settings `public_key`): ODK clients encrypt each submission.
    #[serde(default)]
    pub public_key: Option<String>,
    /// Where clients send submissions (settings `submission_url`), if not the server default.
    #[serde(default)]
    pub submission_url: Option<String>,
    /// The XForm's primary instance root element (settings `name`); `data` if absent.
    #[serde(default)]
    pub root_name: Option<String>,
    /// Settings `style` (e.g. `pages`, `theme-grid`): the class of the XForm body.
    #[serde(default)]
    pub style: Option<String>,
}

impl Form {
    /// Every field, depth first, with its enclosing repeats.
    pub fn fields(&self) -> Vec<(&Field, Vec<&str>)> {
        fn walk<'a>(nodes: &'a [Node], repeats: &mut Vec<&'a str>, out: &mut Vec<(&'a Field, Vec<&'a str>)>) {
            for node in nodes {
                match node {
                    Node::Field(f) => out.push((f, repeats.clone())),
                    Node::Group(g) => {
                        if g.repeat {
                            repeats.push(&g.name);
                        }
                        walk(&g.children, repeats, out);
                        if g.repeat {
                            repeats.pop();
                        }
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.children, &mut Vec::new(), &mut out);
        out
    }

    /// The media files the form's labels show (images, audio, video, in any language): what
    /// clients download with the form, through its manifest. Sorted, each once.
    pub fn media_files(&self) -> Vec<String> {
        fn add(media: &LabelMedia, out: &mut std::collections::BTreeSet<String>) {
            out.extend(media.values().flat_map(|t| t.0.values().cloned()));
        }
        fn walk(nodes: &[Node], out: &mut std::collections::BTreeSet<String>) {
            for node in nodes {
                match node {
                    Node::Field(f) => add(&f.media, out),
                    Node::Group(g) => {
                        add(&g.media, out);
                        walk(&g.children, out);
                    }
                }
            }
        }
        let mut out = std::collections::BTreeSet::new();
        walk(&self.children, &mut out);
        for c in self.choices.values().flatten() {
            add(&c.media, &mut out);
        }
        out.into_iter().collect()
    }

    /// The first field called `name`, at any depth (called per answer: it does not allocate).
    pub fn field(&self, name: &str) -> Option<&Field> {
        fn find<'a>(nodes: &'a [Node], name: &str) -> Option<&'a Field> {
            nodes.iter().find_map(|node| match node {
                Node::Field(f) => (f.name == name).then_some(f),
                Node::Group(g) => find(&g.children, name),
            })
        }
        find(&self.children, name)
    }

    /// The label of choice `name` in `list`, in `language`.
    pub fn choice_label(&self, list: &str, name: &str, language: &str) -> Option<&str> {
        self.choices
            .get(list)?
            .iter()
            .find(|c| c.name == name)?
            .label
            .get(language)
    }
}
