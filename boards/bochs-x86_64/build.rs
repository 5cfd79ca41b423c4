//! Links the hypervisor with this board's script (and defmt's, for the log string table).
//! Cargo does not relink when only a linker script changes: rerun-if-changed fixes that.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    // x86_64-unknown-none links position-independent by default; the 32-bit entry code
    // needs absolute addresses and GRUB loads the ELF where it is linked.
    println!("cargo:rustc-link-arg-bins=--no-pie");
    println!("cargo:rustc-link-arg-bins=-T{dir}/link.ld");
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
    println!("cargo:rerun-if-changed=link.ld");
    println!("cargo:rerun-if-changed=build.rs");
}
