//! A district on Kubernetes, rendered from a topology the simulator reads: a kustomize
//! overlay over `k8s/base` with, per coordinator (the district and each street), its
//! config (the TOML `linli-coordinator` reads, put in a ConfigMap by kustomize's
//! generator: one source, never a second copy by hand), a StatefulSet with a volume for
//! RocksDB, a headless Service for its stable name, and for a street a Service its
//! communities (outside the cluster, in community centres) dial.
//!
//! `linli-sim k8s --preset longgang --out k8s/overlays/longgang` writes one; the
//! overlays in the repository are these renders, and a test renders them again and
//! compares, and loads every config with the server's own loader.

use crate::error::SimError;
use crate::topology::Topology;
use std::fmt::Write as _;
use std::path::Path;

/// The gRPC port of every coordinator (links, operators' calls, health).
pub const GRPC_PORT: u16 = 7400;
/// The Prometheus port.
pub const METRICS_PORT: u16 = 9400;
/// Where the config is mounted; the container's args name it.
pub const CONFIG_PATH: &str = "/etc/linli/node.toml";
/// Where the certificate Secret is mounted.
pub const TLS_DIR: &str = "/etc/linli/tls";
/// The persistent volume's mount: the store and backups.
pub const DATA_DIR: &str = "/var/lib/linli";
/// The namespace of the base.
pub const NAMESPACE: &str = "linli";

/// One rendered file: its path in the overlay and its text.
pub type Rendered = Vec<(String, String)>;

/// What an overlay holds beyond the coordinators.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// cert-manager `Certificate`s for every node's Secret, from this issuer (a
    /// ClusterIssuer holding the district's CA); `None`: the Secrets are made by hand.
    pub cert_manager_issuer: Option<String>,
    /// The communities too, as `linli-node` StatefulSets: for a lab cluster (real
    /// communities run on their own servers).
    pub lab_communities: bool,
}

/// A node id must be a DNS label to name Kubernetes objects.
fn check_name(id: &str) -> Result<(), SimError> {
    let fine = !id.is_empty()
        && id.len() <= 50
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-');
    match fine {
        true => Ok(()),
        false => Err(SimError::BadTopology {
            reason: format!(
                "node id `{id}` cannot name Kubernetes objects: lowercase letters, digits and `-`, at most 50"
            ),
        }),
    }
}

/// The stable in-cluster address of coordinator `id`: its StatefulSet's one pod,
/// through its headless Service.
pub fn address(id: &str) -> String {
    format!("{id}-0.{id}.{NAMESPACE}.svc.cluster.local")
}

/// The config `linli-coordinator` reads in the pod.
pub fn config(id: &str, tier: &str, parent: Option<&str>, children: &[String]) -> String {
    let mut text = format!(
        "# Rendered by `linli-sim k8s`; the coordinator reads this file as it is.\n\
         id = \"{id}\"\ntier = \"{tier}\"\nlisten = \"0.0.0.0:{GRPC_PORT}\"\n\
         data_dir = \"{DATA_DIR}/data\"\nbackup_dir = \"{DATA_DIR}/backups\"\n\
         metrics_listen = \"0.0.0.0:{METRICS_PORT}\"\n"
    );
    if let Some(parent) = parent {
        let _ = writeln!(text, "parent = \"https://{}:{GRPC_PORT}\"", address(parent));
    }
    let children: Vec<String> = children.iter().map(|c| format!("\"{c}\"")).collect();
    let _ = writeln!(text, "children = [{}]", children.join(", "));
    let _ = write!(
        text,
        "\n[tls]\nca = \"{TLS_DIR}/ca.pem\"\ncert = \"{TLS_DIR}/node.pem\"\nkey = \"{TLS_DIR}/node.key\"\n"
    );
    if let Some(parent) = parent {
        let _ = writeln!(text, "parent_id = \"{parent}\"");
    }
    text
}

