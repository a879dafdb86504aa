use linli_core::Error as CoreError;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Core(#[from] CoreError),

    /// The node's RocksDB store could not be opened.
    #[error(transparent)]
    Store(#[from] linli_store_rocks::RocksError),

    /// The engine's writer thread is gone: shut down, or stopped after a failed commit.
    #[error("the engine has stopped{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    Stopped { reason: Option<String> },

    #[error("could not start the engine's writer thread: {0}")]
    Spawn(std::io::Error),

    /// A link to a peer failed; it is dialled again (child) or awaited (parent).
    #[error("link with {peer}: {reason}")]
    Link { peer: String, reason: String },

    /// A child's Hello claims what this node does not grant it (a tier, owners):
    /// the stream ends with `PERMISSION_DENIED` and nothing of the Hello is kept.
    #[error("link with {peer}: {reason}")]
    HelloRefused { peer: String, reason: String },

    #[error("link with {peer}: {source}")]
    Wire { peer: String, source: linli_proto::ProtoError },

    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),

    #[error("gRPC: {0}")]
    Status(#[from] tonic::Status),

    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },

    /// The reflection service could not read linli's compiled descriptors.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),

    /// A TLS file could not be read, or a peer's certificate names no identity.
    #[error("TLS: {0}")]
    Tls(#[from] linli_tls::TlsError),

    /// A backup could not be taken, or a restore could not be made; `reason` says
    /// what to do about it.
    #[error("{what}: {reason}")]
    Backup { what: &'static str, reason: String },
}
