//! Row filters of indicator definitions, e.g.
//! `case_type = 'return_to_lr' and age_years >= 18 and vic_TypeOfExploitation has 'ForcedLabour'`.
//!
//! Grammar: `or`/`and`/`not`, parentheses, `field op value` with `= != < <= > >=`,
//! `field in ('a', 'b')`, `field has 'code'` (a select_multiple contains it), and
//! `field is empty` / `field is not empty`. Values are 'quoted strings' or numbers; dates are
//! written 'YYYY-MM-DD'.

use crate::table::{Column, Kind, NO_DATE, Schema, Table, parse_day};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn holds(self, o: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Self::Eq => o == Equal,
            Self::Ne => o != Equal,
            Self::Lt => o == Less,
            Self::Le => o != Greater,
            Self::Gt => o == Greater,
            Self::Ge => o != Less,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Number(f64),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(t) => write!(f, "'{t}'"),
            Self::Number(n) => write!(f, "{n}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare { field: String, op: Op, value: Value },
    In { field: String, values: Vec<Value> },
    Has { field: String, value: String },
    Empty { field: String, negated: bool },
}

/// Where and why an expression could not be read or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {position})")]
pub struct ExprError {
    pub position: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Text(String),
    Number(f64),
    Op(Op),
    Open,
    Close,
    Comma,
}

fn tokenize(src: &str) -> Result<Vec<(usize, Token)>, ExprError> {
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |p: usize, m: &str| ExprError {
        position: p + 1,
        message: m.to_owned(),
    };
    while i < chars.len() {
        let (at, c) = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => (out.push((at, Token::Open)), i += 1).1,
            ')' => (out.push((at, Token::Close)), i += 1).1,
            ',' => (out.push((at, Token::Comma)), i += 1).1,
            '\'' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(err(at, "a quoted value is not closed")),
                        Some((_, '\'')) => break,
                        Some((_, c)) => text.push(*c),
                    }
                    i += 1;
                }
                i += 1;
                out.push((at, Token::Text(text)));
            }
            '=' => (out.push((at, Token::Op(Op::Eq))), i += 1).1,
            '!' | '<' | '>' => {
                let next_eq = chars.get(i + 1).is_some_and(|(_, c)| *c == '=');
                let op = match (c, next_eq) {
                    ('!', true) => Op::Ne,
                    ('<', true) => Op::Le,
                    ('<', false) => Op::Lt,
                    ('>', true) => Op::Ge,
                    ('>', false) => Op::Gt,
                    _ => return Err(err(at, "'!' must be followed by '='")),
                };
                out.push((at, Token::Op(op)));
                i += if next_eq { 2 } else { 1 };
            }
            c if c.is_ascii_digit() || c == '-' || c == '.' => {
                let start = i;
                i += 1;
                while chars.get(i).is_some_and(|(_, c)| c.is_ascii_digit() || *c == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().map(|(_, c)| c).collect();
                let n = text
                    .parse()
                    .map_err(|_| err(at, &format!("'{text}' is not a number")))?;
                out.push((at, Token::Number(n)));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == '.')
                {
                    i += 1;
                }
                out.push((at, Token::Ident(chars[start..i].iter().map(|(_, c)| c).collect())));
            }
            other => return Err(err(at, &format!("unexpected character '{other}'"))),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    pos: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }
    fn at(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |(p, _)| *p) + 1
    }
    fn fail<T>(&self, message: impl Into<String>) -> Result<T, ExprError> {
        Err(ExprError {
            position: self.at(),
            message: message.into(),
        })
    }
    fn keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Token::Ident(w)) if w.eq_ignore_ascii_case(word)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Token::Open) {
            self.pos += 1;
            let inner = self.or()?;
            if self.peek() != Some(&Token::Close) {
                return self.fail("expected ')'");
            }
            self.pos += 1;
            return Ok(inner);
        }
        let field = match self.peek() {
            Some(Token::Ident(name)) => name.clone(),
            _ => return self.fail("expected a field name"),
        };
        self.pos += 1;
        if self.keyword("in") {
            if self.peek() != Some(&Token::Open) {
                return self.fail("expected '(' after 'in'");
            }
            self.pos += 1;
            let mut values = vec![self.value()?];
            while self.peek() == Some(&Token::Comma) {
                self.pos += 1;
                values.push(self.value()?);
            }
            if self.peek() != Some(&Token::Close) {
                return self.fail("expected ')' to close the list");
            }
            self.pos += 1;
            return Ok(Expr::In { field, values });
        }
        if self.keyword("has") {
            return match self.value()? {
                Value::Text(value) => Ok(Expr::Has { field, value }),
                Value::Number(n) => Ok(Expr::Has {
                    field,
                    value: n.to_string(),
                }),
            };
        }
        if self.keyword("is") {
            let negated = self.keyword("not");
            if !self.keyword("empty") {
                return self.fail("expected 'empty' after 'is'");
            }
            return Ok(Expr::Empty { field, negated });
        }
        let op = match self.peek() {
            Some(Token::Op(op)) => *op,
            _ => return self.fail(format!("expected a comparison after '{field}'")),
        };
        self.pos += 1;
        Ok(Expr::Compare {
            field,
            op,
            value: self.value()?,
        })
    }
    fn value(&mut self) -> Result<Value, ExprError> {
        let v = match self.peek() {
            Some(Token::Text(t)) => Value::Text(t.clone()),
            Some(Token::Number(n)) => Value::Number(*n),
            _ => return self.fail("expected a 'quoted value' or a number"),
        };
        self.pos += 1;
        Ok(v)
    }
}

