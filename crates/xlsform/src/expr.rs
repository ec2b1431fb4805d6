//! The XLSForm expression language, as used in `relevant`, `constraint`, `calculation`,
//! `choice_filter`, `required` and `default`.
//!
//! Supported (the subset the shipped forms and common IOM/ODK practice use):
//!
//! | Syntax | Meaning |
//! |---|---|
//! | `${name}` | the value of field `name` (in a repeat: the same repeat instance, else the nearest) |
//! | `.` | the value of the field being checked (constraints) |
//! | `1`, `2.5`, `'text'`, `"text"` | literals |
//! | `+ - * div mod`, unary `-` | arithmetic on numbers (dates count as days since 1970-01-01) |
//! | `= != < <= > >=` | comparison; numbers and dates numerically, otherwise as text |
//! | `and`, `or`, `not(x)`, `true()`, `false()` | logic |
//! | `selected(${f}, 'v')`, `count-selected(${f})` | multiple-choice answers (space-separated) |
//! | `string-length(s)`, `concat(a, b, …)`, `regex(s, 'pattern')` | text (regex: found anywhere; anchor with `^…$`) |
//! | `if(c, a, b)`, `coalesce(a, b)` | choices and defaults |
//! | `today()`, `decimal-date-time(d)` | dates (`decimal-date-time` gives days since 1970-01-01) |
//! | `int(x)`, `round(x)`, `round(x, digits)`, `number(x)`, `string(x)` | conversion |
//! | `position(..)` | 1-based index of the current repeat instance |
//!
//! Anything else (other functions, paths such as `/data/x`, `instance(…)`) is rejected when
//! the form is loaded, with the position of the problem.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    Num(f64),
    Str(String),
    /// `${name}`
    Field(String),
    /// `.`
    Current,
    /// `..` (only inside `position(..)`)
    Parent,
    /// A bare name in a `choice_filter`: a column of the choices sheet (e.g. `county`).
    ChoiceColumn(String),
    Neg(Box<Expr>),
    Binary(Op, Box<Expr>, Box<Expr>),
    Call(Func, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl Op {
    fn binding_power(self) -> u8 {
        match self {
            Op::Or => 1,
            Op::And => 2,
            Op::Eq | Op::Ne => 3,
            Op::Lt | Op::Le | Op::Gt | Op::Ge => 4,
            Op::Add | Op::Sub => 5,
            Op::Mul | Op::Div | Op::Mod => 6,
        }
    }
}

macro_rules! functions {
    ($($variant:ident => $name:literal, $min:literal, $max:literal;)+) => {
        /// The functions we evaluate.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum Func { $($variant,)+ }

        impl Func {
            fn parse(name: &str) -> Option<Func> {
                match name { $($name => Some(Func::$variant),)+ _ => None }
            }
            /// (fewest, most) arguments.
            fn arity(self) -> (usize, usize) {
                match self { $(Func::$variant => ($min, $max),)+ }
            }
            pub fn name(self) -> &'static str {
                match self { $(Func::$variant => $name,)+ }
            }
        }
    };
}

functions! {
    Selected => "selected", 2, 2;
    CountSelected => "count-selected", 1, 1;
    StringLength => "string-length", 1, 1;
    Regex => "regex", 2, 2;
    If => "if", 3, 3;
    Coalesce => "coalesce", 2, 2;
    Today => "today", 0, 0;
    DecimalDateTime => "decimal-date-time", 1, 1;
    Int => "int", 1, 1;
    Round => "round", 1, 2;
    Concat => "concat", 1, 64;
    Position => "position", 1, 1;
    Not => "not", 1, 1;
    True => "true", 0, 0;
    False => "false", 0, 0;
    Number => "number", 1, 1;
    String => "string", 1, 1;
}

/// Why an expression could not be parsed; `at` is a 1-based character position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {at}: {message}")]
pub struct ParseError {
    pub at: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Num(f64),
    Str(String),
    Field(String),
    Dot,
    DotDot,
    Name(String),
    Op(Op),
    LParen,
    RParen,
    Comma,
}

