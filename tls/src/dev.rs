//! A development CA and the certificates it signs: what `linlictl certs` writes, and
//! what the simulator and the tests make for each run. A deployment uses its own CA
//! (see `docs/security.md`); these certificates are as good, but their key lies in a
//! directory next to them.

use crate::TlsError;
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
