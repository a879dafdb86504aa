//! Generates linli.v1 from `linli/v1/*.proto` with protox (pure Rust: no system protoc),
//! and keeps the encoded descriptors for the servers' reflection service.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["linli/v1/linli.proto"];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let mut compiler = protox::Compiler::new(["."])?;
    compiler.include_imports(true).open_files(files)?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("linli_v1_descriptor.bin"), compiler.encode_file_descriptor_set())?;
    tonic_prost_build::configure().compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
