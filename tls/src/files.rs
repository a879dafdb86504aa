//! A node's TLS files: the CA that signs every node of the district, its own
//! certificate and its private key, all PEM. Read once at start; a bad or missing file
//! stops the start with its path.

use crate::TlsError;
use std::path::{Path, PathBuf};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// The paths of a node's TLS files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA certificate peers' certificates must chain to.
    pub ca: PathBuf,
    /// This node's certificate (its identity: its node id).
    pub cert: PathBuf,
    /// This node's private key.
    pub key: PathBuf,
}

/// The three files' contents.
#[derive(Debug, Clone)]
pub struct TlsPem {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

fn read(what: &'static str, path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Io { what, path: path.display().to_string(), source })
}

impl TlsFiles {
    /// The files a directory written by `linlictl certs` holds for node `id`.
    pub fn in_dir(dir: &Path, id: &str) -> Self {
        Self { ca: dir.join("ca.pem"), cert: dir.join(format!("{id}.pem")), key: dir.join(format!("{id}.key")) }
    }

    pub fn read(&self) -> Result<TlsPem, TlsError> {
        Ok(TlsPem {
            ca: read("reading the CA certificate", &self.ca)?,
            cert: read("reading this node's certificate", &self.cert)?,
            key: read("reading this node's key", &self.key)?,
        })
    }
}

impl TlsPem {
    /// A server that requires a client certificate chaining to the CA.
    pub fn server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert, &self.key))
            .client_ca_root(Certificate::from_pem(&self.ca))
    }

    /// The web console's server: this node's certificate, no client certificate asked
    /// (operators sign in with tickets), HTTP/2 and HTTP/1.1.
    pub fn console_server(&self) -> Result<std::sync::Arc<tokio_rustls::rustls::ServerConfig>, TlsError> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        use tokio_rustls::rustls;
        let bad = |reason: String| TlsError::BadCertificate { reason };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(self.cert.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| bad(format!("this node's certificate: {e}")))?;
        let key =
            PrivateKeyDer::from_pem_slice(self.key.as_bytes()).map_err(|e| bad(format!("this node's key: {e}")))?;
        // ring, as tonic's TLS (`tls-ring`): rustls's post-quantum key exchange needs
        // aws-lc-rs, another C build, for a console on a district's own network.
        #[allow(deprecated)]
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| bad(format!("this node's certificate and key: {e}")))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(std::sync::Arc::new(config))
    }

    /// A client that presents this node's certificate and accepts only a server whose
    /// certificate chains to the CA and names `server_id`.
    pub fn client(&self, server_id: &str) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca))
            .identity(Identity::from_pem(&self.cert, &self.key))
            .domain_name(server_id)
    }
}
