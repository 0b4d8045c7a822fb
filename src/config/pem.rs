//! Shape check and normalisation of a GitHub App private key (PEM, PKCS#1 or PKCS#8).
//!
//! Keys pass through env vars, CloudFormation parameters and SSM, which mangle line breaks:
//! `\n` written as two characters, CRLF, or every newline collapsed into a space. The key is
//! rebuilt as canonical PEM (64-character lines) so the JWT signer sees one shape.

use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretString};

/// What a valid private key looks like, for error messages.
pub(crate) const PEM_EXPECTED: &str = "an unencrypted PEM private key starting with \
     -----BEGIN RSA PRIVATE KEY----- (PKCS#1) or -----BEGIN PRIVATE KEY----- (PKCS#8); \
     \\n escapes are accepted";

/// The PEM labels GitHub App keys come in: PKCS#1 (what GitHub downloads) and PKCS#8.
const LABELS: [&str; 2] = ["RSA PRIVATE KEY", "PRIVATE KEY"];

/// The key as canonical PEM, or `None` if it does not look like an unencrypted PKCS#1 or PKCS#8
/// private key.
pub(crate) fn normalize_private_key(key: &SecretString) -> Option<SecretString> {
    let mut text = key
        .expose_secret()
        .trim()
        .replace("\\r\\n", "\n")
        .replace("\\n", "\n")
        .replace('\r', "");
    let normalized = LABELS.iter().find_map(|label| rebuild(&text, label));
    text.zeroize();
    normalized.map(SecretString::from)
}

/// Rebuilds `-----BEGIN {label}-----` … `-----END {label}-----` with the body rewrapped.
fn rebuild(text: &str, label: &str) -> Option<String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = text.strip_prefix(&begin)?.strip_suffix(&end)?;
    let mut base64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let valid = is_base64(&base64);
    let mut pem = String::new();
    if valid {
        pem.push_str(&begin);
        for (i, c) in base64.chars().enumerate() {
            if i % 64 == 0 {
                pem.push('\n');
            }
            pem.push(c);
        }
        pem.push('\n');
        pem.push_str(&end);
        pem.push('\n');
    }
    base64.zeroize();
    valid.then_some(pem)
}

/// Standard base64 with optional padding and a length that is a multiple of 4. Rejects
/// encrypted PKCS#1 keys, whose `Proc-Type:` headers are not base64.
fn is_base64(s: &str) -> bool {
    let data = s.trim_end_matches('=');
    !data.is_empty()
        && s.len().is_multiple_of(4)
        && s.len() - data.len() <= 2
        && data
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A syntactically valid body (not a real key: the shape is all this module checks).
    const BODY: &str = "MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQJAIJLixBy2qpFoS4DSmoEmo3qGy0t6z09AIJtH+5OeRV1be+N4cDYJKffGzDa88vQENZiRm0GRq6a+HPGQMd2kTQIhAKMSvzIBnni7ot/OSie2TmJLY4SwTQAevXysE2RbFDYdAiEBCUEaRQnMnbp79mxDXDf6AU0cN/RPBjb9qSHDcWZHGzUCIG2Es59z8ugGrDY+pxLQnwfotadxd+Uyv/Ow5T0q5gIJAiEAyS4RaI9YG8EWx/2w0T67ZUVAw8eOMB6BIUg0Xcu+3okCIBOs/5OiPgoTdSy7bcF9IGpSE8ZgGKzgYQVZeN97YE00";

    fn pem(label: &str, sep: &str) -> String {
        let lines: Vec<&str> = BODY
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        format!(
            "-----BEGIN {label}-----{sep}{}{sep}-----END {label}-----",
            lines.join(sep)
        )
    }

    fn normalize(s: &str) -> Option<String> {
        normalize_private_key(&SecretString::from(s)).map(|k| k.expose_secret().to_owned())
    }

    #[test]
    fn mangled_line_breaks_normalise_to_canonical_pem() {
        for label in LABELS {
            let canonical = format!("{}\n", pem(label, "\n"));
            let variants = [
                canonical.clone(),
                pem(label, "\\n"),
                pem(label, "\r\n"),
                pem(label, "\\r\\n"),
                pem(label, " "),
                format!("  {}\n\n", pem(label, "\n")),
                format!("-----BEGIN {label}-----{BODY}-----END {label}-----"),
            ];
            for variant in variants {
                assert_eq!(
                    normalize(&variant).as_deref(),
                    Some(canonical.as_str()),
                    "{variant:?}"
                );
            }
        }
    }

    #[test]
    fn other_shapes_are_refused() {
        let cases = [
            String::new(),
            "ghp_notakey".to_owned(),
            pem("EC PRIVATE KEY", "\n"),
            pem("PUBLIC KEY", "\n"),
            "-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----".to_owned(),
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END RSA PRIVATE KEY-----".to_owned(),
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----".to_owned(),
            "-----BEGIN PRIVATE KEY-----\nAAA\n-----END PRIVATE KEY-----".to_owned(),
        ];
        for case in cases {
            assert_eq!(normalize(&case), None, "{case:?}");
        }
    }
}
