//! The `latchkey` binary as a person runs it: `cargo run` starts it with local defaults.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn the_local_server_answers_health_and_stops_cleanly_on_ctrl_c() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .env("LATCHKEY_LISTEN", format!("127.0.0.1:{port}"))
        .env("LATCHKEY_DATA_DIR", data.path())
        .env_remove("LATCHKEY_BACKEND")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/health");
    let deadline = Instant::now() + Duration::from_secs(20);
    let response = loop {
        // reqwest has no crypto provider of its own in this workspace (aws-lc-rs only).
        latchkey::adapters::outbound::install_crypto_provider();
        match reqwest::get(&url).await {
            Ok(response) => break response,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(error) => panic!("the server never answered: {error}"),
        }
    };
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert!(
        data.path().join("local.key").exists(),
        "the local key is created in the data dir"
    );

    // Ctrl-C is SIGINT.
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
}

#[test]
fn bad_configuration_exits_non_zero_with_one_clear_line() {
    let output = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .env("LATCHKEY_LISTEN", "nonsense")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("LATCHKEY_LISTEN") && stderr.contains("nonsense"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_wildcard_cors_origin_is_refused_at_start_with_one_line() {
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .env("LATCHKEY_CORS_ORIGINS", "*")
        .env("LATCHKEY_DATA_DIR", data.path())
        .env("LATCHKEY_LISTEN", format!("127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("LATCHKEY_CORS_ORIGINS"), "{stderr}");
}

#[test]
fn help_lists_every_command_and_each_command_has_its_own() {
    for args in [&["--help"][..], &["help"], &["-h"]] {
        let output = latchkey(args, &[], None);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        let text = String::from_utf8(output.stdout).unwrap();
        for command in [
            "serve",
            "users list",
            "users show",
            "users create",
            "users disable",
            "users enable",
            "users delete",
            "users unlock",
            "sessions revoke",
            "rotate-keys",
            "dev-aws",
        ] {
            assert!(text.contains(command), "{command} in {text}");
        }
    }
    for command in [
        "users",
        "sessions",
        "rotate-keys",
        "outbox",
        "dev-aws",
        "serve",
    ] {
        let output = latchkey(&[command, "--help"], &[], None);
        assert_eq!(output.status.code(), Some(0), "{command}");
        let text = String::from_utf8(output.stdout).unwrap();
        assert!(text.contains(command), "{text}");
    }
    let unknown = latchkey(&["frobnicate"], &[], None);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        String::from_utf8(unknown.stderr)
            .unwrap()
            .contains("latchkey help")
    );
}

/// Run the binary with settings (an empty value removes the variable) and optional stdin; never
/// inherits LATCHKEY_BACKEND.
fn latchkey(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    let mut command = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    command
        .args(args)
        .env_remove("LATCHKEY_BACKEND")
        .env("LATCHKEY_ARGON2_MEMORY_KIB", "64")
        .env("LATCHKEY_ARGON2_ITERATIONS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        // An empty value means: not set at all.
        if value.is_empty() {
            command.env_remove(name);
        } else {
            command.env(name, value);
        }
    }
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout_of(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "status {:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Every admin command, run as an operator runs it, against the settings `env` names.
fn admin_commands_work(env: &[(&str, &str)]) {
    let email = format!("ops-{}@example.com", std::process::id());
    let created = latchkey(
        &["users", "create", &email, "--name", "Ops Person"],
        env,
        Some("Velvet-orbit-tangerine-42\n"),
    );
    let line = stdout_of(&created);
    assert!(line.starts_with("created "), "{line}");
    let id = line.split_whitespace().nth(1).unwrap().to_owned();

    let listed = stdout_of(&latchkey(&["users", "list"], env, None));
    assert!(listed.contains(&email) && listed.contains(&id), "{listed}");

    let shown = stdout_of(&latchkey(&["users", "show", &email], env, None));
    assert!(shown.contains(&format!("id: {id}")), "{shown}");
    assert!(shown.contains("disabled: false"), "{shown}");

    let disabled = stdout_of(&latchkey(&["users", "disable", &id], env, None));
    assert!(disabled.contains("disabled=true"), "{disabled}");
    let shown = stdout_of(&latchkey(&["users", "show", &id], env, None));
    assert!(shown.contains("disabled: true"), "{shown}");
    let enabled = stdout_of(&latchkey(&["users", "enable", &email], env, None));
    assert!(enabled.contains("disabled=false"), "{enabled}");

    let unlocked = stdout_of(&latchkey(&["users", "unlock", &email], env, None));
    assert!(unlocked.contains(&id), "{unlocked}");
    let revoked = stdout_of(&latchkey(&["sessions", "revoke", &email], env, None));
    assert!(revoked.contains("ended 0 session(s)"), "{revoked}");

    let deleted = stdout_of(&latchkey(&["users", "delete", &email], env, None));
    assert!(deleted.contains(&id), "{deleted}");
    let gone = latchkey(&["users", "show", &email], env, None);
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        String::from_utf8(gone.stderr)
            .unwrap()
            .contains("no account")
    );

    // The address is free again.
    let again = latchkey(
        &["users", "create", &email],
        env,
        Some("Velvet-orbit-tangerine-43\n"),
    );
    stdout_of(&again);

    let usage = latchkey(&["users", "show"], env, None);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn admin_commands_work_on_the_embedded_store() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    admin_commands_work(&[("LATCHKEY_DATA_DIR", dir)]);
}

#[test]
fn admin_commands_work_on_dynamodb_after_dev_aws() {
    let endpoint = std::env::var("LATCHKEY_TEST_AWS_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "\n*** The admin CLI on DynamoDB did NOT run: LATCHKEY_TEST_AWS_ENDPOINT is not set; \
             run ./tests/run.sh ***\n"
        )
    });
    let table = format!("latchkey-cli-{}", std::process::id());
    let base = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("LATCHKEY_TABLE", table.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ];
    let prepared = latchkey(&["dev-aws"], &base, None);
    let exports = stdout_of(&prepared);
    assert!(exports.contains("export LATCHKEY_KMS_KEY_ID="), "{exports}");
    // Twice is fine.
    stdout_of(&latchkey(&["dev-aws"], &base, None));
    let kms_key = exports
        .lines()
        .find_map(|line| line.strip_prefix("export LATCHKEY_KMS_KEY_ID="))
        .unwrap()
        .to_owned();
    let mut env = base.to_vec();
    env.push(("LATCHKEY_BACKEND", "aws"));
    env.push(("LATCHKEY_KMS_KEY_ID", kms_key.as_str()));
    admin_commands_work(&env);
}

#[test]
fn the_aws_backend_without_credentials_fails_with_a_short_line() {
    let output = latchkey(
        &["users", "list"],
        &[
            ("LATCHKEY_BACKEND", "aws"),
            ("LATCHKEY_KMS_KEY_ID", "alias/none"),
            ("LATCHKEY_CREATE_TABLE", "false"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", ""),
            ("AWS_PROFILE", ""),
            ("AWS_SESSION_TOKEN", ""),
            ("AWS_CONFIG_FILE", "/nonexistent"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let last = stderr.trim().lines().last().unwrap_or_default();
    assert!(last.len() < 300, "short: {last}");
    assert!(last.contains("credentials"), "{stderr}");
}

#[tokio::test]
async fn the_server_logs_security_events_with_the_client_address_and_no_colours() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .env("LATCHKEY_LISTEN", format!("127.0.0.1:{port}"))
        .env("LATCHKEY_DATA_DIR", data.path())
        .env_remove("LATCHKEY_BACKEND")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{base}/health/live")).await.is_err() {
        assert!(Instant::now() < deadline, "the server never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client = reqwest::Client::new();
    let answer = client
        .post(format!("{base}/auth/sign-in"))
        .json(&serde_json::json!({"email": "nobody@example.com", "password": "Not-the-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8(output.stderr).unwrap();
    assert!(
        !log.contains('\u{1b}'),
        "no ANSI colours into a pipe: {log}"
    );
    let line = log
        .lines()
        .find(|line| line.contains("sign_in.failed"))
        .unwrap_or_else(|| panic!("a sign_in.failed event: {log}"));
    assert!(line.contains("unknown_email"), "{line}");
    assert!(line.contains("client=127.0.0.1"), "{line}");
    assert!(line.contains("request_id="), "{line}");
    assert!(!log.contains("Not-the-password-1"));
}
