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
