//! Integration tests: trace fixtures (driven by `check`), real traces when present,
//! streaming, transforms and synthetic workloads.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sim_des::{RngStreams, SimTime};
use sim_workload::{
    LengthDist, RateProfile, Request, RequestStream, SyntheticSpec, TraceError, TraceFormat,
    Transform, azure_conv_like, empirical_lengths, fit_trace, percentile, quantile_table,
    read_trace, synthetic, transform, write_generic_csv,
};
use sim_workload::{MAX_TRACE_LINE_BYTES, scan_trace};

fn test_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test_data")
}

fn render(r: &Request) -> String {
    let ns = r.arrival.as_nanos();
    format!(
        "{} {}.{:09} {} {}",
        r.id,
        ns / 1_000_000_000,
        ns % 1_000_000_000,
        r.prompt_tokens,
        r.output_tokens
    )
}

fn parse_transform(directive: &str) -> Transform {
    let mut t = Transform::default();
    for kv in directive.split_whitespace() {
        let (k, v) = kv.split_once('=').expect("key=value");
        let v: f64 = v.parse().expect("a number");
        match k {
            "window_start_s" => t.window_start_s = v,
            "window_duration_s" => t.window_duration_s = Some(v),
            "offset_s" => t.offset_s = v,
            "rate_scale" => t.rate_scale = v,
            _ => panic!("unknown transform key {k}"),
        }
    }
    t
}

/// Runs one fixture: reads `NAME.<format>` (with the transform named on the first line of
/// `NAME.expected`, if any) and compares every request and the final error with the
/// expected file, line by line.
fn check(input: &Path) {
    let file_name = input.file_name().unwrap().to_str().unwrap();
    let (name, ext) = file_name.split_once('.').unwrap();
    let format = match ext {
        "azure.csv" => TraceFormat::AzureCsv,
        "mooncake.jsonl" => TraceFormat::MooncakeJsonl,
        "generic.csv" => TraceFormat::GenericCsv,
        _ => panic!("{file_name}: unknown fixture extension"),
    };
    let expected_path = input.with_file_name(format!("{name}.expected"));
    let expected_text = std::fs::read_to_string(&expected_path).expect("an .expected file");
    let mut expected: Vec<&str> = expected_text.lines().collect();
    let mut stream = read_trace(format, BufReader::new(std::fs::File::open(input).unwrap()));
    if let Some(directive) = expected
        .first()
        .and_then(|l| l.strip_prefix("# transform "))
    {
        stream = transform(stream, &parse_transform(directive));
        expected.remove(0);
    }
    let mut got = Vec::new();
    for item in stream {
        match item {
            Ok(r) => got.push(render(&r)),
            Err(e) => {
                // The accessors the CLI uses agree with the message.
                if let (Some(l), Some(c)) = (e.line(), e.column()) {
                    assert!(
                        e.to_string()
                            .starts_with(&format!("line {l}, column {c}: ")),
                        "{e}"
                    );
                }
                got.push(format!("error: {e}"));
            }
        }
    }
    assert_eq!(got, expected, "fixture {file_name}");
}

#[test]
fn trace_fixtures() {
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(test_data().join("cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e != "expected"))
        .collect();
    inputs.sort();
    assert!(
        inputs.len() >= 40,
        "fixtures went missing: {}",
        inputs.len()
    );
    for input in &inputs {
        check(input);
    }
}

#[test]
fn repo_sample_traces_read_cleanly() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../traces");
    for (file, format) in [
        ("sample-azure.csv", TraceFormat::AzureCsv),
        ("sample-mooncake.jsonl", TraceFormat::MooncakeJsonl),
        ("sample-generic.csv", TraceFormat::GenericCsv),
    ] {
        let reader = BufReader::new(std::fs::File::open(root.join(file)).unwrap());
        let requests: Vec<Request> = read_trace(format, reader)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(requests.len(), 50, "{file}");
    }
}

fn shared_trace(name: &str) -> PathBuf {
    sim_testkit::shared_path(env!("CARGO_MANIFEST_DIR"), &format!("traces/{name}"))
}

#[test]
#[cfg_attr(no_shared, ignore = "needs ../shared/traces")]
fn real_azure_traces_have_the_published_counts_and_spans() {
    for (name, rows, span_ds) in [
        ("AzureLLMInferenceTrace_conv.csv", 19_366, 35_017),
        ("AzureLLMInferenceTrace_code.csv", 8_819, 34_359),
    ] {
        let path = shared_trace(name);
        let reader = BufReader::new(std::fs::File::open(path).unwrap());
        let mut count = 0u64;
        let mut last = SimTime::ZERO;
        for r in read_trace(TraceFormat::AzureCsv, reader) {
            let r = r.unwrap();
            assert_eq!(r.id, count);
            assert!(r.arrival >= last);
            last = r.arrival;
            count += 1;
        }
        assert_eq!(count, rows, "{name}");
        assert_eq!(
            (last.as_secs_f64() * 10.0).round() as u64,
            span_ds,
            "{name}"
        );
    }
}

#[test]
#[cfg_attr(no_shared, ignore = "needs ../shared/traces")]
fn fitting_the_real_conv_trace_reproduces_the_readme() {
    let path = shared_trace("AzureLLMInferenceTrace_conv.csv");
    let fit = fit_trace(
        read_trace(
            TraceFormat::AzureCsv,
            BufReader::new(std::fs::File::open(path).unwrap()),
        ),
        60.0,
    )
    .unwrap();
    let stats = readme_stats();
    assert_eq!(fit.requests, 19_366);
    assert_eq!(fit.counts_per_step.len(), 58);
    assert_eq!(fit.counts_per_step[31], 507, "the README's peak minute");
    assert!((fit.requests as f64 / fit.span_s - stats("mean_rate_rps")).abs() < 0.005);
    assert_eq!(fit.prompt_p50_tokens, stats("prompt_p50_tokens"));
    assert_eq!(fit.prompt_p99_tokens, stats("prompt_p99_tokens"));
    assert_eq!(fit.output_p50_tokens, stats("output_p50_tokens"));
    assert_eq!(fit.output_p99_tokens, stats("output_p99_tokens"));
    assert_eq!(fit.prompt_quantiles_tokens[900], stats("prompt_p90_tokens"));
    assert_eq!(fit.output_quantiles_tokens[900], stats("output_p90_tokens"));
}

/// A reader that hands out one byte per `fill_buf`, so every line arrives in pieces.
fn one_byte_at_a_time(data: &[u8]) -> impl BufRead + '_ {
    BufReader::with_capacity(1, data)
}

