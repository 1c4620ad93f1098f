//! Property and fuzz tests: no SQL argument, REST request or option text
//! makes the server panic or answer XX000 (issue 13: "no panic reaches a
//! user"). Test-only (`#[cfg(test)]`), in-process, driven by proptest.
//!
//! * [`sql_functions`]: every function of docs/sql-reference.md called with
//!   generated argument lists (wrong types, NULL, extremes, NaN, unicode,
//!   huge and invalid JSON options, wrong arity) against one engine with a
//!   trained model; each answer is Ok or an error whose SQLSTATE is not
//!   XX000, and `SELECT 1` still works afterwards.
//! * [`rest`]: generated requests through the real axum router (body
//!   parsing, query strings, feature rows, batches, cache keys).
//! * [`parsers`]: the option parsers a statement or request reaches, fed
//!   arbitrary and structured text: nothing panics.
//!
//! Runs are bounded and deterministic by default (a fixed seed, a fixed
//! number of cases each); `PROPTEST_CASES=5000` raises the cases,
//! `PROPTEST_RNG_SEED=n` picks another seed, and `VOIDX_FUZZ_SECS=600`
//! makes every parser target fuzz with fresh random seeds for that many
//! seconds (docs/development.md, "Property and fuzz tests"):
//!
//! ```text
//! VOIDX_FUZZ_SECS=600 cargo test -p voidx --lib props::parsers -- --nocapture
//! ```

mod parsers;
mod rest;
mod sql_functions;
mod values;

use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestRunner};

/// The seed of the default (CI) runs, so a failure found there is found
/// again by the next run.
const SEED: u64 = 0x766f_6964_7865;

/// A runner with `default_cases` cases unless `PROPTEST_CASES` says
/// otherwise, and the fixed seed unless `PROPTEST_RNG_SEED` or `random`.
fn config(default_cases: u32, random: bool) -> Config {
    let mut config = Config {
        // Failures are reported with their minimal input; no files are
        // written next to the sources.
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default_cases;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = if random {
            RngSeed::Random
        } else {
            RngSeed::Fixed(SEED)
        };
    }
    config
}

/// `VOIDX_FUZZ_SECS`: how long each fuzz target runs beyond its fixed
/// cases (0 by default, so CI runs only the fixed cases).
fn fuzz_budget() -> Duration {
    let secs = std::env::var("VOIDX_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    Duration::from_secs(secs)
}

/// Runs `test` over `strategy`: the fixed cases first, then, while the
/// `VOIDX_FUZZ_SECS` budget lasts, more rounds with random seeds. A
/// failure panics with the (shrunk) input that caused it.
fn fuzz<S: Strategy>(name: &str, default_cases: u32, strategy: S, test: impl Fn(S::Value))
where
    S::Value: std::fmt::Debug,
{
    let run = |config: Config| {
        let mut runner = TestRunner::new(config);
        if let Err(e) = runner.run(&strategy, |value| {
            test(value);
            Ok(())
        }) {
            panic!("{name}: {e}");
        }
    };
    run(config(default_cases, false));
    let budget = fuzz_budget();
    let started = Instant::now();
    let mut rounds = 0u64;
    while started.elapsed() < budget {
        run(config(default_cases.max(256), true));
        rounds += 1;
    }
    if rounds > 0 {
        eprintln!("{name}: {rounds} random rounds in {:?}", started.elapsed());
    }
}
