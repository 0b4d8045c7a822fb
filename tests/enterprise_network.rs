//! Enterprise networks (docs/deploy.md "Enterprise networks"): a GitHub Enterprise Server behind
//! a private CA, trusted through `GITHUB_CA_BUNDLE` (a file) or `GITHUB_CA_BUNDLE_SSM_PARAMETER`,
//! and GitHub calls through an HTTPS proxy (`HTTPS_PROXY`, `NO_PROXY`). The fake serves HTTPS on
//! 127.0.0.1 with a certificate from a CA made for each test; the `ghaec2` binary runs
//! `--dry-run` against it with its environment set explicitly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aws_sdk_ssm::types::ParameterType;
use ghaec2::actions::{ActionsClient, ClientOptions};
use ghaec2::config::GitHubConfigUrl;
use ghaec2_fake::{FakeOptions, FakeServer, PrivateCa};

/// The fake over HTTPS, and the CA that signed its certificate.
async fn tls_fake() -> (FakeServer, PrivateCa) {
    let ca = PrivateCa::generate().expect("generates a CA");
    let fake = FakeServer::start_tls(FakeOptions::for_tests(), &ca)
        .await
        .expect("fake starts");
    assert!(fake.base_url().starts_with("https://127.0.0.1:"));
    (fake, ca)
}

/// `text` written to a fresh file.
fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ghaec2-enterprise-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writes");
    path
}

/// `ghaec2 --dry-run` against `fake`; its stdout and stderr together, and whether it passed.
async fn dry_run(fake: &FakeServer, region: &str, extra: &[(&str, &str)]) -> (bool, String) {
    let extra: Vec<(&str, &str)> = [("AWS_MAX_ATTEMPTS", "1")]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let ran = support::cli::run(fake, region, "enterprise", &["--dry-run"], &extra).await;
    let passed = ran.success && ran.stdout.lines().last() == Some("dry-run passed");
    (passed, format!("{}\n{}", ran.stdout, ran.stderr))
}

#[tokio::test]
async fn the_client_refuses_a_private_ca_until_it_is_given_the_bundle() {
    let (fake, ca) = tls_fake().await;
    let client = |extra_roots| {
        let url =
            GitHubConfigUrl::parse_with(&fake.config_url("my-org"), false).expect("config url");
        let options = ClientOptions {
            retry: support::fake::FAST_RETRY,
            extra_roots,
            ..ClientOptions::default()
        };
        ActionsClient::new(url, &support::fake::pat(), options).expect("client")
    };
    let refused = client(Vec::new()).admin_connection().await;
    let text = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.contains("invalid peer certificate: UnknownIssuer"),
        "the cause must be named: {text}"
    );
    let roots = reqwest::Certificate::from_pem_bundle(ca.ca_pem.as_bytes()).expect("PEM");
    let connection = client(roots).admin_connection().await.expect("trusted");
    assert!(
        connection
            .service_url
            .as_str()
            .starts_with("https://127.0.0.1:")
    );
}

#[tokio::test]
async fn a_run_without_the_bundle_fails_with_the_tls_error() {
    let (fake, _ca) = tls_fake().await;
    let (passed, output) = dry_run(&fake, "sa-east-1", &[]).await;
    assert!(!passed, "{output}");
    assert!(
        output.contains("invalid peer certificate: UnknownIssuer"),
        "{output}"
    );
}

#[tokio::test]
async fn a_run_trusts_the_bundle_from_a_file() {
    let (fake, ca) = tls_fake().await;
    // A bundle as users have them: a comment and another root beside the GHES CA.
    let other = PrivateCa::generate().expect("generates a CA").ca_pem;
    let bundle = temp_file(
        "ca.pem",
        &format!("# corporate roots\n{other}{}", ca.ca_pem),
    );
    let (passed, output) = dry_run(
        &fake,
        "sa-east-1",
        &[("GITHUB_CA_BUNDLE", bundle.to_str().expect("utf-8 path"))],
    )
    .await;
    assert!(passed, "{output}");
    assert!(
        output.contains("Trusting extra CA certificates for GitHub.")
            && output.contains("\"certificates\":2"),
        "{output}"
    );
    assert!(!fake.calls_to("runner-registration").is_empty());
}

