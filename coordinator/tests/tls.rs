//! Mutual TLS between the tiers, over real connections (servers in this process on
//! port 0): a tree whose every link is TLS replicates, and a stranger is refused at
//! the district while the tree's own links go on.
//!
//! Refused: a connection without a client certificate, one with a certificate from
//! another CA, plaintext, a certificate for an id that is not a configured child, and
//! a stream whose `linli-node` header names another child than its certificate.

mod common;

use common::*;
use linli_node::config::Tier;
use linli_node::link::NODE_HEADER;
use linli_proto::v1;
use linli_proto::v1::replication_client::ReplicationClient;
use linli_tls::dev::DevCa;
use std::time::Duration;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

const STREET: &str = "lg-s01";
const OTHER_STREET: &str = "lg-s02";
const COMMUNITY: &str = "lg-s01-c01";
const WAIT: Duration = Duration::from_secs(20);

/// Dials `addr` with `tls` (or plaintext) and opens `Replication.Link` naming `header`:
/// the error's text if the connection or the call is refused.
async fn try_link(addr: std::net::SocketAddr, tls: Option<ClientTlsConfig>, header: &str) -> Result<(), String> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}")).map_err(|e| e.to_string())?;
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).map_err(|e| e.to_string())?;
    }
    let channel = endpoint.connect_timeout(Duration::from_secs(5)).connect().await.map_err(|e| format!("{e:?}"))?;
    let (_out, frames) = tokio::sync::mpsc::channel::<v1::Frame>(4);
    let mut request = tonic::Request::new(ReceiverStream::new(frames));
    request.metadata_mut().insert(NODE_HEADER, header.parse().expect("header"));
    let mut client = ReplicationClient::new(channel);
    match tokio::time::timeout(Duration::from_secs(5), client.link(request)).await {
        Err(_) => Err("no answer".into()),
        Ok(Err(status)) => Err(format!("{:?}: {}", status.code(), status.message())),
        Ok(Ok(_)) => Ok(()),
    }
}

fn client(ca: &DevCa, as_node: Option<&str>) -> ClientTlsConfig {
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca.pem().cert)).domain_name(DISTRICT);
    match as_node {
        Some(id) => {
            let pem = ca.node(id).expect("cert");
            tls.identity(Identity::from_pem(pem.cert, pem.key))
        }
        None => tls,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tree_over_mutual_tls_replicates_and_refuses_strangers_meanwhile() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = &certs().ca;
    let district_config = config(DISTRICT, Tier::District, dir.path().join("d"), None, &[STREET, OTHER_STREET]);
    let district = start(district_config, any()).await;
    let street_config =
        config(STREET, Tier::Street, dir.path().join("s"), parent(DISTRICT, district.addr), &[COMMUNITY]);
    let street = start(street_config, any()).await;
    let community_config = config(COMMUNITY, Tier::Community, dir.path().join("c"), parent(STREET, street.addr), &[]);
    let community = start(community_config, any()).await;

    let first = write(&community, request(COMMUNITY, 0)).await;
    eventually("the first write at the district, over TLS", WAIT, || async {
        get(&district, &first.key).await.is_some()
    })
    .await;

    // Strangers at the district's door.
    let no_cert = try_link(district.addr, Some(client(ca, None)), OTHER_STREET).await;
    assert!(no_cert.is_err(), "no client certificate: {no_cert:?}");
    let stranger_ca = DevCa::new("elsewhere").expect("other ca");
    let foreign =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca.pem().cert)).domain_name(DISTRICT).identity({
            let pem = stranger_ca.node(OTHER_STREET).expect("cert");
            Identity::from_pem(pem.cert, pem.key)
        });
    let foreign = try_link(district.addr, Some(foreign), OTHER_STREET).await;
    assert!(foreign.is_err(), "a certificate of another CA: {foreign:?}");
    let plaintext = try_link(district.addr, None, OTHER_STREET).await;
    assert!(plaintext.is_err(), "plaintext: {plaintext:?}");
    let not_a_child = try_link(district.addr, Some(client(ca, Some("lg-s09"))), "lg-s09").await;
    let reason = not_a_child.expect_err("a certificate for an id that is no child");
    assert!(reason.contains("PermissionDenied") && reason.contains("not a configured child"), "{reason}");
    // A configured child's certificate, a stream that says it is another child: the
    // street's live link is not cut by it.
    let posing = try_link(district.addr, Some(client(ca, Some(OTHER_STREET))), STREET).await;
    let reason = posing.expect_err("a stream naming another child than its certificate");
    assert!(reason.contains("PermissionDenied") && reason.contains(&format!("names `{OTHER_STREET}`")), "{reason}");

    // The tree's own links were served all along.
    let second = write(&community, request(COMMUNITY, 1)).await;
    eventually("the second write at the district", WAIT, || async { get(&district, &second.key).await.is_some() })
        .await;

    // linlictl over TLS with an operator's certificate of the CA; in plaintext it
    // cannot reach it.
    let addr = district.addr.to_string();
    certs().files(OPERATOR);
    let certs = certs().dir().display().to_string();
    let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<String>>();
    let tls =
        args(&["linlictl", "--addr", &addr, "--tls-dir", &certs, "--as", OPERATOR, "--server-id", DISTRICT, "status"]);
    let plain = args(&["linlictl", "--addr", &addr, "status"]);
    let codes = tokio::task::spawn_blocking(move || {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let tls = linli_ctl::run_args(tls, &mut out, &mut err);
        let tls_out = String::from_utf8_lossy(&out).to_string();
        let plain = linli_ctl::run_args(plain, &mut out, &mut err);
        (tls, tls_out, plain, String::from_utf8_lossy(&err).to_string())
    })
    .await
    .expect("linlictl");
    assert_eq!(codes.0, 0, "linlictl over TLS: {codes:?}");
    assert!(codes.1.contains(STREET), "the district's links name the street: {codes:?}");
    // Refused, and linlictl says what is likely missing.
    assert_ne!(codes.2, 0, "linlictl in plaintext: {codes:?}");
    assert!(codes.3.contains(&addr) && codes.3.contains("give --tls-dir and --as"), "{codes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_refuses_a_parent_whose_certificate_names_another_node() {
    let dir = tempfile::tempdir().expect("dir");
    let district = start(config(DISTRICT, Tier::District, dir.path().join("d"), None, &[STREET]), any()).await;
    // The street expects its parent to be `lg-x`: the district's certificate says `lg`.
    let street_config = config(STREET, Tier::Street, dir.path().join("s"), parent("lg-x", district.addr), &[COMMUNITY]);
    let street = start(street_config, any()).await;
    // Its dials (every 20 to 200 ms) fail the handshake: no link comes up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let links = street.running.links.all();
    assert!(links.values().all(|l| !l.connected), "{links:?}");
    assert!(district.running.links.all().values().all(|l| !l.connected));
}