fn tokenize(src: &str) -> Result<Vec<(usize, Token)>, ParseError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |at: usize, message: String| ParseError { at: at + 1, message };
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '\'' | '"' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&x| x == c)
                    .ok_or_else(|| err(i, "unclosed quote".into()))?;
                out.push((start, Token::Str(chars[i + 1..i + 1 + end].iter().collect())));
                i += end + 2;
                continue;
            }
            '$' => {
                if chars.get(i + 1) != Some(&'{') {
                    return Err(err(i, "expected `${` to start a field reference".into()));
                }
                let end = chars[i + 2..]
                    .iter()
                    .position(|&x| x == '}')
                    .ok_or_else(|| err(i, "unclosed `${`".into()))?;
                let name: String = chars[i + 2..i + 2 + end].iter().collect();
                if name.trim().is_empty() {
                    return Err(err(i, "empty field reference `${}`".into()));
                }
                out.push((start, Token::Field(name.trim().to_owned())));
                i += end + 3;
                continue;
            }
            '.' if chars.get(i + 1) == Some(&'.') => {
                out.push((start, Token::DotDot));
                i += 2;
                continue;
            }
            '.' if !chars.get(i + 1).is_some_and(char::is_ascii_digit) => {
                out.push((start, Token::Dot));
                i += 1;
                continue;
            }
            c if c.is_ascii_digit() || c == '.' => {
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let n = text
                    .parse::<f64>()
                    .map_err(|_| err(start, format!("`{text}` is not a number")))?;
                out.push((start, Token::Num(n)));
                continue;
            }
            '(' => out.push((start, Token::LParen)),
            ')' => out.push((start, Token::RParen)),
            ',' => out.push((start, Token::Comma)),
            '+' => out.push((start, Token::Op(Op::Add))),
            '-' => out.push((start, Token::Op(Op::Sub))),
            '*' => out.push((start, Token::Op(Op::Mul))),
            '=' => out.push((start, Token::Op(Op::Eq))),
            '!' if chars.get(i + 1) == Some(&'=') => {
                out.push((start, Token::Op(Op::Ne)));
                i += 2;
                continue;
            }
            '<' | '>' => {
                let eq = chars.get(i + 1) == Some(&'=');
                let op = match (c, eq) {
                    ('<', false) => Op::Lt,
                    ('<', true) => Op::Le,
                    ('>', false) => Op::Gt,
                    _ => Op::Ge,
                };
                out.push((start, Token::Op(op)));
                i += if eq { 2 } else { 1 };
                continue;
            }
            c if c.is_alphabetic() || c == '_' => {
                while i < chars.len() && (chars[i].is_alphanumeric() || "_-:".contains(chars[i])) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let token = match word.as_str() {
                    "and" => Token::Op(Op::And),
                    "or" => Token::Op(Op::Or),
                    "div" => Token::Op(Op::Div),
                    "mod" => Token::Op(Op::Mod),
                    _ => Token::Name(word),
                };
                out.push((start, token));
                continue;
            }
            other => return Err(err(i, format!("unexpected character `{other}`"))),
        }
        i += 1;
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    pos: usize,
    len: usize,
    /// In a `choice_filter`, bare names are choice columns.
    choice_columns: bool,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }
    fn at(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map(|(i, _)| i + 1)
            .unwrap_or(self.len + 1)
    }
    fn fail<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            at: self.at(),
            message: message.into(),
        })
    }
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        t
    }

    fn expression(&mut self, min_power: u8) -> Result<Expr, ParseError> {
        let mut left = self.operand()?;
        while let Some(Token::Op(op)) = self.peek() {
            let op = *op;
            let power = op.binding_power();
            if power <= min_power {
                break;
            }
            self.pos += 1;
            let right = self.expression(power)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn operand(&mut self) -> Result<Expr, ParseError> {
        let at = self.at();
        match self.next() {
            Some(Token::Num(n)) => Ok(Expr::Num(n)),
            Some(Token::Str(s)) => Ok(Expr::Str(s)),
            Some(Token::Field(f)) => Ok(Expr::Field(f)),
            Some(Token::Dot) => Ok(Expr::Current),
            Some(Token::DotDot) => Ok(Expr::Parent),
            Some(Token::Op(Op::Sub)) => Ok(Expr::Neg(Box::new(self.expression(6)?))),
            Some(Token::LParen) => {
                let inner = self.expression(0)?;
                match self.next() {
                    Some(Token::RParen) => Ok(inner),
                    _ => Err(ParseError {
                        at,
                        message: "`(` is never closed".into(),
                    }),
                }
            }
            Some(Token::Name(name)) if self.choice_columns && self.peek() != Some(&Token::LParen) => {
                Ok(Expr::ChoiceColumn(name))
            }
            Some(Token::Name(name)) => {
                if self.peek() != Some(&Token::LParen) {
                    return Err(ParseError {
                        at,
                        message: format!("`{name}` is not supported here (refer to fields as ${{{name}}})"),
                    });
                }
                let func = Func::parse(&name).ok_or_else(|| ParseError {
                    at,
                    message: match name.as_str() {
                        "pulldata" | "instance" => format!(
                            "function `{name}()` is not supported (it reads data from a file attached to the form, which the server cannot check)"
                        ),
                        _ => format!("function `{name}()` is not supported"),
                    },
                })?;
                self.pos += 1;
                let mut args = Vec::new();
                if self.peek() == Some(&Token::RParen) {
                    self.pos += 1;
                } else {
                    loop {
                        args.push(self.expression(0)?);
                        match self.next() {
                            Some(Token::Comma) => continue,
                            Some(Token::RParen) => break,
                            _ => {
                                return Err(ParseError {
                                    at,
                                    message: format!("`{name}(` is never closed"),
                                });
                            }
                        }
                    }
                }
                let (min, max) = func.arity();
                if args.len() < min || args.len() > max {
                    let expected = if min == max {
                        min.to_string()
                    } else {
                        format!("{min} to {max}")
                    };
                    return Err(ParseError {
                        at,
                        message: format!("`{name}()` takes {expected} argument(s), not {}", args.len()),
                    });
                }
                if func == Func::Position && args != [Expr::Parent] {
                    return Err(ParseError {
                        at,
                        message: "only `position(..)` is supported".into(),
                    });
                }
                if func == Func::Regex
                    && let Expr::Str(pattern) = &args[1]
                    && let Err(e) = regex::Regex::new(pattern)
                {
                    return Err(ParseError {
                        at,
                        message: format!("invalid regular expression: {e}"),
                    });
                }
                Ok(Expr::Call(func, args))
            }
            Some(other) => Err(ParseError {
                at,
                message: format!("unexpected {}", describe(&other)),
            }),
            None => self.fail("the expression ends too early"),
        }
    }
}

fn describe(t: &Token) -> &'static str {
    match t {
        Token::RParen => "`)`",
        Token::Comma => "`,`",
        Token::Op(_) => "operator",
        _ => "token",
    }
}

