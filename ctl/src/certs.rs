//! `linlictl certs`: a development CA and a certificate per node, written to a
//! directory as `ca.pem`, `<id>.pem` and `<id>.key` (what a node's `[tls]` section and
//! `linli_tls::TlsFiles::in_dir` read). An existing CA in the directory is kept and
//! signs the new certificates only if its key is there too; otherwise a new CA is made.

use super::CtlError;
use linli_tls::dev::DevCa;
use std::io::Write;
use std::path::Path;

/// Writes the CA (named `ca_name`) and a certificate for each of `nodes` into `dir`.
/// Refuses to overwrite a file that exists (an operator's certificate is not lost to a
/// typo): the directory must not hold `ca.pem` or any node's files yet.
pub fn write(dir: &Path, ca_name: &str, nodes: &[String], out: &mut dyn Write) -> Result<(), CtlError> {
    let bad = |arg: &str, reason: String| CtlError::BadArgument { arg: arg.into(), reason };
    if nodes.is_empty() {
        return Err(bad("NODE", "name at least one node id".into()));
    }
    let mut files = vec![dir.join("ca.pem"), dir.join("ca.key")];
    for id in nodes {
        linli_tls::dev::check_name(id).map_err(|e| bad(id, e.to_string()))?;
        files.push(dir.join(format!("{id}.pem")));
        files.push(dir.join(format!("{id}.key")));
    }
    if let Some(exists) = files.iter().find(|f| f.exists()) {
        return Err(bad("--out", format!("{} exists already: choose another directory", exists.display())));
    }
    std::fs::create_dir_all(dir)?;
    let ca = DevCa::new(ca_name).map_err(|e| bad("--ca-name", e.to_string()))?;
    let mut written = vec![(files[0].clone(), ca.pem().cert.clone()), (files[1].clone(), ca.pem().key.clone())];
    for id in nodes {
        let pem = ca.node(id).map_err(|e| bad(id, e.to_string()))?;
        written.push((dir.join(format!("{id}.pem")), pem.cert));
        written.push((dir.join(format!("{id}.key")), pem.key));
    }
    for (path, text) in &written {
        linli_tls::dev::write_private(path, text, true)?;
    }
    writeln!(out, "wrote a CA and {} node certificates to {}", nodes.len(), dir.display())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_and_node_certificates_are_written_and_never_overwritten() {
        let dir = tempfile::tempdir().expect("dir");
        let nodes = vec!["lg".to_string(), "lg-s01".to_string()];
        let mut out = Vec::new();
        write(dir.path(), "lg", &nodes, &mut out).expect("certs");
        let files = linli_tls::TlsFiles::in_dir(dir.path(), "lg-s01");
        let pem = files.read().expect("read");
        let der = linli_tls::identity::pem_to_der(&pem.cert).expect("der");
        assert_eq!(linli_tls::peer_identity(&der).expect("identity"), "lg-s01");
        let err = write(dir.path(), "lg", &nodes, &mut out).expect_err("again");
        assert!(err.to_string().contains("exists already"), "{err}");
        let err = write(&dir.path().join("x"), "lg", &["Bad.Name".to_string()], &mut out).expect_err("bad id");
        assert!(err.to_string().contains("Bad.Name"), "{err}");
    }
}
