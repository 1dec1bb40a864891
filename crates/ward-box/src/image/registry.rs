//! Registries over the OCI distribution API: manifests and blobs by HTTPS
//! (HTTP for loopback registries and with --tls-verify=false, as docker
//! does), anonymous, basic and bearer-token auth (the token service named
//! by the registry's challenge), manifest lists resolved by the caller.
//! ureq is the client: blocking, small, rustls; the pull runs in ward-box,
//! never in a process that forks containers afterwards.

use super::reference::Reference;
use super::{Source, MAX_JSON};
use crate::digest::Digest;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use ureq::tls::{Certificate, RootCerts, TlsConfig};

const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

#[derive(Clone, Debug, Default)]
pub struct PullOptions {
    /// `--creds USER:PASS`.
    pub creds: Option<(String, String)>,
    /// `--tls-verify=false`: accept any certificate, and plain HTTP.
    pub insecure: bool,
    /// `--cert-dir DIR`: CA certificates (*.crt, *.pem) to trust.
    pub cert_dir: Option<PathBuf>,
}

pub struct Registry {
    reference: Reference,
    agent: ureq::Agent,
    base: String,
    auth: Mutex<Option<String>>,
    opts: PullOptions,
}

fn loopback(host: &str) -> bool {
    let h = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    h == "localhost" || h.starts_with("127.") || h == "[::1]"
}

/// CA certificates for `host`: --cert-dir, else certs.d/HOST[:PORT] in
/// ward's and podman's configuration directories.
fn certs_for(host: &str, opts: &PullOptions) -> Result<Vec<Certificate<'static>>, String> {
    let mut dirs = Vec::new();
    if let Some(d) = &opts.cert_dir {
        dirs.push(d.clone());
    } else {
        dirs.push(PathBuf::from("/etc/ward/certs.d").join(host));
        dirs.push(PathBuf::from("/etc/containers/certs.d").join(host));
        if let Some(c) = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        {
            dirs.push(c.join("ward/certs.d").join(host));
        }
    }
    let mut certs = Vec::new();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if !matches!(p.extension().and_then(|x| x.to_str()), Some("crt" | "pem")) {
                continue;
            }
            let data = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            for item in ureq::tls::parse_pem(&data) {
                if let Ok(ureq::tls::PemItem::Certificate(c)) = item {
                    certs.push(c.to_owned());
                }
            }
        }
    }
    Ok(certs)
}

/// Parses a `WWW-Authenticate` challenge: the scheme and its parameters.
pub fn parse_challenge(h: &str) -> (String, Vec<(String, String)>) {
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    let mut params = Vec::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let Some((k, v)) = s.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let v = v.trim_start();
        let (val, after) = if let Some(q) = v.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            match v.find(',') {
                Some(end) => (v[..end].trim().to_string(), &v[end..]),
                None => (v.trim().to_string(), ""),
            }
        };
        params.push((k, val));
        s = after.trim_start().trim_start_matches(',').trim_start();
    }
    (scheme.to_ascii_lowercase(), params)
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

