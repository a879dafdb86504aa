//! A development CA and the certificates it signs: what `linlictl certs` writes, and
//! what the simulator and the tests make for each run. A deployment uses its own CA
//! (see `docs/security.md`); these certificates are as good, but their key lies in a
//! directory next to them.

use crate::TlsError;
use crate::files::{TlsFiles, TlsPem};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// How long a development certificate is valid.
pub const VALID_DAYS: u64 = 365;

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct Pem {
    pub cert: String,
    pub key: String,
}

/// A certificate authority that signs node certificates.
pub struct DevCa {
    pem: Pem,
    issuer: Issuer<'static, KeyPair>,
}

fn failed(name: &str) -> impl Fn(rcgen::Error) -> TlsError + '_ {
    move |e| TlsError::Generate { name: name.to_string(), reason: e.to_string() }
}

fn validity(params: &mut CertificateParams) {
    // A fixed start in the past: a node whose clock runs behind still accepts it.
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    let valid = std::time::Duration::from_secs(VALID_DAYS * 86_400);
    if let Some(end) = std::time::SystemTime::now().checked_add(valid) {
        params.not_after = end.into();
    }
}

impl DevCa {
    /// A new CA named `name` (e.g. the district's id), with a fresh key.
    pub fn new(name: &str) -> Result<Self, TlsError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(failed(name))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, format!("linli CA {name}"));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params);
        let key = KeyPair::generate().map_err(failed(name))?;
        let cert = params.self_signed(&key).map_err(failed(name))?;
        let pem = Pem { cert: cert.pem(), key: key.serialize_pem() };
        Ok(Self { pem, issuer: Issuer::new(params, key) })
    }

    /// The CA's own certificate and key.
    pub fn pem(&self) -> &Pem {
        &self.pem
    }

    /// A certificate for node `id`, for both ends of a link (a node serves its children
    /// and dials its parent with the same one).
    pub fn node(&self, id: &str) -> Result<Pem, TlsError> {
        check_name(id)?;
        let mut params = CertificateParams::new(vec![id.to_string()]).map_err(failed(id))?;
        params.distinguished_name.push(DnType::CommonName, id);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        validity(&mut params);
        let key = KeyPair::generate().map_err(failed(id))?;
        let cert = params.signed_by(&key, &self.issuer).map_err(failed(id))?;
        Ok(Pem { cert: cert.pem(), key: key.serialize_pem() })
    }

    /// What node `id` needs to talk to its peers, in memory: the CA's certificate,
    /// a new certificate for `id` and its key (an in-process client's identity).
    pub fn node_pem(&self, id: &str) -> Result<TlsPem, TlsError> {
        let pem = self.node(id)?;
        Ok(TlsPem { ca: self.pem.cert.clone(), cert: pem.cert, key: pem.key })
    }

    /// Writes the CA's certificate (`ca.pem`, not its key) and a new certificate for
    /// each of `ids` into `dir`, as [`TlsFiles::in_dir`] reads them; files there are
    /// replaced. Returns node `ids`' files, in order.
    pub fn write_nodes(&self, dir: &std::path::Path, ids: &[&str]) -> Result<Vec<TlsFiles>, TlsError> {
        let io = |what, path: &std::path::Path| {
            let path = path.display().to_string();
            move |source| TlsError::Io { what, path, source }
        };
        std::fs::create_dir_all(dir).map_err(io("making the directory", dir))?;
        let ca = dir.join("ca.pem");
        write_private(&ca, &self.pem.cert, false).map_err(io("writing the CA certificate", &ca))?;
        let mut written = Vec::with_capacity(ids.len());
        for id in ids {
            let pem = self.node(id)?;
            let files = TlsFiles::in_dir(dir, id);
            write_private(&files.cert, &pem.cert, false).map_err(io("writing a node certificate", &files.cert))?;
            write_private(&files.key, &pem.key, false).map_err(io("writing a node key", &files.key))?;
            written.push(files);
        }
        Ok(written)
    }
}

/// Writes `text` to `path`, readable by its owner only (keys are secrets; so, for
/// simplicity, is every certificate file). `new_only`: refuse a file that exists.
/// A file replaced is replaced whole (written beside, then renamed over it): a node
/// reading it meanwhile reads the old one or the new one, never a part.
pub fn write_private(path: &std::path::Path, text: &str, new_only: bool) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).mode(0o600).create_new(true);
    if new_only {
        return options.open(path)?.write_all(text.as_bytes());
    }
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut beside = path.as_os_str().to_owned();
    beside.push(format!(".{}.{n}.tmp", std::process::id()));
    let beside = std::path::PathBuf::from(beside);
    options.open(&beside)?.write_all(text.as_bytes())?;
    std::fs::rename(&beside, path)
}

/// A node id as a certificate's DNS name: labels of 1 to 63 lowercase letters, digits
/// and hyphens (no hyphen at either end), joined by dots, 253 characters at most. Node
/// ids may hold more (uppercase, `_`); a node on TLS needs one that is a DNS name.
pub fn check_name(id: &str) -> Result<(), TlsError> {
    let bad = |reason: &str| TlsError::BadName { name: id.to_string(), reason: reason.to_string() };
    if id.is_empty() || id.len() > 253 {
        return Err(bad("1 to 253 characters"));
    }
    for label in id.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad("each dot-separated part 1 to 63 characters"));
        }
        if !label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(bad("only lowercase letters, digits, hyphens and dots (a DNS name)"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad("no hyphen at either end of a part"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_certificate_names_its_node_and_nothing_else() {
        let ca = DevCa::new("lg").expect("ca");
        let pem = ca.node("lg-s01-c03").expect("node");
        let der = crate::identity::pem_to_der(&pem.cert).expect("der");
        assert_eq!(crate::identity::peer_identity(&der).expect("identity"), "lg-s01-c03");
    }

    #[test]
    fn written_files_are_read_back_as_the_node_and_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let ca = DevCa::new("lg").expect("ca");
        let files = ca.write_nodes(dir.path(), &["lg", "lg-s01"]).expect("write");
        assert_eq!(files[1], TlsFiles::in_dir(dir.path(), "lg-s01"));
        let pem = files[1].read().expect("read");
        let der = crate::identity::pem_to_der(&pem.cert).expect("der");
        assert_eq!(crate::identity::peer_identity(&der).expect("identity"), "lg-s01");
        let mode = std::fs::metadata(&files[1].key).expect("key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Written again (a new run over the same directory): replaced.
        ca.write_nodes(dir.path(), &["lg-s01"]).expect("again");
        assert!(write_private(&files[1].key, "x", true).is_err(), "new_only refuses an existing file");
    }

    #[test]
    fn a_name_that_is_no_dns_label_is_refused_with_why() {
        let ca = DevCa::new("lg").expect("ca");
        for (name, why) in
            [("", "1 to 253"), ("Lg-S01", "lowercase"), ("lg_s01", "lowercase"), ("-lg", "hyphen"), ("lg..s", "part")]
        {
            let err = ca.node(name).expect_err(name);
            assert!(err.to_string().contains(why), "{name}: {err}");
        }
    }
}
