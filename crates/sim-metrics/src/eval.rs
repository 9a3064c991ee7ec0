//! Evaluation of a parsed query at one instant over the [`Store`].

use std::collections::BTreeMap;

use promql_parser::label::Matcher;
use sim_des::{SimDuration, SimTime};

use crate::labels::{Labels, METRIC_NAME};
use crate::query::{
    AggOp, BinOp, Func, Grouping, Matching, Node, Query, QueryError, RangeFn, Selector,
};
use crate::store::{Series, Store};

/// Evaluation settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryOpts {
    /// How far back an instant selector looks for the newest sample (Prometheus's
    /// `--query.lookback-delta`, 5 minutes by default). The window is left-open.
    pub lookback: SimDuration,
}

impl Default for QueryOpts {
    fn default() -> QueryOpts {
        QueryOpts {
            lookback: SimDuration::from_secs(300),
        }
    }
}

/// The result of an instant query.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A single number.
    Scalar(f64),
    /// Labelled values, sorted by labels, with unique label sets.
    Vector(Vec<(Labels, f64)>),
}

/// Evaluates `q` at time `at` over `store`.
pub fn query(store: &Store, q: &Query, at: SimTime, opts: &QueryOpts) -> Result<Value, QueryError> {
    let ctx = Ctx {
        store,
        at_ns: i64::try_from(at.as_nanos()).unwrap_or(i64::MAX),
        lookback_ns: i64::try_from(opts.lookback.as_nanos()).unwrap_or(i64::MAX),
    };
    match ctx.eval(&q.root)? {
        Val::Scalar(v) => Ok(Value::Scalar(v)),
        Val::Vector(v) => Ok(Value::Vector(finish(v)?)),
    }
}

type Vector = Vec<(Labels, f64)>;

enum Val {
    Scalar(f64),
    Vector(Vector),
}

struct Ctx<'a> {
    store: &'a Store,
    at_ns: i64,
    lookback_ns: i64,
}

/// Sorts by labels and rejects duplicate label sets, which Prometheus reports when
/// dropping the metric name makes two series collide.
fn finish(mut v: Vector) -> Result<Vector, QueryError> {
    v.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = v.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(QueryError::Eval(format!(
            "vector cannot contain metrics with the same labelset {}",
            w[0].0
        )));
    }
    Ok(v)
}

fn matches_all(ms: &[Matcher], l: &Labels) -> bool {
    ms.iter().all(|m| m.is_match(l.get(&m.name).unwrap_or("")))
}

fn secs(ns: i64) -> f64 {
    ns as f64 / 1e9
}