impl Expr {
    pub fn parse(src: &str) -> Result<Self, ExprError> {
        let tokens = tokenize(src)?;
        let mut p = Parser {
            tokens,
            pos: 0,
            end: src.len(),
        };
        let e = p.or()?;
        if p.pos < p.tokens.len() {
            return p.fail("unexpected text after the end of the condition");
        }
        Ok(e)
    }

    /// Every field the expression reads.
    pub fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }
    fn collect<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Self::And(a, b) | Self::Or(a, b) => {
                a.collect(out);
                b.collect(out);
            }
            Self::Not(a) => a.collect(out),
            Self::Compare { field, .. }
            | Self::In { field, .. }
            | Self::Has { field, .. }
            | Self::Empty { field, .. } => out.push(field),
        }
    }

    /// Check that every field exists with a kind the operation fits, and that every code is
    /// one of the field's choices. The message names the field and the value.
    pub fn check(&self, schema: &Schema) -> Result<(), String> {
        match self {
            Self::And(a, b) | Self::Or(a, b) => a.check(schema).and(b.check(schema)),
            Self::Not(a) => a.check(schema),
            Self::Empty { field, .. } => field_spec(schema, field).map(|_| ()),
            Self::Has { field, value } => {
                let spec = field_spec(schema, field)?;
                if spec.kind != Kind::Multi {
                    return Err(format!(
                        "'has' needs a multiple-choice field; '{field}' is not one (use '=')"
                    ));
                }
                check_code(spec, field, value)
            }
            Self::In { field, values } => values
                .iter()
                .try_for_each(|v| check_value(schema, field, Op::Eq, v)),
            Self::Compare { field, op, value } => check_value(schema, field, *op, value),
        }
    }

    pub(crate) fn bind<'t>(&self, table: &'t Table) -> Bound<'t> {
        let column = |f: &str| table.column(f);
        match self {
            Self::And(a, b) => Bound::And(Box::new(a.bind(table)), Box::new(b.bind(table))),
            Self::Or(a, b) => Bound::Or(Box::new(a.bind(table)), Box::new(b.bind(table))),
            Self::Not(a) => Bound::Not(Box::new(a.bind(table))),
            Self::Empty { field, negated } => Bound::Empty(column(field), *negated),
            Self::Has { field, value } => match column(field) {
                Some(c) => Bound::Has(c, c.dict().and_then(|d| d.find(value))),
                None => Bound::Const(false),
            },
            Self::In { field, values } => {
                let parts: Vec<Bound> = values
                    .iter()
                    .map(|v| bind_compare(column(field), Op::Eq, v))
                    .collect();
                parts
                    .into_iter()
                    .reduce(|a, b| Bound::Or(Box::new(a), Box::new(b)))
                    .unwrap_or(Bound::Const(false))
            }
            Self::Compare { field, op, value } => bind_compare(column(field), *op, value),
        }
    }
}

