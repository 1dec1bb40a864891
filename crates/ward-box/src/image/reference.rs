//! Image references as docker and podman read them: `[REGISTRY/]REPO[:TAG][@DIGEST]`,
//! with docker.io and `library/` implied for a bare name and `latest` for a
//! missing tag.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repo: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    pub fn parse(s: &str) -> Result<Reference, String> {
        let bad = |why: &str| Err(format!("image reference {s:?}: {why}"));
        if s.is_empty() || s.len() > 1024 {
            return bad("empty or too long");
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                crate::digest::Digest::parse(d)?;
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => {
                (&rest[..i], Some(rest[i + 1..].to_string()))
            }
            _ => (rest, None),
        };
        if let Some(t) = &tag {
            if t.is_empty()
                || t.len() > 128
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            {
                return bad("a tag is 1 to 128 letters, digits, _ . -");
            }
        }
        let (registry, repo) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), path.to_string())
            }
            Some(_) => ("docker.io".to_string(), name.to_string()),
            None => ("docker.io".to_string(), format!("library/{name}")),
        };
        if repo.is_empty()
            || repo.split('/').any(|c| {
                c.is_empty()
                    || c == "."
                    || c == ".."
                    || !c.bytes().all(|b| {
                        b.is_ascii_lowercase()
                            || b.is_ascii_digit()
                            || matches!(b, b'_' | b'.' | b'-')
                    })
            })
        {
            return bad("a repository is lowercase letters, digits and _ . - between slashes");
        }
        if !registry
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        {
            return bad("bad registry host");
        }
        Ok(Reference {
            registry,
            repo,
            tag,
            digest,
        })
    }

    /// The name an image pulled by this reference is stored under.
    pub fn name(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(t), _) => format!("{}/{}:{t}", self.registry, self.repo),
            (None, Some(d)) => format!("{}/{}@{d}", self.registry, self.repo),
            (None, None) => format!("{}/{}:latest", self.registry, self.repo),
        }
    }

    /// What to ask the registry's manifest endpoint for.
    pub fn manifest_ref(&self) -> String {
        self.digest
            .clone()
            .or_else(|| self.tag.clone())
            .unwrap_or_else(|| "latest".into())
    }
}

/// The name a local image (import) is stored under: podman's rule, a name
/// without a registry is `localhost/NAME`.
pub fn local_name(n: &str) -> Result<String, String> {
    let has_registry = n.split_once('/').is_some_and(|(first, _)| {
        first.contains('.') || first.contains(':') || first == "localhost"
    });
    let full = if has_registry {
        n.to_string()
    } else {
        format!("localhost/{n}")
    };
    Reference::parse(&full).map(|r| r.name())
}

/// The names a user's `what` may mean in the store.
pub fn candidates(what: &str) -> Vec<String> {
    let mut v = vec![what.to_string()];
    if !what.contains(':') && !what.contains('@') {
        v.push(format!("{what}:latest"));
        v.push(format!("localhost/{what}:latest"));
    } else {
        v.push(format!("localhost/{what}"));
    }
    if let Ok(r) = Reference::parse(what) {
        v.push(r.name());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_normalize_as_docker() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.name(), "docker.io/library/busybox:latest");
        let r = Reference::parse("127.0.0.1:5000/a/b:1.0").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repo.as_str()),
            ("127.0.0.1:5000", "a/b")
        );
        assert_eq!(r.name(), "127.0.0.1:5000/a/b:1.0");
        let r = Reference::parse("localhost/x").unwrap();
        assert_eq!(r.name(), "localhost/x:latest");
        assert!(Reference::parse("a/../b").is_err());
        assert!(Reference::parse("UPPER").is_err());
        assert!(Reference::parse("x:bad/tag:").is_err());
        assert!(Reference::parse("x@sha256:zz").is_err());
    }
}
