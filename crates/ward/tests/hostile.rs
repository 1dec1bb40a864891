//! Hostile input, table by table: malformed, empty, mistyped, incomplete,
//! huge, negative and absurdly nested config.json, process.json and
//! `update --resources` files, and huge arguments, each through the real
//! binary. Every row must fail with an exit code (never a signal), one error
//! line `ward: <command> <id>: ...`, no "panicked" text, within a time bound,
//! and leave nothing behind: no state dir, cgroup, mount or process.
//!
//! A single argv string can't exceed the kernel's MAX_ARG_STRLEN (128 KiB),
//! so "huge" is 300 KB inside files and 128 KiB - 1 on the command line.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::time::Duration;

/// 300 KB, for values inside files.
const HUGE: usize = 300 * 1024;
/// The longest string execve(2) passes as one argument (MAX_ARG_STRLEN - 1).
const HUGE_ARGV: usize = 32 * 4096 - 1;
/// Nesting depth of the deep-JSON rows.
const DEEP: usize = 100_000;
/// Stands for a raw JSON text spliced into a row's document after it is
/// serialized (a 100k-deep `Value` would overflow the test's own stack).
const RAW: &str = "@@RAW@@";

/// `data` with the first `from` replaced by `to`.
fn bytes_replace(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = data
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern in data");
    [&data[..at], to, &data[at + from.len()..]].concat()
}

fn huge() -> String {
    "a".repeat(HUGE)
}

fn deep_arrays() -> String {
    format!("{}{}", "[".repeat(DEEP), "]".repeat(DEEP))
}

fn deep_objects() -> String {
    format!("{}1{}", "{\"a\":".repeat(DEEP), "}".repeat(DEEP))
}

/// `v` serialized, with the string `"@@RAW@@"` (if any) replaced by `raw`.
fn splice(v: &Value, raw: &str) -> Vec<u8> {
    let text = v.to_string();
    text.replacen(&format!("\"{RAW}\""), raw, 1).into_bytes()
}

/// A refusal as hostile input must get: a normal non-zero exit, no panic,
/// ward's one error line. `row` names the table row in every message.
#[track_caller]
fn assert_refused(row: &str, out: &Out, cmd: &str, id: &str) {
    assert!(
        out.signal.is_none(),
        "[{row}] killed by signal {:?}\n{}",
        out.signal,
        out.describe()
    );
    assert!(
        out.code.is_some() && !out.success(),
        "[{row}] must fail\n{}",
        out.describe()
    );
    assert!(
        !out.stderr.contains("panicked") && !out.stderr.contains("RUST_BACKTRACE"),
        "[{row}] panicked\n{}",
        out.describe()
    );
    if !testing_ward() {
        return;
    }
    let text = out.stderr.trim_end_matches('\n');
    assert!(
        !text.is_empty() && !text.contains('\n'),
        "[{row}] expected exactly one line on stderr\n{}",
        out.describe()
    );
    let prefix = if id.is_empty() {
        format!("{}: {cmd}: ", runtime_name())
    } else {
        format!("{}: {cmd} {id}: ", runtime_name())
    };
    assert!(
        text.starts_with(&prefix),
        "[{row}] stderr does not start with {:?}\n{}",
        abbrev(&prefix),
        abbrev(&out.describe())
    );
}

/// Long outputs (a 128 KiB ID echoed back) cut down for assertion messages.
fn abbrev(s: &str) -> String {
    if s.len() <= 4000 {
        return s.to_string();
    }
    let mut cut = 2000;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…[{} bytes]", &s[..cut], s.len())
}

#[track_caller]
fn assert_nothing_left(ctx: &Ctx, row: &str, ids: &[&str]) {
    let mut last = Vec::new();
    let clean = wait_until(Duration::from_secs(5), || {
        last = ctx.leftovers(ids);
        last.is_empty()
    });
    assert!(
        clean,
        "[{row}] things left behind:\n  {}",
        last.join("\n  ")
    );
}

/// Where a config row is refused: by `create` (validation, or setup before
/// create returns), or only once the process is exec'd (checked with `run`).
#[derive(Clone, Copy, PartialEq)]
enum At {
    Create,
    Start,
}

/// Writes `config` as the bundle's config.json and checks that `create`
/// (for rows refused at create) and a foreground `run` both refuse it
/// cleanly.
#[track_caller]
fn refuse_config(ctx: &Ctx, b: &Bundle, row: &str, config: &[u8], at: At) {
    eprintln!("row: {row}");
    fs::write(b.dir.join("config.json"), config).expect("write config.json");
    if at == At::Create {
        let id = ctx.id("c");
        let out = ctx.rt(&["create", "--bundle", b.path(), &id]);
        assert_refused(row, &out, "create", &id);
        assert_nothing_left(ctx, row, &[&id]);
    }
    let id = ctx.id("r");
    let out = ctx
        .spawn(&["run", "--bundle", b.path(), &id], RUN_TIMEOUT)
        .wait();
    assert_refused(row, &out, "run", &id);
    assert_nothing_left(ctx, row, &[&id]);
}

type Edit = Box<dyn Fn(&mut Value)>;

/// Rows that edit the base config (a short-lived `true`).
fn refuse_edits(ctx: &Ctx, rows: Vec<(&str, Edit)>) {
    let b = ctx.bundle("b");
    for (row, edit) in rows {
        let mut v = b.config.clone();
        edit(&mut v);
        refuse_config(ctx, &b, row, v.to_string().as_bytes(), At::Create);
    }
}

