//! Mutual TLS between linli's tiers.
//!
//! Every node has a certificate from the district's CA whose identity is its node id,
//! written as the certificate's one DNS name (node ids are lowercase letters, digits
//! and hyphens: valid DNS labels). A parent accepts a child only if the child's
//! certificate names a configured child; a child checks that its parent's
//! certificate names the parent it was configured with (the DNS name TLS verifies).
//!
//! - [`dev`]: a development CA and node certificates (`linlictl certs`), so that the
//!   main job, the simulator and the tests run over TLS by default.
//! - [`identity`]: the node id a peer's certificate names.
//! - [`files`]: a node's CA, certificate and key on disk, as tonic's configs.
//! - [`ticket`]: sign-in tickets an operator signs with its key for a node's web console.

pub mod dev;
pub mod files;
pub mod identity;
pub mod ticket;

pub use files::TlsFiles;
pub use identity::peer_identity;

/// The host of a URL such as `https://host:port`: the name a server's certificate is
/// checked against when no node id is configured for it.
pub fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.trim_end_matches('/');
    rest.rsplit_once(':').map_or(rest, |(host, _)| host)
}

/// What went wrong with a certificate, a key or their files.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("making a certificate for `{name}`: {reason}")]
    Generate { name: String, reason: String },
    #[error("`{name}` cannot be a certificate's identity: {reason}")]
    BadName { name: String, reason: String },
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: String, source: std::io::Error },
    #[error("the peer's certificate cannot be read: {reason}")]
    BadCertificate { reason: String },
    #[error("the peer's certificate names no identity (it has no DNS name)")]
    NoIdentity,
    #[error("the peer's certificate names {names:?}: one identity expected")]
    ManyIdentities { names: Vec<String> },
    #[error("the sign-in ticket is malformed: {reason}")]
    TicketMalformed { reason: String },
    #[error("the sign-in ticket's certificate is not one of this district's CA: {reason}")]
    TicketNotFromCa { reason: String },
    #[error("the sign-in ticket's signature is not its certificate's key's")]
    TicketSignature,
    #[error("the sign-in ticket is for node `{node}`; this is `{here}`")]
    TicketForOtherNode { node: String, here: String },
    #[error("the sign-in ticket expired {ago_s} s ago; make a new one")]
    TicketExpired { ago_s: u64 },
    #[error("the sign-in ticket is valid for {minutes} minutes; at most {max_minutes} are accepted")]
    TicketTooLong { minutes: u64, max_minutes: u64 },
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_host_of_a_url() {
        assert_eq!(super::url_host("https://lg-s01:7410"), "lg-s01");
        assert_eq!(super::url_host("https://127.0.0.1:7410/"), "127.0.0.1");
        assert_eq!(super::url_host("lg:7400"), "lg");
    }
}
