//! Link every test guest with `link.ld` (multiboot kernel at 1 MiB, entry `_start`).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    // The 32-bit entry code needs absolute addresses; loaders put the ELF where it is linked.
    println!("cargo:rustc-link-arg-bins=--no-pie");
    println!("cargo:rustc-link-arg-bins=-T{dir}/link.ld");
    // Cargo does not relink when only a linker script changes: make it.
    println!("cargo:rerun-if-changed=link.ld");
    println!("cargo:rerun-if-changed=build.rs");
}
