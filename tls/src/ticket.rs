//! Sign-in tickets: how an operator proves to a node's web console, in a browser, that
//! it holds an operator's certificate and key (the same credentials `linlictl` uses).
//!
//! A browser cannot easily be given a client certificate, and the console must not
//! invent a second set of passwords. So `linlictl console-ticket` signs a short claim
//! with the operator's private key ("sign me in at node `lg`, until 10:42") and puts
//! the operator's certificate beside it. The console checks, from its own side:
//! the certificate chains to the district's CA and is valid for client
//! authentication now; the signature is the certificate's key's; the ticket names this
//! node; it has not expired and was not made to live longer than
//! [`TICKET_LIFETIME_MS_MAX`]. The node then remembers the ticket's id until it expires,
//! so a ticket signs in once.
//!
//! The text: `v1.<payload>.<certificate>.<signature>`, each part base64url without
//! padding; the payload is `linli console sign-in\nnode=<id>\nexpires_ms=<n>`.

use crate::TlsError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rcgen::{KeyPair, SigningKey};
use rustls_pki_types::{CertificateDer, UnixTime};

/// The longest a ticket may be valid: long enough to paste it, short enough that a
/// ticket left in a chat or a shell history is soon worthless.
pub const TICKET_LIFETIME_MS_MAX: u64 = 15 * 60 * 1000;
/// The most bytes a ticket's text may have (a certificate is about 600).
pub const TICKET_BYTES_MAX: usize = 4096;

const VERSION: &str = "v1";
const HEADER: &str = "linli console sign-in";

/// A ticket the console accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The identity its certificate names (`operator--lg-s1--li`).
    pub operator: String,
    /// When it stops being accepted, in ms since the Unix epoch.
    pub expires_ms: u64,
    /// What tells this ticket from every other: its signature's hex prefix (ECDSA
    /// signatures are randomized). The console remembers it to refuse a second use.
    pub id: String,
}

/// A ticket for `node`, valid until `expires_ms`, signed with `key_pem` and carrying
/// `cert_pem` (the operator's certificate and key, as `linlictl certs` writes them).
pub fn sign(cert_pem: &str, key_pem: &str, node: &str, expires_ms: u64) -> Result<String, TlsError> {
    let bad = |reason: String| TlsError::TicketMalformed { reason };
    let der = crate::identity::pem_to_der(cert_pem)?;
    let key = KeyPair::from_pem(key_pem).map_err(|e| bad(format!("the key cannot be read: {e}")))?;
    let payload = format!("{HEADER}\nnode={node}\nexpires_ms={expires_ms}");
    let signature = key.sign(payload.as_bytes()).map_err(|e| bad(format!("signing: {e}")))?;
    Ok(format!("{VERSION}.{}.{}.{}", B64.encode(payload), B64.encode(der), B64.encode(signature)))
}

/// Checks `ticket` against the CA `ca_pem`, for node `here`, at `now_ms`.
pub fn verify(ca_pem: &str, ticket: &str, here: &str, now_ms: u64) -> Result<Ticket, TlsError> {
    let malformed = |reason: &str| TlsError::TicketMalformed { reason: reason.to_string() };
    let ticket = ticket.trim();
    if ticket.len() > TICKET_BYTES_MAX {
        return Err(malformed(&format!("{} bytes, more than the bound of {TICKET_BYTES_MAX}", ticket.len())));
    }
    let parts: Vec<&str> = ticket.split('.').collect();
    let [version, payload, cert, signature] = parts.as_slice() else {
        return Err(malformed("expected four parts separated by dots"));
    };
    if *version != VERSION {
        return Err(malformed(&format!("version `{version}` is not `{VERSION}`")));
    }
    let decode =
        |part: &str, what: &str| B64.decode(part).map_err(|_| malformed(&format!("the {what} is not base64url")));
    let payload = decode(payload, "payload")?;
    let cert = decode(cert, "certificate")?;
    let signature = decode(signature, "signature")?;
    let payload = std::str::from_utf8(&payload).map_err(|_| malformed("the payload is not UTF-8"))?;
    let (node, expires_ms) = claims(payload).ok_or_else(|| malformed("the payload is not a sign-in claim"))?;

    // The certificate first: everything else is only worth reading if the CA made it.
    let ca = crate::identity::pem_to_der(ca_pem)?;
    let ca = CertificateDer::from(ca);
    let anchor = webpki::anchor_from_trusted_cert(&ca)
        .map_err(|e| TlsError::BadCertificate { reason: format!("the CA: {e:?}") })?;
    let der = CertificateDer::from(cert.as_slice());
    let end = webpki::EndEntityCert::try_from(&der)
        .map_err(|e| TlsError::TicketNotFromCa { reason: format!("its certificate cannot be read: {e:?}") })?;
    let now = UnixTime::since_unix_epoch(std::time::Duration::from_millis(now_ms));
    end.verify_for_usage(
        &[webpki::ring::ECDSA_P256_SHA256, webpki::ring::ECDSA_P384_SHA384, webpki::ring::ED25519],
        &[anchor],
        &[],
        now,
        webpki::KeyUsage::client_auth(),
        None,
        None,
    )
    .map_err(|e| TlsError::TicketNotFromCa { reason: format!("{e:?}") })?;
    let verified = [webpki::ring::ECDSA_P256_SHA256, webpki::ring::ECDSA_P384_SHA384, webpki::ring::ED25519]
        .iter()
        .any(|alg| end.verify_signature(*alg, payload.as_bytes(), &signature).is_ok());
    if !verified {
        return Err(TlsError::TicketSignature);
    }
    let operator = crate::identity::peer_identity(&cert)?;
    if node != here {
        return Err(TlsError::TicketForOtherNode { node: node.to_string(), here: here.to_string() });
    }
    if expires_ms <= now_ms {
        return Err(TlsError::TicketExpired { ago_s: (now_ms - expires_ms) / 1000 });
    }
    if expires_ms - now_ms > TICKET_LIFETIME_MS_MAX {
        return Err(TlsError::TicketTooLong {
            minutes: (expires_ms - now_ms) / 60_000,
            max_minutes: TICKET_LIFETIME_MS_MAX / 60_000,
        });
    }
    let id = signature.iter().take(16).map(|b| format!("{b:02x}")).collect();
    Ok(Ticket { operator, expires_ms, id })
}