#[test]
fn readers_work_on_a_trickling_reader() {
    for input in std::fs::read_dir(test_data().join("cases")).unwrap() {
        let path = input.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let format = if name.ends_with(".azure.csv") {
            TraceFormat::AzureCsv
        } else if name.ends_with(".mooncake.jsonl") {
            TraceFormat::MooncakeJsonl
        } else if name.ends_with(".generic.csv") {
            TraceFormat::GenericCsv
        } else {
            continue;
        };
        let data = std::fs::read(&path).unwrap();
        let whole: Vec<String> = read_trace(format, &data[..])
            .map(|r| format!("{r:?}"))
            .collect();
        let trickled: Vec<String> = read_trace(format, one_byte_at_a_time(&data))
            .map(|r| format!("{r:?}"))
            .collect();
        assert_eq!(whole, trickled, "{name}");
    }
}

/// An endless generic CSV: a header, then one request every 0.25 s for ever.
struct Endless {
    line: Vec<u8>,
    pos: usize,
    n: u64,
}

impl Endless {
    fn new() -> Endless {
        Endless {
            line: b"arrival_s,prompt_tokens,output_tokens\n".to_vec(),
            pos: 0,
            n: 0,
        }
    }
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let avail = self.fill_buf()?;
        let k = avail.len().min(buf.len());
        buf[..k].copy_from_slice(&avail[..k]);
        self.consume(k);
        Ok(k)
    }
}

impl BufRead for Endless {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos == self.line.len() {
            self.line = format!(
                "{},{},{}\n",
                self.n as f64 * 0.25,
                1 + self.n % 7,
                1 + self.n % 5
            )
            .into_bytes();
            self.pos = 0;
            self.n += 1;
        }
        Ok(&self.line[self.pos..])
    }
    fn consume(&mut self, amt: usize) {
        self.pos += amt;
    }
}

#[test]
fn streams_are_lazy_on_an_endless_trace() {
    let first: Vec<Request> = read_trace(TraceFormat::GenericCsv, Endless::new())
        .take(100_000)
        .map(Result::unwrap)
        .collect();
    assert_eq!(first.len(), 100_000);
    assert_eq!(
        first[99_999].arrival,
        SimTime::from_secs_f64(99_999.0 * 0.25)
    );
    // A closed window ends the stream even though the trace never ends.
    let t = Transform {
        window_start_s: 10.0,
        window_duration_s: Some(5.0),
        offset_s: 0.0,
        rate_scale: 1.5,
    };
    let windowed: Vec<Request> = transform(read_trace(TraceFormat::GenericCsv, Endless::new()), &t)
        .map(Result::unwrap)
        .collect();
    assert_eq!(windowed.len(), 30, "20 requests in [10, 15) scaled by 1.5");
}

#[test]
fn a_line_without_end_stops_at_the_line_limit() {
    // Like `path = "/dev/zero"`: no newline ever comes.
    for format in TraceFormat::ALL {
        let mut stream = read_trace(format, BufReader::new(std::io::repeat(0)));
        let err = stream.next().unwrap().unwrap_err();
        assert_eq!(err.line(), Some(1), "{format:?}");
        assert_eq!(
            err.column(),
            Some(MAX_TRACE_LINE_BYTES as u64 + 1),
            "{format:?}"
        );
        assert!(err.to_string().contains("longer than"), "{err}");
        assert!(stream.next().is_none());
    }
    // A second line too long is placed on its line; a line at the limit is read.
    let mut text = b"arrival_s,prompt_tokens,output_tokens\n1,1,1".to_vec();
    text.resize(MAX_TRACE_LINE_BYTES + 38, b' ');
    text.extend_from_slice(b"\n2,2,2");
    text.resize(text.len() + MAX_TRACE_LINE_BYTES, b' ');
    let got: Vec<_> = read_trace(TraceFormat::GenericCsv, &text[..]).collect();
    assert!(got[0].is_ok(), "{:?}", got[0]);
    assert_eq!(got[1].as_ref().unwrap_err().line(), Some(3));
}

