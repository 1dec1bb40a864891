//! Pulls from a real registry: Debian's docker-registry started by the test
//! on 127.0.0.1 (plain HTTP; TLS with a CA the test makes and basic auth),
//! images pushed with Debian's skopeo, a manifest list, two pulls at once,
//! and bearer tokens (a small token gate the test puts in front of the
//! registry). Every registry process dies with its guard. These tests
//! talk to the machine's loopback (`Env::with_machine_net`): their one box
//! runs with `--net none`.

mod common;
use common::*;
use serde_json::json;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn need(tool: &str) {
    assert!(
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success(),
        "{tool} is missing: scripts/deps.sh installs it (scripts/test.sh lists the test packages)"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Registry {
    child: Child,
    pub addr: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Tls {
    ca_dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// A CA and a server certificate for 127.0.0.1, made with openssl.
fn make_tls(dir: &Path) -> Tls {
    need("openssl");
    fs::create_dir_all(dir.join("ca")).unwrap();
    let sh = format!(
        "set -e; cd {d}; \
         openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ward-test-ca -keyout ca.key -out ca/ca.crt 2>/dev/null; \
         openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr 2>/dev/null; \
         printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext; \
         openssl x509 -req -in server.csr -CA ca/ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ext -out server.crt 2>/dev/null",
        d = dir.display()
    );
    let mut c = Command::new("sh");
    c.arg("-c").arg(sh);
    run_cmd(c, *TIMEOUT).assert_ok();
    Tls {
        ca_dir: dir.join("ca"),
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
    }
}

fn start_registry(
    env: &Env,
    name: &str,
    tls: Option<&Tls>,
    htpasswd: Option<(&str, &str)>,
) -> Registry {
    need("docker-registry");
    need("curl");
    let dir = env.dir.join(format!("registry-{name}"));
    fs::create_dir_all(dir.join("data")).unwrap();
    if let Some((u, p)) = htpasswd {
        need("htpasswd");
        let out = Command::new("htpasswd")
            .args(["-Bbn", u, p])
            .output()
            .unwrap();
        fs::write(dir.join("htpasswd"), &out.stdout).unwrap();
    }
    // A free port is only free until someone takes it: tests run in
    // parallel and each starts a registry. Each registry answers with a
    // header naming it, and the wait is for that answer, so a test never
    // talks to another test's registry; a registry that lost the port
    // race exits and is started again on another one.
    let me = format!("{}-{name}", env.dir.display());
    for _ in 0..5 {
        let port = free_port();
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  headers:\n    X-Ward-Registry: [\"{me}\"]\n",
            dir.join("data").display()
        );
        if let Some(t) = tls {
            cfg.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                t.cert.display(),
                t.key.display()
            ));
        }
        if htpasswd.is_some() {
            cfg.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: ward-test\n    path: {}\n",
                dir.join("htpasswd").display()
            ));
        }
        fs::write(dir.join("config.yml"), cfg).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("log")).unwrap())
            .spawn()
            .unwrap();
        let mut reg = Registry {
            child,
            addr: format!("127.0.0.1:{port}"),
        };
        let url = format!(
            "{}://{}/v2/",
            if tls.is_some() { "https" } else { "http" },
            reg.addr
        );
        // HTTP header names are case-insensitive (the value is ours).
        let want = format!("X-Ward-Registry: {me}");
        let ours = |reg: &mut Registry| {
            let out = Command::new("curl")
                .args(["-sk", "-m", "5", "-o", "/dev/null", "-D", "-", &url])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.trim_end().eq_ignore_ascii_case(&want))
                || reg.child.try_wait().unwrap().is_some()
        };
        assert!(
            wait_until(Duration::from_secs(20), || ours(&mut reg)),
            "the registry did not listen on {}",
            reg.addr
        );
        if reg.child.try_wait().unwrap().is_none() {
            return reg;
        }
    }
    panic!(
        "the registry exited five times; its log: {}",
        fs::read_to_string(dir.join("log")).unwrap_or_default()
    );
}

fn skopeo_push(layout: &Path, dest: &str, extra: &[&str]) {
    need("skopeo");
    let mut c = Command::new("skopeo");
    c.args(["copy", "--quiet", "--all"])
        .args(extra)
        .arg(format!("oci:{}:t", layout.display()))
        .arg(format!("docker://{dest}"));
    run_cmd(c, *TIMEOUT).assert_ok();
}

fn busybox_layout(env: &Env, name: &str, extra: Vec<Entry>) -> PathBuf {
    let mut img = Image::busybox();
    img.layers.push(tar(&extra));
    let l = env.dir.join(format!("layout-{name}"));
    img.write_layout(&l, "t");
    l
}