impl Ctx<'_> {
    fn eval(&self, n: &Node) -> Result<Val, QueryError> {
        match n {
            Node::Number(v) => Ok(Val::Scalar(*v)),
            Node::Instant(sel) => Ok(Val::Vector(self.instant(sel))),
            Node::Neg(e) => Ok(match self.eval(e)? {
                Val::Scalar(v) => Val::Scalar(-v),
                Val::Vector(v) => Val::Vector(finish(
                    v.into_iter()
                        .map(|(l, x)| (l.without_metric_name(), -x))
                        .collect(),
                )?),
            }),
            Node::Agg { op, grouping, expr } => {
                let v = self.vector(expr)?;
                Ok(Val::Vector(aggregate(*op, grouping, v)))
            }
            Node::RangeCall {
                func,
                sel,
                range_ns,
            } => Ok(Val::Vector(finish(self.range_call(*func, sel, *range_ns))?)),
            Node::Call { func, args } => self.call(*func, args),
            Node::Binary {
                op,
                lhs,
                rhs,
                matching,
                return_bool,
            } => self.binary(*op, lhs, rhs, matching, *return_bool),
        }
    }

    fn vector(&self, n: &Node) -> Result<Vector, QueryError> {
        match self.eval(n)? {
            Val::Vector(v) => Ok(v),
            Val::Scalar(_) => Err(QueryError::Eval(
                "expected an instant vector, got a scalar".into(),
            )),
        }
    }

    fn scalar(&self, n: &Node) -> Result<f64, QueryError> {
        match self.eval(n)? {
            Val::Scalar(v) => Ok(v),
            Val::Vector(_) => Err(QueryError::Eval(
                "expected a scalar, got an instant vector".into(),
            )),
        }
    }

    fn series<'s>(
        &'s self,
        sel: &'s Selector,
    ) -> impl Iterator<Item = (&'s Labels, &'s Series)> + 's {
        self.store.select(sel.name.as_deref(), move |l| {
            matches_all(&sel.matchers, l)
                && (sel.or_groups.is_empty() || sel.or_groups.iter().any(|g| matches_all(g, l)))
        })
    }

    fn instant(&self, sel: &Selector) -> Vector {
        let t = self.at_ns.saturating_sub(sel.offset_ns);
        self.series(sel)
            .filter_map(|(l, s)| s.instant(t, self.lookback_ns).map(|v| (l.clone(), v)))
            .collect()
    }

    fn range_call(&self, func: RangeFn, sel: &Selector, range_ns: i64) -> Vector {
        let hi = self.at_ns.saturating_sub(sel.offset_ns);
        let lo = hi.saturating_sub(range_ns);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for (labels, series) in self.series(sel) {
            buf.clear();
            series.range(lo, hi, &mut buf);
            if let Some(v) = range_value(func, &buf, lo, hi, range_ns) {
                let l = if func == RangeFn::LastOverTime {
                    labels.clone()
                } else {
                    labels.without_metric_name()
                };
                out.push((l, v));
            }
        }
        out
    }

    fn call(&self, func: Func, args: &[Node]) -> Result<Val, QueryError> {
        let arg_scalar = |i: usize, default: f64| -> Result<f64, QueryError> {
            args.get(i).map_or(Ok(default), |a| self.scalar(a))
        };
        let map = |f: &dyn Fn(f64) -> f64| -> Result<Val, QueryError> {
            let v = self.vector(&args[0])?;
            Ok(Val::Vector(finish(
                v.into_iter()
                    .map(|(l, x)| (l.without_metric_name(), f(x)))
                    .collect(),
            )?))
        };
        match func {
            Func::Time => Ok(Val::Scalar(secs(self.at_ns))),
            Func::Vector => Ok(Val::Vector(vec![(
                Labels::default(),
                arg_scalar(0, f64::NAN)?,
            )])),
            Func::Scalar => {
                let v = self.vector(&args[0])?;
                Ok(Val::Scalar(if v.len() == 1 { v[0].1 } else { f64::NAN }))
            }
            Func::Abs => map(&f64::abs),
            Func::Ceil => map(&f64::ceil),
            Func::Floor => map(&f64::floor),
            Func::Sqrt => map(&f64::sqrt),
            Func::Exp => map(&f64::exp),
            Func::Ln => map(&f64::ln),
            Func::Round => {
                let inv = 1.0 / arg_scalar(1, 1.0)?;
                map(&|x| (x * inv + 0.5).floor() / inv)
            }
            Func::ClampMin => {
                let lo = arg_scalar(1, f64::NAN)?;
                map(&|x| go_max(lo, x))
            }
            Func::ClampMax => {
                let hi = arg_scalar(1, f64::NAN)?;
                map(&|x| go_min(hi, x))
            }
            Func::Clamp => {
                let lo = arg_scalar(1, f64::NAN)?;
                let hi = arg_scalar(2, f64::NAN)?;
                if hi < lo {
                    return Ok(Val::Vector(Vec::new()));
                }
                map(&|x| go_max(lo, go_min(hi, x)))
            }
            Func::HistogramQuantile => {
                let q = arg_scalar(0, f64::NAN)?;
                let v = self.vector(&args[1])?;
                Ok(Val::Vector(histogram_quantile(q, v)))
            }
        }
    }

    fn binary(
        &self,
        op: BinOp,
        lhs: &Node,
        rhs: &Node,
        matching: &Matching,
        return_bool: bool,
    ) -> Result<Val, QueryError> {
        let l = self.eval(lhs)?;
        let r = self.eval(rhs)?;
        match (l, r) {
            (Val::Scalar(a), Val::Scalar(b)) => {
                let (v, keep) = elem_op(op, a, b);
                Ok(Val::Scalar(if op.is_comparison() {
                    f64::from(u8::from(keep))
                } else {
                    v
                }))
            }
            (Val::Vector(v), Val::Scalar(s)) => Ok(Val::Vector(finish(vector_scalar(
                op,
                v,
                s,
                false,
                return_bool,
            ))?)),
            (Val::Scalar(s), Val::Vector(v)) => Ok(Val::Vector(finish(vector_scalar(
                op,
                v,
                s,
                true,
                return_bool,
            ))?)),
            (Val::Vector(a), Val::Vector(b)) => {
                let out = if op.is_set() {
                    set_op(op, a, b, matching)
                } else {
                    vector_vector(op, a, b, matching, return_bool)?
                };
                Ok(Val::Vector(finish(out)?))
            }
        }
    }
}

