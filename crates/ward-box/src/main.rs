//! ward-box: `ward box ...` and `ward image ...` (ward execs this binary
//! with the verb as its first argument). Errors are one line on stderr:
//! `ward: <verb> <target>: <what failed>: <why>`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;
use ward_box::boxes::lifecycle::{self, Ctx, RunRequest};
use ward_box::boxes::netverbs;
use ward_box::boxes::spec::RunFlags;
use ward_box::image;
use ward_box::net::ports::PortMap;
use ward_box::net::rate::parse_rate;
use ward_box::net::{NetMode, NetOptions};
use ward_box::paths::Dirs;
use ward_box::progress::{human, Progress};

#[derive(Parser)]
#[command(
    name = "ward",
    about = "ward's front for people: boxes and images",
    version
)]
struct Cli {
    /// The store (images, layers, boxes): /var/lib/ward, or $XDG_DATA_HOME/ward without root.
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// Runtime state: /run/ward-box, or $XDG_RUNTIME_DIR/ward-box without root.
    #[arg(long, global = true)]
    runroot: Option<PathBuf>,
    /// The networks' CNI conflists: /etc/ward/net.d, or ~/.config/ward/net.d without root.
    #[arg(long, global = true)]
    network_config_dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Front,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)]
enum Front {
    /// Boxes: a container in one command.
    #[command(name = "box")]
    Box {
        #[command(subcommand)]
        verb: BoxVerb,
    },
    /// Images in the store.
    Image {
        #[command(subcommand)]
        verb: ImageVerb,
    },
    /// Networks: CNI conflists boxes join with --net NAME.
    Network {
        #[command(subcommand)]
        verb: NetVerb,
    },
    #[command(name = "__pasta", hide = true)]
    Pasta {
        boxdir: PathBuf,
        #[arg(short = 'p')]
        publish: Vec<String>,
    },
    #[command(name = "__supervise", hide = true)]
    Supervise { id: String, fd: i32 },
    #[command(name = "__userns", hide = true)]
    Userns {
        data: String,
        merged: PathBuf,
        #[arg(last = true, required = true)]
        argv: Vec<String>,
    },
}

