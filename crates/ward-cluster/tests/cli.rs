//! ward-cluster's bad input, on any host (no criu, no ssh server needed):
//! each is one line, `ward: <verb> <target>: ...`, and a non-zero exit.
//! The migrations themselves are tested in crates/ward/tests/migrate.rs
//! (in the test VM and between two guests); building this test also puts
//! the ward-cluster binary next to ward for them.

use std::path::PathBuf;
use std::process::Command;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ward-cluster"))
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ward-cluster-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[track_caller]
fn one_line(args: &[&str], env: &[(&str, &PathBuf)], starts: &str, has: &str) {
    let mut c = Command::new(bin());
    c.args(args).env_remove("WARD_HOSTS");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{args:?} succeeded");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(
        err.starts_with(starts) && err.contains(has),
        "{args:?}: want {starts:?}..{has:?}: {err}"
    );
}

#[test]
fn bad_input_is_one_line() {
    let d = scratch("bad");
    let hosts = d.join("hosts");
    std::fs::write(&hosts, "a ssh://root@10.0.0.1\nb ssh://x:99999\n").unwrap();
    let h = [("WARD_HOSTS", &hosts)];
    one_line(
        &["migrate", "web", "b"],
        &h,
        "ward: migrate web: hosts file ",
        "hosts:2: \"ssh://x:99999\": bad port \"99999\"",
    );
    std::fs::write(&hosts, "a ssh://root@10.0.0.1\n").unwrap();
    one_line(
        &["migrate", "web", "nowhere"],
        &h,
        "ward: migrate web: ",
        "unknown host \"nowhere\"",
    );
    one_line(
        &["migrate", "web", "http://a"],
        &h,
        "ward: migrate web: ",
        "only ssh://[user@]host[:port]",
    );
    one_line(
        &["migrate", "web"],
        &h,
        "ward: migrate web: ",
        "no destination",
    );
    one_line(
        &["migrate", "web", "a", "--to", "auto"],
        &h,
        "ward: migrate web: ",
        "not both",
    );
    one_line(
        &["migrate", "web", "a", "--strategy", "teleport"],
        &h,
        "ward: migrate web: ",
        "want stop-and-copy, pre-copy or post-copy",
    );
    one_line(
        &["migrate", "../etc", "a"],
        &h,
        "ward: migrate ../etc: ",
        "",
    );
    one_line(
        &["cluster", "kill", "web", "KILL"],
        &h,
        "ward: cluster kill web: ",
        "want HOST/ID",
    );
    one_line(
        &["cluster", "exec", "nowhere/web", "true"],
        &h,
        "ward: cluster exec nowhere/web: ",
        "unknown host \"nowhere\"",
    );
    let missing = d.join("missing");
    one_line(
        &["cluster", "ps"],
        &[("WARD_HOSTS", &missing)],
        "ward: cluster ps: hosts file ",
        "No such file",
    );
    let _ = std::fs::remove_dir_all(&d);
}