impl Expr {
    /// Parse an XLSForm expression.
    pub fn parse(src: &str) -> Result<Expr, ParseError> {
        Self::parse_with(src, false)
    }

    /// Parse a `choice_filter`, where bare names (`county = ${county}`) are choice columns.
    pub fn parse_choice_filter(src: &str) -> Result<Expr, ParseError> {
        Self::parse_with(src, true)
    }

    fn parse_with(src: &str, choice_columns: bool) -> Result<Expr, ParseError> {
        let tokens = tokenize(src)?;
        let mut p = Parser {
            tokens,
            pos: 0,
            len: src.chars().count(),
            choice_columns,
        };

        let expr = p.expression(0)?;
        if p.pos < p.tokens.len() {
            return p.fail("unexpected text after the end of the expression");
        }
        if contains_parent_outside_position(&expr) {
            return Err(ParseError {
                at: 1,
                message: "`..` is only supported as `position(..)`".into(),
            });
        }
        Ok(expr)
    }

    /// The `${field}` names this expression reads.
    pub fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.visit(&mut |e| {
            if let Expr::Field(f) = e {
                out.push(f.as_str());
            }
        });
        out
    }

    fn visit<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Neg(x) => x.visit(f),
            Expr::Binary(_, a, b) => {
                a.visit(f);
                b.visit(f);
            }
            Expr::Call(_, args) => args.iter().for_each(|a| a.visit(f)),
            _ => {}
        }
    }
}

