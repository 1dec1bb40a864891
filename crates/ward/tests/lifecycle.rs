//! The create/start/state/kill/delete cycle, run/run -d/run --keep, list and
//! concurrent use of one container.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::time::Duration;

#[test]
fn create_start_state_kill_delete_cycle() {
    let ctx = Ctx::new("cycle");
    let id = ctx.id("cycle");
    let mut b = ctx.bundle("b");
    b.long_running("");
    b.config["annotations"] = json!({"org.ward.test": "lifecycle"});
    b.write();
    let pid_file = ctx.dir.join("init.pid");

    let created = ctx.rt(&[
        "create",
        "--bundle",
        b.path(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    created.assert_ok();

    // state after create
    let st = ctx.state(&id);
    assert_eq!(st["id"], json!(id), "state: {st}");
    assert_eq!(st["status"], "created", "state: {st}");
    assert!(
        st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "state lacks ociVersion: {st}"
    );
    let pid = st["pid"].as_i64().unwrap_or(0) as i32;
    assert!(pid > 0, "state pid must be > 0 after create: {st}");
    assert!(
        pid_alive(pid),
        "init process {pid} does not exist on the host after create"
    );
    let start_time = pid_starttime(pid);
    assert_eq!(
        st["bundle"].as_str().map(|s| fs::canonicalize(s).ok()),
        Some(fs::canonicalize(&b.dir).ok()),
        "state bundle does not name the bundle: {st}"
    );
    assert_eq!(
        st["annotations"]["org.ward.test"], "lifecycle",
        "state: {st}"
    );
    let written = fs::read_to_string(&pid_file).expect("--pid-file was not written");
    assert_eq!(written.trim(), pid.to_string(), "--pid-file content");
    // The user process must not have run before `start`.
    assert!(
        !created.stdout_now().contains(READY),
        "the container process ran before start"
    );
    assert_ne!(
        proc_cmdline(pid),
        vec!["sleep", "1000"],
        "process exec'd before start"
    );

    // start -> running, same init
    ctx.start_ok(&id);
    wait_for_marker(&created.stdout_path, READY);
    let st = ctx.state(&id);
    assert_eq!(st["status"], "running", "state after start: {st}");
    assert_eq!(
        st["pid"].as_i64(),
        Some(pid as i64),
        "pid changed after start: {st}"
    );
    assert!(same_process_alive(pid, start_time));

    // kill -> stopped
    ctx.rt(&["kill", &id, "KILL"]).assert_ok();
    ctx.wait_status(&id, "stopped");
    assert!(wait_until(WAIT_TIMEOUT, || !same_process_alive(
        pid, start_time
    )));

    // delete -> gone
    ctx.rt(&["delete", &id]).assert_ok();
    let out = ctx.rt(&["state", &id]);
    out.assert_fail();
    out.assert_stderr_has_any(&["does not exist"]);
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn state_is_stopped_after_process_exits() {
    let ctx = Ctx::new("exited");
    let id = ctx.id("exited");
    let mut b = ctx.bundle("b");
    b.sh("echo bye; exit 3");
    let (pid, out) = ctx.create_ok(&b, &id);
    let start_time = pid_starttime(pid);
    ctx.start_ok(&id);
    ctx.wait_status(&id, "stopped");
    assert!(
        out.stdout_now().contains("bye"),
        "container output: {}",
        out.stdout_now()
    );
    assert!(wait_until(WAIT_TIMEOUT, || !same_process_alive(
        pid, start_time
    )));
    // A stopped container can be deleted without --force.
    ctx.rt(&["delete", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn kill_default_signal_is_term() {
    let ctx = Ctx::new("killterm");
    let id = ctx.id("killterm");
    let mut b = ctx.bundle("b");
    b.sh(&format!(
        "trap 'echo GOT-TERM; exit 0' TERM; echo {READY}; while :; do sleep 1; done"
    ));
    let (_pid, out) = ctx.create_ok(&b, &id);
    ctx.start_ok(&id);
    wait_for_marker(&out.stdout_path, READY);
    ctx.rt(&["kill", &id]).assert_ok();
    ctx.wait_status(&id, "stopped");
    assert!(
        out.stdout_now().contains("GOT-TERM"),
        "container did not receive SIGTERM; output: {}",
        out.stdout_now()
    );
    ctx.rt(&["delete", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn kill_accepts_names_and_numbers() {
    let ctx = Ctx::new("killsig");
    let id = ctx.id("killsig");
    let mut b = ctx.bundle("b");
    b.sh(&format!(
        "trap 'echo GOT-USR1' USR1; trap 'echo GOT-HUP' HUP; trap 'echo GOT-USR2' USR2; \
         echo {READY}; while :; do sleep 1; done"
    ));
    let (pid, out) = ctx.create_ok(&b, &id);
    ctx.start_ok(&id);
    wait_for_marker(&out.stdout_path, READY);

    ctx.rt(&["kill", &id, "USR1"]).assert_ok();
    wait_for_marker(&out.stdout_path, "GOT-USR1");
    ctx.rt(&["kill", &id, "SIGHUP"]).assert_ok();
    wait_for_marker(&out.stdout_path, "GOT-HUP");
    ctx.rt(&["kill", &id, &libc::SIGUSR2.to_string()])
        .assert_ok();
    wait_for_marker(&out.stdout_path, "GOT-USR2");
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
    assert!(pid_alive(pid));

    ctx.rt(&["kill", &id, "9"]).assert_ok();
    ctx.wait_status(&id, "stopped");

    // and SIGKILL spelled with the prefix, on a second container
    let id2 = ctx.id("killsig2");
    let mut b2 = ctx.bundle("b2");
    b2.long_running("");
    ctx.start_long(&b2, &id2);
    ctx.rt(&["kill", &id2, "SIGKILL"]).assert_ok();
    ctx.wait_status(&id2, "stopped");

    ctx.rt(&["delete", &id]).assert_ok();
    ctx.rt(&["delete", &id2]).assert_ok();
    ctx.assert_nothing_left(&[&id, &id2]);
}

#[test]
fn kill_zero_tells_whether_init_lives() {
    // Signal 0 (kill(2)'s liveness check) is delivered to nobody: a created
    // or running container's processes see nothing and kill exits 0; once
    // init is gone, kill fails as for any signal (runc and crun agree).
    let ctx = Ctx::new("kill0");
    let id = ctx.id("kill0");
    let mut b = ctx.bundle("b");
    b.sh(&format!(
        "for s in HUP INT USR1 USR2 TERM; do trap \"echo GOT-$s\" $s; done; \
         echo {READY}; while :; do sleep 1; done"
    ));
    let (pid, out) = ctx.create_ok(&b, &id);
    ctx.rt(&["kill", &id, "0"]).assert_ok();
    assert_eq!(ctx.status(&id).as_deref(), Some("created"));
    ctx.start_ok(&id);
    wait_for_marker(&out.stdout_path, READY);
    ctx.rt(&["kill", &id, "0"]).assert_ok();
    ctx.rt(&["kill", "--all", &id, "0"]).assert_ok();
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
    assert!(pid_alive(pid));
    assert!(
        !out.stdout_now().contains("GOT-"),
        "signal 0 reached the container: {}",
        out.stdout_now()
    );
    ctx.rt(&["kill", &id, "KILL"]).assert_ok();
    ctx.wait_status(&id, "stopped");
    let dead = ctx.rt(&["kill", &id, "0"]);
    dead.assert_fail();
    if testing_ward() {
        dead.assert_error_line("kill", &id);
    }
    ctx.rt(&["delete", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn kill_all_flag_stops_container() {
    let ctx = Ctx::new("killall");
    let id = ctx.id("killall");
    let mut b = ctx.bundle("b");
    b.sh(&format!("sleep 1000 & echo {READY}; wait"));
    let (pid, out) = ctx.create_ok(&b, &id);
    ctx.start_ok(&id);
    wait_for_marker(&out.stdout_path, READY);
    ctx.rt(&["kill", "--all", &id, "KILL"]).assert_ok();
    ctx.wait_status(&id, "stopped");
    assert!(wait_until(WAIT_TIMEOUT, || !pid_alive(pid)));
    ctx.rt(&["delete", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

/// A container without a pid namespace of its own (a Kubernetes pod's
/// container when the pod shares one) whose init has exited while a child
/// lives on in its cgroup: `kill --all` still reaches that child, as runc's
/// does. containerd's shim runs `kill --all ID KILL` after every such
/// init's exit ("kill init's children"), and a failure there keeps the
/// container from ever being reported as exited through the CRI.
#[test]
fn kill_all_after_init_exit_reaches_the_rest() {
    let ctx = Ctx::new("killallstopped");
    let id = ctx.id("killallstopped");
    let mut b = ctx.bundle("b");
    b.remove_namespace("pid");
    b.sh(&format!("sleep 1000 & echo child=$!; echo {READY}"));
    let (_, out) = ctx.create_ok(&b, &id);
    ctx.start_ok(&id);
    let text = wait_for_marker(&out.stdout_path, READY);
    let child: i32 = kv(&text, "child").parse().unwrap();
    let start = pid_starttime(child);
    ctx.wait_status(&id, "stopped");
    assert!(
        same_process_alive(child, start),
        "the child should outlive init"
    );
    ctx.rt(&["kill", "--all", &id, "KILL"]).assert_ok();
    assert!(
        wait_until(WAIT_TIMEOUT, || !same_process_alive(child, start)),
        "kill --all left the child {child} alive"
    );
    ctx.rt(&["delete", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

/// Signalling a stopped container fails with runc's words, "container not
/// running": containerd's shim takes those (and "does not exist") to mean
/// the process is already gone, and any other words fail a CRI
/// StopContainer whose SIGKILL meets an init that just exited.
#[test]
fn kill_of_a_stopped_container_says_not_running() {
    let ctx = Ctx::new("killstopped");
    let id = ctx.id("killstopped");
    let mut b = ctx.bundle("b");
    b.sh("true");
    ctx.create_ok(&b, &id);
    ctx.start_ok(&id);
    ctx.wait_status(&id, "stopped");
    let out = ctx.rt(&["kill", &id, "KILL"]);
    out.assert_fail();
    out.assert_stderr_has_any(&["container not running"]);
    if testing_ward() {
        out.assert_error_line("kill", &id);
    }
    ctx.rt(&["delete", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn delete_running_container_needs_force() {
    let ctx = Ctx::new("delforce");
    let id = ctx.id("delforce");
    let mut b = ctx.bundle("b");
    b.long_running("");
    let (pid, _out) = ctx.start_long(&b, &id);
    let start_time = pid_starttime(pid);

    let out = ctx.rt(&["delete", &id]);
    out.assert_fail();
    if testing_ward() {
        out.assert_error_line("delete", &id);
    }
    assert_eq!(
        ctx.status(&id).as_deref(),
        Some("running"),
        "a refused delete must leave the container running"
    );
    assert!(
        same_process_alive(pid, start_time),
        "a refused delete killed the process"
    );

    ctx.rt(&["delete", "--force", &id]).assert_ok();
    assert!(
        wait_until(WAIT_TIMEOUT, || !same_process_alive(pid, start_time)),
        "delete --force left the container process alive"
    );
    let st = ctx.rt(&["state", &id]);
    st.assert_fail();
    st.assert_stderr_has_any(&["does not exist"]);
    ctx.assert_nothing_left(&[&id]);
}

/// The runtime spec: deleting a container that is not stopped MUST fail and
/// have no effect; a created container is not stopped. runc 1.1.5 deletes
/// it (runtime-tools' delete program fails on runc for that).
#[test]
fn delete_without_force_refuses_a_created_container() {
    if !testing_ward() {
        eprintln!("SKIP: runc deletes a created container without --force");
        return;
    }
    let ctx = Ctx::new("delnoforce");
    let id = ctx.id("delnoforce");
    let mut b = ctx.bundle("b");
    b.long_running("");
    let (pid, _out) = ctx.create_ok(&b, &id);
    let out = ctx.rt(&["delete", &id]);
    out.assert_fail();
    out.assert_stderr_has_any(&["not stopped"]);
    assert_eq!(ctx.state(&id)["status"], "created");
    assert!(pid_alive(pid), "a refused delete killed the container");
    ctx.rt(&["delete", "-f", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn delete_force_on_created_container() {
    let ctx = Ctx::new("delcreated");
    let id = ctx.id("delcreated");
    let mut b = ctx.bundle("b");
    b.long_running("");
    let (pid, _out) = ctx.create_ok(&b, &id);
    let start_time = pid_starttime(pid);
    ctx.rt(&["delete", "-f", &id]).assert_ok();
    assert!(wait_until(WAIT_TIMEOUT, || !same_process_alive(
        pid, start_time
    )));
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn run_detach_leaves_running_container() {
    let ctx = Ctx::new("detach");
    let id = ctx.id("detach");
    let mut b = ctx.bundle("b");
    b.long_running("");
    b.write();
    let out = ctx.rt(&["run", "--detach", "--bundle", b.path(), &id]);
    out.assert_ok();
    wait_for_marker(&out.stdout_path, READY);
    let st = ctx.state(&id);
    assert_eq!(st["status"], "running", "state after run -d: {st}");
    let pid = st["pid"].as_i64().unwrap_or(0) as i32;
    assert!(
        pid > 0 && pid_alive(pid),
        "run -d: no live init process: {st}"
    );
    ctx.rt(&["kill", &id, "KILL"]).assert_ok();
    ctx.wait_status(&id, "stopped");
    ctx.rt(&["delete", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn run_short_flags_and_pid_file() {
    let ctx = Ctx::new("runshort");
    let id = ctx.id("runshort");
    let mut b = ctx.bundle("b");
    b.long_running("");
    b.write();
    let pid_file = ctx.dir.join("run.pid");
    let out = ctx.rt(&[
        "run",
        "-d",
        "-b",
        b.path(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    out.assert_ok();
    let pid = ctx.pid_of(&id);
    let written = fs::read_to_string(&pid_file).expect("run --pid-file was not written");
    assert_eq!(written.trim(), pid.to_string());
    ctx.rt(&["delete", "-f", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn run_keep_leaves_stopped_container() {
    let ctx = Ctx::new("keep");
    let id = ctx.id("keep");
    let mut b = ctx.bundle("b");
    b.sh("echo kept; exit 0");
    b.write();
    let out = ctx
        .spawn(&["run", "--keep", "--bundle", b.path(), &id], RUN_TIMEOUT)
        .wait();
    out.assert_ok();
    assert!(out.stdout.contains("kept"), "{}", out.describe());
    let st = ctx.state(&id);
    assert_eq!(st["status"], "stopped", "state after run --keep: {st}");
    ctx.rt(&["delete", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn run_removes_container_afterwards() {
    let ctx = Ctx::new("runrm");
    let id = ctx.id("runrm");
    let mut b = ctx.bundle("b");
    b.sh("echo ran");
    let out = ctx.run(&b, &id);
    out.assert_ok();
    assert!(out.stdout.contains("ran"), "{}", out.describe());
    let st = ctx.rt(&["state", &id]);
    st.assert_fail();
    st.assert_stderr_has_any(&["does not exist"]);
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn list_formats() {
    let ctx = Ctx::new("list");
    let id1 = ctx.id("lista");
    let id2 = ctx.id("listb");
    let mut b1 = ctx.bundle("b1");
    b1.long_running("");
    let mut b2 = ctx.bundle("b2");
    b2.long_running("");
    let (pid1, _) = ctx.create_ok(&b1, &id1);
    let (pid2, _) = ctx.create_ok(&b2, &id2);

    let table = ctx.rt(&["list"]);
    table.assert_ok();
    let mut lines = table.stdout.lines();
    let header = lines.next().unwrap_or("");
    assert!(
        header.contains("ID"),
        "list table has no ID header:\n{}",
        table.stdout
    );
    for id in [&id1, &id2] {
        let row = table
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id.as_str()))
            .unwrap_or_else(|| panic!("list table has no row for {id}:\n{}", table.stdout));
        assert!(row.contains("created"), "row for {id} lacks status: {row}");
    }

    let js = ctx.rt(&["list", "--format", "json"]);
    js.assert_ok();
    let v: Value = serde_json::from_str(&js.stdout)
        .unwrap_or_else(|e| panic!("list --format json is not JSON ({e})\n{}", js.describe()));
    let arr = v
        .as_array()
        .unwrap_or_else(|| panic!("list json is not an array: {v}"));
    assert_eq!(arr.len(), 2, "list json: {v}");
    for (id, pid) in [(&id1, pid1), (&id2, pid2)] {
        let item = arr
            .iter()
            .find(|c| c["id"] == json!(id))
            .unwrap_or_else(|| panic!("list json lacks {id}: {v}"));
        assert_eq!(item["status"], "created", "{item}");
        assert_eq!(item["pid"].as_i64(), Some(pid as i64), "{item}");
    }

    let q = ctx.rt(&["list", "-q"]);
    q.assert_ok();
    assert_eq!(
        line_set(&q.stdout),
        [id1.clone(), id2.clone()].into_iter().collect(),
        "list -q must print exactly the IDs"
    );
}

#[test]
fn concurrent_create_of_same_id() {
    let ctx = Ctx::new("race");
    let id = ctx.id("race");
    let mut b = ctx.bundle("b");
    b.long_running("");
    b.write();
    let procs: Vec<Proc> = (0..8)
        .map(|_| ctx.spawn(&["create", "--bundle", b.path(), &id], CMD_TIMEOUT))
        .collect();
    let outs: Vec<Out> = procs.into_iter().map(Proc::wait).collect();
    let winners: Vec<&Out> = outs.iter().filter(|o| o.success()).collect();
    let all: String = outs.iter().map(Out::describe).collect();
    assert_eq!(winners.len(), 1, "exactly one create must succeed:\n{all}");
    for o in outs.iter().filter(|o| !o.success()) {
        assert!(
            o.code.is_some(),
            "a losing create died by a signal:\n{}",
            o.describe()
        );
    }
    let st = ctx.state(&id);
    assert_eq!(st["status"], "created", "winner must be intact: {st}");
    let pid = st["pid"].as_i64().unwrap_or(0) as i32;
    assert!(pid > 0 && pid_alive(pid), "winner's init is gone: {st}");
    // The winner still works.
    ctx.start_ok(&id);
    wait_for_marker(&winners[0].stdout_path, READY);
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn concurrent_state_and_kill() {
    let ctx = Ctx::new("parallel");
    let id = ctx.id("parallel");
    let mut b = ctx.bundle("b");
    b.sh(&format!(
        "trap 'echo U' USR1; echo {READY}; while :; do sleep 1; done"
    ));
    let (pid, out) = ctx.create_ok(&b, &id);
    let start_time = pid_starttime(pid);
    ctx.start_ok(&id);
    wait_for_marker(&out.stdout_path, READY);

    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for i in 0..8 {
            let ctx = &ctx;
            let id = &id;
            handles.push(s.spawn(move || {
                for _ in 0..5 {
                    if i % 2 == 0 {
                        let st = ctx.state(id);
                        assert_eq!(st["status"], "running", "{st}");
                        assert_eq!(st["pid"].as_i64(), Some(pid as i64), "{st}");
                    } else {
                        ctx.rt(&["kill", id, "USR1"]).assert_ok();
                    }
                }
            }));
        }
        for h in handles {
            if let Err(e) = h.join() {
                std::panic::resume_unwind(e);
            }
        }
    });

    let st = ctx.state(&id);
    assert_eq!(st["status"], "running", "{st}");
    assert_eq!(st["pid"].as_i64(), Some(pid as i64), "{st}");
    assert!(same_process_alive(pid, start_time));
    assert!(
        wait_until(Duration::from_secs(10), || out.stdout_now().contains("\nU")),
        "no USR1 reached the container"
    );
    ctx.rt(&["kill", &id, "KILL"]).assert_ok();
    ctx.wait_status(&id, "stopped");
    ctx.rt(&["delete", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn start_and_kill_refused_in_wrong_state() {
    let ctx = Ctx::new("wrongstate");
    let id = ctx.id("wrongstate");
    let mut b = ctx.bundle("b");
    b.long_running("");
    let (pid, _) = ctx.start_long(&b, &id);
    let start_time = pid_starttime(pid);

    // A running container cannot be started again, and is left alone.
    let again = ctx.rt(&["start", &id]);
    again.assert_fail();
    if testing_ward() {
        again.assert_error_line("start", &id);
    }
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
    assert!(same_process_alive(pid, start_time));

    ctx.rt(&["kill", &id, "KILL"]).assert_ok();
    ctx.wait_status(&id, "stopped");
    // Neither start nor kill works on a stopped container.
    ctx.rt(&["start", &id]).assert_fail();
    let k = ctx.rt(&["kill", &id, "KILL"]);
    k.assert_fail();
    if testing_ward() {
        k.assert_error_line("kill", &id);
    }
    assert_eq!(ctx.status(&id).as_deref(), Some("stopped"));
    ctx.rt(&["delete", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}

#[test]
fn state_notices_process_killed_from_host() {
    let ctx = Ctx::new("hostkill");
    let id = ctx.id("hostkill");
    let mut b = ctx.bundle("b");
    b.long_running("");
    let (pid, _) = ctx.start_long(&b, &id);
    // SAFETY: kill(2) has no memory-safety preconditions; pid is this
    // test's container init, just read from `state`.
    let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
    assert_eq!(rc, 0);
    ctx.wait_status(&id, "stopped");
    ctx.rt(&["delete", &id]).assert_ok();
    ctx.assert_nothing_left(&[&id]);
}