#[test]
fn a_scan_checks_every_line_and_the_horizon_before_a_run() {
    let limit = SimTime::from_secs(2_592_000);
    let text = "arrival_s,prompt_tokens,output_tokens\n1,1,1\n2500000,1,1\n3,1,1\n";
    let t = Transform::default();
    // The backwards line after a far one is found without replaying up to it.
    let err = scan_trace(TraceFormat::GenericCsv, text.as_bytes(), &t, None, limit).unwrap_err();
    assert_eq!((err.line(), err.column()), (Some(4), Some(1)));
    // With a horizon the scan stops where a run stops reading.
    let scan = scan_trace(
        TraceFormat::GenericCsv,
        text.as_bytes(),
        &t,
        Some(SimTime::from_secs(10)),
        limit,
    )
    .unwrap();
    assert_eq!(scan.requests, 1);
    // An offset that pushes an arrival past the limit is placed on its line.
    let far = Transform {
        offset_s: 2_591_999.5,
        ..Transform::default()
    };
    let err = scan_trace(
        TraceFormat::GenericCsv,
        &b"arrival_s,prompt_tokens,output_tokens\n0.25,1,1\n1,1,1\n"[..],
        &far,
        None,
        limit,
    )
    .unwrap_err();
    assert_eq!((err.line(), err.column()), (Some(3), Some(1)));
    // Rate-scaled copies of the last request spread over the gap before it.
    let spread = Transform {
        offset_s: 2_000_000.0,
        rate_scale: 4.0,
        ..Transform::default()
    };
    let text = "arrival_s,prompt_tokens,output_tokens\n0,1,1\n500000,1,1\n";
    let err = scan_trace(
        TraceFormat::GenericCsv,
        text.as_bytes(),
        &spread,
        None,
        limit,
    )
    .unwrap_err();
    assert!(err.to_string().contains("copies of this request"), "{err}");
    assert_eq!(err.line(), Some(3));
}

fn generic_stream(arrivals_s: &[f64]) -> RequestStream<'static> {
    let mut text = String::from("arrival_s,prompt_tokens,output_tokens\n");
    for (i, a) in arrivals_s.iter().enumerate() {
        text.push_str(&format!("{a},{},{}\n", 10 + i, 1 + i));
    }
    read_trace(
        TraceFormat::GenericCsv,
        std::io::Cursor::new(text.into_bytes()),
    )
}

fn collect(stream: RequestStream<'_>) -> Vec<Request> {
    stream.collect::<Result<Vec<_>, _>>().unwrap()
}

fn assert_well_formed(requests: &[Request]) {
    for (i, r) in requests.iter().enumerate() {
        assert_eq!(r.id, i as u64);
        if i > 0 {
            assert!(requests[i - 1].arrival <= r.arrival, "order broken at {i}");
        }
    }
}

#[test]
fn rate_scaling_counts_and_order() {
    // 1000 requests with irregular gaps.
    let arrivals: Vec<f64> = (0..1000)
        .map(|i| f64::from(i) * 0.5 + f64::from(i % 3) * 0.1)
        .collect();
    for (k, want) in [
        (1.0, 1000),
        (2.0, 2000),
        (0.5, 500),
        (1.5, 1500),
        (0.3, 300),
        (3.25, 3250),
        (0.001, 1),
    ] {
        let t = Transform {
            rate_scale: k,
            ..Transform::default()
        };
        let out = collect(transform(generic_stream(&arrivals), &t));
        assert_eq!(out.len(), want, "k = {k}");
        assert_well_formed(&out);
        // Copies stay between their original and the next one: the time span does not change.
        assert!(
            out.last().unwrap().arrival.as_secs_f64() <= 499.7 + 0.5 + 1e-9,
            "k = {k}"
        );
        if k >= 1.0 {
            assert_eq!(out[0].arrival, SimTime::ZERO, "k = {k}");
        }
        let tokens: u64 = out.iter().map(|r| u64::from(r.prompt_tokens)).sum();
        if k == 2.0 {
            let original: u64 = (0..1000u64).map(|i| 10 + i).sum();
            assert_eq!(tokens, 2 * original, "copies keep their token counts");
        }
    }
}

#[test]
fn window_then_offset_then_scale() {
    let arrivals: Vec<f64> = (0..100).map(f64::from).collect();
    let t = Transform {
        window_start_s: 20.0,
        window_duration_s: Some(10.0),
        offset_s: 100.0,
        rate_scale: 2.0,
    };
    let out = collect(transform(generic_stream(&arrivals), &t));
    assert_eq!(out.len(), 20);
    assert_eq!(out[0].arrival, SimTime::from_secs(100));
    assert_eq!(
        out[0].prompt_tokens, 30,
        "the first request kept is the one at 20 s"
    );
    assert_eq!(out[19].arrival, SimTime::from_secs_f64(109.5));
    assert_well_formed(&out);
}

