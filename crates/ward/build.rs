//! Link options for the release `ward` binary (docs/performance.md, "The
//! runtime binary's layout"):
//!
//! - `-z pack-relative-relocs`: the static PIE's ~10,000 relative
//!   relocations as a RELR table of 3 KB instead of 240 KB of RELA entries,
//!   which glibc (2.36 and later) applies at every start, so every start
//!   read all of them.
//! - `--symbol-ordering-file`: the functions a container's life cycle runs
//!   (`symbol-order.txt`, made by `scripts/symbol-order.sh`) laid out first
//!   and together, so that the kernel's fault-around maps them and not the
//!   code around them.
//!
//! Both are options of LLD, which links x86_64-unknown-linux-gnu by default
//! since Rust 1.90. Elsewhere, or with `WARD_PLAIN_LINK` set, nothing is
//! added. A stale order file (new compiler or dependencies change the
//! symbols' hashes) costs resident memory, never correctness: LLD skips the
//! names it doesn't find.

use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=symbol-order.txt");
    println!("cargo:rerun-if-env-changed=WARD_PLAIN_LINK");
    let var = |name: &str| env::var(name).unwrap_or_default();
    let lld_by_default = var("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu";
    // A build that chose its own linker may not take LLD's options.
    let own_linker = ["linker", "fuse-ld"]
        .iter()
        .any(|flag| var("CARGO_ENCODED_RUSTFLAGS").contains(flag));
    if !lld_by_default
        || own_linker
        || var("PROFILE") != "release"
        || env::var_os("WARD_PLAIN_LINK").is_some()
    {
        return;
    }
    let order = Path::new(&var("CARGO_MANIFEST_DIR")).join("symbol-order.txt");
    println!("cargo:rustc-link-arg-bin=ward=-Wl,-z,pack-relative-relocs");
    if order.is_file() {
        println!(
            "cargo:rustc-link-arg-bin=ward=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bin=ward=-Wl,--no-warn-symbol-ordering");
    }
}