/// Go's `math.Max`: NaN wins, unlike `f64::max`.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN wins, unlike `f64::min`.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// Applies `op` to two numbers: the arithmetic result, or for comparisons the left value
/// and whether the comparison holds.
fn elem_op(op: BinOp, a: f64, b: f64) -> (f64, bool) {
    match op {
        BinOp::Add => (a + b, true),
        BinOp::Sub => (a - b, true),
        BinOp::Mul => (a * b, true),
        BinOp::Div => (a / b, true),
        BinOp::Mod => (a % b, true),
        BinOp::Pow => (a.powf(b), true),
        BinOp::Atan2 => (a.atan2(b), true),
        BinOp::Eq => (a, a == b),
        BinOp::Ne => (a, a != b),
        BinOp::Gt => (a, a > b),
        BinOp::Lt => (a, a < b),
        BinOp::Ge => (a, a >= b),
        BinOp::Le => (a, a <= b),
        BinOp::And | BinOp::Or | BinOp::Unless => (f64::NAN, false),
    }
}

/// Vector with scalar. `swapped` means the scalar was on the left. Arithmetic and `bool`
/// comparisons drop the metric name; filtering comparisons keep the vector's value.
fn vector_scalar(op: BinOp, v: Vector, s: f64, swapped: bool, return_bool: bool) -> Vector {
    let mut out = Vec::with_capacity(v.len());
    for (labels, x) in v {
        let (a, b) = if swapped { (s, x) } else { (x, s) };
        let (mut value, keep) = elem_op(op, a, b);
        if op.is_comparison() {
            value = x;
        }
        if return_bool {
            value = f64::from(u8::from(keep));
        } else if !keep {
            continue;
        }
        let labels = if !op.is_comparison() || return_bool {
            labels.without_metric_name()
        } else {
            labels
        };
        out.push((labels, value));
    }
    out
}

/// The matching signature of a label set: the `on` labels, or all labels except the
/// `ignoring` ones and the metric name.
fn signature(l: &Labels, m: &Matching) -> Labels {
    if m.on {
        l.retain(|n| m.labels.iter().any(|x| x == n))
    } else {
        l.retain(|n| n != METRIC_NAME && !m.labels.iter().any(|x| x == n))
    }
}

fn vector_vector(
    op: BinOp,
    lhs: Vector,
    rhs: Vector,
    m: &Matching,
    return_bool: bool,
) -> Result<Vector, QueryError> {
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new());
    }
    let mut right: BTreeMap<Labels, (Labels, f64)> = BTreeMap::new();
    for (l, v) in rhs {
        let sig = signature(&l, m);
        if let Some((first, _)) = right.get(&sig) {
            return Err(QueryError::Eval(format!(
                "found duplicate series for the match group {sig} on the right hand-side of the operation: [{first}, {l}]; many-to-many matching not allowed: matching labels must be unique on one side"
            )));
        }
        right.insert(sig, (l, v));
    }
    let mut matched: BTreeMap<Labels, ()> = BTreeMap::new();
    let mut out = Vec::new();
    for (l, a) in lhs {
        let sig = signature(&l, m);
        let Some((_, b)) = right.get(&sig) else {
            continue;
        };
        let (mut value, keep) = elem_op(op, a, *b);
        if return_bool {
            value = f64::from(u8::from(keep));
        } else if !keep {
            continue;
        }
        if matched.insert(sig, ()).is_some() {
            return Err(QueryError::Eval(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
            ));
        }
        let mut labels = if m.on {
            l.retain(|n| m.labels.iter().any(|x| x == n))
        } else {
            l.retain(|n| !m.labels.iter().any(|x| x == n))
        };
        if !op.is_comparison() || return_bool {
            labels = labels.without_metric_name();
        }
        out.push((labels, value));
    }
    Ok(out)
}

