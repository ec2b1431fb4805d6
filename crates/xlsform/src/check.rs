//! Check a filled-in form against its XLSForm: types, choices (with `choice_filter`),
//! `required`, `relevant`, `constraint` and `calculation`, inside repeats too — the same rules
//! for a web page, an API call, an import row or an ODK submission.
//!
//! Answers are text, as XForms carry them: numbers `12`, dates `2026-11-27`, date-times
//! RFC 3339, multiple choices space-separated, geopoints `lat lon [alt acc]`. Values of fields
//! that are not relevant are dropped, as ODK does; calculations are computed here and
//! override anything sent.

use crate::expr::{Expr, Scope, Value, eval, parse_date_days};
use crate::model::{Field, FieldKind, Form, Node};
use std::collections::BTreeMap;
use std::fmt;

/// Answers to one form, or to one instance of a repeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Instance {
    /// Field name → answer text.
    pub values: BTreeMap<String, String>,
    /// Repeat name → its instances, in order.
    pub repeats: BTreeMap<String, Vec<Instance>>,
}

impl Instance {
    pub fn with(mut self, field: &str, value: &str) -> Self {
        self.values.insert(field.to_owned(), value.to_owned());
        self
    }
    pub fn with_repeat(mut self, repeat: &str, instances: Vec<Instance>) -> Self {
        self.repeats.insert(repeat.to_owned(), instances);
        self
    }
}

/// A problem with one answer. `path` locates it: `age`, or `participant[2]/post_score`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// Evaluation context: the whole record, and the chain of repeat instances we are in.
#[derive(Clone)]
struct Ctx<'a> {
    form: &'a Form,
    root: &'a Instance,
    /// (repeat name, instance, 1-based position), outermost first.
    frames: Vec<(&'a str, &'a Instance, usize)>,
    current: Value,
    today: time::Date,
    /// Where each field lives: the repeats enclosing it.
    homes: &'a BTreeMap<String, (&'a Field, Vec<&'a str>)>,
}

fn typed(kind: &FieldKind, raw: &str) -> Value {
    if raw.is_empty() {
        return Value::Str(String::new());
    }
    match kind {
        FieldKind::Integer | FieldKind::Decimal => raw
            .parse()
            .map(Value::Num)
            .unwrap_or_else(|_| Value::Str(raw.into())),
        FieldKind::Date | FieldKind::DateTime => parse_date_days(raw)
            .map(Value::Date)
            .unwrap_or_else(|| Value::Str(raw.into())),
        FieldKind::Calculate => raw
            .parse()
            .map(Value::Num)
            .unwrap_or_else(|_| Value::Str(raw.into())),
        _ => Value::Str(raw.into()),
    }
}

impl Scope for Ctx<'_> {
    fn field(&self, name: &str) -> Value {
        let Some((field, repeats)) = self.homes.get(name) else {
            return Value::Str(String::new());
        };
        // Walk down the repeats the field lives in, following the current instance where we
        // are inside the same repeat, else the first instance (ODK's behaviour for a single
        // reference from outside).
        let mut instance = self.root;
        for (depth, repeat) in repeats.iter().enumerate() {
            let inside = self.frames.get(depth).filter(|(r, _, _)| r == repeat);
            match inside {
                Some((_, here, _)) => instance = here,
                None => match instance.repeats.get(*repeat).and_then(|v| v.first()) {
                    Some(first) => instance = first,
                    None => return Value::Str(String::new()),
                },
            }
        }
        typed(
            &field.kind,
            instance.values.get(name).map(String::as_str).unwrap_or(""),
        )
    }
    fn current(&self) -> Value {
        self.current.clone()
    }
    fn position(&self) -> Option<usize> {
        self.frames.last().map(|(_, _, p)| *p)
    }
    fn today(&self) -> time::Date {
        self.today
    }
}

fn holds(e: &Expr, ctx: &Ctx<'_>) -> bool {
    eval(e, ctx).map(|v| v.as_bool()).unwrap_or(false)
}