fn contains_parent_outside_position(e: &Expr) -> bool {
    match e {
        Expr::Parent => true,
        Expr::Call(Func::Position, _) => false,
        Expr::Neg(x) => contains_parent_outside_position(x),
        Expr::Binary(_, a, b) => contains_parent_outside_position(a) || contains_parent_outside_position(b),
        Expr::Call(_, args) => args.iter().any(contains_parent_outside_position),
        _ => false,
    }
}

/// A value during evaluation. Unanswered fields are the empty string, as in XPath.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
    /// Days since 1970-01-01 (fractional for date-times).
    Date(f64),
}

impl Value {
    pub fn as_bool(&self) -> bool {
        match self {
            Value::Bool(b) => *b,
            Value::Num(n) => *n != 0.0 && !n.is_nan(),
            Value::Str(s) => !s.is_empty(),
            Value::Date(_) => true,
        }
    }

    pub fn as_number(&self) -> f64 {
        match self {
            Value::Num(n) | Value::Date(n) => *n,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Str(s) => {
                let t = s.trim();
                t.parse::<f64>()
                    .ok()
                    .or_else(|| parse_date_days(t))
                    .unwrap_or(f64::NAN)
            }
        }
    }

    pub fn as_text(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Num(n) => format_number(*n),
            Value::Date(d) => format_date(*d),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_text())
    }
}

fn format_number(n: f64) -> String {
    if n.is_nan() {
        "NaN".to_owned()
    } else if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

const UNIX_EPOCH_JULIAN: i32 = 2_440_588;

/// "2026-11-27" or "2026-11-27T14:30:00…" as days since 1970-01-01.
pub fn parse_date_days(s: &str) -> Option<f64> {
    let date_part = s.get(..10)?;
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(date_part, format).ok()?;
    let mut days = f64::from(date.to_julian_day() - UNIX_EPOCH_JULIAN);
    if s.len() > 10 {
        let rest = s.get(10..)?;
        let clock = rest.strip_prefix('T')?;
        let mut parts = clock.split([':', '.', '+', '-', 'Z']);
        let h: f64 = parts.next()?.parse().ok()?;
        let m: f64 = parts.next()?.parse().ok()?;
        let sec: f64 = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0.0);
        days += (h * 3600.0 + m * 60.0 + sec) / 86_400.0;
    }
    Some(days)
}

fn format_date(days: f64) -> String {
    let julian = UNIX_EPOCH_JULIAN + days.floor() as i32;
    match time::Date::from_julian_day(julian) {
        Ok(d) => format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
        Err(_) => format_number(days),
    }
}

/// What an expression can see while it is evaluated.
pub trait Scope {
    /// The value of `${name}`: typed (dates as [`Value::Date`], numbers as [`Value::Num`]),
    /// or the empty string when unanswered.
    fn field(&self, name: &str) -> Value;
    /// The value of `.`.
    fn current(&self) -> Value;
    /// The 1-based index of the current repeat instance, if inside a repeat.
    fn position(&self) -> Option<usize>;
    /// Today's date, for `today()`.
    fn today(&self) -> time::Date;
    /// A column of the choice being filtered (`choice_filter` only).
    fn choice_column(&self, _name: &str) -> Value {
        Value::Str(String::new())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("position(..) used outside a repeat")]
    NotInRepeat,
    #[error("invalid regular expression: {0}")]
    BadRegex(String),
}