#[test]
fn invalid_transforms_are_rejected() {
    let base = Transform::default();
    let cases = [
        (
            Transform {
                window_start_s: -1.0,
                ..base.clone()
            },
            "window_start_s",
        ),
        (
            Transform {
                window_duration_s: Some(0.0),
                ..base.clone()
            },
            "window_duration_s",
        ),
        (
            Transform {
                offset_s: f64::NAN,
                ..base.clone()
            },
            "offset_s",
        ),
        (
            Transform {
                rate_scale: -2.0,
                ..base.clone()
            },
            "rate_scale",
        ),
        (
            Transform {
                rate_scale: 1e7,
                ..base.clone()
            },
            "rate_scale",
        ),
    ];
    for (t, field) in cases {
        let msg = t.validate().unwrap_err();
        assert!(msg.starts_with(field), "{msg}");
        let mut s = transform(generic_stream(&[1.0]), &t);
        assert!(matches!(s.next(), Some(Err(TraceError::Invalid(_)))));
        assert!(s.next().is_none());
    }
    assert_eq!(base.validate(), Ok(()));
}

#[test]
fn generic_csv_round_trips() {
    let spec = spec_constant(20.0, 1.0, 300.0);
    let original = collect(synthetic(&spec, &RngStreams::new(3)));
    let mut bytes = Vec::new();
    let n = write_generic_csv(original.iter().copied().map(Ok), &mut bytes).unwrap();
    assert_eq!(n, original.len() as u64);
    let back = collect(read_trace(TraceFormat::GenericCsv, &bytes[..]));
    assert_eq!(back, original);
}

fn lengths() -> LengthDist {
    LengthDist::Uniform {
        min_tokens: 1,
        max_tokens: 10,
    }
}

fn spec_constant(rate_rps: f64, cv: f64, duration_s: f64) -> SyntheticSpec {
    SyntheticSpec {
        duration_s,
        rate: RateProfile::Constant { rate_rps },
        arrival_cv: cv,
        prompt_tokens: lengths(),
        output_tokens: lengths(),
    }
}

#[test]
fn synthetic_is_deterministic_and_uses_separate_streams() {
    let spec = azure_conv_like(600.0);
    let a = collect(synthetic(&spec, &RngStreams::new(11)));
    let b = collect(synthetic(&spec, &RngStreams::new(11)));
    let c = collect(synthetic(&spec, &RngStreams::new(12)));
    assert_eq!(a, b);
    assert_ne!(a, c);
    // Changing the output distribution leaves arrivals and prompts untouched.
    let other = SyntheticSpec {
        output_tokens: LengthDist::Fixed { tokens: 77 },
        ..spec.clone()
    };
    let d = collect(synthetic(&other, &RngStreams::new(11)));
    assert_eq!(a.len(), d.len());
    for (x, y) in a.iter().zip(&d) {
        assert_eq!((x.arrival, x.prompt_tokens), (y.arrival, y.prompt_tokens));
        assert_eq!(y.output_tokens, 77);
    }
    // Changing the gap CV leaves the lengths' sequences untouched.
    let bursty = SyntheticSpec {
        arrival_cv: 2.0,
        ..spec
    };
    let e = collect(synthetic(&bursty, &RngStreams::new(11)));
    let n = a.len().min(e.len());
    assert!(
        a[..n]
            .iter()
            .zip(&e[..n])
            .all(|(x, y)| x.prompt_tokens == y.prompt_tokens)
    );
    assert_ne!(
        a[..n].iter().map(|r| r.arrival).collect::<Vec<_>>(),
        e[..n].iter().map(|r| r.arrival).collect::<Vec<_>>()
    );
}

#[test]
fn synthetic_rates_follow_each_profile() {
    let profiles = [
        ("constant", RateProfile::Constant { rate_rps: 50.0 }, 2000.0),
        (
            "diurnal",
            RateProfile::Diurnal {
                base_rps: 40.0,
                amplitude_rps: 30.0,
                period_s: 600.0,
                phase_s: 100.0,
            },
            3000.0,
        ),
        (
            "step",
            RateProfile::Step {
                before_rps: 10.0,
                after_rps: 80.0,
                at_s: 1000.0,
            },
            2000.0,
        ),
        (
            "spike",
            RateProfile::Spike {
                base_rps: 20.0,
                spike_rps: 200.0,
                start_s: 500.0,
                duration_s: 100.0,
            },
            1500.0,
        ),
        (
            "piecewise",
            RateProfile::Piecewise {
                step_s: 60.0,
                rates_rps: vec![20.0, 0.0, 160.0, 40.0],
            },
            1200.0,
        ),
    ];
    for cv in [1.0, 0.5, 2.0] {
        for (name, rate, duration_s) in &profiles {
            let spec = SyntheticSpec {
                rate: rate.clone(),
                arrival_cv: cv,
                ..spec_constant(1.0, cv, *duration_s)
            };
            let out = collect(synthetic(&spec, &RngStreams::new(7)));
            assert_well_formed(&out);
            assert!(out.last().unwrap().arrival.as_secs_f64() < *duration_s);
            let total = rate.expected_requests(0.0, *duration_s);
            // A renewal process's count has variance about cv² times its mean.
            let off = (out.len() as f64 - total).abs();
            assert!(
                off <= 5.0 * cv.max(1.0) * total.sqrt() && off < 0.05 * total,
                "{name} cv {cv}: {} arrivals, expected {total:.0}",
                out.len()
            );
            // Counts in 30 s windows match the profile within 5 standard deviations.
            let windows = (*duration_s / 30.0).ceil() as usize;
            let mut counts = vec![0f64; windows];
            for r in &out {
                counts[(r.arrival.as_secs_f64() / 30.0) as usize] += 1.0;
            }
            for (w, got) in counts.iter().enumerate() {
                let end_s = ((w + 1) as f64 * 30.0).min(*duration_s);
                let want = rate.expected_requests(w as f64 * 30.0, end_s);
                if want == 0.0 {
                    assert_eq!(*got, 0.0, "{name}: arrivals where the rate is zero");
                }
                let tol = 5.0 * cv.max(1.0) * want.sqrt() + 3.0;
                assert!(
                    (got - want).abs() <= tol,
                    "{name} cv {cv} window {w}: {got} vs {want:.1}"
                );
            }
        }
    }
}