fn valid_answer(form: &Form, field: &Field, raw: &str, ctx: &Ctx<'_>) -> Result<String, String> {
    let raw = raw.trim();
    let in_list = |list: &str, value: &str| -> bool {
        form.choices.get(list).is_some_and(|choices| {
            choices.iter().any(|c| {
                c.name == value
                    && field.choice_filter.as_ref().is_none_or(|f| {
                        let scope = ChoiceScope { ctx, choice: c };
                        eval(f, &scope).map(|v| v.as_bool()).unwrap_or(false)
                    })
            })
        })
    };
    match &field.kind {
        FieldKind::Integer => raw
            .parse::<i64>()
            .map(|n| n.to_string())
            .map_err(|_| "must be a whole number".into()),
        FieldKind::Decimal => match raw.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(raw.to_owned()),
            _ => Err("must be a number".into()),
        },
        FieldKind::Date => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(raw, format)
                .map(|_| raw.to_owned())
                .map_err(|_| "must be a date like 2026-11-27".into())
        }
        FieldKind::DateTime => {
            time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
                .map(|_| raw.to_owned())
                .map_err(|_| "must be a date and time like 2026-11-27T14:30:00Z".into())
        }
        FieldKind::Time => {
            let ok = raw.split(':').take(3).enumerate().all(|(i, part)| {
                let n: Option<u32> = part.get(..2).and_then(|p| p.parse().ok());
                n.is_some_and(|n| n < [24, 60, 60][i])
            }) && raw.len() >= 5;
            if ok {
                Ok(raw.to_owned())
            } else {
                Err("must be a time like 14:30".into())
            }
        }
        FieldKind::SelectOne { list, or_other } => {
            if in_list(list, raw) || (*or_other && raw == "other") {
                Ok(raw.to_owned())
            } else {
                Err(format!("`{raw}` is not one of the choices"))
            }
        }
        FieldKind::SelectMultiple { list, or_other } => {
            let mut chosen: Vec<&str> = Vec::new();
            for v in raw.split_whitespace() {
                if !(in_list(list, v) || (*or_other && v == "other")) {
                    return Err(format!("`{v}` is not one of the choices"));
                }
                if !chosen.contains(&v) {
                    chosen.push(v);
                }
            }
            Ok(chosen.join(" "))
        }
        // The name of a file sent with the record (ODK puts the bare file name in the answer).
        FieldKind::Media(_) => {
            if raw.len() <= 255 && !raw.contains(['/', '\\']) && !raw.starts_with('.') {
                Ok(raw.to_owned())
            } else {
                Err("must be a file name without a folder".into())
            }
        }
        FieldKind::Barcode => Ok(raw.to_owned()),
        FieldKind::Geopoint => {
            let parts: Vec<f64> = raw.split_whitespace().filter_map(|p| p.parse().ok()).collect();
            let count = raw.split_whitespace().count();
            match parts.as_slice() {
                [lat, lon, ..]
                    if count == parts.len()
                        && (2..=4).contains(&count)
                        && lat.abs() <= 90.0
                        && lon.abs() <= 180.0 =>
                {
                    Ok(raw.to_owned())
                }
                _ => Err("must be `latitude longitude` (optionally altitude and accuracy)".into()),
            }
        }
        FieldKind::Acknowledge => {
            if raw.eq_ignore_ascii_case("ok") {
                Ok("OK".into())
            } else {
                Err("must be OK".into())
            }
        }
        FieldKind::Text | FieldKind::Calculate | FieldKind::Metadata(_) | FieldKind::Note => {
            if raw.chars().count() > 10_000 {
                Err("is longer than 10,000 characters".into())
            } else {
                Ok(raw.to_owned())
            }
        }
    }
}

/// A choice being tested by a `choice_filter`: bare names are its columns.
struct ChoiceScope<'a, 'b> {
    ctx: &'b Ctx<'a>,
    choice: &'b crate::model::Choice,
}

impl Scope for ChoiceScope<'_, '_> {
    fn field(&self, name: &str) -> Value {
        self.ctx.field(name)
    }
    fn current(&self) -> Value {
        self.ctx.current()
    }
    fn position(&self) -> Option<usize> {
        self.ctx.position()
    }
    fn today(&self) -> time::Date {
        self.ctx.today
    }
    fn choice_column(&self, name: &str) -> Value {
        let v = if name == "name" {
            Some(&self.choice.name)
        } else {
            self.choice.columns.get(name)
        };
        Value::Str(v.cloned().unwrap_or_default())
    }
}

