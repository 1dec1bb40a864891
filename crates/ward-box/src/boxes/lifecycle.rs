//! The box verbs: run, start, stop, rm, exec, logs, inspect, ls.

use super::rootfs;
use super::runtime::Runtime;
use super::spec::{self, ImageDefaults, RunFlags};
use super::{generate_name, new_id, validate_name, BoxRecord, Boxes, Root};
use crate::image;
use crate::net::networks::Networks;
use crate::net::{self as net, BoxNet, NetMode, NetOptions};
use crate::paths::Dirs;
use crate::progress::Progress;
use crate::store::{remove_all, Lock, Store};
use serde_json::json;
use std::fs;
use std::io::{BufRead, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

pub struct Ctx {
    pub dirs: Dirs,
    pub store: Store,
    pub boxes: Boxes,
    pub rt: Runtime,
    pub networks: Networks,
}

impl Ctx {
    pub fn new(dirs: Dirs) -> Result<Ctx, String> {
        let store = Store::open(&dirs.store, dirs.rootless).map_err(|e| e.to_string())?;
        let boxes = Boxes::new(&dirs).map_err(|e| format!("{}: {e}", dirs.store.display()))?;
        let rt = Runtime::new(&boxes.runtime_root())?;
        let networks = Networks::new(&dirs.store, dirs.rootless, dirs.net_config.clone());
        Ok(Ctx {
            dirs,
            store,
            boxes,
            rt,
            networks,
        })
    }

    /// Where a box's network things are.
    pub fn boxnet<'a>(&'a self, rec: &'a BoxRecord, dir: &'a Path) -> BoxNet<'a> {
        BoxNet {
            id: &rec.id,
            name: &rec.name,
            dir,
            run: &self.dirs.run,
            networks: &self.networks,
        }
    }
}

/// What `ward box run` was asked.
#[derive(Clone, Debug, Default)]
pub struct RunRequest {
    pub name: Option<String>,
    pub auto_remove: bool,
    pub detach: bool,
    pub interactive: bool,
    pub net: Option<NetMode>,
    pub netopts: NetOptions,
    pub rootfs: Option<PathBuf>,
    pub image: Option<String>,
    pub command: Vec<String>,
    pub flags: RunFlags,
    pub quiet: bool,
    pub pull: image::registry::PullOptions,
}

/// Test-only stop points (debug builds): WARD_BOX_FAULT=NAME aborts there,
/// as a kill would, so the tests can check what `ls` and `rm` make of it.
pub fn fault(point: &str) {
    if cfg!(debug_assertions) && std::env::var("WARD_BOX_FAULT").is_ok_and(|v| v == point) {
        std::process::abort();
    }
}

/// Finds an image in the store, or brings it in: a path or transport
/// (`oci:`, `oci-archive:`, `docker-archive:`) is imported, anything else
/// pulled from its registry.
pub fn ensure_image(
    ctx: &Ctx,
    what: &str,
    quiet: bool,
    pull: &image::registry::PullOptions,
) -> Result<crate::store::ImageRecord, String> {
    if let Some(r) = ctx.store.find_image(what).map_err(|e| e.to_string())? {
        return Ok(r);
    }
    let local = ["oci:", "oci-archive:", "docker-archive:"]
        .iter()
        .any(|p| what.starts_with(p))
        || what.starts_with('/')
        || what.starts_with('.')
        || Path::new(what).exists();
    let progress = Progress::new(quiet, &format!("ward: image pull {what}"));
    if local {
        let src = image::local::open(what)?;
        image::pull(&ctx.store, src.as_ref(), vec![], &progress)
    } else {
        let src = image::registry::Registry::open(what, pull)?;
        let name = src.name();
        image::pull(&ctx.store, &src, vec![name], &progress)
    }
}