#[test]
fn malformed_config_json() {
    let ctx = Ctx::new("hmalformed");
    let b = ctx.bundle("b");
    let valid = b.config.to_string();
    let with = |edit: &dyn Fn(&mut Value), raw: &str| {
        let mut v = b.config.clone();
        edit(&mut v);
        splice(&v, raw)
    };
    let rows: Vec<(&str, Vec<u8>)> = vec![
        ("empty file", vec![]),
        ("whitespace only", b" \n\t\n".to_vec()),
        (
            "truncated",
            b"{ \"ociVersion\": \"1.0.2\", \"process\": ".to_vec(),
        ),
        (
            "truncated valid config",
            valid.as_bytes()[..valid.len() / 2].to_vec(),
        ),
        ("null", b"null".to_vec()),
        ("array", b"[]".to_vec()),
        ("string", b"\"config\"".to_vec()),
        ("number", b"42".to_vec()),
        ("trailing garbage", format!("{valid} xyz").into_bytes()),
        ("two documents", format!("{valid}{valid}").into_bytes()),
        ("byte order mark", format!("\u{feff}{valid}").into_bytes()),
        (
            "invalid utf-8",
            bytes_replace(valid.as_bytes(), b"ward-test", b"ward\xfftest"),
        ),
        (
            "NUL byte in a string",
            valid.replacen("ward-test", "ward\u{0}test", 1).into_bytes(),
        ),
        (
            "duplicate field",
            valid.replacen("{", "{\"hostname\":\"a\",", 1).into_bytes(),
        ),
        ("100k-deep arrays", deep_arrays().into_bytes()),
        ("100k-deep objects", deep_objects().into_bytes()),
        (
            "100k-deep arrays as process.args",
            with(&|v| v["process"]["args"] = json!(RAW), &deep_arrays()),
        ),
        (
            "100k-deep objects as annotations",
            with(&|v| v["annotations"] = json!(RAW), &deep_objects()),
        ),
        (
            "100k-deep arrays in linux.seccomp",
            with(
                &|v| {
                    v["linux"]["seccomp"] =
                        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": RAW})
                },
                &deep_arrays(),
            ),
        ),
        (
            "100k-deep objects in linux.seccomp",
            with(
                &|v| v["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_BOGUS", "x": RAW}),
                &deep_objects(),
            ),
        ),
        (
            "100k-deep arrays in linux.resources",
            with(
                &|v| v["linux"]["resources"] = json!({"memory": RAW}),
                &deep_arrays(),
            ),
        ),
    ];
    for (row, data) in rows {
        refuse_config(&ctx, &b, row, &data, At::Create);
    }

    // Unknown fields are ignored, as the runtime spec requires, whatever
    // they hold: serde_json skips them without recursing, so depth costs
    // no stack. These run.
    for (row, raw) in [
        ("100k-deep arrays in an unknown field", deep_arrays()),
        ("100k-deep objects in an unknown field", deep_objects()),
    ] {
        eprintln!("row: {row}");
        let mut v = b.config.clone();
        v["wardFuture"] = json!(RAW);
        fs::write(b.dir.join("config.json"), splice(&v, &raw)).unwrap();
        let id = ctx.id("ok");
        let out = ctx
            .spawn(&["run", "--bundle", b.path(), &id], RUN_TIMEOUT)
            .wait();
        assert!(out.success(), "[{row}] must run\n{}", out.describe());
        assert_nothing_left(&ctx, row, &[&id]);
    }
}

