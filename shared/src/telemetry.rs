//! Logging: JSON lines on Lambda (CloudWatch), readable text locally. `RUST_LOG` filters. Logs
//! go to stderr so a command's real output (`latchkey rotate-keys` prints a kid) stays clean;
//! colours only when stderr is a terminal, so a file or a pipe gets plain text. Security events
//! (`crate::audit`) have the target `security`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,aws_config=warn,aws_smithy_runtime=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // A second init (tests) keeps the first subscriber.
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .without_time()
            .try_init()
    } else {
        builder.compact().try_init()
    };
}