pub fn run(ctx: &Ctx, req: RunRequest) -> Result<i32, String> {
    if req.detach && req.flags.tty && req.interactive {
        return Err("-d with -it: attaching to a detached box is not supported; use -d alone, then ward box exec -it".into());
    }
    if req.detach && req.flags.tty {
        return Err(
            "-t with -d: a detached box has no terminal here; its output goes to its log".into(),
        );
    }
    let id = new_id();
    let name = match &req.name {
        Some(n) => {
            validate_name(n)?;
            n.clone()
        }
        None => {
            let base = generate_name(&id);
            if ctx.boxes.name_taken(&base) {
                format!("{base}_{}", &id[..6])
            } else {
                base
            }
        }
    };
    let cwd = std::env::current_dir().map_err(|e| format!("the current directory: {e}"))?;
    // Everything that can be checked before anything exists.
    for v in &req.flags.volumes {
        spec::parse_volume(v, &cwd)?;
    }
    if let Some(m) = &req.flags.memory {
        spec::parse_size(m)?;
    }
    let (root, img_defaults) = match (&req.image, &req.rootfs) {
        (Some(_), Some(_)) => return Err("--rootfs and an image: choose one".into()),
        (Some(img), None) => {
            let rec = ensure_image(ctx, img, req.quiet, &req.pull)?;
            let cfg = image::config_of(&ctx.store, &rec)?;
            let name = rec
                .names
                .first()
                .cloned()
                .unwrap_or_else(|| rec.id.short().to_string());
            (
                Root::Image {
                    name,
                    id: rec.id.clone(),
                    layers: rec.layers.clone(),
                },
                ImageDefaults::from_config(&cfg),
            )
        }
        (None, Some(dir)) => {
            let dir = dir
                .canonicalize()
                .map_err(|e| format!("--rootfs {}: {e}", dir.display()))?;
            if !dir.is_dir() {
                return Err(format!("--rootfs {}: not a directory", dir.display()));
            }
            (Root::Dir { path: dir }, ImageDefaults::default())
        }
        (None, None) => (Root::Host, ImageDefaults::default()),
    };
    let is_image = matches!(root, Root::Image { .. });
    // The image and directory boxes' default is the default network (or
    // pasta without root, where pasta can run: none where it can't); the
    // host view's is none.
    let net = req.net.clone().unwrap_or(match (&root, ctx.dirs.rootless) {
        (Root::Host, _) => NetMode::None,
        (_, false) => NetMode::Network(net::networks::DEFAULT.into()),
        (_, true) if net::pasta::usable() => NetMode::Pasta,
        (_, true) => NetMode::None,
    });
    let mut netopts = req.netopts.clone();
    netopts.hostname = req.flags.hostname.clone().unwrap_or_else(|| name.clone());
    net::names::check_dns(&netopts)?;
    let mut args = spec::command(&img_defaults, &req.flags, &req.command);
    if args.is_empty() && !is_image {
        args = vec!["sh".into()];
    }
    let rec = BoxRecord {
        id: id.clone(),
        name: name.clone(),
        root: root.clone(),
        command: args.clone(),
        created: crate::store::now(),
        net: net.clone(),
        netopts: netopts.clone(),
        // A host-view box is a one-off jail, as bwrap's: removed when it
        // exits unless it was named or detached.
        auto_remove: req.auto_remove || (root == Root::Host && req.name.is_none() && !req.detach),
        detach: req.detach,
        stop_signal: img_defaults
            .stop_signal
            .clone()
            .unwrap_or_else(|| "SIGTERM".into()),
        rootless: ctx.dirs.rootless,
    };
    // The network's checks, before anything exists: it exists and reads,
    // its plugins are there, the ports are free (also of running boxes'
    // mappings, which are NAT rules, not sockets).
    {
        let dir = ctx.boxes.base.join(&rec.id);
        net::check(&net, &netopts, &ctx.boxnet(&rec, &dir), ctx.dirs.rootless)?;
        check_ports_of_other_boxes(ctx, &netopts)?;
    }
    // The store's lock while the box claims its layers: a prune can't take
    // them between the lookup and the record.
    let lock = if is_image {
        let _store_lock = ctx.store.lock().map_err(|e| e.to_string())?;
        ctx.boxes.create(&rec)?
    } else {
        ctx.boxes.create(&rec)?
    };
    fault("after-record");
    // A one-off host-view box without limits gets no cgroup of its own: it
    // runs in the caller's, as a bwrap sandbox does (docs/box.md, "The
    // host view, step by step"). Its volumes are then bound nodev.
    let own_cgroup = !(rec.root == Root::Host
        && rec.auto_remove
        && !rec.detach
        && req.flags.memory.is_none()
        && req.flags.cpus.is_none()
        && req.flags.pids.is_none()
        && req.flags.io_weight.is_none()
        && rec.netopts.rate_in.is_none()
        && rec.netopts.rate_out.is_none());
    let made = prepare(ctx, &rec, &img_defaults, &req, &cwd, !own_cgroup);
    if let Err(e) = made {
        remove_box(ctx, &rec, false);
        return Err(e);
    }
    fault("after-prepare");
    if req.detach {
        let res = spawn_supervisor(ctx, &rec, lock);
        return match res {
            Ok(_) => {
                println!("{id}");
                Ok(0)
            }
            Err(e) => {
                // The supervisor cleaned up what it could; make sure.
                if let Some(l) = ctx.boxes.try_lock(&id) {
                    drop(l);
                    remove_box(ctx, &rec, false);
                }
                Err(e)
            }
        };
    }
    foreground(ctx, &rec, req.interactive, own_cgroup, lock)
}

