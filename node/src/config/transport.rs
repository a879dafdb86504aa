//! How a node's links and services are carried: mutual TLS, or plaintext only when the
//! config says `insecure = true` (a warning at every start).
//!
//! File keys: `insecure`, and the `[tls]` table with `ca`, `cert`, `key` (paths,
//! relative to the file) and `parent_id` (the id the parent's certificate must name;
//! default: the host of `parent`). Variables: `LINLI_INSECURE`, `LINLI_TLS_CA`,
//! `LINLI_TLS_CERT`, `LINLI_TLS_KEY`, `LINLI_TLS_PARENT_ID`.

use super::{ConfigError, Sourced, invalid, put};
use linli_tls::TlsFiles;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// How this node talks to its parent, its children and its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Every server asks for a client certificate from the CA; every link presents
    /// this node's. See [`linli_tls`].
    MutualTls {
        files: TlsFiles,
        /// The id the parent's certificate must name; `None`: the host of its URL.
        parent_id: Option<String>,
    },
    /// No TLS, no authentication: for a laptop or a test, never a deployment.
    Plaintext,
}

/// `[tls]` keys, in the file.
pub(super) const TLS_KEYS: [&str; 4] = ["ca", "cert", "key", "parent_id"];

/// The `[tls]` table as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct TlsTable {
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    parent_id: Option<String>,
}

/// The transport settings gathered so far, each from the last source that gave it.
#[derive(Default)]
pub(super) struct TransportLayers {
    insecure: Option<Sourced<bool>>,
    ca: Option<Sourced<PathBuf>>,
    cert: Option<Sourced<PathBuf>>,
    key: Option<Sourced<PathBuf>>,
    parent_id: Option<Sourced<String>>,
}

impl TransportLayers {
    pub(super) fn read_file(&mut self, insecure: Option<bool>, tls: Option<TlsTable>, base: &Path, src: &str) {
        let tls = tls.unwrap_or_default();
        put(&mut self.insecure, insecure, src);
        put(&mut self.ca, tls.ca.map(|p| base.join(p)), src);
        put(&mut self.cert, tls.cert.map(|p| base.join(p)), src);
        put(&mut self.key, tls.key.map(|p| base.join(p)), src);
        put(&mut self.parent_id, tls.parent_id, src);
    }

