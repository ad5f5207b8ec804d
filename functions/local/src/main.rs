//! `cargo run` / `latchkey`: the local server (every endpoint group on one port) and the
//! operator commands; `latchkey help` lists them (`cli::HELP`).

use std::process::ExitCode;

use latchkey_local::cli::{self, Failure};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().map(String::as_str);
    let rest = args.get(1..).unwrap_or_default();
    // `COMMAND --help` / `COMMAND -h` anywhere after the command: that command's help.
    if let Some(command) = command
        && rest.iter().any(|a| a == "--help" || a == "-h")
    {
        return help(Some(command));
    }
    let outcome: Result<(), Failure> = match command {
        None | Some("serve") => latchkey_local::serve().await.map_err(Failure::startup),
        Some("help" | "--help" | "-h") => return help(rest.first().map(String::as_str)),
        Some("rotate-keys") => latchkey_local::rotate_keys()
            .await
            .map(|kid| println!("{kid}"))
            .map_err(Failure::startup),
        Some("users") => cli::users(rest).await,
        Some("sessions") => cli::sessions(rest).await,
        Some("outbox") => cli::outbox(rest),
        Some("dev-aws") => latchkey_local::dev_aws()
            .await
            .map(|exports| print!("{exports}"))
            .map_err(Failure::startup),
        Some(other) => Err(Failure::Usage(format!("unknown command `{other}`"))),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(problem)) => {
            eprintln!("latchkey: {problem} (see `latchkey help`)");
            ExitCode::from(2)
        }
        Err(Failure::Failed(problem)) => {
            eprintln!("latchkey: {problem}");
            ExitCode::from(1)
        }
        Err(Failure::Startup(problem)) => {
            eprintln!("latchkey: {problem}");
            ExitCode::from(2)
        }
    }
}

fn help(command: Option<&str>) -> ExitCode {
    match command {
        None | Some("help") => {
            println!("{}", cli::HELP);
            ExitCode::SUCCESS
        }
        Some(command) => match cli::help_for(command) {
            Some(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("latchkey: unknown command `{command}` (see `latchkey help`)");
                ExitCode::from(2)
            }
        },
    }
}