#[test]
fn wrong_types_and_missing_fields() {
    let ctx = Ctx::new("htypes");
    let rows: Vec<(&str, Edit)> = vec![
        (
            "no process",
            Box::new(|v| drop(v.as_object_mut().unwrap().remove("process"))),
        ),
        (
            "no root",
            Box::new(|v| drop(v.as_object_mut().unwrap().remove("root"))),
        ),
        ("no root.path", Box::new(|v| v["root"] = json!({}))),
        (
            "no process.args",
            Box::new(|v| drop(v["process"].as_object_mut().unwrap().remove("args"))),
        ),
        (
            "process.args a number",
            Box::new(|v| v["process"]["args"] = json!(7)),
        ),
        (
            "process.args holds a number",
            Box::new(|v| v["process"]["args"] = json!(["true", 1])),
        ),
        (
            "process.args holds null",
            Box::new(|v| v["process"]["args"] = json!([null])),
        ),
        (
            "empty program name",
            Box::new(|v| v["process"]["args"] = json!([""])),
        ),
        (
            "process.cwd empty",
            Box::new(|v| v["process"]["cwd"] = json!("")),
        ),
        (
            "process.cwd a number",
            Box::new(|v| v["process"]["cwd"] = json!(0)),
        ),
        (
            "process.user.uid a string",
            Box::new(|v| v["process"]["user"]["uid"] = json!("0")),
        ),
        (
            "process.env a string",
            Box::new(|v| v["process"]["env"] = json!("PATH=/bin")),
        ),
        (
            "process.env holds an object",
            Box::new(|v| v["process"]["env"] = json!([{"PATH": "/bin"}])),
        ),
        (
            "process.env entry without =",
            Box::new(|v| v["process"]["env"] = json!(["PATH"])),
        ),
        (
            "process.terminal a string",
            Box::new(|v| v["process"]["terminal"] = json!("false")),
        ),
        (
            "unknown capability",
            Box::new(|v| v["process"]["capabilities"]["bounding"] = json!(["CAP_BOGUS"])),
        ),
        (
            "capabilities a string",
            Box::new(|v| v["process"]["capabilities"] = json!("all")),
        ),
        (
            "root.readonly a string",
            Box::new(|v| v["root"]["readonly"] = json!("yes")),
        ),
        (
            "ociVersion a number",
            Box::new(|v| v["ociVersion"] = json!(1.0)),
        ),
        ("hostname a number", Box::new(|v| v["hostname"] = json!(1))),
        (
            "mounts an object",
            Box::new(|v| v["mounts"] = json!({"destination": "/x"})),
        ),
        (
            "mount without destination",
            Box::new(|v| v["mounts"][0] = json!({"type": "proc", "source": "proc"})),
        ),
        (
            "mount options a string",
            Box::new(|v| v["mounts"][1]["options"] = json!("nosuid")),
        ),
        (
            "bind mount without source",
            Box::new(|v| {
                v["mounts"][0] =
                    json!({"destination": "/mnt", "type": "bind", "options": ["rbind"]})
            }),
        ),
        ("linux a list", Box::new(|v| v["linux"] = json!([]))),
        (
            "annotations values numbers",
            Box::new(|v| v["annotations"] = json!({"a": 1})),
        ),
        (
            "hook without path",
            Box::new(|v| v["hooks"] = json!({"prestart": [{"args": ["x"]}]})),
        ),
        (
            "device without path",
            Box::new(|v| v["linux"]["devices"] = json!([{"type": "c", "major": 1, "minor": 3}])),
        ),
        (
            "device of unknown type",
            Box::new(|v| {
                v["linux"]["devices"] =
                    json!([{"path": "/dev/x", "type": "z", "major": 1, "minor": 3}])
            }),
        ),
        (
            "bogus rootfsPropagation",
            Box::new(|v| v["linux"]["rootfsPropagation"] = json!("sideways")),
        ),
        (
            "sysctl not namespaced",
            Box::new(|v| v["linux"]["sysctl"] = json!({"kernel.panic": "1"})),
        ),
    ];
    refuse_edits(&ctx, rows);
}

#[test]
fn huge_and_negative_numbers() {
    let ctx = Ctx::new("hnumbers");
    // Numbers serde_json can only hold as f64, or not at all: "@@NUM<text>@@"
    // is replaced by the bare text once serialized.
    let num = |text: &str| json!(format!("@@NUM{text}@@"));
    let rows: Vec<(&str, Edit)> = vec![
        (
            "uid above u32",
            Box::new(|v| v["process"]["user"]["uid"] = json!(4_294_967_296u64)),
        ),
        (
            "gid negative",
            Box::new(|v| v["process"]["user"]["gid"] = json!(-1)),
        ),
        (
            "umask negative",
            Box::new(|v| v["process"]["user"]["umask"] = json!(-1)),
        ),
        (
            "additional gid above u32",
            Box::new(|v| v["process"]["user"]["additionalGids"] = json!([1u64 << 40])),
        ),
        (
            "uid a float",
            Box::new(|v| v["process"]["user"]["uid"] = json!(0.5)),
        ),
        (
            "uid 1e400",
            Box::new(move |v| v["process"]["user"]["uid"] = num("1e400")),
        ),
        (
            "rlimit above u64",
            Box::new(move |v| v["process"]["rlimits"][0]["hard"] = num("18446744073709551616")),
        ),
        (
            "rlimit of 100 digits",
            Box::new(move |v| v["process"]["rlimits"][0]["soft"] = num(&"9".repeat(100))),
        ),
        (
            "rlimit negative",
            Box::new(|v| v["process"]["rlimits"][0]["soft"] = json!(-1)),
        ),
        (
            "oomScoreAdj above i32",
            Box::new(|v| v["process"]["oomScoreAdj"] = json!(1u64 << 33)),
        ),
        (
            "oomScoreAdj out of range",
            Box::new(|v| v["process"]["oomScoreAdj"] = json!(5000)),
        ),
        (
            "consoleSize negative",
            Box::new(|v| v["process"]["consoleSize"] = json!({"height": -1, "width": 80})),
        ),
        (
            "memory limit above i64",
            Box::new(|v| {
                v["linux"]["resources"] = json!({"memory": {"limit": 9_223_372_036_854_775_808u64}})
            }),
        ),
        (
            "memory limit 1e30",
            Box::new(move |v| v["linux"]["resources"] = json!({"memory": {"limit": num("1e30")}})),
        ),
        (
            "memory swap below limit",
            Box::new(|v| {
                v["linux"]["resources"] = json!({"memory": {"limit": 64 << 20, "swap": 32 << 20}})
            }),
        ),
        (
            "memory swappiness negative",
            Box::new(|v| v["linux"]["resources"] = json!({"memory": {"swappiness": -1}})),
        ),
        (
            "memory swappiness 101",
            Box::new(|v| v["linux"]["resources"] = json!({"memory": {"swappiness": 101}})),
        ),
        (
            "cpu shares negative",
            Box::new(|v| v["linux"]["resources"] = json!({"cpu": {"shares": -1}})),
        ),
        (
            "cpu quota below 1ms",
            Box::new(|v| v["linux"]["resources"] = json!({"cpu": {"quota": 5, "period": 100000}})),
        ),
        (
            "cpu period huge",
            Box::new(|v| v["linux"]["resources"] = json!({"cpu": {"period": u64::MAX}})),
        ),
        (
            "blkio weight above u16",
            Box::new(|v| v["linux"]["resources"] = json!({"blockIO": {"weight": 70000}})),
        ),
        (
            "throttle device major negative",
            Box::new(
                |v| v["linux"]["resources"] = json!({"blockIO": {"throttleReadBpsDevice": [{"major": -1, "minor": 0, "rate": 1}]}}),
            ),
        ),
        (
            "pids limit above i64",
            Box::new(|v| v["linux"]["resources"] = json!({"pids": {"limit": u64::MAX}})),
        ),
        // (A hugepage limit of -1 is not bad input: like memory's, it
        // means no limit, as in ward's v1 and v2 writers.)
        (
            "cpuset garbage",
            Box::new(|v| v["linux"]["resources"] = json!({"cpu": {"cpus": "0-zz"}})),
        ),
        (
            "cpuset beyond the host",
            Box::new(|v| v["linux"]["resources"] = json!({"cpu": {"cpus": "0-999999"}})),
        ),
        (
            "unified key escaping the cgroup",
            Box::new(|v| v["linux"]["resources"] = json!({"unified": {"../../../tmp/x": "1"}})),
        ),
        (
            "device rule major negative",
            Box::new(
                |v| v["linux"]["resources"] = json!({"devices": [{"allow": true, "type": "c", "major": -5, "minor": 1, "access": "rwm"}]}),
            ),
        ),
        (
            "device rule bogus access",
            Box::new(
                |v| v["linux"]["resources"] = json!({"devices": [{"allow": true, "type": "c", "major": 1, "minor": 1, "access": "rwxyz"}]}),
            ),
        ),
    ];
    let b = ctx.bundle("b");
    for (row, edit) in rows {
        let mut v = b.config.clone();
        edit(&mut v);
        let mut text = v.to_string();
        // "@@NUM<text>@@" (quoted) becomes the bare number text.
        while let Some(start) = text.find("\"@@NUM") {
            let end = text[start + 6..].find("@@\"").expect("raw number end") + start + 6;
            let num = text[start + 6..end].to_string();
            text.replace_range(start..end + 3, &num);
        }
        refuse_config(&ctx, &b, row, text.as_bytes(), At::Create);
    }
}