/// The box's root and config.json.
fn prepare(
    ctx: &Ctx,
    rec: &BoxRecord,
    img: &ImageDefaults,
    req: &RunRequest,
    cwd: &Path,
    nodev_volumes: bool,
) -> Result<(), String> {
    let dir = ctx.boxes.dir(&rec.id);
    let mut host_tmpfs: Vec<String> = vec![];
    let mut shared_root = false;
    let (root, binds) = match &rec.root {
        Root::Image { .. } if rec.rootless => {
            // Mounted in the box's user namespace (userns.rs), not here.
            for d in ["upper", "work", "merged"] {
                fs::create_dir_all(dir.join(d))
                    .map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
            }
            (dir.join("merged"), vec![])
        }
        Root::Image { layers, .. } => {
            let merged =
                rootfs::mount_overlay(&ctx.store.root.join("layers"), layers, &dir, rec.rootless)?;
            (merged, vec![])
        }
        Root::Dir { path } => (path.clone(), vec![]),
        Root::Host if rec.auto_remove && !rec.detach => {
            // A one-off box: the shared skeleton, nothing of its own on
            // disk (docs/box.md, "Performance": made and removed with
            // each box, the skeleton was most of ward box's own time).
            // Mount points it lacks get a tmpfs each at their top level.
            let mut dsts: Vec<String> = req
                .flags
                .tmpfs
                .iter()
                .map(|t| t.split(':').next().unwrap_or("").to_string())
                .collect();
            for v in &req.flags.volumes {
                dsts.push(spec::parse_volume(v, cwd)?.1);
            }
            dsts.extend(req.flags.workdir.clone());
            let extra: Vec<String> = dsts.iter().filter_map(|d| rootfs::extra_top(d)).collect();
            let (root, binds) = rootfs::shared_host_skeleton(&ctx.store.root, &extra)?;
            host_tmpfs = rootfs::SHARED_TMPFS.iter().map(|s| s.to_string()).collect();
            let mut extra = extra;
            extra.sort();
            extra.dedup();
            host_tmpfs.extend(extra.iter().map(|e| format!("/{e}")));
            shared_root = true;
            (root, binds)
        }
        Root::Host => {
            let root = dir.join("root");
            let binds = rootfs::host_skeleton(&root)?;
            host_tmpfs = vec!["/tmp".into(), "/run".into()];
            (root, binds)
        }
    };
    let user_root = match &rec.root {
        Root::Image { layers, .. } if rec.rootless => {
            rootfs::etc_view(&ctx.store.root.join("layers"), layers, &dir)?
        }
        _ => root.clone(),
    };
    let user = spec::resolve_user(
        req.flags.user.as_deref().or(img.user.as_deref()),
        &user_root,
    )?;
    let mut s = spec::build(&spec::SpecInput {
        root: &root,
        host_binds: &binds,
        is_host_view: rec.root == Root::Host,
        host_tmpfs: &host_tmpfs,
        shared_root,
        image: img,
        flags: &req.flags,
        args: rec.command.clone(),
        name: &rec.name,
        rootless: rec.rootless,
        user,
        volumes_dir: &dir.join("volumes"),
        cwd,
        nodev_volumes,
    })?;
    let etc = net::writes_etc(&rec.net, rec.root == Root::Host);
    net::apply(&mut s, &rec.net, &rec.netopts, &ctx.boxnet(rec, &dir), etc);
    let bundle = dir.join("bundle");
    fs::create_dir_all(&bundle).map_err(|e| format!("mkdir {}: {e}", bundle.display()))?;
    let data = serde_json::to_vec_pretty(&s).expect("a spec serializes");
    fs::write(bundle.join("config.json"), data)
        .map_err(|e| format!("write {}: {e}", bundle.display()))?;
    Ok(())
}