/// Evaluate `expr` in `scope`.
pub fn eval(expr: &Expr, scope: &dyn Scope) -> Result<Value, EvalError> {
    Ok(match expr {
        Expr::Num(n) => Value::Num(*n),
        Expr::Str(s) => Value::Str(s.clone()),
        Expr::Field(name) => scope.field(name),
        Expr::Current => scope.current(),
        Expr::Parent => Value::Str(String::new()),
        Expr::ChoiceColumn(name) => scope.choice_column(name),
        Expr::Neg(x) => Value::Num(-eval(x, scope)?.as_number()),
        Expr::Binary(op, a, b) => {
            let a = eval(a, scope)?;
            // `and`/`or` short-circuit.
            match op {
                Op::And if !a.as_bool() => return Ok(Value::Bool(false)),
                Op::Or if a.as_bool() => return Ok(Value::Bool(true)),
                _ => {}
            }
            let b = eval(b, scope)?;
            binary(*op, &a, &b)
        }
        Expr::Call(func, args) => call(*func, args, scope)?,
    })
}

fn binary(op: Op, a: &Value, b: &Value) -> Value {
    let num = |x: f64| Value::Num(x);
    match op {
        Op::And | Op::Or => Value::Bool(b.as_bool()),
        Op::Eq => Value::Bool(equal(a, b)),
        Op::Ne => Value::Bool(!equal(a, b)),
        Op::Lt => Value::Bool(a.as_number() < b.as_number()),
        Op::Le => Value::Bool(a.as_number() <= b.as_number()),
        Op::Gt => Value::Bool(a.as_number() > b.as_number()),
        Op::Ge => Value::Bool(a.as_number() >= b.as_number()),
        Op::Add => match (a, b) {
            (Value::Date(d), other) | (other, Value::Date(d)) => Value::Date(d + other.as_number()),
            _ => num(a.as_number() + b.as_number()),
        },
        Op::Sub => match (a, b) {
            (Value::Date(x), Value::Date(y)) => num(x - y),
            (Value::Date(d), other) => Value::Date(d - other.as_number()),
            _ => num(a.as_number() - b.as_number()),
        },
        Op::Mul => num(a.as_number() * b.as_number()),
        Op::Div => num(a.as_number() / b.as_number()),
        Op::Mod => num(a.as_number() % b.as_number()),
    }
}

/// XPath equality: booleans if either side is boolean, numbers if either is a number or a
/// date, otherwise text.
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Bool(_), _) | (_, Value::Bool(_)) => a.as_bool() == b.as_bool(),
        (Value::Num(_) | Value::Date(_), _) | (_, Value::Num(_) | Value::Date(_)) => {
            a.as_number() == b.as_number()
        }
        _ => a.as_text() == b.as_text(),
    }
}