#[tokio::test]
async fn a_run_trusts_the_bundle_from_an_ssm_parameter() {
    let (fake, ca) = tls_fake().await;
    let region = "ap-east-1";
    let ssm = aws_sdk_ssm::Client::new(&support::moto::sdk_config(region).await);
    ssm.put_parameter()
        .name("/ghaec2/github-ca")
        .value(&ca.ca_pem)
        .r#type(ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .expect("put_parameter");
    let (passed, output) = dry_run(
        &fake,
        region,
        &[("GITHUB_CA_BUNDLE_SSM_PARAMETER", "/ghaec2/github-ca")],
    )
    .await;
    assert!(passed, "{output}");
}

#[tokio::test]
async fn a_bad_bundle_stops_the_run_naming_the_file_not_its_content() {
    let (fake, _ca) = tls_fake().await;
    let bundle = temp_file("not-a-ca.pem", "PRIVATE-LOOKING TEXT");
    let path = bundle.to_str().expect("utf-8 path");
    let (passed, output) = dry_run(&fake, "sa-east-1", &[("GITHUB_CA_BUNDLE", path)]).await;
    assert!(!passed, "{output}");
    assert!(
        output.contains(&format!(
            "CA bundle file \"{path}\" (from GITHUB_CA_BUNDLE) holds no usable certificates: \
             expected PEM certificates"
        )),
        "{output}"
    );
    assert!(!output.contains("PRIVATE-LOOKING TEXT"), "{output}");
    assert!(
        fake.calls_to("runner-registration").is_empty(),
        "nothing is called with a bad bundle"
    );
}

#[tokio::test]
async fn github_calls_go_through_the_https_proxy_in_either_case() {
    for variable in ["HTTPS_PROXY", "https_proxy"] {
        let (fake, ca) = tls_fake().await;
        let bundle = temp_file("ca.pem", &ca.ca_pem);
        let proxy = ConnectProxy::start();
        let (passed, output) = dry_run(
            &fake,
            "sa-east-1",
            &[
                ("GITHUB_CA_BUNDLE", bundle.to_str().expect("utf-8 path")),
                (variable, &proxy.url),
            ],
        )
        .await;
        assert!(passed, "{variable}: {output}");
        // reqwest does not exempt loopback: every GitHub and Actions call is tunnelled.
        let targets = proxy.targets();
        let fake_addr = fake.addr().to_string();
        assert!(
            !targets.is_empty(),
            "{variable}: nothing went through the proxy"
        );
        assert!(targets.iter().all(|t| *t == fake_addr), "{targets:?}");
    }
}

#[tokio::test]
async fn no_proxy_bypasses_the_proxy() {
    let (fake, ca) = tls_fake().await;
    let bundle = temp_file("ca.pem", &ca.ca_pem);
    let proxy = ConnectProxy::start();
    let (passed, output) = dry_run(
        &fake,
        "sa-east-1",
        &[
            ("GITHUB_CA_BUNDLE", bundle.to_str().expect("utf-8 path")),
            ("HTTPS_PROXY", &proxy.url),
            ("NO_PROXY", "example.com,127.0.0.1"),
        ],
    )
    .await;
    assert!(passed, "{output}");
    assert_eq!(proxy.targets(), Vec::<String>::new());
}

/// An HTTP proxy on loopback that tunnels each `CONNECT` and records its target; anything else
/// gets 405. Blocking threads: it must not depend on the runtime the test awaits on.
struct ConnectProxy {
    url: String,
    targets: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let targets = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&targets);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || tunnel(client, &seen));
            }
        });
        ConnectProxy { url, targets }
    }

    fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }
}

fn tunnel(mut client: TcpStream, seen: &Mutex<Vec<String>>) -> std::io::Result<()> {
    // The client waits for our answer before it sends more, so reading up to the blank line
    // takes nothing of the tunnel.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut words = head.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
        return client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n");
    };
    seen.lock().unwrap().push(target.to_owned());
    let mut upstream = TcpStream::connect(target)?;
    client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")?;
    let (mut from_client, mut to_upstream) = (client.try_clone()?, upstream.try_clone()?);
    let upload = std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut to_upstream);
        let _ = to_upstream.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(Shutdown::Write);
    let _ = upload.join();
    Ok(())
}
