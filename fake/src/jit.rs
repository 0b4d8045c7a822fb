//! The `encodedJITConfig` format (docs/protocol.md §12.2): base64 of a JSON object
//! `{file name: base64(file content)}` holding `.runner`, `.credentials` and
//! `.credentials_rsaparams`, as the real runner writes them to its root directory.
//!
//! The RSA parameters are random bytes of the right sizes, not a usable key: nothing
//! talks to the fake with it. Connecting a runner decodes `.runner` to find it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// `.runner` file name.
pub const RUNNER_FILE: &str = ".runner";
/// `.credentials` file name.
pub const CREDENTIALS_FILE: &str = ".credentials";
/// `.credentials_rsaparams` file name.
pub const RSA_PARAMS_FILE: &str = ".credentials_rsaparams";

/// The `.runner` settings (PascalCase, as in the real file, docs/protocol.md §12.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunnerSettings {
    /// Runner (agent) id.
    pub agent_id: u64,
    /// Runner name.
    pub agent_name: String,
    /// Agent pool id.
    pub pool_id: u64,
    /// Agent pool name.
    pub pool_name: String,
    /// Runner self-update disabled.
    pub disable_update: bool,
    /// One job, then exit.
    pub ephemeral: bool,
    /// Actions service (tenant) URL.
    pub server_url: String,
    /// The GitHub web URL.
    pub git_hub_url: String,
    /// Work folder.
    pub work_folder: String,
    /// Broker flow.
    pub use_v2_flow: bool,
    /// Broker URL.
    #[serde(rename = "ServerUrlV2")]
    pub server_url_v2: String,
}

/// Why a JIT config could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JitError {
    /// Not base64.
    #[error("encodedJITConfig is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// Not the expected JSON.
    #[error("encodedJITConfig is not a JIT file map: {0}")]
    Json(#[from] serde_json::Error),
    /// A file is missing.
    #[error("encodedJITConfig has no {0} file")]
    Missing(&'static str),
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        out.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    out.truncate(len);
    out
}

/// Builds the encoded config for a runner; `authorization_url` goes in `.credentials`.
pub fn encode(
    settings: &RunnerSettings,
    authorization_url: &str,
) -> Result<String, serde_json::Error> {
    let runner = serde_json::to_vec_pretty(settings)?;
    let credentials = serde_json::to_vec_pretty(&json!({
        "Scheme": "OAuth",
        "Data": {
            "clientId": uuid::Uuid::new_v4().to_string(),
            "authorizationUrl": authorization_url,
            "requireFipsCryptography": "False",
        }
    }))?;
    let b64 = |n: usize| STANDARD.encode(random_bytes(n));
    let rsa = serde_json::to_vec_pretty(&json!({
        "d": b64(256), "dp": b64(128), "dq": b64(128), "exponent": "AQAB",
        "inverseQ": b64(128), "modulus": b64(256), "p": b64(128), "q": b64(128),
    }))?;
    let files = json!({
        RUNNER_FILE: STANDARD.encode(runner),
        CREDENTIALS_FILE: STANDARD.encode(credentials),
        RSA_PARAMS_FILE: STANDARD.encode(rsa),
    });
    Ok(STANDARD.encode(serde_json::to_vec(&files)?))
}

/// Reads `.runner` back out of an encoded config, as `run.sh --jitconfig` does.
pub fn decode(encoded: &str) -> Result<RunnerSettings, JitError> {
    let files: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&STANDARD.decode(encoded.trim())?)?;
    for name in [CREDENTIALS_FILE, RSA_PARAMS_FILE] {
        if !files.contains_key(name) {
            return Err(JitError::Missing(name));
        }
    }
    let runner = files
        .get(RUNNER_FILE)
        .and_then(|v| v.as_str())
        .ok_or(JitError::Missing(RUNNER_FILE))?;
    Ok(serde_json::from_slice(&STANDARD.decode(runner)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_runner_file() {
        let settings = RunnerSettings {
            agent_id: 7,
            agent_name: "r-1".into(),
            pool_id: 1,
            pool_name: "Default".into(),
            disable_update: true,
            ephemeral: true,
            server_url: "http://x/tenant/1/".into(),
            git_hub_url: "http://x/org".into(),
            work_folder: "_work".into(),
            use_v2_flow: true,
            server_url_v2: "http://x/".into(),
        };
        let encoded = encode(&settings, "http://x/auth").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decode(&encoded).unwrap_or_else(|e| panic!("{e}")), settings);
        let raw: serde_json::Value =
            serde_json::from_slice(&STANDARD.decode(&encoded).unwrap_or_default())
                .unwrap_or_default();
        let runner = STANDARD
            .decode(raw[RUNNER_FILE].as_str().unwrap_or_default())
            .unwrap_or_default();
        let runner: serde_json::Value = serde_json::from_slice(&runner).unwrap_or_default();
        assert_eq!(runner["AgentId"], 7);
        assert_eq!(runner["ServerUrlV2"], "http://x/");
        assert!(decode("bm90IGpzb24=").is_err());
    }
}