fn call(func: Func, args: &[Expr], scope: &dyn Scope) -> Result<Value, EvalError> {
    let arg = |i: usize| eval(&args[i], scope);
    Ok(match func {
        Func::Selected => {
            let answer = arg(0)?.as_text();
            let wanted = arg(1)?.as_text();
            Value::Bool(answer.split_whitespace().any(|v| v == wanted.trim()))
        }
        Func::CountSelected => Value::Num(arg(0)?.as_text().split_whitespace().count() as f64),
        Func::StringLength => Value::Num(arg(0)?.as_text().chars().count() as f64),
        Func::Regex => {
            let text = arg(0)?.as_text();
            let pattern = arg(1)?.as_text();
            let re = regex::Regex::new(&pattern).map_err(|e| EvalError::BadRegex(e.to_string()))?;
            Value::Bool(re.is_match(&text))
        }
        Func::If => {
            if arg(0)?.as_bool() {
                arg(1)?
            } else {
                arg(2)?
            }
        }
        Func::Coalesce => {
            let first = arg(0)?;
            if first.as_text().is_empty() {
                arg(1)?
            } else {
                first
            }
        }
        Func::Today => Value::Date(f64::from(scope.today().to_julian_day() - UNIX_EPOCH_JULIAN)),
        Func::DecimalDateTime => Value::Num(arg(0)?.as_number()),
        Func::Int => Value::Num(arg(0)?.as_number().trunc()),
        Func::Round => {
            let x = arg(0)?.as_number();
            let digits = if args.len() == 2 { arg(1)?.as_number() } else { 0.0 };
            let factor = 10f64.powi(digits as i32);
            Value::Num((x * factor).round() / factor)
        }
        Func::Concat => {
            let mut s = String::new();
            for i in 0..args.len() {
                s.push_str(&arg(i)?.as_text());
            }
            Value::Str(s)
        }
        Func::Position => Value::Num(scope.position().ok_or(EvalError::NotInRepeat)? as f64),
        Func::Not => Value::Bool(!arg(0)?.as_bool()),
        Func::True => Value::Bool(true),
        Func::False => Value::Bool(false),
        Func::Number => Value::Num(arg(0)?.as_number()),
        Func::String => Value::Str(arg(0)?.as_text()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Answers {
        values: BTreeMap<&'static str, Value>,
        current: Value,
        position: Option<usize>,
    }

    impl Scope for Answers {
        fn field(&self, name: &str) -> Value {
            self.values
                .get(name)
                .cloned()
                .unwrap_or(Value::Str(String::new()))
        }
        fn current(&self) -> Value {
            self.current.clone()
        }
        fn position(&self) -> Option<usize> {
            self.position
        }
        fn today(&self) -> time::Date {
            time::macros::date!(2026 - 11 - 27)
        }
    }

    fn answers() -> Answers {
        let mut values = BTreeMap::new();
        values.insert("age", Value::Num(17.0));
        values.insert("sex", Value::Str("female".into()));
        values.insert(
            "exploitation",
            Value::Str("forced_labour sexual_exploitation".into()),
        );
        values.insert("start", Value::Date(parse_date_days("2026-11-01").unwrap()));
        values.insert("end", Value::Date(parse_date_days("2026-11-20").unwrap()));
        values.insert("phone", Value::Str("0770123456".into()));
        values.insert("dob", Value::Date(parse_date_days("2000-02-29").unwrap()));
        Answers {
            values,
            current: Value::Num(42.0),
            position: Some(3),
        }
    }

    fn run(src: &str) -> Value {
        eval(
            &Expr::parse(src).unwrap_or_else(|e| panic!("{src}: {e}")),
            &answers(),
        )
        .unwrap()
    }

    #[test]
    fn the_usual_expressions() {
        assert_eq!(run("${age} < 18"), Value::Bool(true));
        assert_eq!(run("${sex} = 'female' and ${age} >= 15"), Value::Bool(true));
        assert_eq!(run("${sex} != 'male' or 1 div 0 > 1"), Value::Bool(true));
        assert_eq!(
            run("selected(${exploitation}, 'forced_labour')"),
            Value::Bool(true)
        );
        assert_eq!(run("selected(${exploitation}, 'forced')"), Value::Bool(false));
        assert_eq!(run("count-selected(${exploitation})"), Value::Num(2.0));
        assert_eq!(run("${end} >= ${start}"), Value::Bool(true));
        assert_eq!(run("${end} - ${start}"), Value::Num(19.0));
        assert_eq!(run("int((today() - ${dob}) div 365.25)"), Value::Num(26.0));
        assert_eq!(run("regex(${phone}, '^0[0-9]{9}$')"), Value::Bool(true));
        assert_eq!(run("string-length(${phone}) = 10"), Value::Bool(true));
        assert_eq!(run(". >= 0 and . <= 100"), Value::Bool(true));
        assert_eq!(
            run("if(${age} < 18, 'child', 'adult')"),
            Value::Str("child".into())
        );
        assert_eq!(run("coalesce(${missing}, 'none')"), Value::Str("none".into()));
        assert_eq!(run("concat(${sex}, '-', ${age})"), Value::Str("female-17".into()));
        assert_eq!(run("round(2.345, 2)"), Value::Num(2.35));
        assert_eq!(run("round(2.5)"), Value::Num(3.0));
        assert_eq!(run("position(..)"), Value::Num(3.0));
        assert_eq!(run("not(${missing} = '')"), Value::Bool(false));
        assert_eq!(run("-${age} + 2 * 3"), Value::Num(-11.0));
        assert_eq!(run("7 mod 3"), Value::Num(1.0));
        assert_eq!(run("decimal-date-time('1970-01-02T12:00:00')"), Value::Num(1.5));
        assert_eq!(run("today()").as_text(), "2026-11-27");
        assert_eq!(run("${start} = '2026-11-01'"), Value::Bool(true));
        assert_eq!(run("true() and not(false())"), Value::Bool(true));
        assert_eq!(run("number('12') + 1"), Value::Num(13.0));
    }

    #[test]
    fn precedence_follows_xpath() {
        assert_eq!(run("1 + 2 * 3 = 7"), Value::Bool(true));
        assert_eq!(run("(1 + 2) * 3"), Value::Num(9.0));
        assert_eq!(run("1 = 1 or 1 = 2 and 1 = 2"), Value::Bool(true));
        assert_eq!(run("10 - 2 - 3"), Value::Num(5.0));
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = Expr::parse("${age} > 18 and now() < 3").unwrap_err();
        assert_eq!(
            e,
            ParseError {
                at: 17,
                message: "function `now()` is not supported".into()
            }
        );
        assert!(Expr::parse("${age > 3").unwrap_err().message.contains("unclosed"));
        assert!(
            Expr::parse("if(${a}, 1)")
                .unwrap_err()
                .message
                .contains("takes 3")
        );
        assert!(
            Expr::parse("/data/age > 3")
                .unwrap_err()
                .message
                .contains("unexpected character")
        );
        assert!(
            Expr::parse("regex(., '[')")
                .unwrap_err()
                .message
                .contains("invalid regular expression")
        );
        assert!(Expr::parse("age > 3").unwrap_err().message.contains("${age}"));
        assert!(Expr::parse("1 +").unwrap_err().message.contains("ends too early"));
        assert!(
            Expr::parse("(1 + 2")
                .unwrap_err()
                .message
                .contains("never closed")
        );
        assert!(Expr::parse("1 2").unwrap_err().message.contains("after the end"));
        assert!(Expr::parse("..").is_err());
    }

    #[test]
    fn choice_filters_name_choice_columns() {
        struct Choice;
        impl Scope for Choice {
            fn field(&self, _: &str) -> Value {
                Value::Str("LR-NI".into())
            }
            fn current(&self) -> Value {
                Value::Str(String::new())
            }
            fn position(&self) -> Option<usize> {
                None
            }
            fn today(&self) -> time::Date {
                time::macros::date!(2026 - 11 - 27)
            }
            fn choice_column(&self, name: &str) -> Value {
                Value::Str(if name == "county" {
                    "LR-NI".into()
                } else {
                    String::new()
                })
            }
        }
        let e = Expr::parse_choice_filter("county = ${county}").unwrap();
        assert_eq!(eval(&e, &Choice).unwrap(), Value::Bool(true));
        assert!(
            Expr::parse("county = ${county}").is_err(),
            "bare names only in choice filters"
        );
    }

    #[test]
    fn fields_are_listed() {
        let e = Expr::parse("selected(${a}, 'x') and ${b} > ${a}").unwrap();
        assert_eq!(e.fields(), ["a", "b", "a"]);
    }

    proptest::proptest! {
        #[test]
        fn the_parser_never_panics(src in ".{0,40}") {
            let _ = Expr::parse(&src);
        }

        #[test]
        fn arithmetic_matches_rust(a in -1000i32..1000, b in -1000i32..1000, c in 1i32..100) {
            let src = format!("{a} + {b} * {c} - ({a} mod {c})");
            let expected = f64::from(a) + f64::from(b) * f64::from(c) - (f64::from(a) % f64::from(c));
            proptest::prop_assert_eq!(run(&src), Value::Num(expected));
        }
    }
}
