//! Parsing: PromQL text to our own small expression tree.
//!
//! `promql-parser` does the grammar and type checks. We then convert its AST into [`Node`],
//! rejecting every construct the evaluator does not implement, so an unsupported query
//! fails once at parse time and never half-way through a run.

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_AVG, T_COUNT, T_DIV, T_EQLC, T_GROUP, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS,
    T_LTE, T_LUNLESS, T_MAX, T_MIN, T_MOD, T_MUL, T_NEQ, T_POW, T_SUB, T_SUM, TokenType,
};
use promql_parser::parser::{self as pp, Expr, LabelModifier, Offset, VectorMatchCardinality};

use crate::labels::METRIC_NAME;

/// Why a query could not be parsed or evaluated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The text is not valid PromQL. `promql-parser` reports no position.
    #[error("parse error: {0}")]
    Parse(String),
    /// Valid PromQL that this evaluator does not implement; names the construct.
    #[error("unsupported PromQL: {0}")]
    Unsupported(String),
    /// Valid and supported, but the data make it fail (for example many-to-many matching).
    #[error("evaluation error: {0}")]
    Eval(String),
}

/// A parsed, checked query, ready to be evaluated many times.
#[derive(Clone, Debug)]
pub struct Query {
    text: String,
    pub(crate) root: Node,
}

impl Query {
    /// The original query text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The metric names the query's selectors pin (`foo` in `foo{a="b"}` or
    /// `{__name__="foo"}`), sorted and without duplicates. A selector that does not pin a
    /// name (a regex on `__name__`, or none) is reported as `None` in the second value, so a
    /// caller that exports only what queries read knows it must export everything.
    pub fn metric_names(&self) -> (Vec<String>, bool) {
        let mut names = Vec::new();
        let mut unpinned = false;
        collect_names(&self.root, &mut names, &mut unpinned);
        names.sort();
        names.dedup();
        (names, unpinned)
    }
}

/// The longest query accepted, in bytes. Real queries are a few hundred bytes; the parser's
/// time grows with length (a 1 MB query took 17 s, found by `sim-fuzz`).
pub(crate) const MAX_QUERY_BYTES: usize = 10_000;

/// Parses `q` and checks that every construct in it is supported.
pub fn parse(q: &str) -> Result<Query, QueryError> {
    if q.len() > MAX_QUERY_BYTES {
        return Err(QueryError::Parse(format!(
            "the query is {} bytes long; the limit is {MAX_QUERY_BYTES}",
            q.len()
        )));
    }
    let expr = pp::parse(q).map_err(QueryError::Parse)?;
    let root = convert(&expr)?;
    Ok(Query {
        text: q.to_string(),
        root,
    })
}

/// An instant or range selector.
#[derive(Clone, Debug)]
pub(crate) struct Selector {
    /// Metric name to look up directly, when the selector pins one.
    pub(crate) name: Option<String>,
    pub(crate) matchers: Vec<Matcher>,
    /// `{a="x" or b="y"}`: a series must pass one whole group (plus `matchers`).
    pub(crate) or_groups: Vec<Vec<Matcher>>,
    /// Positive looks back in time.
    pub(crate) offset_ns: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AggOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Group,
}

#[derive(Clone, Debug)]
pub(crate) enum Grouping {
    By(Vec<String>),
    Without(Vec<String>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RangeFn {
    Rate,
    Irate,
    Increase,
    Delta,
    Idelta,
    AvgOverTime,
    MinOverTime,
    MaxOverTime,
    SumOverTime,
    CountOverTime,
    LastOverTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Func {
    HistogramQuantile,
    Scalar,
    Vector,
    Time,
    Abs,
    Ceil,
    Floor,
    Sqrt,
    Exp,
    Ln,
    Round,
    ClampMin,
    ClampMax,
    Clamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl BinOp {
    pub(crate) fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Lt | BinOp::Ge | BinOp::Le
        )
    }
    pub(crate) fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }
}

/// Vector matching: `on(labels)` when `on`, else `ignoring(labels)` (empty by default).
#[derive(Clone, Debug, Default)]
pub(crate) struct Matching {
    pub(crate) on: bool,
    pub(crate) labels: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Scalar,
    Vector,
}

#[derive(Clone, Debug)]
pub(crate) enum Node {
    Number(f64),
    Instant(Selector),
    Neg(Box<Node>),
    Agg {
        op: AggOp,
        grouping: Grouping,
        expr: Box<Node>,
    },
    RangeCall {
        func: RangeFn,
        sel: Selector,
        range_ns: i64,
    },
    Call {
        func: Func,
        args: Vec<Node>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Node>,
        rhs: Box<Node>,
        matching: Matching,
        return_bool: bool,
    },
}

impl Node {
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Node::Number(_) => Kind::Scalar,
            Node::Instant(_) | Node::Agg { .. } | Node::RangeCall { .. } => Kind::Vector,
            Node::Neg(e) => e.kind(),
            Node::Call { func, .. } => match func {
                Func::Scalar | Func::Time => Kind::Scalar,
                _ => Kind::Vector,
            },
            Node::Binary { lhs, rhs, .. } => {
                if lhs.kind() == Kind::Scalar && rhs.kind() == Kind::Scalar {
                    Kind::Scalar
                } else {
                    Kind::Vector
                }
            }
        }
    }
}

