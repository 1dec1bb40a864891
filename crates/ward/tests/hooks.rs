//! OCI hooks (config.md "POSIX-platform Hooks", runtime.md "Lifecycle",
//! runtime-spec v1.3.0): when each kind runs, in which namespaces, with what
//! argv, environment and state on stdin, and what a failing or hanging hook
//! does to the step it belongs to.
//!
//! The hooks are /bin/sh scripts written by the test: on the host (dash) for
//! every kind but startContainer, whose path resolves in the container, so
//! its script lives in the rootfs (busybox sh). Each invocation saves its
//! stdin as `<label>.json`, what it sees as `<label>.info` (namespace links,
//! hostname, the cmdline of the state's pid) and appends its label to `log`,
//! all in `rootfs/hooklog`, which both sides can reach.
//!
//! Where runc 1.1.5 deviates from the spec, the test follows the spec and a
//! comment says so (those tests fail with WARD_TEST_BIN=/usr/sbin/runc).

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const LOG_SCRIPT: &str = r#"#!/bin/sh
# usage: log.sh DIR LABEL [EXIT]
d=$1; l=$2
cat > "$d/$l.json"
pid=$(grep -o '"pid": *[0-9]*' "$d/$l.json" | grep -o '[0-9]*$')
{
  for ns in mnt net uts ipc pid; do echo "$ns=$(readlink /proc/self/ns/$ns)"; done
  echo "hostname=$(hostname)"
  if [ -n "$pid" ]; then echo "cmdline=$(tr '\0' ' ' < /proc/$pid/cmdline 2>/dev/null)"; fi
} > "$d/$l.info"
echo "$l" >> "$d/log"
if [ "${3:-0}" != 0 ]; then echo "hook $l failing on purpose" >&2; exit "$3"; fi
exit 0
"#;

/// The kinds whose hooks run in the container's namespaces.
const CONTAINER_KINDS: [&str; 2] = ["createContainer", "startContainer"];

/// A bundle set up for logging hooks.
struct Hooked {
    b: Bundle,
    /// rootfs/hooklog on the host (`/hooklog` in the container).
    log_dir: PathBuf,
    /// The logging script on the host.
    host_script: PathBuf,
}

impl Hooked {
    fn new(ctx: &Ctx) -> Hooked {
        let b = ctx.bundle("b");
        let log_dir = b.rootfs().join("hooklog");
        fs::create_dir(&log_dir).unwrap();
        fs::set_permissions(&log_dir, fs::Permissions::from_mode(0o777)).unwrap();
        let host_script = ctx.dir.join("log.sh");
        write_script(&host_script, LOG_SCRIPT);
        // startContainer's path resolves in the container: the same script,
        // for busybox sh, inside the rootfs.
        write_script(&b.rootfs().join("log.sh"), LOG_SCRIPT);
        Hooked {
            b,
            log_dir,
            host_script,
        }
    }

    /// A logging hook for `kind` (which decides where its path resolves),
    /// labelled `label`, exiting with `exit`.
    fn hook(&self, kind: &str, label: &str, exit: i32) -> Value {
        let (path, dir) = if kind == "startContainer" {
            ("/log.sh".to_string(), "/hooklog".to_string())
        } else {
            (
                self.host_script.to_str().unwrap().to_string(),
                self.log_dir.to_str().unwrap().to_string(),
            )
        };
        json!({
            "path": path,
            "args": ["log.sh", dir, label, exit.to_string()],
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
        })
    }

    /// Sets `hooks.<kind>` to `list`.
    fn set(&mut self, kind: &str, list: Vec<Value>) {
        if !self.b.config["hooks"].is_object() {
            self.b.config["hooks"] = json!({});
        }
        self.b.config["hooks"][kind] = Value::Array(list);
    }

    /// One logging hook per kind, labelled with the kind's name.
    fn log_every_kind(&mut self, kinds: &[&str]) {
        for k in kinds {
            let h = self.hook(k, k, 0);
            self.set(k, vec![h]);
        }
    }

    /// The user's program appends "program" to the log, then idles.
    fn program_logs(&mut self) {
        self.b.sh("echo program >> /hooklog/log; exec sleep 1000");
    }

