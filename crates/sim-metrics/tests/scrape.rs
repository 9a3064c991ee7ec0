//! The public path the engine uses: expose, scrape at per-target phases, query, fail, delete.

use sim_des::{SimDuration, SimTime};
use sim_metrics::{
    Exposition, Labels, QueryOpts, Store, Value, parse, query, query_scalar_for_keda, scrape_offset,
};

fn target(pod: &str) -> Labels {
    Labels::new([("job", "vllm"), ("namespace", "ai-inference"), ("pod", pod)])
}

fn vector(v: Value) -> Vec<(Labels, f64)> {
    match v {
        Value::Vector(v) => v,
        Value::Scalar(s) => panic!("expected a vector, got scalar {s}"),
    }
}

/// Each pod serves `rate_per_s` tokens per second and has `waiting` queued requests.
/// Pods are scraped every 15 s at their own phase; the queries must see exactly the
/// exposed queue lengths and, for a steady counter, exactly the token rate.
#[test]
fn scraped_pods_answer_autoscaler_queries() {
    let interval = SimDuration::from_secs(15);
    let pods = [
        ("vllm-0", 20.0, 3.0),
        ("vllm-1", 5.0, 4.0),
        ("vllm-2", 12.5, 0.0),
    ];
    let mut store = Store::new(SimDuration::from_secs(3600));
    let offsets: Vec<SimDuration> = pods
        .iter()
        .map(|(p, _, _)| scrape_offset(&target(p).to_string(), interval, 7))
        .collect();
    // All scrapes of all pods, in time order, for ten minutes.
    let mut scrapes: Vec<(SimTime, usize)> = Vec::new();
    for (i, off) in offsets.iter().enumerate() {
        let mut t = SimTime::ZERO + *off;
        while t < SimTime::from_secs(600) {
            scrapes.push((t, i));
            t += interval;
        }
    }
    scrapes.sort();
    for (t, i) in scrapes {
        let (pod, rate, waiting) = pods[i];
        let mut ex = Exposition::new();
        ex.counter(
            "vllm:generation_tokens_total",
            &[("model_name", "m")],
            rate * t.as_secs_f64(),
        )
        .gauge("vllm:num_requests_waiting", &[("model_name", "m")], waiting);
        store.ingest_scrape(t, &target(pod), ex.samples()).unwrap();
    }
    let opts = QueryOpts::default();
    let at = SimTime::from_secs(600);

    let q = parse(r#"sum(vllm:num_requests_waiting{namespace="ai-inference"})"#).unwrap();
    let want_waiting: f64 = pods.iter().map(|p| p.2).sum();
    let got = query_scalar_for_keda(&query(&store, &q, at, &opts).unwrap(), false).unwrap();
    assert_eq!(got, want_waiting);

    let q = parse("sum by (pod) (rate(vllm:generation_tokens_total[1m]))").unwrap();
    let got = vector(query(&store, &q, at, &opts).unwrap());
    assert_eq!(got.len(), pods.len());
    for ((labels, v), (pod, rate, _)) in got.iter().zip(pods.iter()) {
        assert_eq!(labels.get("pod"), Some(*pod));
        assert!((v - rate).abs() < 1e-9 * rate, "{pod}: {v} vs {rate}");
    }

    let up = parse("sum(up)").unwrap();
    let got = vector(query(&store, &up, at, &opts).unwrap());
    assert_eq!(got[0].1, pods.len() as f64);

    // vllm-1's next scrape fails: its series vanish at once and up drops to 0.
    let t_fail = SimTime::from_secs(600) + offsets[1];
    store.scrape_failed(t_fail, &target("vllm-1")).unwrap();
    let q = parse(r#"vllm:num_requests_waiting{pod="vllm-1"}"#).unwrap();
    assert!(vector(query(&store, &q, t_fail, &opts).unwrap()).is_empty());
    let q = parse(r#"up{pod="vllm-1"}"#).unwrap();
    assert_eq!(vector(query(&store, &q, t_fail, &opts).unwrap())[0].1, 0.0);

    // vllm-0 is deleted: even its up series goes stale.
    let t_del = t_fail + SimDuration::from_secs(1);
    store.mark_target_stale(t_del, &target("vllm-0")).unwrap();
    let got = vector(query(&store, &parse("up").unwrap(), t_del, &opts).unwrap());
    let pods_with_up: Vec<&str> = got.iter().filter_map(|(l, _)| l.get("pod")).collect();
    assert_eq!(pods_with_up, vec!["vllm-1", "vllm-2"]);
}

#[test]
fn unsupported_queries_fail_at_parse_time() {
    let e = parse("sum(rate(x[5m:30s]))").unwrap_err();
    assert!(e.to_string().contains("subquery"), "{e}");
    let e = parse("sum(x").unwrap_err();
    assert!(e.to_string().starts_with("parse error"), "{e}");
}
