//! Prints the time of one password verification through Latchkey's hashing service (production
//! argon2 parameters, warm memory, one at a time) as `hash_ms=<median>`: the unit `scripts/load.sh`
//! states sign-in throughput against. Run: `cargo run --profile load -p latchkey-local --example
//! hash_time`.

use latchkey::Config;
use latchkey::domain::passwords::Password;
use latchkey::services::passwords;

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("latchkey-hash-time-{}", std::process::id()));
    let config = Config::from_lookup(|name| match name {
        "LATCHKEY_DATA_DIR" => Some(dir.display().to_string()),
        _ => None,
    })
    .expect("default configuration");
    let state = latchkey::AppState::from_config(config)
        .await
        .expect("local state");
    let secret = || Password::presented("correct horse battery staple 42".into());
    let stored = passwords::hash(&state, secret()).await.expect("hash");
    let mut times = Vec::new();
    for _ in 0..40 {
        let start = std::time::Instant::now();
        assert!(
            passwords::verify(&state, secret(), Some(stored.clone()))
                .await
                .expect("verify")
        );
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!("hash_ms={:.2}", times[times.len() / 2]);
    let _ = std::fs::remove_dir_all(&dir);
}
