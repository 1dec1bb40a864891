//! The conversation between `ward migrate` and its receiver on the far
//! side, over the ssh channel's stdin and stdout: frames of a 4-byte
//! big-endian length and a kind byte, either a JSON message or a chunk of
//! the file a `File` message announced. One authenticated byte stream
//! carries the control messages and the images alike.

use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// Largest frame either side accepts: a peer is hostile until proven
/// otherwise, and a length field must not make us allocate gigabytes.
pub const MAX_FRAME: usize = 1 << 20;
const KIND_MSG: u8 = 0;
const KIND_DATA: u8 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Msg {
    /// Source → receiver: what is coming, for the preflight.
    Hello {
        version: String,
        id: String,
        bundle: String,
        strategy: String,
        tcp: bool,
        copy_rootfs: bool,
        /// Test-only (debug builds): a fault the receiver injects.
        #[serde(default)]
        fault: Option<String>,
        /// The kinds of init's stdio (null, file:MODE), fds 0-2.
        stdio: Vec<String>,
        /// Its network namespace's veths and routes, when it has one by path.
        #[serde(default)]
        net: Option<crate::net::NetDesc>,
        /// The network namespace's path in the source's bundle (for
        /// --copy-rootfs, which brings that bundle).
        #[serde(default)]
        netns: Option<String>,
        /// The memory comes through CRIU's page server: the receiver
        /// listens on `<work>/<id>/pages.sock`, which the source reaches
        /// through a stream ssh forwards.
        #[serde(default)]
        pages: bool,
    },
    /// Receiver → source: the preflight passed.
    Ready { kernel: String, criu: String },
    /// Receiver → source: it did not, or a later step failed there.
    Failed { why: String },
    /// What the entries that follow are under: `images` (the receiver's
    /// work directory, the default) or `bundle` (--copy-rootfs).
    Base { what: String },
    /// A directory under the transfer's root.
    Dir {
        path: String,
        mode: u32,
        #[serde(default)]
        uid: u32,
        #[serde(default)]
        gid: u32,
    },
    /// A file under the transfer's root; `size` bytes of data frames follow.
    File {
        path: String,
        size: u64,
        mode: u32,
        #[serde(default)]
        uid: u32,
        #[serde(default)]
        gid: u32,
    },
    /// A symlink under the transfer's root (CRIU's `parent` link; any in
    /// a bundle).
    Symlink {
        path: String,
        target: String,
        #[serde(default)]
        uid: u32,
        #[serde(default)]
        gid: u32,
    },
    /// A bundle entry gone since the first copy (--copy-rootfs).
    Remove { path: String },
    /// Source → receiver: a set of images (a pre-dump round, the final
    /// dump) is complete.
    Sent { what: String },
    /// Source → receiver: the pages of images directory `dir` (made by
    /// a `Dir` before) come on the page socket's next connection; a page
    /// server writes them there.
    Pages { dir: String },
    /// Receiver → source: the images `what` (sent through the page
    /// server) are whole here, `bytes` of memory.
    Got { what: String, bytes: u64 },
    /// Source → receiver: restore the final images (post-copy: lazily,
    /// the memory from this page server, on the receiver's loopback).
    Restore {
        #[serde(default)]
        page_server: Option<String>,
    },
    /// Receiver → source: the container runs on the destination.
    Running { pid: i64, restore_ms: u64 },
    /// Source → receiver: the source has let go; keep it.
    Commit,
    /// Receiver → source: kept (and what went wrong putting it on the
    /// link, if anything did).
    Committed {
        #[serde(default)]
        warning: Option<String>,
    },
}

pub fn write_msg(w: &mut impl Write, m: &Msg) -> io::Result<()> {
    let body = serde_json::to_vec(m).map_err(io::Error::other)?;
    write_frame(w, KIND_MSG, &body)?;
    w.flush()
}

pub fn write_data(w: &mut impl Write, data: &[u8]) -> io::Result<()> {
    write_frame(w, KIND_DATA, data)
}

fn write_frame(w: &mut impl Write, kind: u8, body: &[u8]) -> io::Result<()> {
    let mut head = [0u8; 5];
    head[..4].copy_from_slice(&(body.len() as u32).to_be_bytes());
    head[4] = kind;
    w.write_all(&head)?;
    w.write_all(body)
}

/// One frame read: a message, a chunk of file data, or the end of the stream.
#[derive(Debug, PartialEq)]
pub enum Frame {
    Msg(Msg),
    Data(Vec<u8>),
    Eof,
}

pub fn read_frame(r: &mut impl Read) -> io::Result<Frame> {
    let mut head = [0u8; 5];
    let mut got = 0;
    while got < head.len() {
        match r.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(Frame::Eof),
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "cut mid-frame",
                ))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes (at most {MAX_FRAME})"),
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    match head[4] {
        KIND_MSG => serde_json::from_slice(&body)
            .map(Frame::Msg)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad message: {e}"))),
        KIND_DATA => Ok(Frame::Data(body)),
        k => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown frame kind {k}"),
        )),
    }
}

/// A relative path from the peer, checked before it meets the file
/// system: no absolute paths, no `..`, nothing empty.
pub fn safe_rel(p: &str) -> Result<&std::path::Path, String> {
    use std::path::Component;
    let path = std::path::Path::new(p);
    if p.is_empty()
        || p.contains('\0')
        || !path.components().all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(format!("the peer sent an unsafe path {p:?}"));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        write_msg(&mut buf, &Msg::Restore { page_server: None }).unwrap();
        write_data(&mut buf, b"abc").unwrap();
        let mut r = &buf[..];
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Frame::Msg(Msg::Restore { page_server: None })
        );
        assert_eq!(read_frame(&mut r).unwrap(), Frame::Data(b"abc".to_vec()));
        assert_eq!(read_frame(&mut r).unwrap(), Frame::Eof);
    }

    #[test]
    fn hostile_frames_are_refused() {
        let mut big = (MAX_FRAME as u32 + 1).to_be_bytes().to_vec();
        big.push(0);
        assert!(read_frame(&mut &big[..]).is_err());
        let cut = [0u8, 0, 0, 9, 1, 1];
        assert!(read_frame(&mut &cut[..]).is_err());
        let mut kind = 0u32.to_be_bytes().to_vec();
        kind.push(7);
        assert!(read_frame(&mut &kind[..]).is_err());
    }

    #[test]
    fn only_plain_relative_paths() {
        assert!(safe_rel("pre1/pages-1.img").is_ok());
        for bad in ["", "/etc/passwd", "../x", "a/../../b", "./a"] {
            assert!(safe_rel(bad).is_err(), "{bad}");
        }
    }
}