fn set_op(op: BinOp, lhs: Vector, rhs: Vector, m: &Matching) -> Vector {
    let right: Vec<Labels> = {
        let mut s: Vec<Labels> = rhs.iter().map(|(l, _)| signature(l, m)).collect();
        s.sort();
        s
    };
    match op {
        BinOp::And => lhs
            .into_iter()
            .filter(|(l, _)| right.binary_search(&signature(l, m)).is_ok())
            .collect(),
        BinOp::Unless => lhs
            .into_iter()
            .filter(|(l, _)| right.binary_search(&signature(l, m)).is_err())
            .collect(),
        _ => {
            let mut left: Vec<Labels> = lhs.iter().map(|(l, _)| signature(l, m)).collect();
            left.sort();
            let mut out = lhs;
            out.extend(
                rhs.into_iter()
                    .filter(|(l, _)| left.binary_search(&signature(l, m)).is_err()),
            );
            out
        }
    }
}

/// Neumaier-compensated running sum.
#[derive(Clone, Copy, Default)]
struct Sum {
    sum: f64,
    c: f64,
}

impl Sum {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if t.is_infinite() {
            self.c = 0.0;
        } else if self.sum.abs() >= x.abs() {
            self.c += (self.sum - t) + x;
        } else {
            self.c += (x - t) + self.sum;
        }
        self.sum = t;
    }
    fn value(self) -> f64 {
        self.sum + self.c
    }
}

struct Group {
    sum: Sum,
    count: usize,
    min: f64,
    max: f64,
}

fn aggregate(op: AggOp, grouping: &Grouping, v: Vector) -> Vector {
    let mut groups: BTreeMap<Labels, Group> = BTreeMap::new();
    for (l, x) in v {
        let key = match grouping {
            Grouping::By(names) => l.retain(|n| names.iter().any(|x| x == n)),
            Grouping::Without(names) => {
                l.retain(|n| n != METRIC_NAME && !names.iter().any(|x| x == n))
            }
        };
        let g = groups.entry(key).or_insert(Group {
            sum: Sum::default(),
            count: 0,
            min: x,
            max: x,
        });
        g.sum.add(x);
        g.count += 1;
        if g.min > x || g.min.is_nan() {
            g.min = x;
        }
        if g.max < x || g.max.is_nan() {
            g.max = x;
        }
    }
    groups
        .into_iter()
        .map(|(k, g)| {
            let v = match op {
                AggOp::Sum => g.sum.value(),
                AggOp::Avg => g.sum.value() / g.count as f64,
                AggOp::Min => g.min,
                AggOp::Max => g.max,
                AggOp::Count => g.count as f64,
                AggOp::Group => 1.0,
            };
            (k, v)
        })
        .collect()
}

/// One range function over the samples of one series in `(lo, hi]`.
fn range_value(func: RangeFn, pts: &[(i64, f64)], lo: i64, hi: i64, range_ns: i64) -> Option<f64> {
    let last = pts.last()?;
    match func {
        RangeFn::Rate => extrapolated(pts, lo, hi, range_ns, true, true),
        RangeFn::Increase => extrapolated(pts, lo, hi, range_ns, true, false),
        RangeFn::Delta => extrapolated(pts, lo, hi, range_ns, false, false),
        RangeFn::Irate => instant_delta(pts, true),
        RangeFn::Idelta => instant_delta(pts, false),
        RangeFn::AvgOverTime => {
            let mut s = Sum::default();
            pts.iter().for_each(|p| s.add(p.1));
            Some(s.value() / pts.len() as f64)
        }
        RangeFn::SumOverTime => {
            let mut s = Sum::default();
            pts.iter().for_each(|p| s.add(p.1));
            Some(s.value())
        }
        RangeFn::MinOverTime => Some(
            pts.iter()
                .fold(pts[0].1, |m, p| if m > p.1 || m.is_nan() { p.1 } else { m }),
        ),
        RangeFn::MaxOverTime => Some(
            pts.iter()
                .fold(pts[0].1, |m, p| if m < p.1 || m.is_nan() { p.1 } else { m }),
        ),
        RangeFn::CountOverTime => Some(pts.len() as f64),
        RangeFn::LastOverTime => Some(last.1),
    }
}