/// `(node, expires_ms)` of a payload, if it is exactly a sign-in claim.
fn claims(payload: &str) -> Option<(&str, u64)> {
    let mut lines = payload.split('\n');
    (lines.next()? == HEADER).then_some(())?;
    let node = lines.next()?.strip_prefix("node=")?;
    let expires_ms = lines.next()?.strip_prefix("expires_ms=")?.parse().ok()?;
    lines.next().is_none().then_some((node, expires_ms))
}

/// 32 random bytes as hex, from the operating system's generator: a session's id.
pub fn random_token() -> Result<String, TlsError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| TlsError::Generate { name: "a session id".into(), reason: "no random bytes".into() })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::DevCa;

    const NOW: u64 = 1_780_000_000_000;

    fn operator(ca: &DevCa) -> crate::dev::Pem {
        ca.node("operator--lg-s1--li").expect("operator")
    }

    #[test]
    fn a_ticket_signed_with_the_operators_key_signs_in_once_at_its_node() {
        let ca = DevCa::new("lg").expect("ca");
        let op = operator(&ca);
        let ticket = sign(&op.cert, &op.key, "lg", NOW + 60_000).expect("sign");
        let ok = verify(&ca.pem().cert, &ticket, "lg", NOW).expect("verify");
        assert_eq!(ok.operator, "operator--lg-s1--li");
        assert_eq!(ok.expires_ms, NOW + 60_000);
        assert_eq!(ok.id.len(), 32);
    }

    #[test]
    fn a_ticket_is_refused_for_another_node_late_too_long_or_from_another_ca() {
        let ca = DevCa::new("lg").expect("ca");
        let op = operator(&ca);
        let ticket = sign(&op.cert, &op.key, "lg", NOW + 60_000).expect("sign");
        let other = verify(&ca.pem().cert, &ticket, "lg-s2", NOW).expect_err("other node");
        assert!(other.to_string().contains("for node `lg`"), "{other}");
        let late = verify(&ca.pem().cert, &ticket, "lg", NOW + 120_000).expect_err("late");
        assert!(late.to_string().contains("expired 60 s ago"), "{late}");
        let long = sign(&op.cert, &op.key, "lg", NOW + 3_600_000).expect("sign");
        let long = verify(&ca.pem().cert, &long, "lg", NOW).expect_err("long");
        assert!(long.to_string().contains("at most 15"), "{long}");
        let stranger = DevCa::new("elsewhere").expect("ca");
        let theirs = stranger.node("operator--lg--x").expect("cert");
        let forged = sign(&theirs.cert, &theirs.key, "lg", NOW + 60_000).expect("sign");
        let forged = verify(&ca.pem().cert, &forged, "lg", NOW).expect_err("another CA");
        assert!(matches!(forged, TlsError::TicketNotFromCa { .. }), "{forged}");
    }

    #[test]
    fn a_ticket_whose_claim_or_signature_was_changed_is_refused() {
        let ca = DevCa::new("lg").expect("ca");
        let op = operator(&ca);
        let ticket = sign(&op.cert, &op.key, "lg-s1", NOW + 60_000).expect("sign");
        let parts: Vec<&str> = ticket.split('.').collect();
        // The claim says another node, under the original signature.
        let claim = B64.encode(format!("{HEADER}\nnode=lg\nexpires_ms={}", NOW + 60_000));
        let moved = format!("{}.{claim}.{}.{}", parts[0], parts[2], parts[3]);
        assert!(matches!(verify(&ca.pem().cert, &moved, "lg", NOW), Err(TlsError::TicketSignature)));
        // Someone else's key signs a claim under the operator's certificate.
        let thief = ca.node("lg-s2").expect("another key");
        let stolen = sign(&op.cert, &thief.key, "lg-s1", NOW + 60_000).expect("sign");
        assert!(matches!(verify(&ca.pem().cert, &stolen, "lg-s1", NOW), Err(TlsError::TicketSignature)));
        for garbage in ["", "v1.a.b", "v2.a.b.c", "v1.!!.b.c", &"x".repeat(TICKET_BYTES_MAX + 1)] {
            let err = verify(&ca.pem().cert, garbage, "lg", NOW).expect_err("garbage");
            assert!(matches!(err, TlsError::TicketMalformed { .. }), "{garbage:.20}: {err}");
        }
    }

    #[test]
    fn session_tokens_differ() {
        assert_ne!(random_token().expect("token"), random_token().expect("token"));
    }
}
