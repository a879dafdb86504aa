//! The Kubernetes overlays in the repository are what `linli-sim k8s` renders for the
//! presets (never hand-edited drift), and what they hold is what the servers accept:
//! every config loads with the server's own loader (a renamed or unknown key fails
//! here), the ports and probes are the ones the configs listen on and the health
//! service the servers report, and the container's arguments are flags the
//! coordinator takes.

use clap::Args;
use linli_node::cli::ServeArgs;
use linli_node::config::{Overrides, ServerConfig};
use linli_sim::k8s;
use linli_sim::topology::Topology;
use std::path::PathBuf;

fn overlay(preset: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../k8s/overlays").join(preset)
}

#[test]
fn the_committed_overlays_are_the_renders_of_the_presets() {
    for preset in ["longhua", "luohu", "longgang"] {
        let rendered = k8s::render(&Topology::preset(preset, 1).expect("preset")).expect("render");
        for (path, text) in &rendered {
            let committed = std::fs::read_to_string(overlay(preset).join(path))
                .unwrap_or_else(|e| panic!("{preset}/{path}: {e}; run `linli-sim k8s --preset {preset}`"));
            assert_eq!(
                &committed, text,
                "{preset}/{path} differs from its render: run `linli-sim k8s --preset {preset} --out k8s/overlays/{preset}`"
            );
        }
        let files = walk(&overlay(preset));
        assert_eq!(files.len(), rendered.len(), "{preset}: files that no render makes: {files:?}");
    }
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("overlay") {
        let path = entry.expect("entry").path();
        match path.is_dir() {
            true => files.extend(walk(&path)),
            false => files.push(path),
        }
    }
    files
}

#[test]
fn what_the_manifests_hold_is_what_the_servers_accept() {
    let registry = linli_proto::v1::registry_server::SERVICE_NAME;
    for (path, text) in k8s::render(&Topology::preset("longgang", 1).expect("preset")).expect("render") {
        let Some(id) = path.strip_prefix("config/").and_then(|p| p.strip_suffix(".toml")) else { continue };
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("node.toml");
        std::fs::write(&file, &text).expect("write");
        let config = ServerConfig::load(Some(&file), Vec::new(), &Overrides::default())
            .unwrap_or_else(|e| panic!("config/{id}.toml is refused by the server: {e}"));
        assert_eq!(config.id, id);
        assert!(config.data_dir.starts_with(k8s::DATA_DIR), "{:?}", config.data_dir);
        assert!(config.backup_dir.as_ref().is_some_and(|d| d.starts_with(k8s::DATA_DIR)));
        let manifest = k8s::render(&Topology::preset("longgang", 1).expect("preset"))
            .expect("render")
            .into_iter()
            .find(|(p, _)| *p == format!("{id}.yaml"))
            .map(|(_, t)| t)
            .expect("the node's manifest");
        let grpc = config.listen.port();
        let metrics = config.metrics_listen.expect("metrics_listen").port();
        assert!(manifest.contains(&format!("containerPort: {grpc}")), "{id}: no container port {grpc}");
        assert!(manifest.contains(&format!("containerPort: {metrics}")), "{id}: no container port {metrics}");
        assert!(manifest.contains(&format!("prometheus.io/port: \"{metrics}\"")), "{id}: scrape port");
        let probes =
            manifest.matches(&format!("grpc:\n              port: {grpc}\n              service: {registry}")).count();
        assert_eq!(probes, 3, "{id}: readiness, liveness and startup probe the Registry service on {grpc}");
        assert!(manifest.contains(&format!("mountPath: {}", k8s::CONFIG_PATH)), "{id}: config mount");
        // The container's arguments are flags the coordinator takes.
        let args = ["linli-coordinator", "--config", k8s::CONFIG_PATH];
        assert!(manifest.contains(r#"args: ["linli-coordinator", "--config", "/etc/linli/node.toml"]"#));
        let command = ServeArgs::augment_args(clap::Command::new("linli-coordinator"));
        command.try_get_matches_from(args).unwrap_or_else(|e| panic!("the coordinator refuses {args:?}: {e}"));
        // A street's parent is the district's stable name.
        if let Some(parent) = &config.parent {
            assert!(parent.contains(&k8s::address("lg")), "{id}: parent {parent}");
        }
    }
}

#[test]
fn a_topology_whose_ids_cannot_name_kubernetes_objects_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("t.toml");
    std::fs::write(&file, "name = \"t\"\ndistrict = \"d\"\n[[streets]]\nid = \"Street_1\"\ncommunities = [\"c1\"]\n")
        .expect("write");
    let topology = Topology::from_file(&file, 1).expect("topology");
    let err = k8s::render(&topology).expect_err("refused").to_string();
    assert!(err.contains("Street_1") && err.contains("cannot name Kubernetes objects"), "{err}");
}

#[test]
fn a_lab_overlay_runs_the_communities_and_cert_manager_makes_every_secret() {
    let topology = Topology::preset("longhua", 1).expect("preset");
    let options = k8s::Options { cert_manager_issuer: Some("linli-ca".into()), lab_communities: true };
    let rendered = k8s::render_with(&topology, &options).expect("render");
    let certificates = &rendered.iter().find(|(p, _)| p == "certificates.yaml").expect("certificates").1;
    let nodes: Vec<String> = std::iter::once(topology.top.clone())
        .chain(topology.streets.iter().map(|s| s.id.clone()))
        .chain(topology.communities().map(|c| c.id.clone()))
        .collect();
    assert_eq!(certificates.matches("kind: Certificate").count(), nodes.len());
    for id in &nodes {
        // linli reads a certificate's identity from its one DNS name.
        assert!(certificates.contains(&format!("secretName: {id}-tls\n  dnsNames:\n    - {id}\n")), "{id}");
        let manifest = &rendered.iter().find(|(p, _)| *p == format!("{id}.yaml")).expect("manifest").1;
        assert!(manifest.contains(&format!("secretName: {id}-tls")), "{id}: mounts its Secret");
        for (key, path) in [("ca.crt", "ca.pem"), ("tls.crt", "node.pem"), ("tls.key", "node.key")] {
            assert!(manifest.contains(&format!("- key: {key}\n                path: {path}")), "{id}: {key}");
        }
    }
    assert!(certificates.contains("server auth") && certificates.contains("client auth"));
    // A community's config is one its server accepts, under its street.
    let community = topology.communities().next().expect("a community");
    let street = topology.street_of(&community.id).expect("its street").to_string();
    let text = &rendered.iter().find(|(p, _)| *p == format!("config/{}.toml", community.id)).expect("config").1;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("node.toml");
    std::fs::write(&file, text).expect("write");
    let config = ServerConfig::load(Some(&file), Vec::new(), &Overrides::default()).expect("accepted");
    assert_eq!(config.tier, linli_node::config::Tier::Community);
    assert!(config.parent.as_deref().is_some_and(|p| p.contains(&k8s::address(&street))));
    let manifest = &rendered.iter().find(|(p, _)| *p == format!("{}.yaml", community.id)).expect("manifest").1;
    assert!(manifest.contains(r#"args: ["linli-node", "serve", "--config", "/etc/linli/node.toml"]"#));
    let serve = clap::Command::new("linli-node").subcommand(ServeArgs::augment_args(clap::Command::new("serve")));
    serve.try_get_matches_from(["linli-node", "serve", "--config", k8s::CONFIG_PATH]).expect("linli-node takes it");
}