/// Requests and limits per tier, first estimates (k8s/README.md): the district
/// process used about 0.35 of a core with Longgang at 377 changes/s, and the main
/// job's 125 servers together peak at about 900 MB; no coordinator's own memory is
/// measured yet. The limits leave room for catch-ups.
fn resources(tier: &str) -> (&'static str, &'static str, &'static str, &'static str) {
    match tier {
        "district" => ("500m", "512Mi", "2", "2Gi"),
        "street" => ("200m", "256Mi", "1", "1Gi"),
        _ => ("100m", "128Mi", "500m", "512Mi"),
    }
}

fn stateful_set(id: &str, tier: &str) -> String {
    let (cpu, memory, cpu_max, memory_max) = resources(tier);
    let (container, command, storage) = match tier {
        "community" => ("node", r#""linli-node", "serve""#, "5Gi"),
        _ => ("coordinator", r#""linli-coordinator""#, "20Gi"),
    };
    format!(
        r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {id}
  labels:
    app.kubernetes.io/instance: {id}
    app.kubernetes.io/component: {tier}
spec:
  serviceName: {id}
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/instance: {id}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {id}
        app.kubernetes.io/component: {tier}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "{METRICS_PORT}"
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        fsGroup: 10001
        seccompProfile:
          type: RuntimeDefault
      # The server finishes calls in flight for at most 10 s after SIGTERM.
      terminationGracePeriodSeconds: 30
      containers:
        - name: {container}
          image: linli:latest
          args: [{command}, "--config", "{CONFIG_PATH}"]
          ports:
            - name: grpc
              containerPort: {GRPC_PORT}
            - name: metrics
              containerPort: {METRICS_PORT}
          env:
            - name: LINLI_LOG_FORMAT
              value: json
          # Ready while the store is open and the engine runs; a link to the parent
          # that is down does not make a street unready (its communities keep it).
          readinessProbe:
            grpc:
              port: {GRPC_PORT}
              service: linli.v1.Registry
            periodSeconds: 5
          # A stopped engine exits the process; this catches a hung one.
          livenessProbe:
            grpc:
              port: {GRPC_PORT}
              service: linli.v1.Registry
            initialDelaySeconds: 60
            periodSeconds: 20
            failureThreshold: 6
          startupProbe:
            grpc:
              port: {GRPC_PORT}
              service: linli.v1.Registry
            periodSeconds: 5
            failureThreshold: 120
          resources:
            requests:
              cpu: "{cpu}"
              memory: {memory}
            limits:
              cpu: "{cpu_max}"
              memory: {memory_max}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
          volumeMounts:
            - name: config
              mountPath: /etc/linli/node.toml
              subPath: node.toml
              readOnly: true
            - name: tls
              mountPath: {TLS_DIR}
              readOnly: true
            - name: data
              mountPath: {DATA_DIR}
      volumes:
        - name: config
          configMap:
            name: {id}-config
        - name: tls
          # The keys cert-manager writes (and `kubectl create secret generic
          # --from-file=ca.crt=… --from-file=tls.crt=… --from-file=tls.key=…`).
          secret:
            secretName: {id}-tls
            defaultMode: 0440
            items:
              - key: ca.crt
                path: ca.pem
              - key: tls.crt
                path: node.pem
              - key: tls.key
                path: node.key
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: ["ReadWriteOnce"]
        resources:
          requests:
            storage: {storage}
"#
    )
}

fn services(id: &str, tier: &str) -> String {
    let mut text = format!(
        r#"apiVersion: v1
kind: Service
metadata:
  name: {id}
  labels:
    app.kubernetes.io/instance: {id}
spec:
  clusterIP: None
  selector:
    app.kubernetes.io/instance: {id}
  ports:
    - name: grpc
      port: {GRPC_PORT}
    - name: metrics
      port: {METRICS_PORT}
"#
    );
    if tier == "street" {
        // Communities dial their street from outside the cluster.
        let _ = write!(
            text,
            r#"---
apiVersion: v1
kind: Service
metadata:
  name: {id}-communities
  labels:
    app.kubernetes.io/instance: {id}
spec:
  type: LoadBalancer
  selector:
    app.kubernetes.io/instance: {id}
  ports:
    - name: grpc
      port: {GRPC_PORT}
      targetPort: grpc
"#
        );
    }
    let _ = write!(
        text,
        r#"---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {id}
spec:
  # One pod per coordinator: a drain may move it (its children buffer meanwhile),
  # never two disruptions of it at once.
  maxUnavailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/instance: {id}
"#
    );
    text
}

/// A cert-manager `Certificate` for node `id`: the one DNS name linli reads a
/// certificate's identity from, for both ends of a link.
fn certificate(id: &str, issuer: &str) -> String {
    format!(
        r#"apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: {id}
spec:
  secretName: {id}-tls
  dnsNames:
    - {id}
  usages:
    - server auth
    - client auth
  privateKey:
    algorithm: ECDSA
    size: 256
  duration: 8760h
  renewBefore: 720h
  issuerRef:
    kind: ClusterIssuer
    name: {issuer}
"#
    )
}

/// The overlay for `topology` with the coordinators only (the presets' overlays).
pub fn render(topology: &Topology) -> Result<Rendered, SimError> {
    render_with(topology, &Options::default())
}

/// The overlay for `topology`: its files, by path relative to the overlay.
pub fn render_with(topology: &Topology, options: &Options) -> Result<Rendered, SimError> {
    if !topology.districts.is_empty() {
        return Err(SimError::BadTopology {
            reason: format!("`{}` is a city: an overlay is rendered for one district's tree", topology.top),
        });
    }
    let district = topology.top.as_str();
    check_name(district)?;
    let mut files = Vec::new();
    let mut resources = Vec::new();
    let mut generators = String::new();
    let streets: Vec<String> = topology.streets.iter().map(|s| s.id.clone()).collect();
    let mut nodes = vec![(district.to_string(), "district", None, streets)];
    for street in &topology.streets {
        check_name(&street.id)?;
        let children = street.communities.iter().map(|c| c.id.clone()).collect();
        nodes.push((street.id.clone(), "street", Some(district.to_string()), children));
    }
    if options.lab_communities {
        for street in &topology.streets {
            for community in &street.communities {
                check_name(&community.id)?;
                nodes.push((community.id.clone(), "community", Some(street.id.clone()), Vec::new()));
            }
        }
    }
    let mut certificates = String::new();
    for (id, tier, parent, children) in &nodes {
        files.push((format!("config/{id}.toml"), config(id, tier, parent.as_deref(), children)));
        files.push((format!("{id}.yaml"), format!("{}---\n{}", stateful_set(id, tier), services(id, tier))));
        resources.push(format!("{id}.yaml"));
        if let Some(issuer) = &options.cert_manager_issuer {
            let _ = writeln!(certificates, "{}---", certificate(id, issuer));
        }
        let _ = write!(generators, "  - name: {id}-config\n    files:\n      - node.toml=config/{id}.toml\n");
    }
    if !certificates.is_empty() {
        files.push(("certificates.yaml".to_string(), certificates));
        resources.push("certificates.yaml".to_string());
    }
    let mut kustomization = format!(
        "# Rendered by `linli-sim k8s` for `{}`: district `{district}`, {} streets.\n\
         apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {NAMESPACE}\n\
         resources:\n  - ../../base\n",
        topology.name,
        topology.streets.len()
    );
    for resource in &resources {
        let _ = writeln!(kustomization, "  - {resource}");
    }
    let _ = write!(kustomization, "configMapGenerator:\n{generators}");
    files.push(("kustomization.yaml".to_string(), kustomization));
    files.sort();
    Ok(files)
}

/// Writes the overlay into `dir` (created; files of an earlier render replaced).
pub fn write(topology: &Topology, options: &Options, dir: &Path) -> Result<usize, SimError> {
    let files = render_with(topology, options)?;
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| SimError::Io { what: format!("creating {}", parent.display()), source: e })?;
        }
        std::fs::write(&path, text)
            .map_err(|e| SimError::Io { what: format!("writing {}", path.display()), source: e })?;
    }
    Ok(files.len())
}
