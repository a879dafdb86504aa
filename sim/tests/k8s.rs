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