#[test]
fn pull_over_http_from_a_loopback_registry_and_run() {
    if skip_unless_root("boxes") {
        return;
    }
    let env = Env::with_machine_net("reg-http");
    let reg = start_registry(&env, "plain", None, None);
    let layout = busybox_layout(
        &env,
        "a",
        vec![Entry::file("hello", b"from the registry\n")],
    );
    skopeo_push(
        &layout,
        &format!("{}/ward/bb:1", reg.addr),
        &["--dest-tls-verify=false"],
    );
    let r = format!("{}/ward/bb:1", reg.addr);
    let out = env.wb(&["image", "pull", &r]);
    out.assert_ok();
    assert_eq!(
        out.stderr.matches(": unpacked").count(),
        2,
        "plain progress lines, one per layer\n{}",
        out.describe()
    );
    // Pulled again: nothing fetched.
    let out = env.wb(&["image", "pull", &r]);
    out.assert_ok();
    assert_eq!(
        out.stderr.matches("already in the store").count(),
        2,
        "{}",
        out.describe()
    );
    let out = env.wb(&[
        "box", "run", "--rm", "-q", "--net", "none", &r, "cat", "/hello",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout, "from the registry\n");
    // Unknown tag and unknown repository: one line each.
    env.wb(&["image", "pull", "-q", &format!("{}/ward/bb:nope", reg.addr)])
        .assert_one_line_error("image pull", &["not found"]);
    env.wb(&["image", "pull", "-q", &format!("{}/ward/none:1", reg.addr)])
        .assert_one_line_error("image pull", &["not found"]);
}

#[test]
fn pull_over_tls_with_basic_auth() {
    let env = Env::with_machine_net("reg-tls");
    let tls = make_tls(&env.dir.join("tls"));
    let reg = start_registry(&env, "tls", Some(&tls), Some(("ward", "s3cret")));
    let layout = busybox_layout(&env, "b", vec![Entry::file("secret", b"s")]);
    let ca = tls.ca_dir.to_str().unwrap();
    skopeo_push(
        &layout,
        &format!("{}/ward/bb:tls", reg.addr),
        &["--dest-cert-dir", ca, "--dest-creds", "ward:s3cret"],
    );
    let r = format!("{}/ward/bb:tls", reg.addr);
    // The test CA isn't trusted by default.
    env.wb(&["image", "pull", "-q", "--creds", "ward:s3cret", &r])
        .assert_one_line_error("image pull", &["127.0.0.1"]);
    // No credentials, wrong ones.
    env.wb(&["image", "pull", "-q", "--cert-dir", ca, &r])
        .assert_one_line_error("image pull", &["--creds"]);
    env.wb(&[
        "image",
        "pull",
        "-q",
        "--cert-dir",
        ca,
        "--creds",
        "ward:wrong",
        &r,
    ])
    .assert_one_line_error("image pull", &["refused"]);
    assert!(env.layers().is_empty());
    env.wb(&[
        "image",
        "pull",
        "-q",
        "--cert-dir",
        ca,
        "--creds",
        "ward:s3cret",
        &r,
    ])
    .assert_ok();
    assert_eq!(env.layers().len(), 2);
}

/// A manifest list with linux/amd64 and linux/arm64: the pull takes the
/// host's.
#[test]
fn a_manifest_list_resolves_to_the_host_platform() {
    let env = Env::with_machine_net("reg-list");
    let reg = start_registry(&env, "list", None, None);
    // Two images in one layout, and an index over both.
    let layout = env.dir.join("multi");
    let mut digests = vec![];
    for arch in ["arm64", "amd64"] {
        let img = Image::new(vec![tar(&[Entry::file("arch", arch.as_bytes())])]);
        let one = env.dir.join(format!("one-{arch}"));
        let md = img.write_layout(&one, arch);
        for e in fs::read_dir(one.join("blobs/sha256")).unwrap().flatten() {
            fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
            fs::copy(e.path(), layout.join("blobs/sha256").join(e.file_name())).unwrap();
        }
        let size = fs::metadata(
            one.join("blobs/sha256")
                .join(md.trim_start_matches("sha256:")),
        )
        .unwrap()
        .len();
        digests.push(json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": size,
            "platform": {"os": "linux", "architecture": arch}}));
    }
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": digests})).unwrap();
    let ih = sha256_hex(&index);
    fs::write(layout.join("blobs/sha256").join(&ih), &index).unwrap();
    fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    fs::write(layout.join("index.json"), serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": format!("sha256:{ih}"), "size": index.len(),
        "annotations": {"org.opencontainers.image.ref.name": "t"}}]})).unwrap()).unwrap();
    skopeo_push(
        &layout,
        &format!("{}/ward/multi:1", reg.addr),
        &["--dest-tls-verify=false"],
    );
    env.wb(&["image", "pull", "-q", &format!("{}/ward/multi:1", reg.addr)])
        .assert_ok();
    let layers = env.layers();
    assert_eq!(layers.len(), 1);
    let arch = fs::read_to_string(env.store.join("layers").join(&layers[0]).join("arch")).unwrap();
    let host = if cfg!(target_arch = "x86_64") {
        "amd64"
    } else {
        "arm64"
    };
    assert_eq!(arch, host);
}