#[test]
fn huge_values_in_config() {
    let ctx = Ctx::new("hhuge");
    let rows: Vec<(&str, At, Edit)> = vec![
        (
            "300 KB program name",
            At::Create,
            Box::new(|v| v["process"]["args"] = json!([format!("/{}", huge())])),
        ),
        (
            "300 KB argument",
            At::Start,
            Box::new(|v| v["process"]["args"] = json!(["echo", huge()])),
        ),
        (
            "300 KB env entry",
            At::Start,
            Box::new(|v| v["process"]["env"] = json!([format!("X={}", huge())])),
        ),
        (
            "300 KB cwd",
            At::Create,
            Box::new(|v| v["process"]["cwd"] = json!(format!("/{}", huge()))),
        ),
        (
            "300 KB hostname",
            At::Create,
            Box::new(|v| v["hostname"] = json!(huge())),
        ),
        (
            "300 KB mount destination",
            At::Create,
            Box::new(|v| {
                v["mounts"].as_array_mut().unwrap().push(json!({"destination": format!("/{}", huge()), "type": "tmpfs", "source": "tmpfs"}))
            }),
        ),
        (
            "300 KB root path",
            At::Create,
            Box::new(|v| v["root"]["path"] = json!(huge())),
        ),
    ];
    let b = ctx.bundle("b");
    for (row, at, edit) in rows {
        let mut v = b.config.clone();
        edit(&mut v);
        refuse_config(&ctx, &b, row, v.to_string().as_bytes(), at);
    }
}

