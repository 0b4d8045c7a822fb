//! The Actions runner release the user-data installs on an image that lacks one (stock Amazon
//! Linux 2023): version, download location and the SHA-256 of each tarball, pinned together so
//! a download is checked against the hash published with that release.
//!
//! To move to a newer release, change all three values at once, taking the hashes from the
//! release page (https://github.com/actions/runner/releases), and keep the version at or above
//! [`crate::config::DEFAULT_RUNNER_MIN_VERSION`] (a unit test checks that).

/// Pinned runner version.
pub const VERSION: &str = "2.329.0";
/// SHA-256 of `actions-runner-linux-x64-2.329.0.tar.gz`.
pub const SHA256_X64: &str = "194f1e1e4bd02f80b7e9633fc546084d8d4e19f3928a324d512ea53430102e1d";
/// SHA-256 of `actions-runner-linux-arm64-2.329.0.tar.gz`.
pub const SHA256_ARM64: &str = "56768348b3d643a6a29d4ad71e9bdae0dc0ef1eb01afe0f7a8ee097b039bfaaf";
/// Where GitHub serves release assets: `<this>/v<version>/<tarball>`.
pub const DOWNLOAD_BASE: &str = "https://github.com/actions/runner/releases/download";

/// A runner release as the script downloads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerRelease {
    /// Version, e.g. `2.329.0`.
    pub version: String,
    /// URL of the release's assets (the tarballs are below it).
    pub url: String,
    /// SHA-256 of the linux-x64 tarball, lowercase hex.
    pub sha256_x64: String,
    /// SHA-256 of the linux-arm64 tarball, lowercase hex.
    pub sha256_arm64: String,
}

impl RunnerRelease {
    /// The pinned release, from GitHub.
    pub fn pinned() -> Self {
        Self {
            version: VERSION.to_owned(),
            url: format!("{DOWNLOAD_BASE}/v{VERSION}"),
            sha256_x64: SHA256_X64.to_owned(),
            sha256_arm64: SHA256_ARM64.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_RUNNER_MIN_VERSION;

    fn numbers(version: &str) -> Vec<u32> {
        version.split('.').map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn pinned_release_meets_the_default_minimum() {
        assert!(numbers(VERSION) >= numbers(DEFAULT_RUNNER_MIN_VERSION));
    }

    #[test]
    fn hashes_are_sha256_hex_and_differ() {
        for hash in [SHA256_X64, SHA256_ARM64] {
            assert_eq!(hash.len(), 64, "{hash}");
            assert!(
                hash.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{hash}"
            );
        }
        assert_ne!(SHA256_X64, SHA256_ARM64);
    }

    #[test]
    fn downloads_from_the_versions_release() {
        assert_eq!(
            RunnerRelease::pinned().url,
            "https://github.com/actions/runner/releases/download/v2.329.0"
        );
    }
}