    /// Takes `name` if it is one of this module's variables.
    pub(super) fn read_env(&mut self, name: &str, text: &str) -> Result<bool, ConfigError> {
        let src = format!("env {name}");
        let path = || Some(PathBuf::from(text));
        match name {
            "LINLI_INSECURE" => {
                let value = match text.trim() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(invalid("insecure", &src, format!("'{text}' is not true or false"))),
                };
                put(&mut self.insecure, Some(value), &src);
            }
            "LINLI_TLS_CA" => put(&mut self.ca, path(), &src),
            "LINLI_TLS_CERT" => put(&mut self.cert, path(), &src),
            "LINLI_TLS_KEY" => put(&mut self.key, path(), &src),
            "LINLI_TLS_PARENT_ID" => put(&mut self.parent_id, Some(text.to_string()), &src),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The transport, checked against the parent's URL (`https://` with TLS, `http://`
    /// without).
    pub(super) fn build(self, parent: Option<&Sourced<String>>) -> Result<Transport, ConfigError> {
        let insecure = self.insecure.filter(|i| i.value);
        let given = [&self.ca, &self.cert, &self.key].iter().any(|p| p.is_some()) || self.parent_id.is_some();
        let transport = match (insecure, given) {
            (Some(i), true) => {
                return Err(invalid("insecure", &i.source, "true, but [tls] is set too: choose one"));
            }
            (Some(_), false) => {
                if let Some(p) = parent.filter(|p| p.value.trim().starts_with("https://")) {
                    return Err(invalid("parent", &p.source, "https:// needs [tls], but insecure = true"));
                }
                Transport::Plaintext
            }
            (None, _) => {
                let need = |slot: Option<Sourced<PathBuf>>, key: &str| {
                    slot.map(|s| s.value).ok_or_else(|| ConfigError::NoTransport { missing: key.to_string() })
                };
                let files = TlsFiles {
                    ca: need(self.ca, "tls.ca")?,
                    cert: need(self.cert, "tls.cert")?,
                    key: need(self.key, "tls.key")?,
                };
                if let Some(p) = parent.filter(|p| p.value.trim().starts_with("http://")) {
                    return Err(invalid("parent", &p.source, "http:// is plaintext, but [tls] is set: use https://"));
                }
                let parent_id = match self.parent_id {
                    Some(id) => {
                        linli_tls::dev::check_name(&id.value)
                            .map_err(|e| invalid("tls.parent_id", &id.source, e.to_string()))?;
                        Some(id.value)
                    }
                    None => None,
                };
                Transport::MutualTls { files, parent_id }
            }
        };
        Ok(transport)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Overrides, ServerConfig};
    use super::Transport;
    use std::path::PathBuf;

    /// A street, its parent and transport lines given.
    fn street(parent: &str, transport: &str) -> String {
        format!(
            "id = \"s\"\ntier = \"street\"\nlisten = \"127.0.0.1:0\"\ndata_dir = \"d\"\nparent = \"{parent}\"\n\
             children = [\"c\"]\n{transport}\n"
        )
    }

    fn load(text: &str, vars: &[(&str, &str)]) -> Result<ServerConfig, String> {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("s.toml");
        std::fs::write(&path, text).expect("write");
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        ServerConfig::load(Some(&path), vars, &Overrides::default()).map_err(|e| e.to_string())
    }

    const TLS: &str = "[tls]\nca = \"certs/ca.pem\"\ncert = \"certs/s.pem\"\nkey = \"certs/s.key\"\nparent_id = \"lg\"";

    #[test]
    fn tls_or_plaintext_must_be_said_and_agree_with_the_parent_url() {
        let error = load(&street("https://h:1", ""), &[]).expect_err("neither");
        assert!(error.contains("missing `tls.ca`") && error.contains("insecure = true"), "{error}");
        let error = load(&street("http://h:1", &format!("insecure = true\n{TLS}")), &[]).expect_err("both");
        assert!(error.contains("`insecure`") && error.contains("choose one"), "{error}");
        let error = load(&street("http://h:1", TLS), &[]).expect_err("http under tls");
        assert!(error.contains("`parent`") && error.contains("use https://"), "{error}");
        let error = load(&street("https://h:1", "insecure = true"), &[]).expect_err("https in plaintext");
        assert!(error.contains("https:// needs [tls]"), "{error}");
        let error = load(&street("http://h:1", ""), &[("LINLI_INSECURE", "yes")]).expect_err("not a bool");
        assert!(error.contains("env LINLI_INSECURE") && error.contains("'yes'"), "{error}");
        let error = load(&street("https://h:1", "[tls]\ncert = \"x\"\nkey = \"y\""), &[]).expect_err("no ca");
        assert!(error.contains("missing `tls.ca`"), "{error}");
        let error = load(&street("https://h:1", &TLS.replace("\"lg\"", "\"L_G\"")), &[]).expect_err("bad id");
        assert!(error.contains("`tls.parent_id`"), "{error}");

        let plaintext = load(&street("http://h:1", ""), &[("LINLI_INSECURE", "true")]).expect("plaintext");
        assert_eq!(plaintext.transport, Transport::Plaintext);
        let tls = load(&street("https://h:1", TLS), &[]).expect("tls");
        let Transport::MutualTls { files, parent_id } = tls.transport else { panic!("{:?}", tls.transport) };
        assert!(files.ca.ends_with(PathBuf::from("certs/ca.pem")) && files.ca.is_absolute(), "{:?}", files.ca);
        assert_eq!(parent_id.as_deref(), Some("lg"));
        // The variables override the file, as every key's.
        let tls = load(&street("https://h:1", TLS), &[("LINLI_TLS_KEY", "/k.pem")]).expect("tls");
        let Transport::MutualTls { files, .. } = tls.transport else { panic!() };
        assert_eq!(files.key, PathBuf::from("/k.pem"));
    }
}