static CHILD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(std::sync::atomic::Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe; pid is our own child's.
        unsafe { libc::kill(pid, sig) };
    }
}

fn forward_signals(child: i32) {
    CHILD.store(child, std::sync::atomic::Ordering::SeqCst);
    for sig in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT, libc::SIGQUIT] {
        // SAFETY: the handler only reads an atomic and calls kill(2), both
        // async-signal-safe; the sigaction struct is zeroed then filled in.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = forward as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// The box's network, before the runtime runs it (see net/mod.rs).
pub fn net_setup(ctx: &Ctx, rec: &BoxRecord) -> Result<(), String> {
    let dir = ctx.boxes.dir(&rec.id);
    let etc = net::writes_etc(&rec.net, rec.root == Root::Host);
    if !etc && !matches!(rec.net, NetMode::Network(_)) && rec.netopts.rate_out.is_none() {
        return Ok(());
    }
    net::setup(&rec.net, &rec.netopts, &ctx.boxnet(rec, &dir), etc)
}

/// Undoes net_setup (idempotent).
pub fn net_teardown(ctx: &Ctx, rec: &BoxRecord) {
    let dir = ctx.boxes.dir(&rec.id);
    net::teardown(&ctx.boxnet(rec, &dir));
}

/// Host ports that running boxes' mappings hold (NAT rules, which a
/// bind(2) can't see).
fn check_ports_of_other_boxes(ctx: &Ctx, opts: &NetOptions) -> Result<(), String> {
    if opts.ports.is_empty() {
        return Ok(());
    }
    for id in ctx.boxes.ids() {
        let Ok(other) = ctx.boxes.record(&id) else {
            continue;
        };
        for p in &opts.ports {
            if other
                .netopts
                .ports
                .iter()
                .any(|q| q.host_port == p.host_port && q.proto == p.proto)
                && ctx.boxes.dir(&id).join("net.json").exists()
            {
                return Err(format!(
                    "-p {p}: host port {}/{} is already in use by box {}",
                    p.host_port, p.proto, other.name
                ));
            }
        }
    }
    Ok(())
}

/// A foreground box: `ward run` as our child, its exit code ours.
fn foreground(
    ctx: &Ctx,
    rec: &BoxRecord,
    interactive: bool,
    own_cgroup: bool,
    lock: Lock,
) -> Result<i32, String> {
    if let Err(e) = net_setup(ctx, rec) {
        drop(lock);
        remove_box(ctx, rec, false);
        return Err(e);
    }
    let dir = ctx.boxes.dir(&rec.id);
    let pidfile = dir.join("pid");
    if in_process(rec) {
        return foreground_in_process(ctx, rec, interactive, own_cgroup, lock, &dir);
    }
    let mut cmd = runtime_create(
        ctx,
        rec,
        &[
            "run".as_ref(),
            "--bundle".as_ref(),
            dir.join("bundle").as_os_str(),
            "--pid-file".as_ref(),
            pidfile.as_os_str(),
            rec.id.as_ref(),
        ],
    )?;
    if !interactive {
        cmd.stdin(Stdio::null());
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("run {}: {e}", ctx.rt.bin.display()))?;
    forward_signals(child.id() as i32);
    fault("after-spawn");
    let status = child
        .wait()
        .map_err(|e| format!("wait for the runtime: {e}"))?;
    CHILD.store(0, std::sync::atomic::Ordering::SeqCst);
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    if !pidfile.exists() {
        // The runtime failed before the box existed: it printed why.
        drop(lock);
        remove_box(ctx, rec, false);
        return Ok(125);
    }
    // A `ward run` that exited (not killed) deleted its container.
    cleanup_after_exit(ctx, rec, Some(code), status.signal().is_none());
    drop(lock);
    Ok(code)
}

/// Whether a foreground box is created by ward-core in this process rather
/// than by an exec of the `ward` binary: when this process is
/// single-threaded (ward-core forks; a pull's threads are joined by now,
/// and the check is the same one ward-core makes) and the box isn't a
/// rootless image box (whose overlay is mounted in a user namespace of a
/// child, userns.rs). It saves a process and an exec per box
/// (docs/box.md, "The host view, step by step").
fn in_process(rec: &BoxRecord) -> bool {
    !(matches!(rec.root, Root::Image { .. }) && rec.rootless)
        && ward_core::container::single_threaded("run").is_ok()
}

/// A foreground box created, started, waited for and deleted by ward-core
/// here, as `ward run` would: the same state directory under the box
/// front's runtime root (so `ward box ls`, `stop`, `rm` and the `ward`
/// binary see it as before), the same pid file, signals forwarded to the
/// box, its exit code ours. The runtime's failures are one line, as
/// `ward run`'s were.
fn foreground_in_process(
    ctx: &Ctx,
    rec: &BoxRecord,
    interactive: bool,
    own_cgroup: bool,
    lock: Lock,
    dir: &Path,
) -> Result<i32, String> {
    if !interactive {
        // The box's stdin, as the runtime child's was: /dev/null. This
        // process reads nothing from its own any more.
        let null = fs::File::open("/dev/null").map_err(|e| format!("open /dev/null: {e}"))?;
        rustix::stdio::dup2_stdin(&null).map_err(|e| format!("stdin: {e}"))?;
    }
    let opts = ward_core::container::CreateOptions {
        bundle: dir.join("bundle"),
        // No pid file: ward-core's result says whether the box was made,
        // and the state directory holds the pid (one file less to make
        // and remove per box).
        pid_file: None,
        // What the runtime binary took from the environment it inherited
        // (`ward run`'s create options); LISTEN_FDS never named it.
        notify_socket: std::env::var_os("NOTIFY_SOCKET")
            .filter(|v| !v.is_empty())
            .map(Into::into),
        no_cgroup: !own_cgroup,
        ..Default::default()
    };
    let store = ward_core::state::Store::new(&ctx.rt.root);
    let res = ward_core::container::run(&store, &rec.id, &opts, false, false);
    match res {
        Ok(code) => {
            // ward-core deleted its container after the exit.
            cleanup_after_exit(ctx, rec, Some(code), true);
            drop(lock);
            Ok(code)
        }
        Err(e) => {
            eprintln!("ward: run {}: {e}", rec.id);
            // A failed create left nothing of the container; after a
            // failure past it, ward-core's run has deleted the container,
            // which a `ward delete` makes sure of if its directory is left.
            let created = store.container_path(&rec.id).exists();
            drop(lock);
            remove_box(ctx, rec, !created);
            Ok(125)
        }
    }
}

/// The runtime command that creates the box's container: run directly, or,
/// for a rootless image box, inside a user namespace that mounts its
/// overlay first (userns.rs).
pub fn runtime_create(
    ctx: &Ctx,
    rec: &BoxRecord,
    args: &[&std::ffi::OsStr],
) -> Result<std::process::Command, String> {
    match &rec.root {
        Root::Image { layers, .. } if rec.rootless => {
            let dir = ctx.boxes.dir(&rec.id);
            let data = rootfs::overlay_data(&ctx.store.root.join("layers"), layers, &dir, true);
            let exe =
                fs::read_link("/proc/self/exe").map_err(|e| format!("/proc/self/exe: {e}"))?;
            let mut c = std::process::Command::new(exe);
            c.arg("__userns")
                .arg(data)
                .arg(dir.join("merged"))
                .arg("--")
                .arg(&ctx.rt.bin)
                .arg("--root")
                .arg(&ctx.rt.root);
            c.args(args);
            Ok(c)
        }
        _ => {
            let mut c = ctx.rt.command(&[]);
            c.args(args);
            Ok(c)
        }
    }
}

/// Starts the supervisor for a box whose record and bundle are ready, and
/// waits for its word: running, or why not.
fn spawn_supervisor(ctx: &Ctx, rec: &BoxRecord, lock: Lock) -> Result<i32, String> {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| format!("pipe: {e}"))?;
    let exe = fs::read_link("/proc/self/exe").map_err(|e| format!("/proc/self/exe: {e}"))?;
    let lock_fd = lock.0.as_raw_fd();
    let w_fd = w.as_raw_fd();
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--root")
        .arg(&ctx.dirs.store)
        .arg("--runroot")
        .arg(&ctx.dirs.run);
    if let Some(d) = &ctx.dirs.net_config {
        cmd.arg("--network-config-dir").arg(d);
    }
    cmd.arg("__supervise").arg(&rec.id).arg("4");
    cmd.env("WARD_BOX_RUNTIME", &ctx.rt.bin);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec only async-signal-safe calls: setsid
    // (the supervisor is its own session, so a terminal's hangup or ^C
    // doesn't reach it) and dup2 of the two fds it inherits (the box's
    // lock as fd 3, the status pipe as fd 4; dup2 clears CLOEXEC).
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            // Via fds above 4 first: either may already be 3 or 4, and
            // dup2 onto itself would keep CLOEXEC.
            let l = libc::fcntl(lock_fd, libc::F_DUPFD, 10);
            let p = libc::fcntl(w_fd, libc::F_DUPFD, 10);
            if l < 0 || p < 0 || libc::dup2(l, 3) < 0 || libc::dup2(p, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(l);
            libc::close(p);
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("start the supervisor: {e}"))?;
    drop(w);
    drop(lock);
    let mut msg = String::new();
    let _ = std::fs::File::from(r).read_to_string(&mut msg);
    // The supervisor double-forks nothing: it stays our child until we
    // exit, then init's; don't leave a zombie while we wait.
    std::thread::spawn(move || child.wait());
    let line = msg.lines().next().unwrap_or("");
    if let Some(pid) = line.strip_prefix("ok ") {
        Ok(pid.trim().parse().unwrap_or(0))
    } else if let Some(e) = line.strip_prefix("error ") {
        Err(e.to_string())
    } else {
        Err("the supervisor exited without a word".into())
    }
}

