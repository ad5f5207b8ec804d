//! The Python that runs the independent checkers (PyJWT, openapi-spec-validator).

use std::path::PathBuf;

/// The Python that runs the independent checkers (PyJWT, openapi-spec-validator): `tests/run.sh`
/// exports `LATCHKEY_TEST_PYTHON`; otherwise the venv it uses.
pub fn test_python() -> PathBuf {
    if let Ok(python) = std::env::var("LATCHKEY_TEST_PYTHON") {
        return PathBuf::from(python);
    }
    let venv = std::env::var("LATCHKEY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(".venv")
        });
    venv.join("bin").join("python")
}