pub(crate) fn field_spec<'s>(schema: &'s Schema, field: &str) -> Result<&'s crate::table::FieldSpec, String> {
    schema.field(field).ok_or_else(|| {
        if schema.withheld.contains(field) {
            format!(
                "'{field}' is an identifying or sensitive answer; indicators may only use reporting fields"
            )
        } else {
            format!("unknown field '{field}'")
        }
    })
}

fn check_code(spec: &crate::table::FieldSpec, field: &str, code: &str) -> Result<(), String> {
    match &spec.choices {
        Some(choices) if !choices.iter().any(|(c, _)| c == code) => {
            Err(format!("'{code}' is not one of the choices of '{field}'"))
        }
        _ => Ok(()),
    }
}

fn check_value(schema: &Schema, field: &str, op: Op, value: &Value) -> Result<(), String> {
    let spec = field_spec(schema, field)?;
    match (spec.kind, value) {
        (Kind::Category, Value::Text(code)) if matches!(op, Op::Eq | Op::Ne) => check_code(spec, field, code),
        (Kind::Category, _) => Err(format!(
            "'{field}' holds codes: compare it with = or != and a 'quoted' value"
        )),
        (Kind::Multi, _) => Err(format!(
            "'{field}' holds several choices: use '{field} has 'code''"
        )),
        (Kind::Number, Value::Number(_)) => Ok(()),
        (Kind::Number, Value::Text(t)) => Err(format!("'{field}' is a number; {t:?} is not")),
        (Kind::Date, Value::Text(t)) if parse_day(t).is_some() => Ok(()),
        (Kind::Date, v) => Err(format!(
            "'{field}' is a date: compare it with 'YYYY-MM-DD', not {v}"
        )),
    }
}

fn bind_compare<'t>(column: Option<&'t Column>, op: Op, value: &Value) -> Bound<'t> {
    match (column, value) {
        (Some(Column::Category { codes, dict }), Value::Text(t)) => match dict.find(t) {
            Some(code) => Bound::Code(codes, op == Op::Eq, code),
            // No row holds the value: `=` never holds, `!=` holds for every answered row.
            None if op == Op::Ne => Bound::Empty(column, true),
            None => Bound::Const(false),
        },
        (Some(Column::Number(v)), Value::Number(n)) => Bound::Number(v, op, *n),
        (Some(Column::Date(v)), Value::Text(t)) => Bound::Date(v, op, parse_day(t).unwrap_or(NO_DATE)),
        _ => Bound::Const(false),
    }
}

