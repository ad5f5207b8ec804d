//! The `latchkey` command line: the local server, and the operator commands on whichever backend
//! the environment names (`LATCHKEY_BACKEND`, as the server reads it). Output goes to stdout,
//! logs and errors to stderr. Exit codes: 0 done, 1 the command failed (no such account, a
//! backend error), 2 a usage or configuration error.

use std::io::{BufRead, IsTerminal};

use latchkey::domain::users::User;
use latchkey::services::admin;
use latchkey::{AppState, Config, telemetry};

/// What a command ended in.
pub enum Failure {
    /// Wrong arguments or settings: exit 2, with the help line to read.
    Usage(String),
    /// The command ran and failed: exit 1.
    Failed(String),
    /// The server or a key rotation could not start (a setting, the data dir, the port): exit 2.
    Startup(String),
}

impl Failure {
    pub fn startup(error: Box<dyn std::error::Error>) -> Self {
        Self::Startup(error.to_string())
    }
}

impl<E: std::error::Error> From<E> for Failure {
    fn from(error: E) -> Self {
        Self::Failed(error.to_string())
    }
}

pub const HELP: &str = "\
latchkey: an authentication service (local server and operator commands)

Usage: latchkey [COMMAND]

Commands:
  serve                      run the local server on LATCHKEY_LISTEN (the default command)
  users list                 every account: id, email, verified, MFA, disabled
  users show <email|id>      one account and its live sessions
  users create <email> [--name NAME]
                             a new account; the password is read from stdin (one line)
  users disable <email|id>   end every session and refuse new sign-ins
  users enable <email|id>    allow sign-ins again
  users delete <email|id>    delete the account, its sessions and memberships
  users unlock <email|id>    clear the sign-in failure count (the password lockout)
  sessions revoke <email|id> [SESSION_ID]
                             end one session, or all of the account's sessions
  rotate-keys                make a new access-token signing key current; prints its kid
  outbox [N]                 the last N emails in the local outbox (default 5), with their
                             links and codes (local backend only)
  dev-aws                    create the table, a KMS key and a verified SES sender on the AWS
                             emulator at AWS_ENDPOINT_URL; prints the settings to export
  help [COMMAND]             this help (also: --help, -h, COMMAND --help)

Every command reads the same settings as the server (LATCHKEY_BACKEND, LATCHKEY_DATA_DIR,
LATCHKEY_TABLE, LATCHKEY_KMS_KEY_ID, ...). With the local backend, stop the server first: the
embedded store is opened by one process at a time.
Exit status: 0 done, 1 the command failed, 2 a usage or configuration error.";

/// The help of one command (the lines of `HELP` that name it), or `None` if it is unknown.
pub fn help_for(command: &str) -> Option<String> {
    let lines: Vec<&str> = HELP
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| !line.is_empty())
        .collect();
    let mut found = Vec::new();
    let mut taking = false;
    for line in lines {
        let starts_entry = line.starts_with("  ") && !line.starts_with("   ");
        if starts_entry {
            taking = line.trim_start().starts_with(command);
        }
        if taking {
            found.push(line);
        }
    }
    (!found.is_empty()).then(|| format!("Usage:\n{}", found.join("\n")))
}

async fn state() -> Result<AppState, Failure> {
    let config = Config::from_env().map_err(|e| Failure::Usage(e.to_string()))?;
    telemetry::init(config.log_json);
    AppState::from_config(config)
        .await
        .map_err(|e| Failure::Failed(e.to_string()))
}

/// A failed use case: its message, and the internal cause (an operator may see it).
fn failed(error: latchkey::Error) -> Failure {
    Failure::Failed(match error.cause_chain() {
        Some(cause) => format!("{} ({cause})", error.message),
        None => error.message.clone(),
    })
}

fn one_line(user: &User) -> String {
    format!(
        "{}  {}  verified={}  mfa={}  disabled={}",
        user.id, user.email, user.email_verified, user.mfa_enabled, user.disabled
    )
}