fn encode_query(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Registry {
    pub fn open(what: &str, opts: &PullOptions) -> Result<Registry, String> {
        let reference = Reference::parse(what)?;
        let certs = certs_for(&reference.registry, opts)?;
        let mut tls = TlsConfig::builder();
        if !certs.is_empty() {
            tls = tls.root_certs(RootCerts::Specific(Arc::new(certs)));
        }
        if opts.insecure {
            tls = tls.disable_verification(true);
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .http_status_as_error(false)
            .timeout_connect(Some(std::time::Duration::from_secs(30)))
            .user_agent("ward-box")
            .build()
            .into();
        let host = if reference.registry == "docker.io" {
            "registry-1.docker.io".to_string()
        } else {
            reference.registry.clone()
        };
        let mut reg = Registry {
            base: format!("https://{host}"),
            reference,
            agent,
            auth: Mutex::new(None),
            opts: opts.clone(),
        };
        // Find out the scheme: HTTPS, or HTTP where docker allows it.
        match reg.agent.get(&format!("{}/v2/", reg.base)).call() {
            Ok(_) => {}
            Err(e) if loopback(&host) || opts.insecure => {
                let plain = format!("http://{host}");
                match reg.agent.get(&format!("{plain}/v2/")).call() {
                    Ok(_) => reg.base = plain,
                    Err(_) => return Err(format!("{host}: {e}")),
                }
            }
            Err(e) => return Err(format!("{host}: {e}")),
        }
        Ok(reg)
    }

    pub fn name(&self) -> String {
        self.reference.name()
    }

    fn get(
        &self,
        path: &str,
        accept: Option<&str>,
    ) -> Result<ureq::http::Response<ureq::Body>, String> {
        let url = format!("{}/v2/{}/{path}", self.base, self.reference.repo);
        for attempt in 0..2 {
            let mut req = self.agent.get(&url);
            if let Some(a) = accept {
                req = req.header("Accept", a);
            }
            if let Some(h) = self.auth.lock().map(|a| a.clone()).unwrap_or_default() {
                req = req.header("Authorization", &h);
            }
            let resp = req.call().map_err(|e| format!("GET {url}: {e}"))?;
            let status = resp.status().as_u16();
            if status == 401 && attempt == 0 {
                let chal = resp
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                self.authenticate(&chal)?;
                continue;
            }
            if status == 401 || status == 403 {
                return Err(format!(
                    "GET {url}: {status}: {}",
                    if self.opts.creds.is_some() {
                        "the registry refused these credentials"
                    } else {
                        "authentication required (--creds USER:PASS)"
                    }
                ));
            }
            if status == 404 {
                return Err(format!("GET {url}: not found"));
            }
            if !(200..300).contains(&status) {
                return Err(format!("GET {url}: HTTP {status}"));
            }
            return Ok(resp);
        }
        Err(format!("GET {url}: authentication failed"))
    }

    fn authenticate(&self, challenge: &str) -> Result<(), String> {
        let (scheme, params) = parse_challenge(challenge);
        let param = |k: &str| params.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
        let basic = self
            .opts
            .creds
            .as_ref()
            .map(|(u, p)| format!("Basic {}", base64(format!("{u}:{p}").as_bytes())));
        let header = match scheme.as_str() {
            "basic" => basic.ok_or_else(|| {
                format!(
                    "{}: the registry wants a user and password (--creds USER:PASS)",
                    self.reference.registry
                )
            })?,
            "bearer" => {
                let realm = param("realm").ok_or("a bearer challenge without a realm")?;
                if !(realm.starts_with("https://") || realm.starts_with("http://")) {
                    return Err(format!("token realm {realm:?}: not an http(s) URL"));
                }
                let mut url = format!("{realm}?");
                if let Some(s) = param("service") {
                    url.push_str(&format!("service={}&", encode_query(&s)));
                }
                let scope = param("scope")
                    .unwrap_or_else(|| format!("repository:{}:pull", self.reference.repo));
                url.push_str(&format!("scope={}", encode_query(&scope)));
                let mut req = self.agent.get(&url);
                if let Some(b) = &basic {
                    req = req.header("Authorization", b);
                }
                let mut resp = req.call().map_err(|e| format!("token {url}: {e}"))?;
                let status = resp.status().as_u16();
                if status != 200 {
                    return Err(format!(
                        "token {realm}: HTTP {status}{}",
                        if status == 401 {
                            ": the credentials were refused"
                        } else {
                            ""
                        }
                    ));
                }
                let body = resp
                    .body_mut()
                    .with_config()
                    .limit(1 << 20)
                    .read_to_vec()
                    .map_err(|e| format!("token {realm}: {e}"))?;
                let v: serde_json::Value =
                    serde_json::from_slice(&body).map_err(|e| format!("token {realm}: {e}"))?;
                let tok = v["token"]
                    .as_str()
                    .or(v["access_token"].as_str())
                    .ok_or_else(|| format!("token {realm}: no token in the answer"))?;
                format!("Bearer {tok}")
            }
            "" => {
                return Err(format!(
                    "{}: 401 without a challenge",
                    self.reference.registry
                ))
            }
            other => {
                return Err(format!(
                    "{}: unsupported auth scheme {other:?}",
                    self.reference.registry
                ))
            }
        };
        if let Ok(mut a) = self.auth.lock() {
            *a = Some(header);
        }
        Ok(())
    }

    fn read_json(&self, path: &str) -> Result<Vec<u8>, String> {
        let mut resp = self.get(path, Some(ACCEPT))?;
        resp.body_mut()
            .with_config()
            .limit(MAX_JSON)
            .read_to_vec()
            .map_err(|e| format!("{path}: {e}"))
    }
}

impl Source for Registry {
    fn describe(&self) -> String {
        self.reference.name()
    }
    fn default_name(&self) -> Option<String> {
        Some(self.reference.name())
    }
    fn top(&self) -> Result<(Option<Digest>, Vec<u8>), String> {
        let r = self.reference.manifest_ref();
        let bytes = self.read_json(&format!("manifests/{r}"))?;
        let d = Digest::of(&bytes);
        if let Some(want) = &self.reference.digest {
            if d.to_string() != *want {
                return Err(format!(
                    "manifest {want}: the registry sent one with digest {d}"
                ));
            }
        }
        Ok((Some(d), bytes))
    }
    fn manifest(&self, d: &Digest) -> Result<Vec<u8>, String> {
        self.read_json(&format!("manifests/{d}"))
    }
    fn blob(&self, d: &Digest) -> Result<Box<dyn Read + Send>, String> {
        let resp = self.get(&format!("blobs/{d}"), None)?;
        Ok(Box::new(resp.into_body().into_reader()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull""#,
        );
        assert_eq!(s, "bearer");
        assert_eq!(p[0], ("realm".into(), "https://auth.example/token".into()));
        assert_eq!(p[2], ("scope".into(), "repository:a/b:pull".into()));
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(s, "basic");
        assert_eq!(p[0].1, "Registry Realm");
    }

    #[test]
    fn base64_encodes() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
    }
}
