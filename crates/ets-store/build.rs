//! `sqlx::migrate!` embeds the migrations at compile time; this makes cargo
//! rebuild the crate when a migration is added or changed.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