#[test]
fn huge_arguments() {
    let ctx = Ctx::new("hargs");
    let mut b = ctx.bundle("b");
    b.long_running("");
    b.write();
    let long = "a".repeat(HUGE_ARGV);
    let long_path = format!("/{}", "a".repeat(HUGE_ARGV - 1));
    let bundle = b.path().to_string();
    // (row, argv after --root, command, id in the error line)
    let rows: Vec<(&str, Vec<&str>, &str, &str)> = vec![
        (
            "128 KiB id: create",
            vec!["create", "--bundle", &bundle, &long],
            "create",
            &long,
        ),
        (
            "128 KiB id: run",
            vec!["run", "--bundle", &bundle, &long],
            "run",
            &long,
        ),
        ("128 KiB id: state", vec!["state", &long], "state", &long),
        ("128 KiB id: start", vec!["start", &long], "start", &long),
        (
            "128 KiB id: kill",
            vec!["kill", &long, "KILL"],
            "kill",
            &long,
        ),
        (
            "128 KiB id: delete",
            vec!["delete", "--force", &long],
            "delete",
            &long,
        ),
        (
            "128 KiB id: exec",
            vec!["exec", &long, "true"],
            "exec",
            &long,
        ),
        (
            "128 KiB id: update",
            vec!["update", "--memory", "1g", &long],
            "update",
            &long,
        ),
        ("128 KiB id: pause", vec!["pause", &long], "pause", &long),
        (
            "128 KiB id: events",
            vec!["events", "--stats", &long],
            "events",
            &long,
        ),
        ("128 KiB id: ps", vec!["ps", &long], "ps", &long),
        (
            "128 KiB signal",
            vec!["kill", "nosuchid", &long],
            "kill",
            "nosuchid",
        ),
        (
            "128 KiB events interval",
            vec!["events", "--interval", &long, "nosuchid"],
            "events",
            "nosuchid",
        ),
        (
            "128 KiB bundle path",
            vec!["create", "--bundle", &long_path, "hargs-bundle"],
            "create",
            "hargs-bundle",
        ),
        (
            "128 KiB --memory",
            vec!["update", "--memory", &long, "nosuchid"],
            "update",
            "nosuchid",
        ),
    ];
    for (row, args, cmd, id) in rows {
        eprintln!("row: {row}");
        let out = ctx.spawn(&args, RUN_TIMEOUT).wait();
        assert_refused(row, &out, cmd, id);
        assert_nothing_left(&ctx, row, &[id]);
    }

    // Paths given to a container that is made, then must be unmade.
    let rows: Vec<(&str, Vec<&str>)> = vec![
        ("128 KiB --pid-file", vec!["--pid-file", &long_path]),
        (
            "128 KiB --console-socket",
            vec!["--console-socket", &long_path],
        ),
    ];
    for (row, flags) in rows {
        eprintln!("row: {row}");
        let id = ctx.id("p");
        let mut args = vec!["create", "--bundle", &bundle];
        args.extend(flags);
        args.push(&id);
        let out = ctx.rt(&args);
        assert_refused(row, &out, "create", &id);
        assert_nothing_left(&ctx, row, &[&id]);
    }
}