/// An expression resolved against one table's columns, ready to test rows.
#[derive(Debug)]
pub(crate) enum Bound<'t> {
    Const(bool),
    And(Box<Bound<'t>>, Box<Bound<'t>>),
    Or(Box<Bound<'t>>, Box<Bound<'t>>),
    Not(Box<Bound<'t>>),
    Code(&'t [u32], bool, u32),
    Number(&'t [f64], Op, f64),
    Date(&'t [i32], Op, i32),
    Has(&'t Column, Option<u32>),
    Empty(Option<&'t Column>, bool),
}

impl Bound<'_> {
    #[inline]
    pub(crate) fn test(&self, row: usize) -> bool {
        match self {
            Self::Const(b) => *b,
            Self::And(a, b) => a.test(row) && b.test(row),
            Self::Or(a, b) => a.test(row) || b.test(row),
            Self::Not(a) => !a.test(row),
            Self::Code(codes, eq, code) => codes[row] != 0 && ((codes[row] == *code) == *eq),
            Self::Number(v, op, n) => v[row].partial_cmp(n).is_some_and(|o| op.holds(o)),
            Self::Date(v, op, d) => v[row] != NO_DATE && op.holds(v[row].cmp(d)),
            Self::Has(c, code) => code.is_some_and(|code| c.multi(row).contains(&code)),
            Self::Empty(c, negated) => c.is_none_or(|c| c.is_missing(row)) != *negated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::FieldSpec;

    fn schema() -> Schema {
        let mut s = Schema::default();
        let choices = |c: &[&str]| c.iter().map(|c| ((*c).to_owned(), (*c).to_owned())).collect();
        s.add(
            "sex",
            FieldSpec::new(Kind::Category, "Sex").with_choices(choices(&["female", "male"])),
        );
        s.add(
            "forms",
            FieldSpec::new(Kind::Multi, "Forms").with_choices(choices(&["a", "b"])),
        );
        s.add("age", FieldSpec::new(Kind::Number, "Age"));
        s.add("on", FieldSpec::new(Kind::Date, "On"));
        s.withheld.insert("surname".into());
        s
    }

    fn table() -> Table {
        let s = schema();
        let mut t = Table::new(&s, ["sex", "forms", "age", "on"]);
        let rows: [[&str; 4]; 3] = [
            ["female", "a b", "17", "2026-01-05"],
            ["male", "b", "30", "2025-12-31"],
            ["", "", "", ""],
        ];
        for r in rows {
            t.push(|f| match f {
                "sex" => Some(r[0]),
                "forms" => Some(r[1]),
                "age" => Some(r[2]),
                "on" => Some(r[3]),
                _ => None,
            });
        }
        t
    }

    fn rows(src: &str) -> Vec<usize> {
        let e = Expr::parse(src).unwrap();
        e.check(&schema()).unwrap();
        let t = table();
        let b = e.bind(&t);
        (0..t.len()).filter(|r| b.test(*r)).collect()
    }

    #[test]
    fn conditions_select_the_right_rows() {
        assert_eq!(rows("sex = 'female'"), [0]);
        assert_eq!(
            rows("sex != 'female'"),
            [1],
            "an unanswered row is neither equal nor different"
        );
        assert_eq!(rows("forms has 'a'"), [0]);
        assert_eq!(rows("age >= 18 or sex in ('female')"), [0, 1]);
        assert_eq!(rows("not (age < 18) and forms has 'b'"), [1]);
        assert_eq!(rows("on >= '2026-01-01'"), [0]);
        assert_eq!(rows("sex is empty"), [2]);
        assert_eq!(rows("age is not empty"), [0, 1]);
    }

    #[test]
    fn mistakes_are_named() {
        let check = |src: &str| {
            Expr::parse(src)
                .map_err(|e| e.to_string())
                .and_then(|e| e.check(&schema()))
        };
        assert!(
            check("sex = 'woman'")
                .unwrap_err()
                .contains("'woman' is not one of the choices of 'sex'")
        );
        assert!(
            check("surname = 'x'")
                .unwrap_err()
                .contains("identifying or sensitive")
        );
        assert!(
            check("colour = 'x'")
                .unwrap_err()
                .contains("unknown field 'colour'")
        );
        assert!(check("forms = 'a'").unwrap_err().contains("has"));
        assert!(check("age > 'old'").unwrap_err().contains("is a number"));
        assert!(check("on > 5").unwrap_err().contains("YYYY-MM-DD"));
        assert_eq!(Expr::parse("sex = 'female").unwrap_err().position, 7);
        assert!(
            Expr::parse("sex = 'f' extra")
                .unwrap_err()
                .message
                .contains("unexpected text")
        );
        assert!(Expr::parse("(sex = 'f'").unwrap_err().message.contains("')'"));
        assert!(Expr::parse("sex ~ 1").is_err());
    }
}
