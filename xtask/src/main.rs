//! `cargo run -p xtask -- template`: rewrite `template.yaml`'s `# BEGIN ROUTES` blocks from the
//! groups' declared routes. `cargo run -p xtask -- openapi`: write the OpenAPI document the
//! well-known function serves. Review the diff and commit it; the tests fail while either file
//! is stale.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use latchkey_local::{openapi, template};

fn main() -> ExitCode {
    let command = std::env::args().nth(1);
    let outcome = match command.as_deref() {
        Some("template") => write_template(),
        Some("openapi") => write_openapi(),
        Some("all") => write_template().and_then(|()| write_openapi()),
        _ => Err("usage: cargo run -p xtask -- template | openapi | all".to_owned()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error}");
            ExitCode::from(2)
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is in the workspace")
        .to_path_buf()
}

fn write_template() -> Result<(), String> {
    let path = workspace_root().join(template::TEMPLATE_PATH);
    let text = read(&path)?;
    let regenerated = template::regenerate(&text)?;
    write_if_changed(&path, &text, &regenerated)
}

fn write_openapi() -> Result<(), String> {
    let path = workspace_root().join(openapi::DOCUMENT_PATH);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    write_if_changed(&path, &text, &openapi::document_json())
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn write_if_changed(path: &Path, old: &str, new: &str) -> Result<(), String> {
    if old == new {
        println!("{} is up to date", path.display());
        return Ok(());
    }
    std::fs::write(path, new).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}