#[test]
fn bogus_namespaces() {
    let ctx = Ctx::new("hns");
    let fifo = ctx.dir.join("fifo");
    let out = ctx.host("mkfifo", &[fifo.to_str().unwrap()]);
    out.assert_ok();
    let fifo = fifo.to_str().unwrap().to_string();
    let file = ctx.dir.join("plain");
    fs::write(&file, "not a namespace").unwrap();
    let file = file.to_str().unwrap().to_string();
    let set = |ty: &'static str, ns: Value| -> Edit {
        Box::new(move |v: &mut Value| {
            let list = v["linux"]["namespaces"].as_array_mut().unwrap();
            list.retain(|n| n["type"] != ty);
            list.push(ns.clone());
        })
    };
    let rows: Vec<(&str, Edit)> = vec![
        ("unknown type", set("bogus", json!({"type": "bogus"}))),
        ("empty type", set("", json!({"type": ""}))),
        ("type in capitals", set("pid", json!({"type": "PID"}))),
        ("type a number", set("7", json!({"type": 7}))),
        ("no type", set("none", json!({"path": "/proc/1/ns/net"}))),
        (
            "listed twice",
            Box::new(|v| {
                v["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "ipc"}))
            }),
        ),
        (
            "relative path",
            set(
                "network",
                json!({"type": "network", "path": "proc/1/ns/net"}),
            ),
        ),
        (
            "missing path",
            set(
                "network",
                json!({"type": "network", "path": "/nonexistent/ns/net"}),
            ),
        ),
        (
            "path to a plain file",
            set("network", json!({"type": "network", "path": file})),
        ),
        (
            "path to a directory",
            set("network", json!({"type": "network", "path": "/"})),
        ),
        (
            "path to a fifo",
            set("network", json!({"type": "network", "path": fifo})),
        ),
        (
            "path to /dev/zero",
            set("network", json!({"type": "network", "path": "/dev/zero"})),
        ),
        (
            "path of another kind",
            set("uts", json!({"type": "uts", "path": "/proc/1/ns/net"})),
        ),
        (
            "path a number",
            set("network", json!({"type": "network", "path": 1})),
        ),
        (
            "no namespaces at all",
            Box::new(|v| v["linux"]["namespaces"] = json!([])),
        ),
        (
            "namespaces an object",
            Box::new(|v| v["linux"]["namespaces"] = json!({"type": "pid"})),
        ),
        (
            "id maps without a user namespace",
            Box::new(|v| {
                v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}])
            }),
        ),
        (
            "user namespace without id maps",
            set("user", json!({"type": "user"})),
        ),
        (
            "id map overflowing",
            Box::new(|v| {
                v["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "user"}));
                let m = json!([{"containerID": 4_294_967_295u32, "hostID": 4_294_967_295u32, "size": 4_294_967_295u32}]);
                v["linux"]["uidMappings"] = m.clone();
                v["linux"]["gidMappings"] = m;
            }),
        ),
        (
            "id map size negative",
            Box::new(|v| {
                v["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "user"}));
                v["linux"]["uidMappings"] =
                    json!([{"containerID": 0, "hostID": 100000, "size": -1}]);
            }),
        ),
        (
            "time offsets without a time namespace",
            Box::new(|v| {
                v["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 1, "nanosecs": 0}})
            }),
        ),
        (
            "hostname without a uts namespace",
            set("uts", json!({"type": "uts", "path": "/proc/1/ns/uts"})),
        ),
    ];
    refuse_edits(&ctx, rows);
}

#[test]
fn bogus_rlimits() {
    let ctx = Ctx::new("hrlimit");
    let rl =
        |r: Value| -> Edit { Box::new(move |v: &mut Value| v["process"]["rlimits"] = r.clone()) };
    let rows: Vec<(&str, Edit)> = vec![
        (
            "unknown type",
            rl(json!([{"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1}])),
        ),
        (
            "empty type",
            rl(json!([{"type": "", "hard": 1, "soft": 1}])),
        ),
        (
            "type in lower case",
            rl(json!([{"type": "rlimit_nofile", "hard": 1, "soft": 1}])),
        ),
        (
            "type a number",
            rl(json!([{"type": 7, "hard": 1, "soft": 1}])),
        ),
        ("no type", rl(json!([{"hard": 1, "soft": 1}]))),
        ("no hard", rl(json!([{"type": "RLIMIT_NOFILE", "soft": 1}]))),
        (
            "soft above hard",
            rl(json!([{"type": "RLIMIT_NOFILE", "hard": 10, "soft": 20}])),
        ),
        (
            "listed twice",
            rl(
                json!([{"type": "RLIMIT_CORE", "hard": 0, "soft": 0}, {"type": "RLIMIT_CORE", "hard": 1, "soft": 1}]),
            ),
        ),
        (
            "soft negative",
            rl(json!([{"type": "RLIMIT_NOFILE", "hard": 10, "soft": -1}])),
        ),
        (
            "hard a string",
            rl(json!([{"type": "RLIMIT_NOFILE", "hard": "10", "soft": 1}])),
        ),
        (
            "rlimits an object",
            rl(json!({"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1})),
        ),
        (
            "nofile above the kernel's nr_open",
            rl(json!([{"type": "RLIMIT_NOFILE", "hard": 1u64 << 40, "soft": 1u64 << 40}])),
        ),
    ];
    refuse_edits(&ctx, rows);
}

#[test]
fn bogus_seccomp() {
    let ctx = Ctx::new("hseccomp");
    let sc =
        |s: Value| -> Edit { Box::new(move |v: &mut Value| v["linux"]["seccomp"] = s.clone()) };
    let rule = |r: Value| json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [r]});
    let many: Vec<Value> = (0..5000)
        .map(|i| json!({"index": 0, "value": i, "op": "SCMP_CMP_EQ"}))
        .collect();
    let rows: Vec<(&str, Edit)> = vec![
        (
            "unknown default action",
            sc(json!({"defaultAction": "SCMP_ACT_BOGUS"})),
        ),
        ("no default action", sc(json!({"syscalls": []}))),
        ("default action a number", sc(json!({"defaultAction": 0}))),
        (
            "default NOTIFY",
            sc(json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"})),
        ),
        (
            "default errnoRet above 16 bits",
            sc(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000})),
        ),
        (
            "default errnoRet negative",
            sc(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1})),
        ),
        (
            "unknown architecture",
            sc(json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]})),
        ),
        (
            "architectures a string",
            sc(json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": "SCMP_ARCH_X86_64"})),
        ),
        (
            "unknown flag",
            sc(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]})),
        ),
        (
            "unknown rule action",
            sc(rule(
                json!({"names": ["mkdir"], "action": "SCMP_ACT_BOGUS"}),
            )),
        ),
        ("rule without action", sc(rule(json!({"names": ["mkdir"]})))),
        (
            "rule names a string",
            sc(rule(json!({"names": "mkdir", "action": "SCMP_ACT_ERRNO"}))),
        ),
        (
            "empty syscall name",
            sc(rule(json!({"names": [""], "action": "SCMP_ACT_ERRNO"}))),
        ),
        (
            "rule errnoRet above 16 bits",
            sc(rule(
                json!({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 65536}),
            )),
        ),
        (
            "unknown operator",
            sc(rule(
                json!({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_BOGUS"}]}),
            )),
        ),
        (
            "arg index 6",
            sc(rule(
                json!({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}),
            )),
        ),
        (
            "arg index huge",
            sc(rule(
                json!({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": u64::MAX, "value": 1, "op": "SCMP_CMP_EQ"}]}),
            )),
        ),
        (
            "arg value negative",
            sc(rule(
                json!({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}),
            )),
        ),
        (
            "NOTIFY without listenerPath",
            sc(rule(
                json!({"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}),
            )),
        ),
        (
            "NOTIFY on write",
            sc(
                json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x", "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]}),
            ),
        ),
        (
            "syscalls an object",
            sc(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {"names": ["mkdir"]}})),
        ),
        (
            "5000 alternatives: too many BPF instructions",
            sc(rule(
                json!({"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": many}),
            )),
        ),
    ];
    refuse_edits(&ctx, rows);
}

/// The PIDs in `init`'s PID namespace other than `init` itself.
fn others_in_pidns(init: i32) -> Vec<i32> {
    // Unreadable links (processes we may not inspect) are not ours.
    let link = |p: i32| fs::read_link(format!("/proc/{p}/ns/pid")).ok();
    let ns = link(init).expect("init's pid namespace");
    all_pids()
        .into_iter()
        .filter(|&p| p != init && pid_alive(p))
        .filter(|&p| link(p).as_ref() == Some(&ns))
        .collect()
}

