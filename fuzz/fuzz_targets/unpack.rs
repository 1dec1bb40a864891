//! The layer unpacker of ward box: any bytes, as a (possibly compressed)
//! layer, through decompression and the unpacker into a fresh directory,
//! rootless and not (the first byte chooses). Any input must give Ok or Err
//! (never a panic, a hang, or a file outside the directory: the check at
//! the end looks for anything new beside it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::BufReader;
use std::os::fd::AsFd;
use std::sync::OnceLock;
use ward_box::{compress, unpack};

fn base() -> &'static std::path::Path {
    static B: OnceLock<std::path::PathBuf> = OnceLock::new();
    B.get_or_init(|| {
        let b = std::env::temp_dir().join(format!("ward-fuzz-unpack-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&b);
        std::fs::create_dir_all(b.join("layer")).unwrap();
        b
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let base = base();
    let dir = base.join("layer");
    let fd = std::fs::File::open(&dir).unwrap();
    let opts = unpack::Options { rootless: first & 1 == 1 };
    if let Ok(stream) = compress::decompress(BufReader::new(rest)) {
        // Bound what a tiny input may expand to (a zip bomb is a slow
        // input, not a bug).
        let _ = unpack::unpack(std::io::Read::take(stream, 64 << 20), fd.as_fd(), opts);
    }
    // Nothing may appear beside the layer directory.
    let beside: Vec<_> = std::fs::read_dir(base).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(beside.len(), 1, "written outside the layer: {beside:?}");
    let _ = unpack::remove_tree(&std::fs::File::open(base).unwrap(), std::ffi::OsStr::new("layer"));
    std::fs::create_dir(&dir).unwrap();
});