/// After a box's init is gone: its exit code, the network, the runtime's
/// container, the overlay mount; the whole box with --rm.
/// `runtime_gone`: the runtime removed its container itself (a foreground
/// `ward run` that exited), so no `ward delete` is needed.
pub fn cleanup_after_exit(ctx: &Ctx, rec: &BoxRecord, code: Option<i32>, runtime_gone: bool) {
    if rec.auto_remove {
        return remove_box(ctx, rec, runtime_gone);
    }
    if let Some(c) = code {
        ctx.boxes.set_exit(&rec.id, c);
    }
    if !runtime_gone {
        let _ = ctx.rt.delete_force(&rec.id);
    }
    net_teardown(ctx, rec);
    rootfs::unmount(&ctx.boxes.dir(&rec.id));
}

/// Removes every trace of a box (killing what is left of its container).
pub fn remove_box(ctx: &Ctx, rec: &BoxRecord, runtime_gone: bool) {
    if !runtime_gone {
        let _ = ctx.rt.delete_force(&rec.id);
    }
    net_teardown(ctx, rec);
    let dir = ctx.boxes.dir(&rec.id);
    rootfs::unmount(&dir);
    // Rename first: a half-removed box is never listed.
    let gone = dir
        .parent()
        .unwrap_or(&ctx.boxes.base)
        .join(format!(".rm.{}", rec.id));
    let target = if fs::rename(&dir, &gone).is_ok() {
        gone
    } else {
        dir
    };
    remove_all(&target);
    ctx.boxes.release_name(&rec.name, &rec.id);
}