#[test]
fn bogus_update_resources() {
    let ctx = Ctx::new("hupdate");
    let mut b = ctx.bundle("b");
    b.long_running("");
    b.config["linux"]["resources"] = json!({"memory": {"limit": 64 << 20}, "pids": {"limit": 50}});
    let id = ctx.id("upd");
    let (pid, _) = ctx.start_long(&b, &id);
    let file = ctx.dir.join("resources.json");
    let with = |v: Value, raw: &str| splice(&v, raw);
    let rows: Vec<(&str, Vec<u8>)> = vec![
        ("empty file", vec![]),
        ("whitespace only", b"\n \n".to_vec()),
        ("malformed", b"{\"memory\": {\"limit\": ".to_vec()),
        ("null", b"null".to_vec()),
        ("array", b"[]".to_vec()),
        ("string", b"\"memory\"".to_vec()),
        ("trailing garbage", b"{} {}".to_vec()),
        ("invalid utf-8", b"{\"cpu\": {\"cpus\": \"\xff\"}}".to_vec()),
        ("100k-deep arrays", deep_arrays().into_bytes()),
        ("100k-deep arrays in memory", with(json!({"memory": RAW}), &deep_arrays())),
        ("100k-deep objects in memory.limit", with(json!({"memory": {"limit": RAW}}), &deep_objects())),
        ("memory a number", b"{\"memory\": 1}".to_vec()),
        ("memory limit a string", b"{\"memory\": {\"limit\": \"1g\"}}".to_vec()),
        ("memory limit above i64", b"{\"memory\": {\"limit\": 9223372036854775808}}".to_vec()),
        ("memory limit 1e400", b"{\"memory\": {\"limit\": 1e400}}".to_vec()),
        ("memory swap below limit", b"{\"memory\": {\"limit\": 67108864, \"swap\": 1048576}}".to_vec()),
        ("cpu shares negative", b"{\"cpu\": {\"shares\": -1}}".to_vec()),
        ("cpu quota below 1ms", b"{\"cpu\": {\"quota\": 5, \"period\": 100000}}".to_vec()),
        ("cpuset garbage", b"{\"cpu\": {\"cpus\": \"0-zz\"}}".to_vec()),
        ("cpuset beyond the host", b"{\"cpu\": {\"cpus\": \"0-999999\"}}".to_vec()),
        ("blkio weight above u16", b"{\"blockIO\": {\"weight\": 70000}}".to_vec()),
        ("throttle device major negative", b"{\"blockIO\": {\"throttleReadBpsDevice\": [{\"major\": -1, \"minor\": 0, \"rate\": 1}]}}".to_vec()),
        ("pids limit a float", b"{\"pids\": {\"limit\": 1.5}}".to_vec()),
        ("unified key escaping the cgroup", b"{\"unified\": {\"../../../tmp/x\": \"1\"}}".to_vec()),
        // (A value with several lines is not bad input: each line is one
        // write, as io.max wants; see cgroups/v2.rs.)
    ];
    for (row, data) in rows {
        eprintln!("row: {row}");
        fs::write(&file, &data).unwrap();
        let out = ctx.rt(&["update", "--resources", file.to_str().unwrap(), &id]);
        assert_refused(row, &out, "update", &id);
        // The same on a container that doesn't exist.
        let out = ctx.rt(&[
            "update",
            "--resources",
            file.to_str().unwrap(),
            "hostile-nosuch",
        ]);
        assert_refused(row, &out, "update", "hostile-nosuch");
        assert!(pid_alive(pid), "[{row}] the container's init died");
    }
    // Unknown fields are ignored at any depth (skipped without recursion):
    // an update that changes nothing.
    for (row, data) in [
        ("100k-deep objects", deep_objects().into_bytes()),
        (
            "100k-deep in an unknown field",
            with(json!({"wardFuture": RAW}), &deep_arrays()),
        ),
    ] {
        eprintln!("row: {row}");
        fs::write(&file, &data).unwrap();
        let out = ctx.rt(&["update", "--resources", file.to_str().unwrap(), &id]);
        assert!(out.success(), "[{row}] must succeed\n{}", out.describe());
    }
    let flag_rows: Vec<(&str, Vec<&str>)> = vec![
        (
            "no such resources file",
            vec!["--resources", "/nonexistent/r.json"],
        ),
        ("resources file a directory", vec!["--resources", "/"]),
        ("--memory garbage", vec!["--memory", "1zb"]),
        ("--memory empty", vec!["--memory", ""]),
        (
            "--memory above i64",
            vec!["--memory", "99999999999999999999"],
        ),
        ("--memory 1e3p", vec!["--memory", "9000000p"]),
        (
            "--memory-swap below --memory",
            vec!["--memory", "64m", "--memory-swap", "32m"],
        ),
        ("--cpu-quota below 1ms", vec!["--cpu-quota", "1"]),
        ("--cpuset-cpus garbage", vec!["--cpuset-cpus", "x"]),
    ];
    for (row, flags) in flag_rows {
        eprintln!("row: {row}");
        let mut args = vec!["update"];
        args.extend(flags);
        args.push(&id);
        let out = ctx.rt(&args);
        assert_refused(row, &out, "update", &id);
    }
    // Still the limits it was made with, still running.
    assert!(pid_alive(pid));
    assert_eq!(ctx.status(&id).as_deref(), Some("running"));
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    assert_nothing_left(&ctx, "after update rows", &[&id]);
}