#[test]
fn expected_requests_integrate_the_rate() {
    let profiles = [
        RateProfile::Diurnal {
            base_rps: 4.0,
            amplitude_rps: 3.0,
            period_s: 86_400.0,
            phase_s: 50_000.0,
        },
        RateProfile::Step {
            before_rps: 0.0,
            after_rps: 2.0,
            at_s: 30.0,
        },
        RateProfile::Spike {
            base_rps: 1.0,
            spike_rps: 9.0,
            start_s: 0.0,
            duration_s: 45.5,
        },
        RateProfile::Piecewise {
            step_s: 7.0,
            rates_rps: vec![1.0, 3.0, 0.0],
        },
    ];
    for p in &profiles {
        for (a, b) in [(0.0, 100.0), (13.3, 250.0), (40_000.0, 140_000.0)] {
            let n = 200_000;
            let h = (b - a) / f64::from(n);
            let midpoint: f64 = (0..n)
                .map(|i| p.rate_rps(a + (f64::from(i) + 0.5) * h) * h)
                .sum();
            let closed = p.expected_requests(a, b);
            assert!(
                (midpoint - closed).abs() <= 1e-3 * closed.max(1.0),
                "{p:?} [{a}, {b}): {midpoint} vs {closed}"
            );
        }
    }
}

fn gap_cv(out: &[Request]) -> f64 {
    let gaps: Vec<f64> = out
        .windows(2)
        .map(|w| (w[1].arrival.as_nanos() - w[0].arrival.as_nanos()) as f64)
        .collect();
    let n = gaps.len() as f64;
    let mean = gaps.iter().sum::<f64>() / n;
    let var = gaps.iter().map(|g| (g - mean) * (g - mean)).sum::<f64>() / n;
    var.sqrt() / mean
}

#[test]
fn gap_cv_matches_the_request() {
    for cv in [0.25, 0.5, 1.0, 2.0] {
        let out = collect(synthetic(
            &spec_constant(100.0, cv, 1000.0),
            &RngStreams::new(5),
        ));
        let got = gap_cv(&out);
        assert!((got - cv).abs() <= 0.04 * cv, "cv {cv}: measured {got}");
    }
}

