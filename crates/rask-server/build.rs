//! Release builds embed the web console's bundle (`web/dist`): rebuild when it changes.
fn main() {
    println!("cargo:rerun-if-changed=../../web/dist");
}
