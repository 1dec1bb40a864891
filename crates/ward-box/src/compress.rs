//! Layer compression, recognised by its magic bytes rather than trusted
//! from the media type (docker-archive layers are plain tar whatever the
//! name says, and a registry may mislabel): gzip, zstd, or plain tar.

use std::io::{self, BufRead, Read};

pub fn decompress<'a, R: BufRead + 'a>(mut r: R) -> io::Result<Box<dyn Read + 'a>> {
    let head = r.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(r)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Box::new(zstd::stream::read::Decoder::with_buffer(r)?))
    } else {
        Ok(Box::new(r))
    }
}
