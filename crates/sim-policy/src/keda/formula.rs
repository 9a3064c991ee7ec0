//! A small evaluator for the `scalingModifiers.formula` language (a subset of expr-lang).
//!
//! Supported: numbers, trigger names, `+ - * / % ** ^`, comparisons `== != < <= > >=`,
//! `&& || ! and or not`, the ternary `c ? a : b`, the nil-coalescing `a ?? b`, parentheses,
//! and the functions `min max abs ceil floor round float int sqrt`. Values are `f64`,
//! booleans or nil (a trigger whose fallback gate returns nil). Precedence follows
//! expr-lang: `??` binds tightest of the binary operators, then `** ^`, `* / %`, `+ -`,
//! comparisons, `and`, `or`, and the ternary last.

use std::collections::BTreeMap;

/// A runtime value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FormulaValue {
    /// A number.
    Num(f64),
    /// A boolean.
    Bool(bool),
    /// Nil (a missing trigger value).
    Nil,
}

/// A formula that could not be parsed or evaluated; `position` is a 1-based column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormulaError {
    /// What went wrong.
    pub message: String,
    /// 1-based column in the formula text, when known.
    pub position: Option<usize>,
}

impl std::fmt::Display for FormulaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.position {
            Some(p) => write!(f, "{} (column {p})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    Question,
    Colon,
}

fn err(message: impl Into<String>, position: Option<usize>) -> FormulaError {
    FormulaError {
        message: message.into(),
        position,
    }
}

fn tokenize(text: &str) -> Result<Vec<(Tok, usize)>, FormulaError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    const OPS: [&str; 20] = [
        "**", "??", "==", "!=", "<=", ">=", "&&", "||", "+", "-", "*", "/", "%", "^", "<", ">",
        "!", "?", ":", ",",
    ];
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit() || chars[i] == '.' || chars[i] == '_')
            {
                i += 1;
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                i += 1;
                if i < chars.len() && (chars[i] == '+' || chars[i] == '-') {
                    i += 1;
                }
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let s: String = chars[start..i].iter().filter(|c| **c != '_').collect();
            let v = s
                .parse::<f64>()
                .map_err(|_| err(format!("bad number {s:?}"), Some(col)))?;
            out.push((Tok::Num(v), col));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let tok = match word.as_str() {
                "and" => Tok::Op("&&"),
                "or" => Tok::Op("||"),
                "not" => Tok::Op("!"),
                _ => Tok::Ident(word),
            };
            out.push((tok, col));
        } else if c == '(' {
            out.push((Tok::LParen, col));
            i += 1;
        } else if c == ')' {
            out.push((Tok::RParen, col));
            i += 1;
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let Some(op) = OPS.iter().find(|op| rest.starts_with(**op)) else {
                return Err(err(format!("unexpected character {c:?}"), Some(col)));
            };
            let tok = match *op {
                "?" => Tok::Question,
                ":" => Tok::Colon,
                "," => Tok::Comma,
                o => Tok::Op(o),
            };
            out.push((tok, col));
            i += op.len();
        }
    }
    Ok(out)
}

