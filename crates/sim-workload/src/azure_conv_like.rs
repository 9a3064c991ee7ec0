//! The built-in default workload, fitted to the Azure LLM inference trace 2023 ("conv").
//!
//! Source: Azure LLM inference trace 2023, `AzureLLMInferenceTrace_conv.csv` from
//! Azure/AzurePublicDataset, licensed CC-BY-4.0. Attribution: Patel et al., "Splitwise:
//! Efficient generative LLM inference using phase splitting", ISCA 2024. The numbers below
//! are derived with [`crate::fit_trace`] (60 s windows); the test in this file re-derives them
//! from the trace when it is present and fails on any difference.

use crate::{LengthDist, RateProfile, SyntheticSpec};

/// Width of a rate window.
pub(crate) const CONV_STEP_S: f64 = 60.0;

/// Requests in each of the trace's 58 full minutes, counted from the first request.
pub(crate) const CONV_COUNTS_PER_MINUTE: [u32; 58] = [
    191, 265, 329, 353, 307, 273, 268, 261, 322, 298, 301, 302, 345, 326, 283, 279, 280, 308, 343,
    351, 351, 343, 408, 396, 386, 398, 432, 480, 476, 453, 448, 507, 438, 413, 423, 418, 465, 311,
    329, 316, 333, 355, 319, 360, 334, 375, 330, 249, 221, 249, 265, 280, 256, 254, 242, 260, 246,
    225,
];

/// CV of the inter-arrival gaps with the per-minute rate trend removed (each arrival mapped
/// through the cumulative per-minute rate). The raw CV, trend included, is 1.094.
pub(crate) const CONV_ARRIVAL_CV: f64 = 1.0263912180876809;

/// Prompt length percentiles (linear interpolation between ranks) and range.
pub(crate) const CONV_PROMPT_P50_TOKENS: f64 = 1020.0;
pub(crate) const CONV_PROMPT_P99_TOKENS: f64 = 4142.0;
pub(crate) const CONV_PROMPT_MIN_TOKENS: u32 = 2;
pub(crate) const CONV_PROMPT_MAX_TOKENS: u32 = 14050;

/// Output length percentiles and range.
pub(crate) const CONV_OUTPUT_P50_TOKENS: f64 = 129.0;
pub(crate) const CONV_OUTPUT_P99_TOKENS: f64 = 601.0;
pub(crate) const CONV_OUTPUT_MIN_TOKENS: u32 = 7;
pub(crate) const CONV_OUTPUT_MAX_TOKENS: u32 = 1000;

/// A synthetic workload shaped like the Azure "conv" trace: its per-minute rate profile
/// (repeated when `duration_s` is longer than its 58 minutes), its detrended inter-arrival
/// CV, and log-normal prompt and output lengths matching its p50 and p99, clamped to its
/// shortest and longest lengths.
pub fn azure_conv_like(duration_s: f64) -> SyntheticSpec {
    SyntheticSpec {
        duration_s,
        rate: RateProfile::Piecewise {
            step_s: CONV_STEP_S,
            rates_rps: CONV_COUNTS_PER_MINUTE
                .iter()
                .map(|c| f64::from(*c) / CONV_STEP_S)
                .collect(),
        },
        arrival_cv: CONV_ARRIVAL_CV,
        prompt_tokens: LengthDist::LogNormal {
            p50_tokens: CONV_PROMPT_P50_TOKENS,
            p99_tokens: CONV_PROMPT_P99_TOKENS,
            min_tokens: CONV_PROMPT_MIN_TOKENS,
            max_tokens: CONV_PROMPT_MAX_TOKENS,
        },
        output_tokens: LengthDist::LogNormal {
            p50_tokens: CONV_OUTPUT_P50_TOKENS,
            p99_tokens: CONV_OUTPUT_P99_TOKENS,
            min_tokens: CONV_OUTPUT_MIN_TOKENS,
            max_tokens: CONV_OUTPUT_MAX_TOKENS,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;
    use std::path::PathBuf;

    use super::*;
    use crate::{TraceFit, TraceFormat, fit_trace, read_trace};

    #[allow(clippy::print_stderr, reason = "the skip message is the point")]
    fn shared_trace(name: &str) -> Option<PathBuf> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/traces")
            .join(name);
        if path.exists() {
            Some(path)
        } else {
            eprintln!(
                "skipping: {} is absent (the shared traces are not checked out)",
                path.display()
            );
            None
        }
    }

    fn constants_source(fit: &TraceFit) -> String {
        let counts: Vec<String> = fit.counts_per_step.iter().map(|c| c.to_string()).collect();
        format!(
            "CONV_COUNTS_PER_MINUTE: [u32; {}] = [{}];\nCONV_ARRIVAL_CV: f64 = {:?};\n\
             CONV_PROMPT_P50_TOKENS: f64 = {:?};\nCONV_PROMPT_P99_TOKENS: f64 = {:?};\n\
             CONV_PROMPT_MIN_TOKENS: u32 = {};\nCONV_PROMPT_MAX_TOKENS: u32 = {};\n\
             CONV_OUTPUT_P50_TOKENS: f64 = {:?};\nCONV_OUTPUT_P99_TOKENS: f64 = {:?};\n\
             CONV_OUTPUT_MIN_TOKENS: u32 = {};\nCONV_OUTPUT_MAX_TOKENS: u32 = {};\n\
             (raw gap CV {:?})",
            counts.len(),
            counts.join(", "),
            fit.detrended_gap_cv,
            fit.prompt_p50_tokens,
            fit.prompt_p99_tokens,
            fit.prompt_min_tokens,
            fit.prompt_max_tokens,
            fit.output_p50_tokens,
            fit.output_p99_tokens,
            fit.output_min_tokens,
            fit.output_max_tokens,
            fit.raw_gap_cv,
        )
    }

    /// Re-derives the committed constants from the trace itself.
    #[test]
    fn constants_match_the_trace() {
        let Some(path) = shared_trace("AzureLLMInferenceTrace_conv.csv") else {
            return;
        };
        let file = std::fs::File::open(&path).expect("open the conv trace");
        let fit = fit_trace(
            read_trace(TraceFormat::AzureCsv, BufReader::new(file)),
            CONV_STEP_S,
        )
        .expect("fit the conv trace");
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
        let counts: Vec<u64> = CONV_COUNTS_PER_MINUTE
            .iter()
            .map(|c| u64::from(*c))
            .collect();
        let ok = fit.counts_per_step == counts
            && close(fit.detrended_gap_cv, CONV_ARRIVAL_CV)
            && close(fit.prompt_p50_tokens, CONV_PROMPT_P50_TOKENS)
            && close(fit.prompt_p99_tokens, CONV_PROMPT_P99_TOKENS)
            && fit.prompt_min_tokens == CONV_PROMPT_MIN_TOKENS
            && fit.prompt_max_tokens == CONV_PROMPT_MAX_TOKENS
            && close(fit.output_p50_tokens, CONV_OUTPUT_P50_TOKENS)
            && close(fit.output_p99_tokens, CONV_OUTPUT_P99_TOKENS)
            && fit.output_min_tokens == CONV_OUTPUT_MIN_TOKENS
            && fit.output_max_tokens == CONV_OUTPUT_MAX_TOKENS;
        assert!(
            ok,
            "committed constants differ from the trace; the trace gives:\n{}",
            constants_source(&fit)
        );
        assert_eq!(fit.to_spec(3600.0), azure_conv_like(3600.0));
    }
}
