//! Links the image with this board's `link.ld` (memory layout, stacks) and defmt's
//! `defmt.x` (the log-string table, not loaded).

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-T{dir}/link.ld");
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
    println!("cargo:rerun-if-changed=link.ld");
}