fn sorted_lengths(out: &[Request], prompt: bool) -> Vec<f64> {
    let mut v: Vec<f64> = out
        .iter()
        .map(|r| {
            f64::from(if prompt {
                r.prompt_tokens
            } else {
                r.output_tokens
            })
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

#[test]
fn length_distributions_hit_their_targets() {
    let lognormal = LengthDist::LogNormal {
        p50_tokens: 500.0,
        p99_tokens: 4000.0,
        min_tokens: 1,
        max_tokens: 1_000_000,
    };
    let from_mean = LengthDist::lognormal_from_mean_p50(300.0, 200.0, 1, 1_000_000).unwrap();
    let spec = SyntheticSpec {
        prompt_tokens: lognormal,
        output_tokens: from_mean,
        ..spec_constant(100.0, 1.0, 600.0)
    };
    let out = collect(synthetic(&spec, &RngStreams::new(9)));
    assert!(out.len() > 50_000);
    let p = sorted_lengths(&out, true);
    assert!(
        (percentile(&p, 0.5) / 500.0 - 1.0).abs() < 0.02,
        "p50 {}",
        percentile(&p, 0.5)
    );
    assert!(
        (percentile(&p, 0.99) / 4000.0 - 1.0).abs() < 0.04,
        "p99 {}",
        percentile(&p, 0.99)
    );
    let o = sorted_lengths(&out, false);
    let mean = o.iter().sum::<f64>() / o.len() as f64;
    assert!((mean / 300.0 - 1.0).abs() < 0.02, "mean {mean}");
    assert!((percentile(&o, 0.5) / 200.0 - 1.0).abs() < 0.02);

    // Clamps, uniform bounds, fixed values and empirical samples.
    let samples: Arc<[u32]> = Arc::from(vec![3u32, 5, 5, 900]);
    let spec = SyntheticSpec {
        prompt_tokens: LengthDist::LogNormal {
            p50_tokens: 100.0,
            p99_tokens: 1000.0,
            min_tokens: 50,
            max_tokens: 200,
        },
        output_tokens: LengthDist::Empirical { samples },
        ..spec_constant(100.0, 1.0, 200.0)
    };
    let out = collect(synthetic(&spec, &RngStreams::new(1)));
    assert!(out.iter().all(|r| (50..=200).contains(&r.prompt_tokens)));
    assert!(
        out.iter().any(|r| r.prompt_tokens == 50) && out.iter().any(|r| r.prompt_tokens == 200)
    );
    let fives = out.iter().filter(|r| r.output_tokens == 5).count() as f64 / out.len() as f64;
    assert!((fives - 0.5).abs() < 0.02, "share of 5s {fives}");
    assert!(out.iter().all(|r| [3, 5, 900].contains(&r.output_tokens)));
    let spec = SyntheticSpec {
        prompt_tokens: LengthDist::Uniform {
            min_tokens: 7,
            max_tokens: 9,
        },
        output_tokens: LengthDist::Fixed { tokens: 4 },
        ..spec_constant(100.0, 1.0, 100.0)
    };
    let out = collect(synthetic(&spec, &RngStreams::new(1)));
    for v in 7..=9 {
        assert!(out.iter().any(|r| r.prompt_tokens == v));
    }
    assert!(
        out.iter()
            .all(|r| (7..=9).contains(&r.prompt_tokens) && r.output_tokens == 4)
    );
}

#[test]
fn empirical_lengths_from_a_trace() {
    let data = std::fs::read(test_data().join("cases/mooncake_good.mooncake.jsonl")).unwrap();
    let (prompts, outputs) =
        empirical_lengths(read_trace(TraceFormat::MooncakeJsonl, &data[..])).unwrap();
    assert_eq!(prompts, vec![6955, 6472, 10]);
    assert_eq!(outputs, vec![52, 26, 3]);
    assert!(matches!(
        empirical_lengths(read_trace(TraceFormat::MooncakeJsonl, &b"\n"[..])),
        Err(TraceError::Empty)
    ));
    let bad = std::fs::read(test_data().join("cases/azure_bad_int.azure.csv")).unwrap();
    let err = empirical_lengths(read_trace(TraceFormat::AzureCsv, &bad[..])).unwrap_err();
    assert_eq!((err.line(), err.column()), (Some(3), Some(29)));
}

#[test]
fn invalid_specs_are_rejected_with_the_field_named() {
    let ok = spec_constant(1.0, 1.0, 10.0);
    let lognormal = |p50: f64, p99: f64, min: u32, max: u32| LengthDist::LogNormal {
        p50_tokens: p50,
        p99_tokens: p99,
        min_tokens: min,
        max_tokens: max,
    };
    let quantiles = |points: &[f64]| LengthDist::Quantiles {
        points: Arc::from(points),
    };
    let cases: Vec<(SyntheticSpec, &str)> = vec![
        (
            SyntheticSpec {
                duration_s: 0.0,
                ..ok.clone()
            },
            "duration_s must be a positive number",
        ),
        (
            SyntheticSpec {
                arrival_cv: 0.0,
                ..ok.clone()
            },
            "arrival_cv must be a positive number",
        ),
        (
            SyntheticSpec {
                arrival_cv: -1.0,
                ..ok.clone()
            },
            "arrival_cv must be a positive number",
        ),
        (
            SyntheticSpec {
                rate: RateProfile::Constant { rate_rps: 0.0 },
                ..ok.clone()
            },
            "rate: rate_rps",
        ),
        (
            SyntheticSpec {
                rate: RateProfile::Constant {
                    rate_rps: f64::INFINITY,
                },
                ..ok.clone()
            },
            "rate: rate_rps",
        ),
        (
            SyntheticSpec {
                rate: RateProfile::Diurnal {
                    base_rps: 1.0,
                    amplitude_rps: 2.0,
                    period_s: 10.0,
                    phase_s: 0.0,
                },
                ..ok.clone()
            },
            "rate: amplitude_rps (2) must not exceed base_rps (1)",
        ),
        (
            SyntheticSpec {
                rate: RateProfile::Diurnal {
                    base_rps: 1.0,
                    amplitude_rps: 0.5,
                    period_s: 0.0,
                    phase_s: 0.0,
                },
                ..ok.clone()
            },
            "rate: period_s",
        ),
        (
            SyntheticSpec {
                rate: RateProfile::Step {
                    before_rps: -1.0,
                    after_rps: 2.0,
                    at_s: 1.0,
                },
                ..ok.clone()
            },
            "rate: before_rps must be a non-negative number",
        ),
        (
            SyntheticSpec {
                rate: RateProfile::Step {
                    before_rps: 0.0,
                    after_rps: 0.0,
                    at_s: 1.0,
                },
                ..ok.clone()
            },
            "rate: before_rps and after_rps are both zero",
        ),
        (
            SyntheticSpec {
                rate: RateProfile::Spike {
                    base_rps: 1.0,
                    spike_rps: 5.0,
                    start_s: 1.0,
                    duration_s: 0.0,
                },
                ..ok.clone()
            },
            "rate: duration_s",
        ),
        (
            SyntheticSpec {
                rate: RateProfile::Piecewise {
                    step_s: 60.0,
                    rates_rps: vec![],
                },
                ..ok.clone()
            },
            "rate: rates_rps is empty",
        ),
        (
            SyntheticSpec {
                rate: RateProfile::Piecewise {
                    step_s: 60.0,
                    rates_rps: vec![1.0, -1.0],
                },
                ..ok.clone()
            },
            "rate: rates_rps[1] must be a non-negative number",
        ),
        (
            SyntheticSpec {
                rate: RateProfile::Piecewise {
                    step_s: 60.0,
                    rates_rps: vec![0.0, 0.0],
                },
                ..ok.clone()
            },
            "rate: every entry of rates_rps is zero",
        ),
        (
            SyntheticSpec {
                prompt_tokens: lognormal(100.0, 50.0, 1, 10),
                ..ok.clone()
            },
            "prompt_tokens: p99_tokens (50) is below p50_tokens (100)",
        ),
        (
            SyntheticSpec {
                prompt_tokens: lognormal(100.0, 500.0, 0, 10),
                ..ok.clone()
            },
            "prompt_tokens: min_tokens must be at least 1",
        ),
        (
            SyntheticSpec {
                output_tokens: lognormal(100.0, 500.0, 20, 10),
                ..ok.clone()
            },
            "output_tokens: min_tokens (20) exceeds max_tokens (10)",
        ),
        (
            SyntheticSpec {
                output_tokens: lognormal(-1.0, 500.0, 1, 10),
                ..ok.clone()
            },
            "output_tokens: p50_tokens",
        ),
        (
            SyntheticSpec {
                output_tokens: LengthDist::Fixed { tokens: 0 },
                ..ok.clone()
            },
            "output_tokens: tokens must be at least 1",
        ),
        (
            SyntheticSpec {
                output_tokens: LengthDist::Uniform {
                    min_tokens: 5,
                    max_tokens: 4,
                },
                ..ok.clone()
            },
            "output_tokens: min_tokens (5) exceeds max_tokens (4)",
        ),
        (
            SyntheticSpec {
                output_tokens: LengthDist::Empirical {
                    samples: Arc::from(vec![]),
                },
                ..ok.clone()
            },
            "output_tokens: samples is empty",
        ),
        (
            SyntheticSpec {
                output_tokens: LengthDist::Empirical {
                    samples: Arc::from(vec![3, 0]),
                },
                ..ok.clone()
            },
            "output_tokens: samples[1] is 0",
        ),
        (
            SyntheticSpec {
                prompt_tokens: quantiles(&[3.0]),
                ..ok.clone()
            },
            "prompt_tokens: points needs at least 2 entries (the 0 and 1 quantiles), got 1",
        ),
        (
            SyntheticSpec {
                prompt_tokens: quantiles(&[]),
                ..ok.clone()
            },
            "prompt_tokens: points needs at least 2 entries (the 0 and 1 quantiles), got 0",
        ),
        (
            SyntheticSpec {
                output_tokens: quantiles(&[1.0, 5.0, 4.0]),
                ..ok.clone()
            },
            "output_tokens: points[2] (4) is below points[1] (5); the table must be non-decreasing",
        ),
        (
            SyntheticSpec {
                output_tokens: quantiles(&[0.5, 5.0]),
                ..ok.clone()
            },
            "output_tokens: points[0] is 0.5; every point must be between 1 and 4294967295",
        ),
        (
            SyntheticSpec {
                output_tokens: quantiles(&[1.0, 5e9]),
                ..ok.clone()
            },
            "output_tokens: points[1] is 5000000000; every point must be between 1",
        ),
        (
            SyntheticSpec {
                output_tokens: quantiles(&[1.0, f64::NAN, 3.0]),
                ..ok.clone()
            },
            "output_tokens: points[1] is NaN; every point must be finite",
        ),
        (
            SyntheticSpec {
                output_tokens: quantiles(&[1.0, f64::INFINITY]),
                ..ok.clone()
            },
            "output_tokens: points[1] is inf; every point must be finite",
        ),
    ];
    assert_eq!(ok.validate(), Ok(()));
    for (spec, want) in cases {
        let msg = spec.validate().unwrap_err();
        assert!(msg.starts_with(want), "got {msg:?}, want {want:?}");
        let mut s = synthetic(&spec, &RngStreams::new(1));
        match s.next() {
            Some(Err(TraceError::Invalid(m))) => assert_eq!(m, msg),
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }
    assert!(
        LengthDist::lognormal_from_mean_p50(100.0, 200.0, 1, 10)
            .unwrap_err()
            .contains("below")
    );
}

fn readme_stats() -> impl Fn(&str) -> f64 {
    let text = std::fs::read_to_string(test_data().join("azure_conv_readme_stats.txt")).unwrap();
    let pairs: Vec<(String, f64)> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_string(), v.trim().parse().unwrap())
        })
        .collect();
    move |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("no {key}"))
            .1
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Runs one hour of `azure_conv_like` and compares its rate and its prompt and output mean,
/// p50, p90 and p99 with the trace's published statistics.
fn check_one_hour_of_azure_conv_like(seed: u64) -> Vec<String> {
    let stats = readme_stats();
    let out = collect(synthetic(&azure_conv_like(3600.0), &RngStreams::new(seed)));
    assert_well_formed(&out);
    let rate = out.len() as f64 / 3600.0;
    assert!(
        (rate / stats("mean_rate_rps") - 1.0).abs() < 0.03,
        "seed {seed}: rate {rate}"
    );
    let mut measured = vec![format!("seed {seed}: rate {rate:.3}")];
    for (which, prompt) in [("prompt", true), ("output", false)] {
        let v = sorted_lengths(&out, prompt);
        for (stat, got, tol) in [
            ("mean", mean(&v), 0.03),
            ("p50", percentile(&v, 0.5), 0.03),
            ("p90", percentile(&v, 0.9), 0.03),
            ("p99", percentile(&v, 0.99), 0.03),
        ] {
            let want = stats(&format!("{which}_{stat}_tokens"));
            measured.push(format!("{which} {stat} {got:.1} [{want}]"));
            assert!(
                (got / want - 1.0).abs() < tol,
                "seed {seed}: {which} {stat}: {got} vs {want}"
            );
        }
    }
    measured
}

#[test]
#[allow(
    clippy::print_stderr,
    reason = "the measured numbers feed docs/workload.md"
)]
fn one_hour_of_azure_conv_like_matches_the_trace() {
    for seed in [2024, 1, 2] {
        eprintln!("{}", check_one_hour_of_azure_conv_like(seed).join(", "));
    }
}

