//! Serving the fake over HTTPS, as a GitHub Enterprise Server behind a private CA is served:
//! [`PrivateCa`] makes a CA and a server certificate for `127.0.0.1` and `localhost`, and
//! [`FakeServer::start_tls`] serves with it. Clients trust the fake only when given the CA's PEM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;

use crate::options::FakeOptions;
use crate::server::{FakeServer, StartError};

/// A handshake that takes longer than this is dropped (a client that connects and says
/// nothing must not hold a task forever).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A fresh private CA and the server certificate it signed (for `127.0.0.1` and `localhost`).
#[derive(Clone)]
pub struct PrivateCa {
    /// The CA certificate (PEM): what a client must trust.
    pub ca_pem: String,
    /// The server certificate (PEM).
    pub server_cert_pem: String,
    /// The server certificate's private key (PEM).
    pub server_key_pem: String,
}

impl std::fmt::Debug for PrivateCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateCa")
            .field("ca_pem", &self.ca_pem)
            .finish_non_exhaustive()
    }
}

impl PrivateCa {
    /// Generates the CA and the server certificate.
    pub fn generate() -> Result<PrivateCa, rcgen::Error> {
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.distinguished_name
            .push(DnType::CommonName, "ghaec2-fake private CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;
        let mut server =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
        server
            .distinguished_name
            .push(DnType::CommonName, "ghaec2-fake");
        let server_key = KeyPair::generate()?;
        let server_cert = server.signed_by(&server_key, &ca)?;
        Ok(PrivateCa {
            ca_pem: ca.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
        })
    }

    fn server_config(&self) -> Result<ServerConfig, StartError> {
        let invalid =
            |what: &str, e: &dyn std::fmt::Display| StartError::Tls(format!("{what}: {e}"));
        let chain = CertificateDer::pem_slice_iter(self.server_cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid("server certificate", &e))?;
        let key = PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes())
            .map_err(|e| invalid("server key", &e))?;
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| invalid("protocol versions", &e))?
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .map_err(|e| invalid("server certificate", &e))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

impl FakeServer {
    /// Like [`FakeServer::start`], over HTTPS with `ca`'s server certificate: the base URL
    /// (and so every config URL and Actions Service URL the fake hands out) is `https://`.
    pub async fn start_tls(options: FakeOptions, ca: &PrivateCa) -> Result<FakeServer, StartError> {
        let acceptor = TlsAcceptor::from(Arc::new(ca.server_config()?));
        let (tcp, addr) = FakeServer::bind(options.port).await?;
        let (handshaken, incoming) = mpsc::channel(16);
        tokio::spawn(accept_tls(tcp, acceptor, handshaken));
        let listener = TlsListener { incoming, addr };
        Ok(FakeServer::serve(
            listener,
            addr,
            format!("https://{addr}"),
            options,
        ))
    }
}

/// Accepts connections and completes their handshakes concurrently, so a slow or refused
/// handshake never holds up the others. Ends when the listener is dropped.
async fn accept_tls(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshaken: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "Fake TLS accept failed.");
                    continue;
                }
            },
            () = handshaken.closed() => return,
        };
        let (acceptor, handshaken) = (acceptor.clone(), handshaken.clone());
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = handshaken.send((tls, peer)).await;
                }
                // A client that does not trust the CA ends here: that is what tests look for.
                Ok(Err(e)) => tracing::info!(%peer, error = %e, "Fake TLS handshake failed."),
                Err(_) => tracing::info!(%peer, "Fake TLS handshake timed out."),
            }
        });
    }
}

/// The listener `axum::serve` reads: connections whose handshake is done.
struct TlsListener {
    incoming: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(connection) => connection,
            // The accept task only ends once this listener is gone, so this never happens.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.addr)
    }
}