#[test]
fn two_pulls_at_once_both_succeed_and_unpack_once() {
    let env = Env::with_machine_net("reg-twice");
    let reg = start_registry(&env, "twice", None, None);
    let data: Vec<u8> = (0..4_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 9) as u8)
        .collect();
    let layout = busybox_layout(&env, "c", vec![Entry::file("big", &data)]);
    skopeo_push(
        &layout,
        &format!("{}/ward/big:1", reg.addr),
        &["--dest-tls-verify=false"],
    );
    let r = format!("{}/ward/big:1", reg.addr);
    let spawn = || {
        let mut c = env.cmd(&["image", "pull", &r]);
        c.stderr(Stdio::piped())
            .stdout(Stdio::null())
            .stdin(Stdio::null());
        c.spawn().unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let said = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        a.status.success() && b.status.success(),
        "{}\n{}",
        said(&a),
        said(&b)
    );
    let unpacked = said(&a).matches(": unpacked").count() + said(&b).matches(": unpacked").count();
    assert_eq!(
        unpacked,
        2,
        "each of the 2 layers unpacked once in all:\n{}\n{}",
        said(&a),
        said(&b)
    );
    assert_eq!(env.layers().len(), 2);
    assert!(env.tmp_entries().is_empty());
}

/// A token gate in front of a plain registry: /v2/... wants
/// `Bearer good-token`, which /token gives for basic `ward:tok`.
fn bearer_gate(backend: String) -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (me, s) = (addr.clone(), stop.clone());
    l.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while !s.load(std::sync::atomic::Ordering::SeqCst) && std::time::Instant::now() < deadline {
            let Ok((c, _)) = l.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            let (b, me) = (backend.clone(), me.clone());
            std::thread::spawn(move || gate_one(c, &b, &me));
        }
    });
    (addr, stop)
}

fn gate_one(mut c: TcpStream, backend: &str, me: &str) {
    c.set_nonblocking(false).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut first = String::new();
    if r.read_line(&mut first).is_err() {
        return;
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
            break;
        }
        headers.push(h.trim_end().to_string());
    }
    let path = first.split(' ').nth(1).unwrap_or("/").to_string();
    let auth = headers
        .iter()
        .find(|h| h.to_lowercase().starts_with("authorization:"))
        .map(|h| h[14..].trim().to_string());
    let reply = |c: &mut TcpStream, status: &str, extra: &str, body: &[u8]| {
        let _ = write!(
            c,
            "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = c.write_all(body);
    };
    if path.starts_with("/token") {
        if auth.as_deref() == Some("Basic d2FyZDp0b2s=")
            && path.contains("scope=repository%3Award%2Fbb%3Apull")
        {
            reply(
                &mut c,
                "200 OK",
                "Content-Type: application/json\r\n",
                br#"{"token":"good-token"}"#,
            );
        } else {
            reply(&mut c, "401 Unauthorized", "", b"");
        }
        return;
    }
    if auth.as_deref() != Some("Bearer good-token") {
        let chal = format!("WWW-Authenticate: Bearer realm=\"http://{me}/token\",service=\"gate\",scope=\"repository:ward/bb:pull\"\r\n");
        reply(&mut c, "401 Unauthorized", &chal, b"");
        return;
    }
    // Forward to the registry, one request, and relay the answer.
    let mut b = TcpStream::connect(backend).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {backend}\r\nConnection: close\r\n");
    for h in &headers {
        let low = h.to_lowercase();
        if low.starts_with("accept:") {
            req.push_str(&format!("{h}\r\n"));
        }
    }
    req.push_str("\r\n");
    b.write_all(req.as_bytes()).unwrap();
    let mut all = Vec::new();
    let _ = b.read_to_end(&mut all);
    let _ = c.write_all(&all);
}

#[test]
fn bearer_tokens_from_the_registrys_token_service() {
    let env = Env::with_machine_net("reg-bearer");
    let reg = start_registry(&env, "bearer", None, None);
    let layout = busybox_layout(&env, "d", vec![]);
    skopeo_push(
        &layout,
        &format!("{}/ward/bb:1", reg.addr),
        &["--dest-tls-verify=false"],
    );
    let (gate, stop) = bearer_gate(reg.addr.clone());
    let r = format!("{gate}/ward/bb:1");
    env.wb(&["image", "pull", "-q", &r])
        .assert_one_line_error("image pull", &["token"]);
    env.wb(&["image", "pull", "-q", "--creds", "ward:tok", &r])
        .assert_ok();
    assert_eq!(env.layers().len(), 2);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
}