/// A box's status as `ls` shows it, and its init's pid when it runs.
pub fn status(ctx: &Ctx, id: &str) -> (String, i32) {
    if let Some(st) = ctx.rt.state(id) {
        if st.status != "stopped" {
            return (st.status, st.pid);
        }
    }
    match ctx.boxes.try_lock(id) {
        None => ("creating".into(), 0),
        Some(_) => match ctx.boxes.exit(id) {
            Some(e) => (format!("exited ({})", e.code), 0),
            None => ("stopped".into(), 0),
        },
    }
}

pub fn start(ctx: &Ctx, what: &str) -> Result<(), String> {
    let id = ctx.boxes.find(what)?;
    let rec = ctx.boxes.record(&id)?;
    let Some(lock) = ctx.boxes.try_lock(&id) else {
        return Err(format!("{what}: the box is running or being changed"));
    };
    if ctx.rt.state(&id).is_some_and(|s| s.status == "running") {
        return Err(format!("{what}: the box is running"));
    }
    let _ = ctx.rt.delete_force(&id);
    let dir = ctx.boxes.dir(&id);
    if let Root::Image { layers, .. } = &rec.root {
        if !rec.rootless && !rootfs::is_mounted(&dir.join("merged")) {
            rootfs::mount_overlay(&ctx.store.root.join("layers"), layers, &dir, rec.rootless)?;
        }
    }
    let _ = fs::remove_file(dir.join("exit.json"));
    let mut rec2 = rec.clone();
    rec2.detach = true;
    spawn_supervisor(ctx, &rec2, lock).map(|_| ())
}