#[test]
fn quantile_tables_reproduce_their_distribution() {
    // A table with a flat start, a steep middle and a long tail.
    let points: Arc<[f64]> = Arc::from(vec![1.0, 1.0, 10.0, 12.5, 100.0, 1000.0]);
    let spec = SyntheticSpec {
        prompt_tokens: LengthDist::Quantiles {
            points: points.clone(),
        },
        output_tokens: LengthDist::Quantiles {
            points: Arc::from(vec![5.0, 5.0]),
        },
        ..spec_constant(100.0, 1.0, 1000.0)
    };
    let out = collect(synthetic(&spec, &RngStreams::new(5)));
    assert!(out.len() > 90_000);
    assert_eq!(out, collect(synthetic(&spec, &RngStreams::new(5))));
    assert_ne!(out, collect(synthetic(&spec, &RngStreams::new(6))));
    assert!(out.iter().all(|r| r.output_tokens == 5));
    let p = sorted_lengths(&out, true);
    assert_eq!((p[0], p[p.len() - 1]), (1.0, 1000.0));
    // Each piece holds a fifth of the draws, spread linearly between its ends.
    let share = |lo: f64, hi: f64| {
        p.iter().filter(|x| (lo..hi).contains(*x)).count() as f64 / p.len() as f64
    };
    assert!((share(1.0, 1.5) - (0.2 + 0.2 * 0.5 / 9.0)).abs() < 0.01);
    for (q, want) in [(0.3, 5.5), (0.5, 11.25), (0.7, 56.25), (0.9, 550.0)] {
        // Rounding to whole tokens moves a quantile by at most 0.5.
        let got = percentile(&p, q);
        assert!(
            (got - want).abs() <= 0.5 + 0.02 * want,
            "q {q}: {got} vs {want}"
        );
    }
    // The mean of a piecewise-linear inverse CDF is the mean of its pieces' midpoints.
    let want: f64 = points.windows(2).map(|w| (w[0] + w[1]) / 2.0).sum::<f64>() / 5.0;
    let got = mean(&p);
    assert!((got / want - 1.0).abs() < 0.02, "mean {got} vs {want}");
    // Points below 1.5 round to 1, the smallest length.
    let spec = SyntheticSpec {
        prompt_tokens: LengthDist::Quantiles {
            points: Arc::from(vec![1.0, 1.4]),
        },
        ..spec
    };
    assert!(
        collect(synthetic(&spec, &RngStreams::new(5)))
            .iter()
            .all(|r| r.prompt_tokens == 1)
    );
}