fn unsupported<T>(what: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError::Unsupported(what.into()))
}

fn duration_ns(d: std::time::Duration) -> Result<i64, QueryError> {
    i64::try_from(d.as_nanos()).map_err(|_| QueryError::Unsupported("duration too long".into()))
}

fn convert(e: &Expr) -> Result<Node, QueryError> {
    match e {
        Expr::NumberLiteral(n) => Ok(Node::Number(n.val)),
        Expr::Paren(p) => convert(&p.expr),
        Expr::Unary(u) => Ok(Node::Neg(Box::new(convert(&u.expr)?))),
        Expr::VectorSelector(vs) => Ok(Node::Instant(selector(vs)?)),
        Expr::MatrixSelector(_) => unsupported(
            "a range selector outside a range function (a query must return a scalar or an instant vector)",
        ),
        Expr::Subquery(_) => unsupported("subqueries"),
        Expr::StringLiteral(_) => unsupported("string literals"),
        Expr::Extension(_) => unsupported("extension expressions"),
        Expr::Aggregate(a) => aggregate(a),
        Expr::Call(c) => call(c),
        Expr::Binary(b) => binary(b),
    }
}

fn selector(vs: &pp::VectorSelector) -> Result<Selector, QueryError> {
    if vs.at.is_some() {
        return unsupported("the @ modifier");
    }
    let offset_ns = match &vs.offset {
        None => 0,
        Some(Offset::Pos(d)) => duration_ns(*d)?,
        Some(Offset::Neg(d)) => -duration_ns(*d)?,
    };
    let mut matchers = vs.matchers.matchers.clone();
    let mut name = vs.name.clone();
    if let Some(n) = &name {
        matchers.push(Matcher::new(MatchOp::Equal, METRIC_NAME, n));
    } else if vs.matchers.or_matchers.is_empty() {
        name = matchers
            .iter()
            .find(|m| m.name == METRIC_NAME && m.op == MatchOp::Equal)
            .map(|m| m.value.clone());
    }
    Ok(Selector {
        name,
        matchers,
        or_groups: vs.matchers.or_matchers.clone(),
        offset_ns,
    })
}