#[test]
fn bogus_exec_process() {
    let ctx = Ctx::new("hexec");
    let mut b = ctx.bundle("b");
    b.long_running("");
    let id = ctx.id("exec");
    let (pid, _) = ctx.start_long(&b, &id);
    let file = ctx.dir.join("process.json");
    let huge = huge();
    let p = |edit: &dyn Fn(&mut Value)| {
        let mut v = json!({"args": ["true"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}});
        edit(&mut v);
        v
    };
    let rows: Vec<(&str, Vec<u8>)> = vec![
        ("empty file", vec![]),
        ("malformed", b"{\"args\": [".to_vec()),
        ("null", b"null".to_vec()),
        ("array", b"[\"true\"]".to_vec()),
        ("100k-deep arrays", deep_arrays().into_bytes()),
        ("100k-deep objects", deep_objects().into_bytes()),
        (
            "100k-deep arrays as args",
            splice(&p(&|v| v["args"] = json!(RAW)), &deep_arrays()),
        ),
        (
            "100k-deep objects as env",
            splice(&p(&|v| v["env"] = json!(RAW)), &deep_objects()),
        ),
        (
            "no args",
            p(&|v| drop(v.as_object_mut().unwrap().remove("args")))
                .to_string()
                .into_bytes(),
        ),
        (
            "args empty",
            p(&|v| v["args"] = json!([])).to_string().into_bytes(),
        ),
        (
            "empty program name",
            p(&|v| v["args"] = json!([""])).to_string().into_bytes(),
        ),
        (
            "args a string",
            p(&|v| v["args"] = json!("true")).to_string().into_bytes(),
        ),
        (
            "cwd relative",
            p(&|v| v["cwd"] = json!("tmp")).to_string().into_bytes(),
        ),
        (
            "cwd missing in the container",
            p(&|v| v["cwd"] = json!("/nonexistent"))
                .to_string()
                .into_bytes(),
        ),
        (
            "env entry without =",
            p(&|v| v["env"] = json!(["NOPE"])).to_string().into_bytes(),
        ),
        (
            "env a number",
            p(&|v| v["env"] = json!(1)).to_string().into_bytes(),
        ),
        (
            "uid a string",
            p(&|v| v["user"]["uid"] = json!("root"))
                .to_string()
                .into_bytes(),
        ),
        (
            "uid above u32",
            p(&|v| v["user"]["uid"] = json!(1u64 << 32))
                .to_string()
                .into_bytes(),
        ),
        (
            "unknown capability",
            p(&|v| v["capabilities"] = json!({"bounding": ["CAP_BOGUS"]}))
                .to_string()
                .into_bytes(),
        ),
        (
            "unknown rlimit",
            p(&|v| v["rlimits"] = json!([{"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1}]))
                .to_string()
                .into_bytes(),
        ),
        (
            "rlimit soft above hard",
            p(&|v| v["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 1, "soft": 2}]))
                .to_string()
                .into_bytes(),
        ),
        (
            "missing program",
            p(&|v| v["args"] = json!(["/nonexistent"]))
                .to_string()
                .into_bytes(),
        ),
        (
            "300 KB program name",
            p(&|v| v["args"] = json!([format!("/{huge}")]))
                .to_string()
                .into_bytes(),
        ),
        (
            "300 KB argument",
            p(&|v| v["args"] = json!(["echo", huge]))
                .to_string()
                .into_bytes(),
        ),
        (
            "300 KB env entry",
            p(&|v| v["env"] = json!([format!("X={huge}")]))
                .to_string()
                .into_bytes(),
        ),
        (
            "300 KB cwd",
            p(&|v| v["cwd"] = json!(format!("/{huge}")))
                .to_string()
                .into_bytes(),
        ),
    ];
    for (row, data) in rows {
        eprintln!("row: {row}");
        fs::write(&file, &data).unwrap();
        let out = ctx
            .spawn(
                &["exec", "--process", file.to_str().unwrap(), &id],
                RUN_TIMEOUT,
            )
            .wait();
        assert_refused(row, &out, "exec", &id);
        assert!(pid_alive(pid), "[{row}] the container's init died");
        let mut left = Vec::new();
        let clean = wait_until(Duration::from_secs(5), || {
            left = others_in_pidns(pid);
            left.is_empty()
        });
        assert!(clean, "[{row}] processes left in the container: {left:?}");
    }
    // An unknown field is ignored at any depth: the process runs.
    let row = "100k-deep objects in an unknown field";
    eprintln!("row: {row}");
    fs::write(&file, splice(&p(&|v| v["x"] = json!(RAW)), &deep_objects())).unwrap();
    let out = ctx
        .spawn(
            &["exec", "--process", file.to_str().unwrap(), &id],
            RUN_TIMEOUT,
        )
        .wait();
    assert!(out.success(), "[{row}] must run\n{}", out.describe());
    for (row, path) in [
        ("no such process file", "/nonexistent/process.json"),
        ("process file a directory", "/"),
    ] {
        eprintln!("row: {row}");
        let out = ctx.rt(&["exec", "--process", path, &id]);
        assert_refused(row, &out, "exec", &id);
    }
    ctx.rt(&["delete", "--force", &id]).assert_ok();
    assert_nothing_left(&ctx, "after exec rows", &[&id]);
}