/// `latchkey users ...`
pub async fn users(args: &[String]) -> Result<(), Failure> {
    let sub = args.first().map(String::as_str);
    let target = args.get(1).map(String::as_str);
    let needs_target = |name: &str| {
        target.ok_or_else(|| Failure::Usage(format!("`users {name}` needs an email or user id")))
    };
    match sub {
        Some("list") => {
            let state = state().await?;
            let all = admin::list(&state).await.map_err(failed)?;
            for user in &all {
                println!("{}", one_line(user));
            }
            eprintln!("{} account(s)", all.len());
        }
        Some("show") => {
            let who = needs_target("show")?;
            let state = state().await?;
            let user = admin::require(&state, who).await.map_err(failed)?;
            let live = latchkey::services::sessions::list(&state, &user.id)
                .await
                .map_err(failed)?;
            println!("id: {}", user.id);
            println!("email: {}", user.email);
            println!("name: {}", user.name);
            println!("email_verified: {}", user.email_verified);
            println!(
                "password: {}",
                if user.has_password() { "set" } else { "none" }
            );
            println!("mfa: {}", user.mfa_enabled);
            println!("disabled: {}", user.disabled);
            println!("plan: {}", user.plan);
            println!("sessions: {}", live.len());
            for session in live {
                println!(
                    "  {}  from {}  amr={}  started {}",
                    session.id,
                    session.ip,
                    session.amr.join(","),
                    session.created_at
                );
            }
        }
        Some("create") => {
            let email = needs_target("create")?;
            let name = match args.get(2).map(String::as_str) {
                Some("--name") => args
                    .get(3)
                    .cloned()
                    .ok_or_else(|| Failure::Usage("--name needs a value".into()))?,
                Some(other) => return Err(Failure::Usage(format!("unexpected `{other}`"))),
                None => email.split('@').next().unwrap_or_default().to_owned(),
            };
            if std::io::stdin().is_terminal() {
                eprintln!("password (one line):");
            }
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            if password.is_empty() {
                return Err(Failure::Usage(
                    "`users create` reads the password from stdin; got none".into(),
                ));
            }
            let state = state().await?;
            let user = admin::create(&state, email, &name, password)
                .await
                .map_err(failed)?;
            println!("created {}", one_line(&user));
        }
        Some(verb @ ("disable" | "enable")) => {
            let who = needs_target(verb)?;
            let state = state().await?;
            let user = admin::set_disabled(&state, who, verb == "disable")
                .await
                .map_err(failed)?;
            println!("{verb}d {}", one_line(&user));
        }
        Some("delete") => {
            let who = needs_target("delete")?;
            let state = state().await?;
            let user = admin::delete(&state, who).await.map_err(failed)?;
            println!("deleted {} {}", user.id, user.email);
        }
        Some("unlock") => {
            let who = needs_target("unlock")?;
            let state = state().await?;
            let user = admin::unlock(&state, who).await.map_err(failed)?;
            println!("unlocked {} {}", user.id, user.email);
        }
        Some(other) => return Err(Failure::Usage(format!("unknown `users {other}`"))),
        None => return Err(Failure::Usage("`users` needs a subcommand".into())),
    }
    Ok(())
}

/// `latchkey sessions revoke <email|id> [SESSION_ID]`
pub async fn sessions(args: &[String]) -> Result<(), Failure> {
    match args.first().map(String::as_str) {
        Some("revoke") => {
            let who = args.get(1).ok_or_else(|| {
                Failure::Usage("`sessions revoke` needs an email or user id".into())
            })?;
            let state = state().await?;
            let (user, ended) =
                admin::revoke_sessions(&state, who, args.get(2).map(String::as_str))
                    .await
                    .map_err(failed)?;
            println!("ended {ended} session(s) of {} {}", user.id, user.email);
            if ended == 0 && args.get(2).is_some() {
                return Err(Failure::Failed("no such live session".into()));
            }
            Ok(())
        }
        Some(other) => Err(Failure::Usage(format!("unknown `sessions {other}`"))),
        None => Err(Failure::Usage("`sessions` needs a subcommand".into())),
    }
}

/// `latchkey outbox [N]`: the newest emails of the local outbox, with links and codes.
pub fn outbox(args: &[String]) -> Result<(), Failure> {
    let count: usize = match args.first() {
        Some(n) => n
            .parse()
            .map_err(|_| Failure::Usage(format!("expected a number, got `{n}`")))?,
        None => 5,
    };
    let config = Config::from_env().map_err(|e| Failure::Usage(e.to_string()))?;
    let dir = config.data_dir.join("outbox");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| Failure::Failed(format!("cannot read {}: {e}", dir.display())))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    files.sort();
    for path in files.iter().rev().take(count).rev() {
        let raw = std::fs::read_to_string(path)?;
        let header = |name: &str| {
            raw.lines()
                .find_map(|line| line.strip_prefix(&format!("{name}: ")))
                .unwrap_or("")
                .to_owned()
        };
        // The text part is what links_and_codes reads; quoted-printable soft breaks joined.
        let text = raw
            .replace("=\r\n", "")
            .replace("=\n", "")
            .replace("=3D", "=");
        let (links, codes) = latchkey::adapters::outbox::links_and_codes(&text);
        // The HTML part repeats each link inside an attribute: cut at the quote, keep one.
        let mut links: Vec<String> = links
            .iter()
            .map(|link| link.split(['"', '<']).next().unwrap_or_default().to_owned())
            .collect();
        links.sort();
        links.dedup();
        println!("{}", path.display());
        println!("  to: {}  subject: {}", header("To"), header("Subject"));
        for link in links {
            println!("  link: {link}");
        }
        for code in codes.iter().take(1) {
            println!("  code: {code}");
        }
    }
    Ok(())
}