/// `rate`, `increase` and `delta`: the change over the samples in the window, corrected
/// for counter resets and extrapolated towards the window edges, as Prometheus does.
///
/// Extrapolation goes all the way to an edge when the first (last) sample is within
/// 1.1 average sample intervals of it, otherwise half an average interval. For counters
/// the start is never extrapolated past the point where the counter would reach zero.
fn extrapolated(
    pts: &[(i64, f64)],
    lo: i64,
    hi: i64,
    range_ns: i64,
    counter: bool,
    per_second: bool,
) -> Option<f64> {
    if pts.len() < 2 {
        return None;
    }
    let (first_t, first_v) = pts[0];
    let (last_t, last_v) = pts[pts.len() - 1];
    let mut delta = last_v - first_v;
    if counter {
        for w in pts.windows(2) {
            if w[1].1 < w[0].1 {
                delta += w[0].1;
            }
        }
    }
    let sampled = secs(last_t - first_t);
    let avg_step = sampled / (pts.len() - 1) as f64;
    let threshold = avg_step * 1.1;
    let mut to_start = secs(first_t - lo);
    let mut to_end = secs(hi - last_t);
    if to_start >= threshold {
        to_start = avg_step / 2.0;
    }
    if counter {
        let to_zero = if delta > 0.0 && first_v >= 0.0 {
            sampled * (first_v / delta)
        } else {
            to_start
        };
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_step / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if per_second {
        factor /= secs(range_ns);
    }
    Some(delta * factor)
}

/// `irate` and `idelta`: from the last two samples only.
fn instant_delta(pts: &[(i64, f64)], rate: bool) -> Option<f64> {
    let n = pts.len();
    if n < 2 {
        return None;
    }
    let (t0, v0) = pts[n - 2];
    let (t1, v1) = pts[n - 1];
    let mut d = if rate && v1 < v0 { v1 } else { v1 - v0 };
    if t1 == t0 {
        return None;
    }
    if rate {
        d /= secs(t1 - t0);
    }
    Some(d)
}

/// Classic-bucket `histogram_quantile`: series are grouped by their labels without `le`
/// and the metric name; series without a parseable `le` are ignored.
fn histogram_quantile(q: f64, v: Vector) -> Vector {
    let mut groups: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
    for (l, count) in v {
        let Some(le) = l.get("le").and_then(|s| s.trim().parse::<f64>().ok()) else {
            continue;
        };
        let key = l.retain(|n| n != "le" && n != METRIC_NAME);
        groups.entry(key).or_default().push((le, count));
    }
    groups
        .into_iter()
        .map(|(k, b)| (k, bucket_quantile(q, b)))
        .collect()
}

/// The quantile `q` of cumulative buckets `(upper_bound, count)`, interpolating linearly
/// inside the bucket that holds the rank. The lowest bucket starts at 0 when its bound is
/// positive; a rank in the `+Inf` bucket gives the highest finite bound. Returns NaN
/// without a `+Inf` bucket, with fewer than two buckets, or with no observations.
pub(crate) fn bucket_quantile(q: f64, mut b: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    if b.last().is_none_or(|l| l.0 != f64::INFINITY) {
        return f64::NAN;
    }
    // Merge buckets with the same bound.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(b.len());
    for (ub, c) in b {
        match merged.last_mut() {
            Some(last) if last.0 == ub => last.1 += c,
            _ => merged.push((ub, c)),
        }
    }
    // Counts must not decrease with the bound: tiny float differences are smoothed over
    // and real decreases are raised to the running maximum.
    let mut prev = merged[0].1;
    for bucket in merged.iter_mut().skip(1) {
        let cur = bucket.1;
        if cur == prev {
            continue;
        }
        if (cur - prev).abs() <= 1e-12 * cur.abs().max(prev.abs()) || cur < prev {
            bucket.1 = prev;
            continue;
        }
        prev = cur;
    }
    if merged.len() < 2 {
        return f64::NAN;
    }
    let total = merged[merged.len() - 1].1;
    if total == 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let idx = merged[..merged.len() - 1].partition_point(|x| x.1 < rank);
    if idx == merged.len() - 1 {
        return merged[merged.len() - 2].0;
    }
    if idx == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let (mut start, end, mut count, mut rank) = (0.0, merged[idx].0, merged[idx].1, rank);
    if idx > 0 {
        start = merged[idx - 1].0;
        count -= merged[idx - 1].1;
        rank -= merged[idx - 1].1;
    }
    start + (end - start) * (rank / count)
}
