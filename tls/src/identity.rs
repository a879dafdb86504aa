//! The node id a peer's certificate names: its one DNS subject alternative name. The
//! chain was verified against the CA by TLS before this is read; this only reads.

use crate::TlsError;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The identity of the certificate `der`: its single DNS name.
pub fn peer_identity(der: &[u8]) -> Result<String, TlsError> {
    let der = CertificateDer::from(der);
    let cert =
        webpki::EndEntityCert::try_from(&der).map_err(|e| TlsError::BadCertificate { reason: format!("{e:?}") })?;
    let names: Vec<String> = cert.valid_dns_names().map(String::from).collect();
    match names.as_slice() {
        [] => Err(TlsError::NoIdentity),
        [one] => Ok(one.clone()),
        _ => Err(TlsError::ManyIdentities { names }),
    }
}

/// The DER of the first certificate in `pem`.
pub fn pem_to_der(pem: &str) -> Result<Vec<u8>, TlsError> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|der| der.as_ref().to_vec())
        .map_err(|e| TlsError::BadCertificate { reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_are_no_certificate_are_refused() {
        let err = peer_identity(b"not a certificate").expect_err("garbage");
        assert!(err.to_string().contains("cannot be read"), "{err}");
    }

    #[test]
    fn a_ca_certificate_names_no_node() {
        let ca = crate::dev::DevCa::new("lg").expect("ca");
        let der = pem_to_der(&ca.pem().cert).expect("der");
        assert!(matches!(peer_identity(&der), Err(TlsError::NoIdentity)));
    }
}