    fn log(&self) -> Vec<String> {
        read_lossy(&self.log_dir.join("log"))
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn ran(&self, label: &str) -> usize {
        self.log().iter().filter(|l| *l == label).count()
    }

    #[track_caller]
    fn state(&self, label: &str) -> Value {
        let p = self.log_dir.join(format!("{label}.json"));
        let text = fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("hook {label} saved no state ({e}); log: {:?}", self.log()));
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("hook {label}'s stdin is not JSON ({e}): {text:?}"))
    }

    #[track_caller]
    fn info(&self, label: &str, key: &str) -> String {
        let text = read_lossy(&self.log_dir.join(format!("{label}.info")));
        kv(&text, key)
    }
}

fn write_script(p: &Path, text: &str) {
    fs::write(p, text).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Checks the state a hook got on stdin: the required fields, its status,
/// and (when given) its pid.
#[track_caller]
fn check_state(h: &Hooked, label: &str, id: &str, status: &str, pid: Option<i32>) {
    let st = h.state(label);
    assert!(
        st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "{label}: state lacks ociVersion: {st}"
    );
    assert_eq!(st["id"], json!(id), "{label}: state: {st}");
    assert_eq!(st["status"], json!(status), "{label}: state: {st}");
    assert_eq!(
        st["bundle"].as_str().and_then(|s| fs::canonicalize(s).ok()),
        fs::canonicalize(&h.b.dir).ok(),
        "{label}: state bundle: {st}"
    );
    if let Some(pid) = pid {
        assert_eq!(
            st["pid"].as_i64(),
            Some(pid as i64),
            "{label}: the state's pid is not the container process as seen by the host: {st}"
        );
    }
}

#[test]
fn create_start_delete_run_hooks_in_order() {
    let ctx = Ctx::new("hookorder");
    let id = ctx.id("hookorder");
    let mut h = Hooked::new(&ctx);
    h.log_every_kind(&["prestart", "createContainer", "startContainer", "poststop"]);
    let cr = vec![
        h.hook("createRuntime", "createRuntime-0", 0),
        h.hook("createRuntime", "createRuntime-1", 0),
    ];
    h.set("createRuntime", cr);
    h.program_logs();

    // create: prestart (deprecated; the spec, since v1.1.0, and runc run it
    // during create, before createRuntime), createRuntime in list order,
    // createContainer. The program must not have run.
    let (pid, _) = ctx.create_ok(&h.b, &id);
    assert_eq!(
        h.log(),
        [
            "prestart",
            "createRuntime-0",
            "createRuntime-1",
            "createContainer"
        ],
        "hooks run by create"
    );
    // Steps 3 to 5 of the lifecycle come after the environment is made:
    // "created" (as crun, and runtime-tools' hooks_stdin; runc says
    // "creating").
    for label in ["prestart", "createRuntime-0", "createRuntime-1"] {
        check_state(&h, label, &id, "created", Some(pid));
    }
    // createContainer's pid: see container_hooks_get_the_host_pid.
    check_state(&h, "createContainer", &id, "created", None);

    // start: startContainer, before the program.
    ctx.start_ok(&id);
    assert!(
        wait_until(WAIT_TIMEOUT, || h.log().len() >= 6),
        "the program never ran; log: {:?}",
        h.log()
    );
    assert_eq!(
        h.log()[4..],
        ["startContainer", "program"],
        "hooks run by start"
    );
    check_state(&h, "startContainer", &id, "created", None);

    // poststop runs during delete, not when the process exits.
    ctx.rt(&["kill", &id, "KILL"]).assert_ok();
    ctx.wait_status(&id, "stopped");
    assert_eq!(h.ran("poststop"), 0, "poststop ran before delete");
    ctx.rt(&["delete", &id]).assert_ok();
    assert_eq!(h.log().len(), 7, "log: {:?}", h.log());
    assert_eq!(h.log()[6], "poststop");
    check_state(&h, "poststop", &id, "stopped", None);
    ctx.assert_nothing_left(&[&id]);
}

/// runc 1.1.5 deviates: it runs poststart hooks at the end of `create`
/// (status "created", the init not yet exec'd), not during `start` (so do
/// the releases up to 1.3; runc's main branch has since moved them).
#[test]
fn poststart_runs_during_start_after_the_program_is_executed() {
    let ctx = Ctx::new("poststart");
    let id = ctx.id("poststart");
    let mut h = Hooked::new(&ctx);
    h.log_every_kind(&["poststart"]);
    h.b.set_args(&["sleep", "1000"]);
    let (pid, _) = ctx.create_ok(&h.b, &id);
    assert_eq!(h.ran("poststart"), 0, "poststart ran during create");
    ctx.start_ok(&id);
    // Before `start` returns.
    assert_eq!(h.ran("poststart"), 1, "log: {:?}", h.log());
    check_state(&h, "poststart", &id, "running", Some(pid));
    // After the user's program was executed: the state's pid runs it.
    assert_eq!(h.info("poststart", "cmdline"), "sleep 1000");
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

/// The state's pid is "the ID of the container process, as seen by the
/// host", also for the hooks that run in the container. runc 1.1.5 deviates:
/// it passes the pid as seen in the container's pid namespace (1).
#[test]
fn container_hooks_get_the_host_pid() {
    let ctx = Ctx::new("hookpid");
    let id = ctx.id("hookpid");
    let mut h = Hooked::new(&ctx);
    h.log_every_kind(&CONTAINER_KINDS);
    h.program_logs();
    let (pid, _) = ctx.create_ok(&h.b, &id);
    ctx.start_ok(&id);
    assert!(wait_until(WAIT_TIMEOUT, || h.ran("program") == 1));
    check_state(&h, "createContainer", &id, "created", Some(pid));
    check_state(&h, "startContainer", &id, "created", Some(pid));
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn hooks_run_in_the_namespaces_the_spec_names() {
    let ctx = Ctx::new("hookns");
    let id = ctx.id("hookns");
    let mut h = Hooked::new(&ctx);
    let kinds = [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ];
    h.log_every_kind(&kinds);
    h.program_logs();
    let (pid, _) = ctx.create_ok(&h.b, &id);
    let nss = ["mnt", "net", "uts", "ipc", "pid"];
    let container: Vec<String> = nss.iter().map(|n| ns_link(&pid.to_string(), n)).collect();
    let host: Vec<String> = nss.iter().map(|n| ns_link("self", n)).collect();
    ctx.start_ok(&id);
    assert!(wait_until(WAIT_TIMEOUT, || h.ran("program") == 1));
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    for k in kinds {
        let (want, what) = if CONTAINER_KINDS.contains(&k) {
            (&container, "container")
        } else {
            (&host, "runtime")
        };
        for (i, ns) in nss.iter().enumerate() {
            assert_eq!(
                &h.info(k, ns),
                &want[i],
                "{k} hook is not in the {what}'s {ns} namespace"
            );
        }
    }
    // The container's uts namespace is set up by the time startContainer runs.
    assert_eq!(h.info("startContainer", "hostname"), "ward-test");
    ctx.assert_nothing_left(&[&id]);
}

/// startContainer's path resolves in the container: a path that exists only
/// on the host is not found.
///
/// runc 1.1.5 deviates: its init releases `start` (through the exec fifo)
/// before it runs the startContainer hooks, so `start` exits 0 whatever they
/// do and the container then dies without running the program. `start`'s
/// exit code and error are checked last, so the rest holds for runc too.
#[test]
fn start_container_hook_path_resolves_in_the_container() {
    let ctx = Ctx::new("hookpath");
    let id = ctx.id("hookpath");
    let mut h = Hooked::new(&ctx);
    fs::remove_file(h.b.rootfs().join("log.sh")).unwrap();
    // The host's script, by its host path.
    let host_hook = json!({
        "path": h.host_script.to_str().unwrap(),
        "args": ["log.sh", "/hooklog", "startContainer"]
    });
    h.set("startContainer", vec![host_hook]);
    h.program_logs();
    let (pid, _) = ctx.create_ok(&h.b, &id);
    let start = pid_starttime(pid);
    let out = ctx.rt(&["start", &id]);
    assert!(
        wait_until(WAIT_TIMEOUT, || !same_process_alive(pid, start)),
        "the container process {pid} still runs after the failed hook"
    );
    assert_eq!(h.ran("startContainer"), 0);
    assert_eq!(h.ran("program"), 0, "the program ran after a failed hook");
    out.assert_fail();
    out.assert_stderr_has_any(&["no such file or directory"]);
}

#[test]
fn hook_env_and_args_are_passed_exactly() {
    let ctx = Ctx::new("hookargs");
    let id = ctx.id("hookargs");
    let mut h = Hooked::new(&ctx);
    // argv[0] is the hook's own: a custom one on the host (dash ignores
    // it); busybox, the container's /bin/sh, picks its applet by it.
    let args = |argv0: &str, dir: &str, label: &str| {
        let script = format!(
            "cat /proc/$$/cmdline > {dir}/{label}.argv; cat /proc/$$/environ > {dir}/{label}.env; cat > /dev/null"
        );
        vec![
            argv0.to_string(),
            "-c".to_string(),
            script,
            "x".to_string(),
            "two words".to_string(),
            String::new(),
            "--flag=1".to_string(),
        ]
    };
    let env = [
        "ZED=last",
        "A=b=c",
        "EMPTY=",
        "PATH=/usr/bin:/bin",
        "SPACE=a b",
    ];
    let host_dir = h.log_dir.to_str().unwrap().to_string();
    h.set(
        "createRuntime",
        vec![
            json!({"path": "/bin/sh", "args": args("my-hook-argv0", &host_dir, "cr"), "env": env}),
        ],
    );
    h.set(
        "startContainer",
        vec![json!({"path": "/bin/sh", "args": args("sh", "/hooklog", "sc"), "env": env})],
    );
    // Without args: no arguments. Without env: the spec doesn't say; ward
    // passes an empty environment (none of its own leaks into hooks), runc
    // passes its own, so that part is checked for ward only.
    let bare = ctx.dir.join("bare.sh");
    write_script(
        &bare,
        &format!(
            "#!/bin/sh\necho $# > {0}/bare.argc; /bin/cat /proc/$$/environ > {0}/bare.env\n",
            host_dir
        ),
    );
    // (In the runtime namespace: createContainer's /proc would be the host's
    // while its $$ is a pid of the container's namespace.)
    h.set("prestart", vec![json!({"path": bare.to_str().unwrap()})]);
    h.program_logs();
    ctx.create_ok(&h.b, &id);
    ctx.start_ok(&id);
    assert!(wait_until(WAIT_TIMEOUT, || h.ran("program") == 1));

    let want_env: String = env.iter().map(|e| format!("{e}\0")).collect();
    for (argv0, label, dir) in [
        ("my-hook-argv0", "cr", host_dir.as_str()),
        ("sh", "sc", "/hooklog"),
    ] {
        let argv = read_lossy(&h.log_dir.join(format!("{label}.argv")));
        let want_argv: String = args(argv0, dir, label)
            .iter()
            .map(|a| format!("{a}\0"))
            .collect();
        assert_eq!(argv, want_argv, "{label}: argv");
        let got_env = read_lossy(&h.log_dir.join(format!("{label}.env")));
        assert_eq!(got_env, want_env, "{label}: environment");
    }
    assert_eq!(read_lossy(&h.log_dir.join("bare.argc")).trim(), "0");
    if testing_ward() {
        assert_eq!(read_lossy(&h.log_dir.join("bare.env")), "");
    }
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

/// A hook of `kind` (run during create) fails: create fails with an error
/// that carries the hook's stderr, the hooks after it do not run, nothing of
/// the container is left, and (runtime.md: "stop the container, and continue
/// the lifecycle at step 12") the poststop hooks run.
fn failing_create_hook(kind: &str) {
    let ctx = Ctx::new(&format!("fail{}", kind.to_lowercase()));
    let id = ctx.id("failhook");
    let mut h = Hooked::new(&ctx);
    let order = [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
    ];
    let later: Vec<&str> = order
        .iter()
        .skip_while(|k| **k != kind)
        .skip(1)
        .copied()
        .collect();
    h.log_every_kind(&order);
    h.log_every_kind(&["poststop"]);
    let list = vec![
        h.hook(kind, &format!("{kind}-0"), 0),
        h.hook(kind, &format!("{kind}-1"), 3),
        h.hook(kind, &format!("{kind}-2"), 0),
    ];
    h.set(kind, list);
    h.program_logs();

    let out = ctx.create(&h.b, &id);
    out.assert_fail();
    out.assert_stderr_has_any(&[&format!("hook {kind}-1 failing on purpose")]);
    if testing_ward() {
        out.assert_error_line("create", &id);
        out.assert_stderr_has_any(&[&format!("{kind} hook #1")]);
    }
    assert_eq!(h.ran(&format!("{kind}-0")), 1, "log: {:?}", h.log());
    assert_eq!(h.ran(&format!("{kind}-1")), 1, "log: {:?}", h.log());
    assert_eq!(
        h.ran(&format!("{kind}-2")),
        0,
        "a hook after the failing one ran"
    );
    for k in later {
        assert_eq!(h.ran(k), 0, "{k} ran after a failing {kind} hook");
    }
    assert_eq!(h.ran("program"), 0, "the program ran");
    let st = ctx.rt(&["state", &id]);
    st.assert_fail();
    ctx.assert_nothing_left(&[&id]);
    assert_eq!(
        h.ran("poststop"),
        1,
        "poststop hooks must run once after a failed create; log: {:?}",
        h.log()
    );
}

#[test]
fn failing_prestart_hook_fails_create() {
    failing_create_hook("prestart");
}

#[test]
fn failing_create_runtime_hook_fails_create() {
    failing_create_hook("createRuntime");
}

#[test]
fn failing_create_container_hook_fails_create() {
    failing_create_hook("createContainer");
}

/// After a step failed: the container's process is gone, the container is
/// stopped or already destroyed; after a `delete` nothing is left and the
/// poststop hooks ran exactly once.
#[track_caller]
fn assert_stopped_and_destroyed(ctx: &Ctx, h: &Hooked, id: &str, pid: i32, start: Option<u64>) {
    assert!(
        wait_until(WAIT_TIMEOUT, || !same_process_alive(pid, start)),
        "the container process {pid} still runs after the failed step"
    );
    if let Some(status) = ctx.status(id) {
        assert_eq!(status, "stopped");
        ctx.rt(&["delete", id]).assert_ok();
    }
    ctx.assert_nothing_left(&[id]);
    assert_eq!(h.ran("poststop"), 1, "poststop runs; log: {:?}", h.log());
}

/// runc 1.1.5 deviates: its init releases `start` (through the exec fifo)
/// before it runs the startContainer hooks, so `start` exits 0 whatever they
/// do and the container then dies without running the program. `start`'s
/// exit code and error are checked last, so the rest holds for runc too.
#[test]
fn failing_start_container_hook_fails_start() {
    let ctx = Ctx::new("failstart");
    let id = ctx.id("failstart");
    let mut h = Hooked::new(&ctx);
    h.log_every_kind(&["poststop"]);
    let list = vec![
        h.hook("startContainer", "sc-0", 0),
        h.hook("startContainer", "sc-1", 4),
        h.hook("startContainer", "sc-2", 0),
    ];
    h.set("startContainer", list);
    h.program_logs();
    let (pid, _) = ctx.create_ok(&h.b, &id);
    let start = pid_starttime(pid);
    let out = ctx.rt(&["start", &id]);
    assert_stopped_and_destroyed(&ctx, &h, &id, pid, start);
    assert_eq!(h.ran("sc-0"), 1);
    assert_eq!(h.ran("sc-1"), 1);
    assert_eq!(h.ran("sc-2"), 0, "a hook after the failing one ran");
    assert_eq!(h.ran("program"), 0, "the program ran after a failed hook");
    out.assert_fail();
    out.assert_stderr_has_any(&["hook sc-1 failing on purpose"]);
    if testing_ward() {
        out.assert_error_line("start", &id);
    }
}

/// runtime-spec v1.0.2 to v1.2.1 said a failing poststart hook only warns;
/// v1.3.0 (matching what runc has always done) says the runtime MUST
/// generate an error and stop the container. ward follows the version the
/// bundle declares: this is a 1.3.0 bundle (the next test, an older one).
/// runc 1.1.5 deviates in where: it runs poststart hooks during `create`,
/// so there `create` fails (see poststart_runs_during_start_...).
#[test]
fn failing_poststart_hook_fails_start_and_stops_the_container() {
    let ctx = Ctx::new("failpoststart");
    let id = ctx.id("failpoststart");
    let mut h = Hooked::new(&ctx);
    h.b.config["ociVersion"] = serde_json::json!("1.3.0");
    h.log_every_kind(&["poststop"]);
    let list = vec![
        h.hook("poststart", "ps-0", 5),
        h.hook("poststart", "ps-1", 0),
    ];
    h.set("poststart", list);
    h.b.set_args(&["sleep", "1000"]);
    let (pid, _) = ctx.create_ok(&h.b, &id);
    let start = pid_starttime(pid);
    let out = ctx.rt(&["start", &id]);
    out.assert_fail();
    out.assert_stderr_has_any(&["hook ps-0 failing on purpose"]);
    if testing_ward() {
        out.assert_error_line("start", &id);
    }
    assert_eq!(h.ran("ps-1"), 0, "a hook after the failing one ran");
    assert_stopped_and_destroyed(&ctx, &h, &id, pid, start);
}

/// A bundle of runtime-spec 1.2.1 or older: a failing poststart hook is a
/// warning, the remaining ones run, and the container goes on running
/// (what runtime-tools' poststart_fail checks, with a 1.1.0 bundle).
#[test]
fn failing_poststart_hook_only_warns_for_an_older_bundle() {
    if !testing_ward() {
        eprintln!("SKIP: runc 1.1.5 runs poststart hooks during create and fails it");
        return;
    }
    let ctx = Ctx::new("warnpoststart");
    let id = ctx.id("warnpoststart");
    let mut h = Hooked::new(&ctx);
    h.b.config["ociVersion"] = serde_json::json!("1.2.1");
    let list = vec![
        h.hook("poststart", "ps-0", 5),
        h.hook("poststart", "ps-1", 0),
    ];
    h.set("poststart", list);
    h.b.set_args(&["sleep", "1000"]);
    ctx.create_ok(&h.b, &id);
    let out = ctx.rt(&["start", &id]);
    out.assert_ok();
    out.assert_stderr_has_any(&["hook ps-0 failing on purpose"]);
    assert_eq!(h.ran("ps-1"), 1, "the remaining poststart hooks must run");
    assert_eq!(ctx.state(&id)["status"], "running");
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

/// A failing poststop hook only logs a warning: delete succeeds and the
/// remaining poststop hooks run. runc 1.1.5 deviates in part: delete exits
/// 0 and logs the error, but the poststop hooks after the failing one are
/// skipped.
#[test]
fn failing_poststop_hook_only_warns() {
    let ctx = Ctx::new("failpoststop");
    let id = ctx.id("failpoststop");
    let mut h = Hooked::new(&ctx);
    let list = vec![
        h.hook("poststop", "pst-0", 6),
        h.hook("poststop", "pst-1", 0),
    ];
    h.set("poststop", list);
    h.b.set_args(&["true"]);
    ctx.create_ok(&h.b, &id);
    ctx.start_ok(&id);
    ctx.wait_status(&id, "stopped");
    let out = ctx.rt(&["delete", &id]);
    out.assert_ok();
    out.assert_stderr_has_any(&["poststop", "hook pst-0 failing on purpose"]);
    assert_eq!(h.ran("pst-0"), 1);
    ctx.rt(&["state", &id]).assert_fail();
    ctx.assert_nothing_left(&[&id]);
    assert_eq!(h.ran("pst-1"), 1, "the remaining poststop hooks must run");
}

/// A hook script that records its pid (and optionally a background child's)
/// and then hangs.
fn hanging_hook(path: &Path, pid_dir: &str, with_child: bool) {
    let body = if with_child {
        // The child keeps the hook's stdout and stderr open.
        format!("sleep 1000 & echo $! > {pid_dir}/child.pid\necho $$ > {pid_dir}/hook.pid\nwait\n")
    } else {
        format!("echo $$ > {pid_dir}/hook.pid\nexec sleep 1000\n")
    };
    write_script(path, &format!("#!/bin/sh\n{body}"));
}

#[track_caller]
fn read_pid(p: &Path) -> i32 {
    read_lossy(p)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Runs `create` with a createRuntime hook that hangs past its 2s timeout:
/// create fails within a bound, and the hook (and its child) are gone.
fn hanging_create_hook(with_child: bool) {
    let ctx = Ctx::new(if with_child { "hangchild" } else { "hang" });
    let id = ctx.id("hang");
    let mut h = Hooked::new(&ctx);
    let script = ctx.dir.join("hang.sh");
    let dir = h.log_dir.to_str().unwrap().to_string();
    hanging_hook(&script, &dir, with_child);
    h.set(
        "createRuntime",
        vec![json!({"path": script.to_str().unwrap(), "timeout": 2})],
    );
    h.log_every_kind(&["createContainer"]);
    h.b.write();
    let t0 = Instant::now();
    let out = ctx
        .spawn(
            &["create", "--bundle", h.b.path(), &id],
            Duration::from_secs(30),
        )
        .wait();
    let took = t0.elapsed();
    out.assert_fail();
    out.assert_stderr_has_any(&["timed out", "timeout"]);
    assert!(
        took < Duration::from_secs(15),
        "create took {took:?} with a 2s hook timeout"
    );
    assert_eq!(h.ran("createContainer"), 0);
    let mut pids = vec![read_pid(&h.log_dir.join("hook.pid"))];
    if with_child {
        pids.push(read_pid(&h.log_dir.join("child.pid")));
    }
    for pid in pids {
        assert!(
            wait_until(Duration::from_secs(5), || !pid_alive(pid)),
            "process {pid} of the timed-out hook still runs: {:?}",
            proc_cmdline(pid)
        );
    }
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn hook_past_its_timeout_fails_create() {
    hanging_create_hook(false);
}

/// runc 1.1.5 deviates: it kills only the hook and then waits for the
/// hook's stdout to close, which the child holds for 1000s (the test's 30s
/// bound on `create` fails it).
#[test]
fn timed_out_hook_leaves_no_process_behind() {
    hanging_create_hook(true);
}

/// A startContainer hook past its timeout (run by the container's init)
/// fails start within a bound and stops the container.
///
/// runc 1.1.5 deviates: its init releases `start` (through the exec fifo)
/// before it runs the startContainer hooks, so `start` exits 0 whatever they
/// do and the container then dies without running the program. `start`'s
/// exit code and error are checked last, so the rest holds for runc too.
#[test]
fn start_container_hook_past_its_timeout_fails_start() {
    let ctx = Ctx::new("hangstart");
    let id = ctx.id("hangstart");
    let mut h = Hooked::new(&ctx);
    hanging_hook(&h.b.rootfs().join("hang.sh"), "/hooklog", false);
    h.set(
        "startContainer",
        vec![json!({"path": "/hang.sh", "timeout": 2})],
    );
    h.log_every_kind(&["poststop"]);
    h.program_logs();
    let (pid, _) = ctx.create_ok(&h.b, &id);
    let start = pid_starttime(pid);
    let t0 = Instant::now();
    let out = ctx.spawn(&["start", &id], Duration::from_secs(30)).wait();
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(15), "start took {took:?}");
    assert_stopped_and_destroyed(&ctx, &h, &id, pid, start);
    assert_eq!(h.ran("program"), 0, "the program ran after a failed hook");
    out.assert_fail();
    out.assert_stderr_has_any(&["timed out", "timeout"]);
}

#[test]
fn missing_hook_binary_fails_create() {
    let ctx = Ctx::new("hookmissing");
    let id = ctx.id("hookmissing");
    let mut h = Hooked::new(&ctx);
    let missing = ctx.dir.join("no-such-hook");
    h.set(
        "createRuntime",
        vec![json!({"path": missing.to_str().unwrap()})],
    );
    let out = ctx.create(&h.b, &id);
    out.assert_fail();
    out.assert_stderr_has_any(&["no such file or directory"]);
    if testing_ward() {
        out.assert_error_line("create", &id);
    }
    ctx.assert_nothing_left(&[&id]);
}