/// Sends the stop signal, waits up to `timeout` for the box to stop, then
/// kills it.
pub fn stop(ctx: &Ctx, what: &str, timeout: Duration) -> Result<(), String> {
    let id = ctx.boxes.find(what)?;
    let rec = ctx.boxes.record(&id)?;
    let running = |ctx: &Ctx| {
        ctx.rt
            .state(&id)
            .is_some_and(|s| s.status == "running" || s.status == "paused" || s.status == "created")
    };
    if running(ctx) {
        let _ = ctx.rt.kill(&id, &rec.stop_signal);
        let deadline = Instant::now() + timeout;
        while running(ctx) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if running(ctx) {
            let _ = ctx.rt.kill(&id, "SIGKILL");
        }
    }
    // Wait for whoever is in charge (supervisor, foreground CLI) to record
    // the exit and clean up.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if !ctx.boxes.dir(&id).exists() {
            return Ok(());
        }
        if let Some(l) = ctx.boxes.try_lock(&id) {
            drop(l);
            if !running(ctx) {
                // Nobody was in charge (a killed CLI or supervisor): tidy up.
                if ctx.rt.state(&id).is_some()
                    || rootfs::is_mounted(&ctx.boxes.dir(&id).join("merged"))
                {
                    cleanup_after_exit(ctx, &rec, None, false);
                }
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!("{what}: the box did not stop"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn rm(ctx: &Ctx, what: &str, force: bool) -> Result<(), String> {
    let id = ctx.boxes.find(what)?;
    let rec = ctx.boxes.record(&id).unwrap_or(BoxRecord {
        id: id.clone(),
        name: String::new(),
        root: Root::Host,
        command: vec![],
        created: 0,
        net: NetMode::None,
        netopts: NetOptions::default(),
        auto_remove: false,
        detach: false,
        stop_signal: "SIGTERM".into(),
        rootless: ctx.dirs.rootless,
    });
    let live = ctx.rt.state(&id).is_some_and(|s| s.status != "stopped");
    if live || ctx.boxes.try_lock(&id).is_none() {
        if !force {
            return Err(format!(
                "{what}: the box is running: stop it first, or use --force"
            ));
        }
        let _ = ctx.rt.kill(&id, "SIGKILL");
        stop(ctx, &id, Duration::from_secs(0))?;
    }
    if ctx.boxes.dir(&id).exists() {
        let Some(_l) = ctx.boxes.try_lock(&id) else {
            return Err(format!("{what}: the box is still in someone's charge"));
        };
        remove_box(ctx, &rec, false);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub fn exec(
    ctx: &Ctx,
    what: &str,
    tty: bool,
    interactive: bool,
    env: &[String],
    workdir: Option<&str>,
    user: Option<&str>,
    cmd: &[String],
) -> Result<i32, String> {
    let id = ctx.boxes.find(what)?;
    if ctx.rt.state(&id).is_none_or(|s| s.status != "running") {
        return Err(format!("{what}: the box is not running"));
    }
    if cmd.is_empty() {
        return Err("no command".into());
    }
    let mut c = ctx.rt.command(&["exec"]);
    if tty {
        c.arg("--tty");
    }
    for e in env {
        c.arg("--env").arg(e);
    }
    if let Some(w) = workdir {
        c.arg("--cwd").arg(w);
    }
    if let Some(u) = user {
        let root = match ctx.boxes.record(&id)?.root {
            Root::Image { .. } => ctx.boxes.dir(&id).join("merged"),
            Root::Dir { path } => path,
            Root::Host => PathBuf::from("/"),
        };
        let (uid, gid, _) = spec::resolve_user(Some(u), &root)?;
        c.arg("--user").arg(format!("{uid}:{gid}"));
    }
    c.arg(&id).args(cmd);
    if !interactive {
        c.stdin(Stdio::null());
    }
    let mut child = c
        .spawn()
        .map_err(|e| format!("run {}: {e}", ctx.rt.bin.display()))?;
    forward_signals(child.id() as i32);
    let st = child.wait().map_err(|e| format!("wait: {e}"))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)))
}

pub fn logs(ctx: &Ctx, what: &str, follow: bool) -> Result<(), String> {
    let id = ctx.boxes.find(what)?;
    let path = ctx.boxes.dir(&id).join("log");
    let mut f = match fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if ctx.boxes.record(&id)?.detach {
                return Ok(());
            }
            return Err(format!(
                "{what}: no log: the box ran in the foreground, its output went to the terminal"
            ));
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if n > 0 {
            if out.write_all(&buf[..n]).is_err() {
                return Ok(());
            }
            continue;
        }
        let _ = out.flush();
        if !follow {
            return Ok(());
        }
        // Follow until whoever runs the box lets go of it.
        if ctx.boxes.try_lock(&id).is_some() || !ctx.boxes.dir(&id).exists() {
            let n = f.read(&mut buf).unwrap_or(0);
            let _ = out.write_all(&buf[..n]);
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn inspect_json(ctx: &Ctx, id: &str) -> Result<serde_json::Value, String> {
    let rec = ctx.boxes.record(id)?;
    let (status, pid) = status(ctx, id);
    let exit = ctx.boxes.exit(id);
    let dir = ctx.boxes.dir(id);
    let spec: serde_json::Value = fs::read(dir.join("bundle/config.json"))
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or(serde_json::Value::Null);
    Ok(json!({
        "id": rec.id,
        "name": rec.name,
        "status": status,
        "pid": pid,
        "exitCode": exit.as_ref().map(|e| e.code),
        "finished": exit.as_ref().map(|e| e.finished),
        "created": rec.created,
        "root": rec.root,
        "command": rec.command,
        "net": rec.net,
        "network": super::netverbs::box_net_json(ctx, &rec),
        "autoRemove": rec.auto_remove,
        "stopSignal": rec.stop_signal,
        "rootless": rec.rootless,
        "dir": dir,
        "log": dir.join("log"),
        "spec": spec,
    }))
}

pub fn ls(ctx: &Ctx, json_out: bool, quiet: bool) -> Result<(), String> {
    let ids = ctx.boxes.ids();
    if quiet {
        for id in ids {
            println!("{}", &id[..12]);
        }
        return Ok(());
    }
    let mut rows = Vec::new();
    for id in &ids {
        match inspect_json(ctx, id) {
            Ok(v) => rows.push(v),
            Err(_) => rows.push(json!({"id": id, "name": "", "status": "broken (no record)", "root": {"kind": "?"}, "command": [], "created": 0})),
        }
    }
    if json_out {
        for r in rows.iter_mut() {
            if let Some(o) = r.as_object_mut() {
                o.remove("spec");
            }
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(());
    }
    println!(
        "{:<12}  {:<20}  {:<28}  {:<14}  {:<20}  {:<24}  COMMAND",
        "ID", "NAME", "ROOT", "STATUS", "NET", "RATE IN/OUT (BYTES)"
    );
    for r in rows {
        let root = match r["root"]["kind"].as_str() {
            Some("image") => r["root"]["name"].as_str().unwrap_or("").to_string(),
            Some("dir") => r["root"]["path"].as_str().unwrap_or("").to_string(),
            Some("host") => "(host)".to_string(),
            _ => "?".into(),
        };
        let cmd: Vec<&str> = r["command"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        println!(
            "{:<12}  {:<20}  {:<28}  {:<14}  {:<20}  {:<24}  {}",
            &r["id"].as_str().unwrap_or("")[..12],
            r["name"].as_str().unwrap_or(""),
            root,
            r["status"].as_str().unwrap_or(""),
            super::netverbs::ls_net(&r["network"]),
            super::netverbs::ls_rate(&r["network"]),
            cmd.join(" ")
        );
    }
    Ok(())
}

/// Layers that boxes use (for the store's garbage collection).
pub fn layers_in_use(ctx: &Ctx) -> std::collections::BTreeSet<crate::digest::Digest> {
    let mut s = std::collections::BTreeSet::new();
    for id in ctx.boxes.ids() {
        if let Ok(BoxRecord {
            root: Root::Image { layers, .. },
            ..
        }) = ctx.boxes.record(&id)
        {
            s.extend(layers);
        }
    }
    s
}

/// Boxes using an image.
pub fn boxes_using(ctx: &Ctx, image: &crate::digest::Digest) -> Vec<String> {
    ctx.boxes
        .ids()
        .into_iter()
        .filter(|id| matches!(ctx.boxes.record(id), Ok(BoxRecord { root: Root::Image { id: i, .. }, .. }) if i == *image))
        .filter_map(|id| ctx.boxes.record(&id).ok().map(|r| r.name))
        .collect()
}

#[allow(dead_code)]
fn read_lines(p: &Path) -> Vec<String> {
    fs::File::open(p)
        .map(|f| {
            std::io::BufReader::new(f)
                .lines()
                .map_while(Result::ok)
                .collect()
        })
        .unwrap_or_default()
}
