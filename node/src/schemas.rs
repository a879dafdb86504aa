//! Registry files read from a directory, for a node started with its own registries.
//!
//! Reading is the runtime's part: the core checks texts (`Registries::from_texts`) and
//! never touches a file, so it runs unchanged in the simulator and in tests.

use crate::error::NodeError;
use linli_core::schema::Registries;
use std::path::Path;

/// Loads every `*.toml` in `dir`, one registry each, in file name order. A file that
/// cannot be read fails naming it; a bad schema fails naming the file, the registry
/// and the field.
pub fn load_dir(dir: &Path) -> Result<Registries, NodeError> {
    let io = |what: String| move |source| NodeError::Io { what, source };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(format!("reading the registries directory {}", dir.display())))? {
        let path = entry.map_err(io(format!("reading the registries directory {}", dir.display())))?.path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            paths.push(path);
        }
    }
    paths.sort();
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(io(format!("reading registry file {}", path.display())))?;
        files.push((path.display().to_string(), text));
    }
    Ok(Registries::from_texts(files)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_registry_is_just_a_file_and_a_bad_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("parking.toml"),
            "name = \"parking\"\nshard = { by = \"year\" }\n[fields]\nplate = { type = \"string\", required = true }\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a registry").unwrap();
        let loaded = load_dir(dir.path()).unwrap();
        assert!(loaded.get("parking").unwrap().fields["plate"].required);
        assert_eq!(loaded.iter().count(), 1, "only *.toml files are registries");
        std::fs::write(dir.path().join("bad.toml"), "name = \"bad\"\nshard = { by = \"week\" }\n[fields]\n").unwrap();
        let err = load_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("bad.toml: registry `bad`, field `shard.by`: `week` is not month, year or none"), "{err}");
    }

    #[test]
    fn a_missing_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-registries");
        let err = load_dir(&missing).unwrap_err().to_string();
        assert!(err.contains("reading the registries directory") && err.contains("no-such-registries"), "{err}");
    }
}
