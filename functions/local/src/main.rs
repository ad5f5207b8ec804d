//! `cargo run`: every endpoint group's router on one port, embedded backends by default.
//! `latchkey rotate-keys`: rotate the access-token signing key, print the new `kid`.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let command = std::env::args().nth(1);
    let outcome = match command.as_deref() {
        None | Some("serve") => latchkey_local::serve().await,
        Some("rotate-keys") => latchkey_local::rotate_keys()
            .await
            .map(|kid| println!("{kid}")),
        Some(other) => {
            Err(format!("unknown command `{other}`; try `serve` or `rotate-keys`").into())
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("latchkey: {error}");
            ExitCode::from(2)
        }
    }
}
