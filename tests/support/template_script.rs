//! `scripts/check-template.py` from the tests: template.yaml (short-form tags expanded) and the
//! samconfig.toml overrides as JSON, and the IAM review. Python: `$GHAEC2_VENV/bin/python`,
//! else `~/.cache/ghaec2-venv/bin/python` (as `scripts/venv.sh` creates it), else `python3`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    let venv = std::env::var_os("GHAEC2_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ghaec2-venv")));
    venv.map(|v| v.join("bin/python"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// Runs the script with `args`.
pub fn check_template(args: &[&str]) -> Output {
    run_script("scripts/check-template.py", args)
}

/// Runs the Python script at `path` (from the repository root) with `args`.
pub fn run_script(path: &str, args: &[&str]) -> Output {
    let python = python();
    Command::new(&python)
        .arg(root().join(path))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()))
}

/// `{"template": …, "samconfig_overrides": {…}}` of the real files, read once.
pub fn dump() -> &'static Value {
    static DUMP: OnceLock<Value> = OnceLock::new();
    DUMP.get_or_init(|| {
        let out = check_template(&["--json"]);
        assert!(
            out.status.success(),
            "scripts/check-template.py --json failed (PyYAML missing? run scripts/venv.sh):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    })
}
