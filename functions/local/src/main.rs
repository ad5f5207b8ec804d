//! `cargo run`: every endpoint group's router on one port, embedded backends by default.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    match latchkey_local::serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("latchkey: {error}");
            ExitCode::from(2)
        }
    }
}
