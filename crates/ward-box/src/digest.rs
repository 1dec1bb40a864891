//! Content digests (`sha256:<64 hex>`): parsed and checked before a digest
//! ever becomes a path in the store, and computed while bytes stream by.

use sha2::{Digest as _, Sha256};
use std::fmt;
use std::io::{self, Read};

/// A validated sha256 digest. Only `sha256` is accepted: it is what every
/// registry and image tool writes, and a second algorithm would be a second
/// path scheme in the store.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    pub fn parse(s: &str) -> Result<Digest, String> {
        let Some(hex) = s.strip_prefix("sha256:") else {
            return Err(format!("digest {s:?}: only sha256:<hex> is supported"));
        };
        Digest::from_hex(hex).ok_or_else(|| format!("digest {s:?}: not 64 lowercase hex digits"))
    }

    pub fn from_hex(hex: &str) -> Option<Digest> {
        (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then(
            || Digest {
                hex: hex.to_string(),
            },
        )
    }

    pub fn of(data: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(data))
    }

    fn from_hasher(h: Sha256) -> Digest {
        Digest {
            hex: to_hex(&h.finalize()),
        }
    }

    /// The 64 hex digits alone: safe as a file name.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// Twelve digits, for people.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

pub fn to_hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A reader that hashes and counts what passes through it, and fails as soon
/// as more than `limit` bytes come (a blob that lies about its size is cut
/// off there, not read to the end).
pub struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
    limit: Option<u64>,
}

impl<R: Read> Hashing<R> {
    pub fn new(inner: R, limit: Option<u64>) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            count: 0,
            limit,
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Reads what is left to the end (so the digest covers all of it) and
    /// returns the digest and the byte count.
    pub fn finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((Digest::from_hasher(self.hasher), self.count))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if let Some(limit) = self.limit {
            if self.count > limit {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("more than the {limit} bytes its descriptor says"),
                ));
            }
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_sha256_hex() {
        let hex = "a".repeat(64);
        assert!(Digest::parse(&format!("sha256:{hex}")).is_ok());
        assert!(Digest::parse(&format!("sha512:{hex}")).is_err());
        assert!(Digest::parse(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(Digest::parse("sha256:../../etc/passwd").is_err());
        assert!(Digest::parse(&format!("sha256:{}", "a".repeat(63))).is_err());
    }

    #[test]
    fn hashing_reader_counts_hashes_and_limits() {
        let data = b"hello world";
        let h = Hashing::new(&data[..], Some(11));
        let (d, n) = h.finish().unwrap();
        assert_eq!(n, 11);
        assert_eq!(d, Digest::of(data));
        let h = Hashing::new(&data[..], Some(5));
        assert!(h.finish().is_err());
    }
}
