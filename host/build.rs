//! Compiles the long-double helper (src/util/float.c): Redis does INCRBYFLOAT in
//! C `long double`, and matching its digits needs the same arithmetic.
fn main() {
    println!("cargo:rerun-if-changed=src/util/float.c");
    cc::Build::new()
        .file("src/util/float.c")
        .opt_level(2)
        .compile("emberfloat");
}