/// Check `input` against `form`. On success, returns the record to store: trimmed and
/// normalised answers, calculations filled in, answers of non-relevant fields removed.
pub fn check(
    form: &Form,
    input: &Instance,
    today: time::Date,
    language: &str,
) -> Result<Instance, Vec<Problem>> {
    let homes: BTreeMap<String, (&Field, Vec<&str>)> = form
        .fields()
        .into_iter()
        .map(|(f, r)| (f.name.clone(), (f, r)))
        .collect();
    let mut problems = Vec::new();
    unknown_fields(&form.children, input, "", &homes, &mut problems);

    // Calculations may read fields further down, and other calculations: settle them first.
    let mut record = input.clone();
    for _ in 0..3 {
        let snapshot = record.clone();
        let ctx = Ctx {
            form,
            root: &snapshot,
            frames: Vec::new(),
            current: Value::Str(String::new()),
            today,
            homes: &homes,
        };
        calculate(&form.children, &snapshot, &mut record, &ctx);
    }
    let snapshot = record;
    let mut output = Instance::default();
    let ctx = Ctx {
        form,
        root: &snapshot,
        frames: Vec::new(),
        current: Value::Str(String::new()),
        today,
        homes: &homes,
    };
    walk(
        &form.children,
        &snapshot,
        &mut output,
        &ctx,
        "",
        true,
        language,
        &mut problems,
    );
    if problems.is_empty() {
        Ok(output)
    } else {
        Err(problems)
    }
}

fn unknown_fields(
    nodes: &[Node],
    input: &Instance,
    prefix: &str,
    homes: &BTreeMap<String, (&Field, Vec<&str>)>,
    problems: &mut Vec<Problem>,
) {
    let mut here = BTreeMap::new();
    collect_level(nodes, &mut here);
    for name in input.values.keys() {
        if !matches!(here.get(name.as_str()), Some(false)) {
            let reason = if homes.contains_key(name) {
                "belongs in another part of the form (a repeat)"
            } else {
                "is not a field of this form"
            };
            problems.push(Problem {
                path: format!("{prefix}{name}"),
                reason: reason.into(),
            });
        }
    }
    for (name, instances) in &input.repeats {
        match find_repeat(nodes, name) {
            Some(children) => {
                for (i, inst) in instances.iter().enumerate() {
                    unknown_fields(
                        children,
                        inst,
                        &format!("{prefix}{name}[{}]/", i + 1),
                        homes,
                        problems,
                    );
                }
            }
            None => problems.push(Problem {
                path: format!("{prefix}{name}"),
                reason: "is not a repeat of this form".into(),
            }),
        }
    }
}

/// Names directly at this level (through plain groups): field → false, repeat → true.
fn collect_level<'a>(nodes: &'a [Node], out: &mut BTreeMap<&'a str, bool>) {
    for node in nodes {
        match node {
            Node::Field(f) => {
                out.insert(&f.name, false);
            }
            Node::Group(g) if g.repeat => {
                out.insert(&g.name, true);
            }
            Node::Group(g) => collect_level(&g.children, out),
        }
    }
}

fn find_repeat<'a>(nodes: &'a [Node], name: &str) -> Option<&'a [Node]> {
    nodes.iter().find_map(|node| match node {
        Node::Group(g) if g.repeat && g.name == name => Some(g.children.as_slice()),
        Node::Group(g) if !g.repeat => find_repeat(&g.children, name),
        _ => None,
    })
}