fn aggregate(a: &pp::AggregateExpr) -> Result<Node, QueryError> {
    let op = match a.op.id() {
        T_SUM => AggOp::Sum,
        T_AVG => AggOp::Avg,
        T_MIN => AggOp::Min,
        T_MAX => AggOp::Max,
        T_COUNT => AggOp::Count,
        T_GROUP => AggOp::Group,
        _ => return unsupported(format!("aggregation {}", a.op)),
    };
    if a.param.is_some() {
        return unsupported(format!("a parameter to aggregation {}", a.op));
    }
    let grouping = match &a.modifier {
        None => Grouping::By(Vec::new()),
        Some(LabelModifier::Include(l)) => Grouping::By(l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => Grouping::Without(l.labels.clone()),
    };
    let expr = convert(&a.expr)?;
    if expr.kind() != Kind::Vector {
        return unsupported(format!("aggregation {} over a scalar", a.op));
    }
    Ok(Node::Agg {
        op,
        grouping,
        expr: Box::new(expr),
    })
}

fn call(c: &pp::Call) -> Result<Node, QueryError> {
    let name = c.func.name;
    let range_fn = match name {
        "rate" => Some(RangeFn::Rate),
        "irate" => Some(RangeFn::Irate),
        "increase" => Some(RangeFn::Increase),
        "delta" => Some(RangeFn::Delta),
        "idelta" => Some(RangeFn::Idelta),
        "avg_over_time" => Some(RangeFn::AvgOverTime),
        "min_over_time" => Some(RangeFn::MinOverTime),
        "max_over_time" => Some(RangeFn::MaxOverTime),
        "sum_over_time" => Some(RangeFn::SumOverTime),
        "count_over_time" => Some(RangeFn::CountOverTime),
        "last_over_time" => Some(RangeFn::LastOverTime),
        _ => None,
    };
    if let Some(func) = range_fn {
        let [arg] = c.args.args.as_slice() else {
            return Err(QueryError::Parse(format!("{name} takes one argument")));
        };
        return match arg.as_ref() {
            Expr::MatrixSelector(ms) => Ok(Node::RangeCall {
                func,
                sel: selector(&ms.vs)?,
                range_ns: duration_ns(ms.range)?,
            }),
            Expr::Subquery(_) => unsupported(format!("a subquery as the argument of {name}")),
            _ => unsupported(format!("{name} of something other than a range selector")),
        };
    }
    let func = match name {
        "histogram_quantile" => Func::HistogramQuantile,
        "scalar" => Func::Scalar,
        "vector" => Func::Vector,
        "time" => Func::Time,
        "abs" => Func::Abs,
        "ceil" => Func::Ceil,
        "floor" => Func::Floor,
        "sqrt" => Func::Sqrt,
        "exp" => Func::Exp,
        "ln" => Func::Ln,
        "round" => Func::Round,
        "clamp_min" => Func::ClampMin,
        "clamp_max" => Func::ClampMax,
        "clamp" => Func::Clamp,
        other => return unsupported(format!("function {other}")),
    };
    let args = c
        .args
        .args
        .iter()
        .map(|a| convert(a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Node::Call { func, args })
}

fn binary(b: &pp::BinaryExpr) -> Result<Node, QueryError> {
    let op = bin_op(b.op)?;
    let lhs = convert(&b.lhs)?;
    let rhs = convert(&b.rhs)?;
    let mut matching = Matching::default();
    let mut return_bool = false;
    if let Some(m) = &b.modifier {
        match &m.card {
            VectorMatchCardinality::OneToOne | VectorMatchCardinality::ManyToMany => {}
            VectorMatchCardinality::ManyToOne(_) => return unsupported("group_left"),
            VectorMatchCardinality::OneToMany(_) => return unsupported("group_right"),
        }
        if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
            return unsupported("fill modifiers");
        }
        return_bool = m.return_bool;
        match &m.matching {
            None => {}
            Some(LabelModifier::Include(l)) => {
                matching = Matching {
                    on: true,
                    labels: l.labels.clone(),
                }
            }
            Some(LabelModifier::Exclude(l)) => {
                matching = Matching {
                    on: false,
                    labels: l.labels.clone(),
                }
            }
        }
    }
    if op.is_comparison()
        && !return_bool
        && lhs.kind() == Kind::Scalar
        && rhs.kind() == Kind::Scalar
    {
        return Err(QueryError::Parse(
            "comparisons between scalars must use the bool modifier".into(),
        ));
    }
    Ok(Node::Binary {
        op,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
        matching,
        return_bool,
    })
}

fn bin_op(t: TokenType) -> Result<BinOp, QueryError> {
    Ok(match t.id() {
        T_ADD => BinOp::Add,
        T_SUB => BinOp::Sub,
        T_MUL => BinOp::Mul,
        T_DIV => BinOp::Div,
        T_MOD => BinOp::Mod,
        T_POW => BinOp::Pow,
        T_ATAN2 => BinOp::Atan2,
        T_EQLC => BinOp::Eq,
        T_NEQ => BinOp::Ne,
        T_GTR => BinOp::Gt,
        T_LSS => BinOp::Lt,
        T_GTE => BinOp::Ge,
        T_LTE => BinOp::Le,
        T_LAND => BinOp::And,
        T_LOR => BinOp::Or,
        T_LUNLESS => BinOp::Unless,
        _ => return unsupported(format!("binary operator {t}")),
    })
}

fn collect_names(node: &Node, names: &mut Vec<String>, unpinned: &mut bool) {
    let mut sel = |sel: &Selector| match &sel.name {
        Some(n) => names.push(n.clone()),
        None => *unpinned = true,
    };
    match node {
        Node::Number(_) => {}
        Node::Instant(s) | Node::RangeCall { sel: s, .. } => sel(s),
        Node::Neg(e) | Node::Agg { expr: e, .. } => collect_names(e, names, unpinned),
        Node::Call { args, .. } => args.iter().for_each(|a| collect_names(a, names, unpinned)),
        Node::Binary { lhs, rhs, .. } => {
            collect_names(lhs, names, unpinned);
            collect_names(rhs, names, unpinned);
        }
    }
}
