//! Runs cri-tools' critest (built elsewhere: docs/conformance.md says how)
//! against a containerd of the test's own with each runtime handler named,
//! offline: critest pulls its images, so a local registry (Debian's
//! docker-registry) in the node's network namespace serves busybox-based
//! stand-ins made here under the names critest asks for, and containerd
//! mirrors registry.k8s.io and gcr.io to it. critest runs inside that
//! namespace too (it fetches pages from pod IPs and host ports), and in
//! the node's own IPC namespace with containerd (its HostIpc checks make
//! shared memory segments in the "host's" namespace).
//!
//! usage: critest-run CRITEST OUTDIR [HANDLER...]   (default: ward runc)
//! CRITEST_ARGS adds arguments (e.g. --ginkgo.focus=…).
//! Writes OUTDIR/critest-<handler>.log and .xml (JUnit) and prints a
//! summary line per handler.

use serde_json::json;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use ward_cri_test::cmd;
use ward_cri_test::image::{self, ImageSpec};
use ward_cri_test::node::{self, Node, Options};
use ward_cri_test::stream;

const NNP: &str = r#"#include <stdio.h>
#include <unistd.h>
int main(void) { printf("Effective uid: %d\n", (int)geteuid()); return 0; }
"#;

/// The nginx images' stand-in: run as `/nginx "nginx: master process"
/// PORT`, it writes /var/run/nginx.pid, serves /www with busybox httpd as
/// its child, and exits when that ends or on SIGTERM.
const NGINX: &str = r#"#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static pid_t child;
static void term(int s) { (void)s; if (child > 0) kill(child, SIGTERM); _exit(0); }
int main(int argc, char **argv) {
  const char *port = argc > 2 ? argv[2] : "80";
  signal(SIGTERM, term);
  signal(SIGINT, term);
  FILE *f = fopen("/var/run/nginx.pid", "w");
  if (f) { fprintf(f, "%d\n", (int)getpid()); fclose(f); }
  child = fork();
  if (child == 0) {
    execl("/bin/httpd", "httpd", "-f", "-p", port, "-h", "/www", (char *)0);
    _exit(127);
  }
  int st;
  while (waitpid(child, &st, 0) < 0) {}
  return 1;
}
"#;

/// `ipcs -m`'s stand-in (Debian's busybox has no ipcs): the System V shared
/// memory segments of /proc/sysvipc/shm, one line each.
const IPCS: &str = r#"#include <stdio.h>
int main(void) {
  FILE *f = fopen("/proc/sysvipc/shm", "r");
  char line[512];
  if (!f) return 1;
  printf("------ Shared Memory Segments --------\nkey        shmid      owner      perms      bytes      nattch\n");
  if (!fgets(line, sizeof line, f)) return 0;
  long key, id, size, nattch, uid; unsigned perms; int cpid, lpid;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "%ld %ld %o %ld %d %d %ld %ld", &key, &id, &perms, &size, &cpid, &lpid, &nattch, &uid) == 8)
      printf("0x%08lx %-10ld %-10ld %-10o %-10ld %ld\n", key, id, uid, perms, size, nattch);
  return 0;
}
"#;

/// The busybox rootfs with what critest's images add: a page to serve,
/// the users and groups they name, and a setuid-root program that prints
/// its effective uid (the nonewprivs image), and pgrep.
fn rootfs(work: &Path) -> PathBuf {
    let root = work.join("critest-rootfs");
    image::busybox_rootfs(&root);
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/sh\n\
         default-user:x:1000:1000::/home/default-user:/bin/sh\n\
         nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    fs::write(
        root.join("etc/group"),
        "root:x:0:\nwww-data:x:33:\ndefault-user:x:1000:\n\
         group-defined-in-image:x:50000:default-user\nnogroup:x:65534:\n",
    )
    .unwrap();
    fs::write(root.join("www/index.html"), "<html>ward critest</html>\n").unwrap();
    // The busybox image has its applets as hard links (masking /bin/ls
    // must not mask /bin/busybox, as it would through a symlink).
    for e in fs::read_dir(root.join("bin")).unwrap().flatten() {
        if e.file_type().unwrap().is_symlink()
            && fs::read_link(e.path()).unwrap() == Path::new("busybox")
        {
            fs::remove_file(e.path()).unwrap();
            fs::hard_link(root.join("bin/busybox"), e.path()).unwrap();
        }
    }
    image::static_c(work, "nginx", NGINX, &root.join("nginx"));
    image::static_c(work, "ipcs", IPCS, &root.join("bin/ipcs"));
    fs::create_dir_all(root.join("var/run")).unwrap();
    // Debian's busybox has no pgrep applet; critest's checks use it.
    fs::write(
        root.join("bin/pgrep"),
        "#!/bin/sh\nps -o pid,args | awk -v p=\"$1\" 'NR > 1 && $0 ~ p && $0 !~ /pgrep|awk/ { print $1; f = 1 } END { exit !f }'\n",
    )
    .unwrap();
    fs::set_permissions(root.join("bin/pgrep"), fs::Permissions::from_mode(0o755)).unwrap();
    image::static_c(work, "nnp", NNP, &root.join("nnp"));
    fs::set_permissions(root.join("nnp"), fs::Permissions::from_mode(0o4755)).unwrap();
    root
}