#[derive(Subcommand)]
enum BoxVerb {
    /// Run a box: from an image, a directory (--rootfs), or a read-only view of the host (no image).
    Run(Box<RunArgs>),
    /// List boxes.
    #[command(alias = "ps")]
    Ls {
        #[arg(long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        #[arg(short, long)]
        quiet: bool,
    },
    /// Stop boxes: their stop signal, then SIGKILL after --time seconds.
    Stop {
        #[arg(short, long, default_value_t = 10)]
        time: u64,
        #[arg(required = true)]
        boxes: Vec<String>,
    },
    /// Start stopped boxes again, detached.
    Start {
        #[arg(required = true)]
        boxes: Vec<String>,
    },
    /// Remove boxes.
    Rm {
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        boxes: Vec<String>,
    },
    /// Run a command in a running box.
    Exec {
        #[arg(short, long)]
        interactive: bool,
        #[arg(short, long)]
        tty: bool,
        #[arg(short, long = "env")]
        env: Vec<String>,
        #[arg(short, long)]
        workdir: Option<String>,
        #[arg(short, long)]
        user: Option<String>,
        #[arg(name = "BOX")]
        target: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
    /// The output of a detached box.
    Logs {
        #[arg(short, long)]
        follow: bool,
        #[arg(name = "BOX")]
        target: String,
    },
    /// A box's record, status and runtime spec, as JSON.
    Inspect {
        #[arg(required = true)]
        boxes: Vec<String>,
    },
    /// Change a running box's bandwidth cap (0 removes it).
    Update {
        /// Both directions, e.g. 10mbit.
        #[arg(long)]
        net_rate: Option<String>,
        #[arg(long)]
        net_rate_in: Option<String>,
        #[arg(long)]
        net_rate_out: Option<String>,
        #[arg(name = "BOX")]
        target: String,
    },
}

#[derive(Subcommand)]
enum NetVerb {
    /// Create a network: a bridge with NAT out, its own subnet, name resolution between its boxes.
    Create {
        /// e.g. 10.91.0.0/24 (default: the first free /24 in 10.90.0.0/16).
        #[arg(long)]
        subnet: Option<String>,
        #[arg(long)]
        gateway: Option<String>,
        /// No route out (no NAT, no default route).
        #[arg(long)]
        internal: bool,
        /// No name resolution between the network's boxes.
        #[arg(long)]
        disable_dns: bool,
        /// The bridge's name (default: ward1, ward2, ...).
        #[arg(long)]
        bridge: Option<String>,
        name: String,
    },
    /// List networks.
    #[command(alias = "list")]
    Ls {
        #[arg(long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        #[arg(short, long)]
        quiet: bool,
    },
    /// Show networks' conflists and the boxes on them.
    Inspect {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove networks no box uses (their bridge and leases too).
    Rm {
        /// Remove the boxes on it first.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Clean what crashes left: the networks of boxes whose supervisor died, stale leases, namespaces, devices.
    Prune,
    /// Check running boxes' networks with CNI's CHECK (every plugin checks what it set up); all boxes if none is named.
    Check { boxes: Vec<String> },
}

#[derive(Args, Clone)]
struct PullArgs {
    /// USER:PASS for the registry.
    #[arg(long)]
    creds: Option<String>,
    /// Verify the registry's certificate (false also allows plain HTTP).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    tls_verify: bool,
    /// A directory of CA certificates (*.crt) for the registry.
    #[arg(long)]
    cert_dir: Option<PathBuf>,
}

impl PullArgs {
    fn options(&self) -> Result<image::registry::PullOptions, String> {
        let creds = match &self.creds {
            Some(c) => {
                let (u, p) = c.split_once(':').ok_or("--creds: USER:PASS")?;
                Some((u.to_string(), p.to_string()))
            }
            None => None,
        };
        Ok(image::registry::PullOptions {
            creds,
            insecure: !self.tls_verify,
            cert_dir: self.cert_dir.clone(),
        })
    }
}

#[derive(Args, Clone)]
struct RunArgs {
    /// A name for the box (generated if not given).
    #[arg(long)]
    name: Option<String>,
    /// Remove the box when it exits.
    #[arg(long)]
    rm: bool,
    /// Run in the background; its output goes to its log (ward box logs).
    #[arg(short, long)]
    detach: bool,
    /// Keep stdin open.
    #[arg(short, long)]
    interactive: bool,
    /// A terminal for the box.
    #[arg(short, long)]
    tty: bool,
    /// NAME=VALUE (or NAME, from here).
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// The working directory in the box.
    #[arg(short, long)]
    workdir: Option<String>,
    /// uid[:gid] or name[:group] in the box.
    #[arg(short, long)]
    user: Option<String>,
    /// SRC[:DST][:ro]; `-v .` binds the current directory at its own path.
    #[arg(short, long = "volume")]
    volume: Vec<String>,
    /// DST[:OPTIONS]: a tmpfs in the box.
    #[arg(long)]
    tmpfs: Vec<String>,
    /// A read-only root.
    #[arg(long)]
    read_only: bool,
    #[arg(long)]
    cap_add: Vec<String>,
    #[arg(long)]
    cap_drop: Vec<String>,
    #[arg(long)]
    hostname: Option<String>,
    /// Memory limit (e.g. 256m).
    #[arg(short, long)]
    memory: Option<String>,
    /// CPUs (e.g. 1.5).
    #[arg(long)]
    cpus: Option<f64>,
    /// Process limit.
    #[arg(long, alias = "pids-limit", allow_negative_numbers = true)]
    pids: Option<i64>,
    /// Block IO weight, 10 to 1000.
    #[arg(long, alias = "blkio-weight")]
    io_weight: Option<u16>,
    /// Override the image's entrypoint ("" for none).
    #[arg(long)]
    entrypoint: Option<String>,
    /// Network: bridge (the default network; the default for images), NAME (a network of
    /// ward network create), none (lo only; the host view's default), host, ns:PATH, pasta
    /// (the default without root).
    #[arg(long, alias = "network")]
    net: Option<NetMode>,
    /// Publish a port: [HOST_IP:]HOST_PORT:BOX_PORT[/tcp|udp].
    #[arg(short, long = "publish")]
    publish: Vec<String>,
    /// A nameserver for the box's /etc/resolv.conf.
    #[arg(long)]
    dns: Vec<String>,
    /// A search domain for the box's /etc/resolv.conf.
    #[arg(long)]
    dns_search: Vec<String>,
    /// The box's domain name (its /etc/hosts and the spec's domainname).
    #[arg(long)]
    domainname: Option<String>,
    /// Cap the box's bandwidth, both directions (e.g. 10mbit).
    #[arg(long)]
    net_rate: Option<String>,
    /// Cap the bandwidth into the box.
    #[arg(long)]
    net_rate_in: Option<String>,
    /// Cap the bandwidth out of the box.
    #[arg(long)]
    net_rate_out: Option<String>,
    /// How: veth (tc on the box's veth, both directions; the default) or cgroup (eBPF on its cgroup, egress).
    #[arg(long)]
    net_rate_mode: Option<String>,
    /// A directory to use as the root instead of an image.
    #[arg(long)]
    rootfs: Option<PathBuf>,
    /// No progress output.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    pull: PullArgs,
    /// [IMAGE] [COMMAND [ARG...]]; with no image (`ward box run -- CMD`), the host view.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    words: Vec<String>,
}

#[derive(Subcommand)]
enum ImageVerb {
    /// Pull an image from a registry (or a transport: oci:, oci-archive:, docker-archive:).
    Pull {
        #[arg(short, long)]
        quiet: bool,
        #[command(flatten)]
        pull: PullArgs,
        reference: String,
    },
    /// Import an OCI layout directory, or an oci-archive or docker-archive tarball.
    Import {
        #[arg(short, long)]
        quiet: bool,
        source: String,
        /// The name to store it under.
        name: Option<String>,
    },
    /// List images.
    Ls {
        #[arg(long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        #[arg(short, long)]
        quiet: bool,
    },
    /// Remove images (their layers too, unless another image or a box uses them).
    Rm {
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Remove unused layers and blobs, and leftovers of interrupted pulls.
    Prune,
}

/// `ward box -- CMD` and `ward box -v . -- CMD`: run is the default verb.
fn argv() -> Vec<String> {
    let mut a: Vec<String> = std::env::args().collect();
    // Past the global flags, wherever they are, a flag (or `--`) where
    // box's verb would be.
    let skip_globals = |a: &[String], mut i: usize| {
        while i < a.len() {
            match a[i].as_str() {
                "--root" | "--runroot" | "--network-config-dir" => i += 2,
                s if s.starts_with("--root=")
                    || s.starts_with("--runroot=")
                    || s.starts_with("--network-config-dir=") =>
                {
                    i += 1
                }
                _ => break,
            }
        }
        i
    };
    let i = skip_globals(&a, 1);
    if a.get(i).map(String::as_str) == Some("box") {
        let j = skip_globals(&a, i + 1);
        if let Some(next) = a.get(j) {
            if next.starts_with('-')
                && !matches!(next.as_str(), "-h" | "--help" | "-V" | "--version")
            {
                a.insert(j, "run".into());
            }
        }
    }
    a
}

fn main() {
    let raw = argv();
    let cli = match Cli::try_parse_from(raw.clone()) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            // One line, as every other error: clap's first line.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("bad arguments");
            let mut words = Vec::new();
            let mut it = raw.iter().skip(1);
            while let Some(w) = it.next() {
                if w == "--root" || w == "--runroot" || w == "--network-config-dir" {
                    it.next();
                } else if !w.starts_with('-') && words.len() < 2 {
                    words.push(w.as_str());
                }
            }
            let verb = words;
            eprintln!(
                "ward: {}: {}",
                verb.join(" "),
                first.trim_start_matches("error: ")
            );
            std::process::exit(2);
        }
    };
    let (what, res) = dispatch(cli, &raw);
    match res {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("ward: {what}: {}", plain_errors(&e));
            std::process::exit(if what.starts_with("box run") { 125 } else { 1 });
        }
    }
}

/// io::Error's text as runc writes errno ("no such file or directory"),
/// without Rust's " (os error N)".
fn plain_errors(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find(" (os error ") {
        out.push_str(&rest[..i]);
        rest = match rest[i..].find(')') {
            Some(j) => &rest[i + j + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    for (from, to) in [
        ("No such file or directory", "no such file or directory"),
        ("Permission denied", "permission denied"),
        ("Not a directory", "not a directory"),
        ("File exists", "file exists"),
        ("No space left on device", "no space left on device"),
        ("Is a directory", "is a directory"),
    ] {
        out = out.replace(from, to);
    }
    out
}

fn ctx(cli: &Cli) -> Result<Ctx, String> {
    let mut dirs = Dirs::new(cli.root.clone(), cli.runroot.clone())?;
    dirs.net_config = cli.network_config_dir.clone();
    Ctx::new(dirs)
}

/// The rate flags: `--net-rate` sets both, the others one direction each.
fn rates(
    both: &Option<String>,
    inn: &Option<String>,
    out: &Option<String>,
) -> Result<(Option<u64>, Option<u64>), String> {
    let p = |flag: &str, v: &Option<String>| -> Result<Option<u64>, String> {
        v.as_ref().map(|s| parse_rate(flag, s)).transpose()
    };
    let b = p("--net-rate", both)?;
    Ok((
        p("--net-rate-in", inn)?.or(b),
        p("--net-rate-out", out)?.or(b),
    ))
}

fn netopts(a: &RunArgs) -> Result<NetOptions, String> {
    let (rate_in, rate_out) = rates(&a.net_rate, &a.net_rate_in, &a.net_rate_out)?;
    let rate_mode = match &a.net_rate_mode {
        Some(m) => m.parse()?,
        None => Default::default(),
    };
    Ok(NetOptions {
        ports: a
            .publish
            .iter()
            .map(|p| PortMap::parse(p))
            .collect::<Result<_, _>>()?,
        dns: a.dns.clone(),
        dns_search: a.dns_search.clone(),
        hostname: String::new(),
        domainname: a.domainname.clone(),
        rate_in,
        rate_out,
        rate_mode,
    })
}

fn dispatch(cli: Cli, raw: &[String]) -> (String, Result<i32, String>) {
    match &cli.cmd {
        Front::Supervise { id, fd } => {
            // fd 3 is the box's lock: keep it, but not in the children.
            // SAFETY: fcntl on a plain fd number; a bad fd only fails.
            unsafe { libc::fcntl(3, libc::F_SETFD, libc::FD_CLOEXEC) };
            if !ward_box::boxes::valid_id(id) {
                return ("supervise".into(), Err(format!("{id}: not a box ID")));
            }
            let c = match ctx(&cli) {
                Ok(c) => c,
                Err(e) => return ("supervise".into(), Err(e)),
            };
            (
                "supervise".into(),
                Ok(ward_box::boxes::supervisor::main(&c, id, *fd)),
            )
        }
        Front::Userns { data, merged, argv } => (
            "box".into(),
            ward_box::boxes::userns::main(data, merged, argv),
        ),
        Front::Box { verb } => box_verb(&cli, verb, raw),
        Front::Image { verb } => image_verb(&cli, verb),
        Front::Network { verb } => network_verb(&cli, verb),
        Front::Pasta { boxdir, publish } => (
            "box (pasta hook)".into(),
            publish
                .iter()
                .map(|p| PortMap::parse(p))
                .collect::<Result<Vec<_>, _>>()
                .and_then(|ports| ward_box::net::pasta::hook(boxdir, &ports))
                .map(|_| 0),
        ),
    }
}

fn box_verb(cli: &Cli, verb: &BoxVerb, raw: &[String]) -> (String, Result<i32, String>) {
    let c = match ctx(cli) {
        Ok(c) => c,
        Err(e) => return ("box".into(), Err(e)),
    };
    match verb {
        BoxVerb::Run(a) => {
            // Words that came after a `--` with nothing before them: no image.
            let dashdash = raw.iter().position(|w| w == "--");
            let after = dashdash.map(|i| raw.len() - i - 1).unwrap_or(0);
            let (image, command) =
                if a.rootfs.is_some() || (dashdash.is_some() && after >= a.words.len()) {
                    (None, a.words.clone())
                } else if let Some((first, rest)) = a.words.split_first() {
                    let rest: Vec<String> = rest
                        .iter()
                        .skip_while(|w| w.as_str() == "--")
                        .cloned()
                        .collect();
                    (Some(first.clone()), rest)
                } else {
                    (None, vec![])
                };
            let what = format!(
                "box run {}",
                image.clone().unwrap_or_else(|| a
                    .rootfs
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "(host)".into()))
            );
            let pull = match a.pull.options() {
                Ok(p) => p,
                Err(e) => return (what, Err(e)),
            };
            let netopts = match netopts(a) {
                Ok(n) => n,
                Err(e) => return (what, Err(e)),
            };
            let req = RunRequest {
                name: a.name.clone(),
                auto_remove: a.rm,
                detach: a.detach,
                interactive: a.interactive,
                net: a.net.clone(),
                netopts,
                rootfs: a.rootfs.clone(),
                image,
                command,
                quiet: a.quiet,
                pull,
                flags: RunFlags {
                    tty: a.tty,
                    env: a.env.clone(),
                    workdir: a.workdir.clone(),
                    user: a.user.clone(),
                    volumes: a.volume.clone(),
                    tmpfs: a.tmpfs.clone(),
                    read_only: a.read_only,
                    cap_add: a.cap_add.clone(),
                    cap_drop: a.cap_drop.clone(),
                    hostname: a.hostname.clone(),
                    memory: a.memory.clone(),
                    cpus: a.cpus,
                    pids: a.pids,
                    io_weight: a.io_weight,
                    entrypoint: a.entrypoint.clone(),
                },
            };
            (what, lifecycle::run(&c, req))
        }
        BoxVerb::Ls { format, quiet } => (
            "box ls".into(),
            lifecycle::ls(&c, format == "json", *quiet).map(|_| 0),
        ),
        BoxVerb::Stop { time, boxes } => each("box stop", boxes, |b| {
            lifecycle::stop(&c, b, Duration::from_secs(*time))?;
            println!("{b}");
            Ok(())
        }),
        BoxVerb::Start { boxes } => each("box start", boxes, |b| {
            lifecycle::start(&c, b)?;
            println!("{b}");
            Ok(())
        }),
        BoxVerb::Rm { force, boxes } => each("box rm", boxes, |b| {
            lifecycle::rm(&c, b, *force)?;
            println!("{b}");
            Ok(())
        }),
        BoxVerb::Exec {
            interactive,
            tty,
            env,
            workdir,
            user,
            target,
            command,
        } => (
            format!("box exec {target}"),
            lifecycle::exec(
                &c,
                target,
                *tty,
                *interactive,
                env,
                workdir.as_deref(),
                user.as_deref(),
                command,
            ),
        ),
        BoxVerb::Logs { follow, target } => (
            format!("box logs {target}"),
            lifecycle::logs(&c, target, *follow).map(|_| 0),
        ),
        BoxVerb::Inspect { boxes } => {
            let mut out = Vec::new();
            for b in boxes {
                match c
                    .boxes
                    .find(b)
                    .and_then(|id| lifecycle::inspect_json(&c, &id))
                {
                    Ok(v) => out.push(v),
                    Err(e) => return (format!("box inspect {b}"), Err(e)),
                }
            }
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            ("box inspect".into(), Ok(0))
        }
        BoxVerb::Update {
            net_rate,
            net_rate_in,
            net_rate_out,
            target,
        } => {
            let what = format!("box update {target}");
            let res = (|| {
                if net_rate.is_none() && net_rate_in.is_none() && net_rate_out.is_none() {
                    return Err(
                        "nothing to change: --net-rate, --net-rate-in or --net-rate-out".into(),
                    );
                }
                let zero = |v: &Option<String>| v.as_deref().map(str::trim) == Some("0");
                let keep = |v: &Option<String>| if zero(v) { None } else { v.clone() };
                let (rin, rout) = rates(&keep(net_rate), &keep(net_rate_in), &keep(net_rate_out))?;
                // "0" removes a direction's cap; a direction not named keeps its own.
                let set_in = net_rate.is_some() || net_rate_in.is_some();
                let set_out = net_rate.is_some() || net_rate_out.is_some();
                netverbs::update_rate(&c, target, set_in.then_some(rin), set_out.then_some(rout))?;
                println!("{target}");
                Ok(0)
            })();
            (what, res)
        }
    }
}

fn network_verb(cli: &Cli, verb: &NetVerb) -> (String, Result<i32, String>) {
    let c = match ctx(cli) {
        Ok(c) => c,
        Err(e) => return ("network".into(), Err(e)),
    };
    match verb {
        NetVerb::Create {
            subnet,
            gateway,
            internal,
            disable_dns,
            bridge,
            name,
        } => {
            let opts = ward_box::net::networks::CreateOpts {
                subnet: subnet.clone(),
                gateway: gateway.clone(),
                internal: *internal,
                dns: !*disable_dns,
                bridge: bridge.clone(),
            };
            (
                format!("network create {name}"),
                c.networks.create(name, &opts).map(|n| {
                    println!("{}", n.name);
                    0
                }),
            )
        }
        NetVerb::Ls { format, quiet } => (
            "network ls".into(),
            netverbs::network_ls(&c, format == "json", *quiet).map(|_| 0),
        ),
        NetVerb::Inspect { networks } => (
            "network inspect".into(),
            netverbs::network_inspect(&c, networks).map(|_| 0),
        ),
        NetVerb::Rm { force, networks } => each("network rm", networks, |n| {
            netverbs::network_rm(&c, n, *force)?;
            println!("{n}");
            Ok(())
        }),
        NetVerb::Check { boxes } => (
            "network check".into(),
            netverbs::network_check(&c, boxes).map(|lines| {
                let bad = lines.iter().any(|(ok, _)| !ok);
                for (_, l) in lines {
                    println!("{l}");
                }
                i32::from(bad)
            }),
        ),
        NetVerb::Prune => (
            "network prune".into(),
            netverbs::network_prune(&c).map(|lines| {
                for l in lines {
                    println!("{l}");
                }
                0
            }),
        ),
    }
}

/// Runs `f` on each target; the first error is reported with its target.
fn each(
    verb: &str,
    targets: &[String],
    mut f: impl FnMut(&str) -> Result<(), String>,
) -> (String, Result<i32, String>) {
    for t in targets {
        if let Err(e) = f(t) {
            return (format!("{verb} {t}"), Err(e));
        }
    }
    (verb.into(), Ok(0))
}

fn image_verb(cli: &Cli, verb: &ImageVerb) -> (String, Result<i32, String>) {
    let c = match ctx(cli) {
        Ok(c) => c,
        Err(e) => return ("image".into(), Err(e)),
    };
    match verb {
        ImageVerb::Pull {
            quiet,
            pull,
            reference,
        } => {
            let what = format!("image pull {reference}");
            let res = (|| {
                let opts = pull.options()?;
                let progress = Progress::new(*quiet, &format!("ward: {what}"));
                let rec = if ["oci:", "oci-archive:", "docker-archive:"]
                    .iter()
                    .any(|p| reference.starts_with(p))
                {
                    let src = image::local::open(reference)?;
                    image::pull(&c.store, src.as_ref(), vec![], &progress)?
                } else {
                    let src = image::registry::Registry::open(reference, &opts)?;
                    let name = src.name();
                    image::pull(&c.store, &src, vec![name], &progress)?
                };
                println!("{}", rec.id);
                Ok(0)
            })();
            (what, res)
        }
        ImageVerb::Import {
            quiet,
            source,
            name,
        } => {
            let what = format!("image import {source}");
            let res = (|| {
                let src = image::local::open(source)?;
                let progress = Progress::new(*quiet, &format!("ward: {what}"));
                let names = name
                    .iter()
                    .map(|n| image::reference::local_name(n))
                    .collect::<Result<Vec<_>, _>>()?;
                let rec = image::pull(&c.store, src.as_ref(), names, &progress)?;
                println!("{}", rec.id);
                Ok(0)
            })();
            (what, res)
        }
        ImageVerb::Ls { format, quiet } => {
            let res = c.store.images().map_err(|e| e.to_string()).map(|imgs| {
                if *quiet {
                    for i in &imgs {
                        println!("{}", i.id.short());
                    }
                } else if format == "json" {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&imgs).unwrap_or_default()
                    );
                } else {
                    println!(
                        "{:<12}  {:<50}  {:>7}  {:>10}",
                        "ID", "NAME", "LAYERS", "SIZE"
                    );
                    for i in &imgs {
                        let names = if i.names.is_empty() {
                            "<none>".to_string()
                        } else {
                            i.names.join(", ")
                        };
                        println!(
                            "{:<12}  {:<50}  {:>7}  {:>10}",
                            i.id.short(),
                            names,
                            i.layers.len(),
                            human(i.size)
                        );
                    }
                }
                0
            });
            ("image ls".into(), res)
        }
        ImageVerb::Rm { images } => each("image rm", images, |what| {
            let rec = c
                .store
                .find_image(what)
                .map_err(|e| e.to_string())?
                .ok_or("no such image")?;
            let users = lifecycle::boxes_using(&c, &rec.id);
            if !users.is_empty() {
                return Err(format!(
                    "in use by box(es) {}: remove them first",
                    users.join(", ")
                ));
            }
            {
                let _l = c.store.lock().map_err(|e| e.to_string())?;
                let mut all = c.store.images().map_err(|e| e.to_string())?;
                all.retain(|r| r.id != rec.id);
                c.store.save_images(&all).map_err(|e| e.to_string())?;
            }
            c.store
                .gc(&lifecycle::layers_in_use(&c))
                .map_err(|e| e.to_string())?;
            println!("{}", rec.id);
            Ok(())
        }),
        ImageVerb::Prune => {
            let res = c
                .store
                .gc(&lifecycle::layers_in_use(&c))
                .map_err(|e| e.to_string())
                .map(|(n, bytes)| {
                    println!("removed {n} unused layer(s), {} freed", human(bytes));
                    0
                });
            ("image prune".into(), res)
        }
    }
}
