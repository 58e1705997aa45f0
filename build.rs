//! Compiles the ASIC stick driver (C) under feature `asic`, and generates the WGSL kernels
//! (and the host code that fills their parameters) from the crate's own constants under
//! feature `gpu`.

#[cfg(feature = "gpu")]
#[path = "src/sha256/consts.rs"]
mod consts;
#[cfg(feature = "gpu")]
#[path = "build/wgsl.rs"]
mod wgsl;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "asic")]
    asic_driver();
    #[cfg(feature = "gpu")]
    gpu_kernel();
}

#[cfg(feature = "gpu")]
fn gpu_kernel() {
    println!("cargo:rerun-if-changed=build/wgsl.rs");
    println!("cargo:rerun-if-changed=src/sha256/consts.rs");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let kernels: Vec<wgsl::Kernel> = (1..=wgsl::MAX_VERSIONS).map(wgsl::kernel).collect();
    for (i, k) in kernels.iter().enumerate() {
        std::fs::write(out.join(wgsl::file_name(i + 1)), &k.wgsl).expect("OUT_DIR is writable");
    }
    std::fs::write(out.join("sha256d_params.rs"), wgsl::params_rust(&kernels))
        .expect("OUT_DIR is writable");
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
