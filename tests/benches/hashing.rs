//! The password-hashing service at its limit (issue 18): verifications through
//! `services::passwords` (production argon2 parameters) from 2 and from 16 concurrent callers.
//! Throughput should be the same at both (the hashes run on one thread per core; the rest queue),
//! and so should memory: after each level the process's resident set (VmRSS) and its peak
//! (VmHWM) are printed, and they must not grow with the number of callers or of hashes.
//!
//! Run: `cargo bench -p latchkey-tests --bench hashing`.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use latchkey::Config;
use latchkey::domain::passwords::Password;
use latchkey::services::passwords;
use latchkey_tests::{Backend, TestApp};
use tokio::runtime::Runtime;

const PASSWORD: &str = "correct horse battery staple 42";

fn memory_mib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with(field))
                .and_then(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

fn hashing_benchmarks(c: &mut Criterion) {
    let runtime = Runtime::new().expect("tokio runtime");
    let app = runtime.block_on(TestApp::spawn_with(Backend::Embedded, |config| {
        config.argon2 = Config::from_lookup(|_| None).expect("defaults").argon2;
    }));
    let stored = runtime
        .block_on(passwords::hash(
            &app.state,
            Password::presented(PASSWORD.into()),
        ))
        .expect("hash");
    eprintln!(
        "before: VmRSS {} MiB, VmHWM {} MiB",
        memory_mib("VmRSS:"),
        memory_mib("VmHWM:")
    );

    let mut group = c.benchmark_group("hashing");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for callers in [2usize, 16] {
        group.throughput(Throughput::Elements(callers as u64));
        group.bench_function(format!("verify_{callers}_concurrent_callers"), |b| {
            b.to_async(&runtime).iter_custom(|rounds| {
                let state = app.state.clone();
                let stored = stored.clone();
                async move {
                    let start = Instant::now();
                    for _ in 0..rounds {
                        let calls = (0..callers).map(|_| {
                            passwords::verify(
                                &state,
                                Password::presented(PASSWORD.into()),
                                Some(stored.clone()),
                            )
                        });
                        for matched in futures::future::join_all(calls).await {
                            assert!(matched.expect("verify"));
                        }
                    }
                    start.elapsed()
                }
            })
        });
        eprintln!(
            "after {callers} concurrent callers: VmRSS {} MiB, VmHWM {} MiB",
            memory_mib("VmRSS:"),
            memory_mib("VmHWM:")
        );
    }
    group.finish();
}

criterion_group!(hashing, hashing_benchmarks);
criterion_main!(hashing);
