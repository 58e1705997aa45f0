//! Compiles the ASIC stick driver (C) when the `asic` feature is on; otherwise does nothing.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_ASIC").is_none() {
        return;
    }
    let dir = "src/engine/asic/driver";
    println!("cargo:rerun-if-changed={dir}/asic.c");
    println!("cargo:rerun-if-changed={dir}/asic.h");
    cc::Build::new()
        .file(format!("{dir}/asic.c"))
        .include(dir)
        .std("c11")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("sha256d_asic");
}