#[test]
fn quantile_tables_of_sorted_values() {
    assert_eq!(
        quantile_table(&[1.0, 2.0, 3.0, 4.0, 5.0], 5),
        vec![1.0, 2.0, 3.0, 4.0, 5.0]
    );
    assert_eq!(quantile_table(&[10.0, 20.0], 3), vec![10.0, 15.0, 20.0]);
    assert_eq!(quantile_table(&[7.0], 2), vec![7.0, 7.0]);
    assert!(quantile_table(&[], 101).is_empty());
    assert!(quantile_table(&[1.0, 2.0], 1).is_empty());
}

#[test]
fn azure_conv_like_repeats_its_profile() {
    let spec = azure_conv_like(7200.0);
    assert_eq!(spec.validate(), Ok(()));
    let period = 58.0 * 60.0;
    for t in [0.0, 30.0, 1865.0, 3479.0] {
        assert_eq!(spec.rate.rate_rps(t), spec.rate.rate_rps(t + period));
    }
    assert_eq!(
        spec.rate.rate_rps(31.0 * 60.0 + 1.0),
        507.0 / 60.0,
        "the peak minute"
    );
    let first = spec.rate.expected_requests(0.0, period);
    let second = spec.rate.expected_requests(period, 2.0 * period);
    assert!((first - 19_329.0).abs() < 1e-6 && (second - first).abs() < 1e-6);
    let out = collect(synthetic(&spec, &RngStreams::new(1)));
    let late = out
        .iter()
        .filter(|r| r.arrival.as_secs_f64() >= period)
        .count() as f64;
    let want = spec.rate.expected_requests(period, 7200.0);
    assert!((late - want).abs() < 5.0 * want.sqrt(), "{late} vs {want}");
}