/// (name under the registry, config) of every image critest 1.26 pulls
/// that can be made (test-image-digest@sha256:… names a digest no image
/// made here can have).
fn images() -> Vec<(String, serde_json::Value)> {
    let e2e = "e2e-test-images";
    let cri = "k8s-staging-cri-tools";
    let env = json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]);
    let cfg = |extra: serde_json::Value| {
        let mut c = json!({"Env": env, "Cmd": ["sh"]});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        json!({ "config": c })
    };
    let mut v = vec![
        (format!("{e2e}/busybox:1.29-2"), cfg(json!({}))),
        (
            format!("{e2e}/nginx:1.14-2"),
            cfg(json!({"Cmd": ["/nginx", "nginx: master process", "80"]})),
        ),
        (
            format!("{e2e}/httpd:2.4.39-4"),
            cfg(json!({"Cmd": ["sh", "-c",
                "echo \"Command line: 'httpd -D FOREGROUND'\"; exec httpd -f -p 80 -h /www"]})),
        ),
        (
            format!("{e2e}/nonewprivs:1.3"),
            cfg(json!({"Entrypoint": ["/nnp"], "Cmd": []})),
        ),
        (
            format!("{cri}/hostnet-nginx-amd64:latest"),
            cfg(json!({"Cmd": ["/nginx", "nginx: master process", "12003"]})),
        ),
        (
            format!("{cri}/test-image-user-uid:latest"),
            cfg(json!({"User": "1002"})),
        ),
        (
            format!("{cri}/test-image-user-username:latest"),
            cfg(json!({"User": "www-data"})),
        ),
        (
            format!("{cri}/test-image-user-uid-group:latest"),
            cfg(json!({"User": "1003:1003"})),
        ),
        (
            format!("{cri}/test-image-user-username-group:latest"),
            cfg(json!({"User": "www-data:www-data"})),
        ),
        (
            format!("{cri}/test-image-predefined-group:latest"),
            cfg(json!({"User": "1000"})),
        ),
    ];
    // Images of their own (one tag each: critest checks RepoTags).
    for (i, n) in [
        "test-image-latest:latest",
        "test-image-tag:test",
        "test-image-tag:all",
    ]
    .iter()
    .enumerate()
    {
        v.push((
            format!("{cri}/{n}"),
            cfg(json!({"Env": [format!("TEST_IMAGE=own-{i}")]})),
        ));
    }
    for t in 1..=3 {
        // Different images: the config differs.
        v.push((
            format!("{cri}/test-image-{t}:latest"),
            cfg(json!({"Env": [format!("TEST_IMAGE={t}")]})),
        ));
        // Tags of one image (and of no other).
        v.push((
            format!("{cri}/test-image-tags:{t}"),
            cfg(json!({"Env": ["TEST_IMAGE=tags"]})),
        ));
    }
    v
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert!(
        args.len() >= 3,
        "usage: critest-run CRITEST OUTDIR [HANDLER...]"
    );
    let critest = fs::canonicalize(&args[1]).expect("critest binary");
    let out = PathBuf::from(&args[2]);
    fs::create_dir_all(&out).unwrap();
    let out = fs::canonicalize(out).unwrap();
    let handlers: Vec<String> = if args.len() > 3 {
        args[3..].to_vec()
    } else {
        vec!["ward".into(), "runc".into()]
    };
    assert!(node::can_run("critest-run"), "critest-run needs root");
    let registry =
        cmd::which("docker-registry").expect("docker-registry (Debian package) is not installed");
    let skopeo = cmd::which("skopeo").expect("skopeo (Debian package) is not installed");

    let mut extra = String::new();
    for r in ["registry.k8s.io", "gcr.io", "docker.io"] {
        extra.push_str(&format!(
            "[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"{r}\"]\n  endpoint = [\"http://127.0.0.1:5000\"]\n"
        ));
    }
    let n = Node::start_with(
        "critest",
        Options {
            extra_config: extra,
            private_ipc: true,
            ..Default::default()
        },
    );

    // The registry, in the node's namespace.
    let reg_dir = n.dir.join("registry");
    fs::create_dir_all(reg_dir.join("data")).unwrap();
    fs::write(
        reg_dir.join("config.yml"),
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:5000\n",
            reg_dir.join("data").display()
        ),
    )
    .unwrap();
    let log = fs::File::create(reg_dir.join("registry.log")).unwrap();
    let mut reg = {
        use std::os::unix::process::CommandExt;
        Command::new("nsenter")
            .args(n.nsenter_args())
            .arg(&registry)
            .arg("serve")
            .arg(reg_dir.join("config.yml"))
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start docker-registry")
    };
    struct Kill(i32);
    impl Drop for Kill {
        fn drop(&mut self) {
            cmd::kill_group(self.0);
        }
    }
    let _reg_guard = Kill(reg.id() as i32);
    assert!(
        cmd::wait_until(Duration::from_secs(20), || stream::http_get(
            &n.netns,
            "127.0.0.1:5000",
            "/v2/"
        )
        .is_ok()),
        "the registry did not start: {}",
        cmd::read_lossy(&reg_dir.join("registry.log"))
    );

    // The images, pushed with skopeo from inside the namespace.
    let work = n.dir.join("critest-images");
    fs::create_dir_all(&work).unwrap();
    let root = rootfs(&work);
    let layer = work.join("layer.tar");
    image::layer(&work, &root, &layer);
    for (i, (name, config)) in images().into_iter().enumerate() {
        let dir = work.join(format!("layout-{i}"));
        image::oci_layout(
            &dir,
            &[ImageSpec {
                name: &name,
                layer: &layer,
                config,
            }],
        );
        let mut c = Command::new("nsenter");
        c.args(n.nsenter_args())
            .arg(&skopeo)
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .arg(format!("oci:{}", dir.display()))
            .arg(format!("docker://127.0.0.1:5000/{name}"));
        cmd::run(c, &n.logs, Duration::from_secs(120)).assert_ok();
    }
    eprintln!("critest-run: registry ready with {} images", images().len());

    for h in &handlers {
        let logf = out.join(format!("critest-{h}.log"));
        let mut c = Command::new("nsenter");
        c.args(n.nsenter_args())
            .arg(&critest)
            .arg(format!("--runtime-endpoint=unix://{}", n.sock.display()))
            .arg(format!("--image-endpoint=unix://{}", n.sock.display()))
            .arg(format!("--runtime-handler={h}"))
            .arg("--ginkgo.no-color")
            .arg(format!(
                "--ginkgo.junit-report={}",
                out.join(format!("critest-{h}.xml")).display()
            ))
            .args(
                std::env::var("CRITEST_ARGS")
                    .unwrap_or_default()
                    .split_whitespace(),
            )
            .current_dir(&n.dir);
        let t = std::time::Instant::now();
        let r = cmd::run(c, &n.logs, Duration::from_secs(3600));
        fs::write(&logf, format!("{}{}", r.stdout, r.stderr)).unwrap();
        let summary = r
            .stdout
            .lines()
            .chain(r.stderr.lines())
            .filter(|l| l.starts_with("Ran ") || l.contains("Passed |"))
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "critest-run: {h}: exit {:?} in {:.0?}: {summary}",
            r.code,
            t.elapsed()
        );
        n.remove_all_pods();
    }
    let _ = reg.kill();
    let _ = reg.wait();
}
