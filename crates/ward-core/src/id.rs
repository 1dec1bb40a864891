//! Container IDs: checked before they ever become a path under --root.

use crate::error::{Error, Result};

/// Longest ID accepted; long enough for engines' 64-hex IDs plus prefixes.
pub const MAX_ID_LEN: usize = 1024;

/// Accepts IDs made of ASCII letters, digits and `_ + - .`, not `.` or `..`,
/// which is what runc accepts, so an ID can never name anything but one entry
/// directly inside --root.
pub fn validate_id(id: &str) -> Result<()> {
    let bad = |why| {
        Err(Error::InvalidId {
            id: id.to_string(),
            why,
        })
    };
    if id.is_empty() {
        return bad("must not be empty");
    }
    if id == "." || id == ".." {
        return bad("must not be . or ..");
    }
    if id.len() > MAX_ID_LEN {
        return bad("too long");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'))
    {
        return bad("may contain only letters, digits and _ + - .");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_engine_ids() {
        for id in ["a", "abc-DEF_1.2+3", &"f".repeat(64), "..a", "a..b"] {
            validate_id(id).unwrap();
        }
    }

    #[test]
    fn rejects_path_like_ids() {
        for id in [
            "",
            ".",
            "..",
            "a/b",
            "/abs",
            "../x",
            "a b",
            "a\0b",
            "ü",
            &"x".repeat(1025),
        ] {
            assert!(validate_id(id).is_err(), "{id:?} accepted");
        }
    }
}
