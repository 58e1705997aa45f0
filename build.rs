//! Compiles the ASIC stick driver (C) when the `asic` feature is on; otherwise does nothing.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "asic")]
    asic_driver();
}

#[cfg(feature = "asic")]
fn asic_driver() {
    let dir = "src/engine/asic/driver";
    println!("cargo:rerun-if-changed={dir}/asic.c");
    println!("cargo:rerun-if-changed={dir}/asic.h");
    println!("cargo:rerun-if-env-changed=SHA256D_WERROR");
    // Warnings fail the build only where the project's CI asks: a new compiler's new warning
    // must not break a user's build.
    let werror = std::env::var_os("SHA256D_WERROR").is_some_and(|v| v == "1");
    cc::Build::new()
        .file(format!("{dir}/asic.c"))
        .include(dir)
        .std("c11")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(werror)
        .compile("sha256d_asic");
}
