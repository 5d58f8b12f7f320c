//! Compiles the protobuf contract with protox (no system protoc) and keeps the
//! descriptor set for server reflection.

use std::{env, path::PathBuf};

const PROTOS: &[&str] = &[
    "proto/onlyoffice/people/v1/people.proto",
    "proto/google/rpc/error_details.proto",
    "proto/google/rpc/status.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("people_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // The same message tonic-types decodes error details into.
        .extern_path(".google.rpc.Status", "::tonic_types::Status")
        .compile_fds(descriptors)?;
    Ok(())
}