/// A parsed formula.
#[derive(Clone, Debug, PartialEq)]
pub struct Formula {
    root: Node,
    text: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Num(f64),
    Var(String),
    Unary(&'static str, Box<Node>),
    Binary(&'static str, Box<Node>, Box<Node>),
    Ternary(Box<Node>, Box<Node>, Box<Node>),
    Call(String, Vec<Node>),
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    len: usize,
}

fn binding(op: &str) -> Option<(u16, bool)> {
    // (precedence, right associative)
    Some(match op {
        "||" => (10, false),
        "&&" => (15, false),
        "==" | "!=" | "<" | ">" | "<=" | ">=" => (20, false),
        "+" | "-" => (30, false),
        "*" | "/" | "%" => (60, false),
        "**" | "^" => (100, true),
        "??" => (500, false),
        _ => return None,
    })
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }
    fn col(&self) -> Option<usize> {
        Some(self.toks.get(self.pos).map_or(self.len + 1, |t| t.1))
    }
    fn expect(&mut self, want: &Tok, what: &str) -> Result<(), FormulaError> {
        if self.peek() == Some(want) {
            self.pos += 1;
            Ok(())
        } else {
            Err(err(format!("expected {what}"), self.col()))
        }
    }

    fn ternary(&mut self) -> Result<Node, FormulaError> {
        let cond = self.binary(0)?;
        if self.peek() == Some(&Tok::Question) {
            self.pos += 1;
            let a = self.ternary()?;
            self.expect(&Tok::Colon, "':' of a ternary")?;
            let b = self.ternary()?;
            return Ok(Node::Ternary(Box::new(cond), Box::new(a), Box::new(b)));
        }
        Ok(cond)
    }

    fn binary(&mut self, min_prec: u16) -> Result<Node, FormulaError> {
        let mut lhs = self.unary()?;
        while let Some(Tok::Op(op)) = self.peek() {
            let op = *op;
            let Some((prec, right)) = binding(op) else {
                break;
            };
            if prec < min_prec {
                break;
            }
            self.pos += 1;
            let rhs = self.binary(if right { prec } else { prec + 1 })?;
            lhs = Node::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Node, FormulaError> {
        match self.peek() {
            Some(Tok::Op("-")) => {
                self.pos += 1;
                Ok(Node::Unary("-", Box::new(self.binary(50)?)))
            }
            Some(Tok::Op("+")) => {
                self.pos += 1;
                self.binary(50)
            }
            Some(Tok::Op("!")) => {
                self.pos += 1;
                Ok(Node::Unary("!", Box::new(self.binary(50)?)))
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Node, FormulaError> {
        let col = self.col();
        let Some((tok, _)) = self.toks.get(self.pos).cloned() else {
            return Err(err("unexpected end of formula", col));
        };
        self.pos += 1;
        match tok {
            Tok::Num(v) => Ok(Node::Num(v)),
            Tok::Ident(name) => {
                if self.peek() == Some(&Tok::LParen) {
                    self.pos += 1;
                    let mut args = Vec::new();
                    if self.peek() != Some(&Tok::RParen) {
                        loop {
                            args.push(self.ternary()?);
                            if self.peek() == Some(&Tok::Comma) {
                                self.pos += 1;
                            } else {
                                break;
                            }
                        }
                    }
                    self.expect(&Tok::RParen, "')'")?;
                    Ok(Node::Call(name, args))
                } else if name == "nil" {
                    Ok(Node::Var(String::new()))
                } else if name == "true" || name == "false" {
                    Ok(Node::Call(name, Vec::new()))
                } else {
                    Ok(Node::Var(name))
                }
            }
            Tok::LParen => {
                let inner = self.ternary()?;
                self.expect(&Tok::RParen, "')'")?;
                Ok(inner)
            }
            other => Err(err(format!("unexpected {other:?}"), col)),
        }
    }
}

impl Formula {
    /// Parses a formula.
    pub fn parse(text: &str) -> Result<Formula, FormulaError> {
        let toks = tokenize(text)?;
        let mut p = Parser {
            toks,
            pos: 0,
            len: text.chars().count(),
        };
        let root = p.ternary()?;
        if p.pos != p.toks.len() {
            return Err(err("unexpected trailing input", p.col()));
        }
        Ok(Formula {
            root,
            text: text.to_string(),
        })
    }

    /// The formula as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The variable names the formula reads.
    pub fn variables(&self) -> Vec<String> {
        fn walk(n: &Node, out: &mut Vec<String>) {
            match n {
                Node::Var(v) if !v.is_empty() && !out.contains(v) => out.push(v.clone()),
                Node::Unary(_, a) => walk(a, out),
                Node::Binary(_, a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                Node::Ternary(a, b, c) => {
                    walk(a, out);
                    walk(b, out);
                    walk(c, out);
                }
                Node::Call(_, args) => args.iter().for_each(|a| walk(a, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out
    }

    /// Evaluates with trigger values (`None` = nil).
    pub fn eval(&self, vars: &BTreeMap<String, Option<f64>>) -> Result<FormulaValue, FormulaError> {
        eval(&self.root, vars)
    }
}

fn num(v: FormulaValue, what: &str) -> Result<f64, FormulaError> {
    match v {
        FormulaValue::Num(x) => Ok(x),
        FormulaValue::Bool(_) => Err(err(format!("invalid operation: {what} on a boolean"), None)),
        FormulaValue::Nil => Err(err(format!("invalid operation: {what} on nil"), None)),
    }
}

fn truthy(v: FormulaValue) -> Result<bool, FormulaError> {
    match v {
        FormulaValue::Bool(b) => Ok(b),
        _ => Err(err("a condition must be a boolean", None)),
    }
}

fn eval(n: &Node, vars: &BTreeMap<String, Option<f64>>) -> Result<FormulaValue, FormulaError> {
    use FormulaValue::{Bool, Nil, Num};
    Ok(match n {
        Node::Num(v) => Num(*v),
        Node::Var(name) if name.is_empty() => Nil,
        Node::Var(name) => match vars.get(name) {
            Some(Some(v)) => Num(*v),
            Some(None) => Nil,
            None => return Err(err(format!("unknown name {name}"), None)),
        },
        Node::Unary("-", a) => Num(-num(eval(a, vars)?, "negation")?),
        Node::Unary(_, a) => Bool(!truthy(eval(a, vars)?)?),
        Node::Ternary(c, a, b) => {
            if truthy(eval(c, vars)?)? {
                eval(a, vars)?
            } else {
                eval(b, vars)?
            }
        }
        Node::Binary("??", a, b) => match eval(a, vars)? {
            Nil => eval(b, vars)?,
            v => v,
        },
        Node::Binary("&&", a, b) => Bool(truthy(eval(a, vars)?)? && truthy(eval(b, vars)?)?),
        Node::Binary("||", a, b) => Bool(truthy(eval(a, vars)?)? || truthy(eval(b, vars)?)?),
        Node::Binary(op, a, b) => {
            let (x, y) = (eval(a, vars)?, eval(b, vars)?);
            if *op == "==" || *op == "!=" {
                let eq = x == y;
                return Ok(Bool(if *op == "==" { eq } else { !eq }));
            }
            let (x, y) = (num(x, op)?, num(y, op)?);
            match *op {
                "+" => Num(x + y),
                "-" => Num(x - y),
                "*" => Num(x * y),
                "/" => Num(x / y),
                "%" => Num(x % y),
                "**" | "^" => Num(x.powf(y)),
                "<" => Bool(x < y),
                ">" => Bool(x > y),
                "<=" => Bool(x <= y),
                ">=" => Bool(x >= y),
                other => return Err(err(format!("unknown operator {other}"), None)),
            }
        }
        Node::Call(name, args) => {
            let vals = args
                .iter()
                .map(|a| eval(a, vars))
                .collect::<Result<Vec<_>, _>>()?;
            let one = |f: fn(f64) -> f64| -> Result<FormulaValue, FormulaError> {
                match vals.as_slice() {
                    [v] => Ok(Num(f(num(*v, name)?))),
                    _ => Err(err(format!("{name} takes one argument"), None)),
                }
            };
            match name.as_str() {
                "true" => Bool(true),
                "false" => Bool(false),
                "abs" => one(f64::abs)?,
                "ceil" => one(f64::ceil)?,
                "floor" => one(f64::floor)?,
                "round" => one(f64::round)?,
                "sqrt" => one(f64::sqrt)?,
                "float" => one(|x| x)?,
                "int" => one(f64::trunc)?,
                "min" | "max" => {
                    if vals.is_empty() {
                        return Err(err(format!("{name} needs arguments"), None));
                    }
                    let mut best = num(vals[0], name)?;
                    for v in &vals[1..] {
                        let x = num(*v, name)?;
                        best = if name == "min" {
                            best.min(x)
                        } else {
                            best.max(x)
                        };
                    }
                    Num(best)
                }
                other => return Err(err(format!("unknown function {other}"), None)),
            }
        }
    })
}