/// Fill in calculations at this level (`here` is read, `out` is the same instance being
/// written), then inside each repeat instance.
fn calculate<'a>(nodes: &'a [Node], here: &'a Instance, out: &mut Instance, ctx: &Ctx<'a>) {
    for node in nodes {
        match node {
            Node::Field(f) => {
                if let Some(calc) = &f.calculation
                    && let Ok(v) = eval(calc, ctx)
                {
                    let text = match v {
                        Value::Num(n) if !n.is_finite() => String::new(),
                        other => other.as_text(),
                    };
                    out.values.insert(f.name.clone(), text);
                }
            }
            Node::Group(g) if g.repeat => {
                let (Some(instances), Some(out_instances)) =
                    (here.repeats.get(&g.name), out.repeats.get_mut(&g.name))
                else {
                    continue;
                };
                for (i, (inst, out_inst)) in instances.iter().zip(out_instances.iter_mut()).enumerate() {
                    let mut inner = ctx.clone();
                    inner.frames.push((&g.name, inst, i + 1));
                    calculate(&g.children, inst, out_inst, &inner);
                }
            }
            Node::Group(g) => calculate(&g.children, here, out, ctx),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn walk<'a>(
    nodes: &'a [Node],
    here: &'a Instance,
    out: &mut Instance,
    ctx: &Ctx<'a>,
    prefix: &str,
    relevant: bool,
    language: &str,
    problems: &mut Vec<Problem>,
) {
    for node in nodes {
        match node {
            Node::Group(g) => {
                let group_relevant = relevant && g.relevant.as_ref().is_none_or(|r| holds(r, ctx));
                if !g.repeat {
                    walk(
                        &g.children,
                        here,
                        out,
                        ctx,
                        prefix,
                        group_relevant,
                        language,
                        problems,
                    );
                    continue;
                }
                if !group_relevant {
                    continue;
                }
                let mut kept = Vec::new();
                for (i, inst) in here
                    .repeats
                    .get(&g.name)
                    .map(Vec::as_slice)
                    .unwrap_or(&[])
                    .iter()
                    .enumerate()
                {
                    let mut inner = ctx.clone();
                    inner.frames.push((&g.name, inst, i + 1));
                    let mut out_inst = Instance::default();
                    let path = format!("{prefix}{}[{}]/", g.name, i + 1);
                    walk(
                        &g.children,
                        inst,
                        &mut out_inst,
                        &inner,
                        &path,
                        true,
                        language,
                        problems,
                    );
                    kept.push(out_inst);
                }
                if !kept.is_empty() {
                    out.repeats.insert(g.name.clone(), kept);
                }
            }
            Node::Field(f) => {
                if !f.kind.holds_value() || !relevant || !f.relevant.as_ref().is_none_or(|r| holds(r, ctx)) {
                    continue;
                }
                let path = format!("{prefix}{}", f.name);
                let raw = here.values.get(&f.name).map(|v| v.trim()).unwrap_or("");
                if raw.is_empty() {
                    if f.required.as_ref().is_some_and(|r| holds(r, ctx)) && f.calculation.is_none() {
                        let reason = f
                            .required_message
                            .get(language)
                            .map(str::to_owned)
                            .unwrap_or_else(|| "is required".into());
                        problems.push(Problem { path, reason });
                    }
                    continue;
                }
                let value = match valid_answer(ctx.form, f, raw, ctx) {
                    Ok(v) => v,
                    Err(reason) => {
                        problems.push(Problem { path, reason });
                        continue;
                    }
                };
                if let Some(c) = &f.constraint {
                    let mut check = ctx.clone();
                    check.current = typed(&f.kind, &value);
                    if !holds(c, &check) {
                        let reason = f
                            .constraint_message
                            .get(language)
                            .map(str::to_owned)
                            .unwrap_or_else(|| "is not an accepted value".into());
                        problems.push(Problem { path, reason });
                        continue;
                    }
                }
                out.values.insert(f.name.clone(), value);
            }
        }
    }
}

/// The answers a new record starts with: each field's `default` (outside repeats; `today()`
/// and `now()` give the current date and time, as ODK's dynamic defaults do).
pub fn defaults(nodes: &[Node], now: time::OffsetDateTime) -> Instance {
    let mut out = Instance::default();
    for node in nodes {
        match node {
            Node::Field(f) => {
                let value = match f.default.as_deref().map(str::trim) {
                    None | Some("") => continue,
                    Some("today()") => now.date().to_string(),
                    Some("now()") => now
                        .replace_nanosecond(0)
                        .unwrap_or(now)
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                    Some(literal) => literal.to_owned(),
                };
                out.values.insert(f.name.clone(), value);
            }
            Node::Group(g) if g.repeat => {}
            Node::Group(g) => {
                let inner = defaults(&g.children, now);
                out.values.extend(inner.values);
            }
        }
    }
    out
}
