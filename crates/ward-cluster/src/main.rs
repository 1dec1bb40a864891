//! ward-cluster: `ward migrate ...` and `ward cluster ...` (ward execs
//! this binary with the verb as its first argument). Errors are one line
//! on stderr: `ward: <verb> <target>: <what failed>: <why>`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use ward_cluster::cluster;
use ward_cluster::hosts;
use ward_cluster::migrate::{self, Strategy};
use ward_cluster::receive;
use ward_cluster::runtime::{find_ward, Runtime};
use ward_cluster::ssh;

#[derive(Parser)]
#[command(
    name = "ward",
    about = "ward beyond one machine: migrate and cluster",
    version
)]
struct Cli {
    #[command(subcommand)]
    cmd: Front,
}

#[derive(Args, Clone)]
struct Local {
    /// The runtime's state directory here (ward's --root).
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// The criu binary here (ward's --criu).
    #[arg(long, global = true)]
    criu: Option<PathBuf>,
    /// The hosts file (default $WARD_HOSTS, else /etc/ward/hosts).
    #[arg(long, global = true)]
    hosts: Option<PathBuf>,
    /// An ssh config file for every connection (default $WARD_SSH_CONFIG, else ssh's own).
    #[arg(long, global = true)]
    ssh_config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Front {
    /// Move a running container to another host, with its memory, IP and connections.
    Migrate(MigrateArgs),
    /// The containers of every host in the hosts file.
    Cluster {
        #[command(subcommand)]
        verb: ClusterVerb,
        #[command(flatten)]
        local: Local,
    },
}

#[derive(Args)]
struct MigrateArgs {
    /// The container.
    id: String,
    /// ssh://[user@]host[:port], or a name from the hosts file.
    dest: Option<String>,
    /// `auto`: the least-loaded host of the hosts file (free memory, load).
    #[arg(long)]
    to: Option<String>,
    /// stop-and-copy or pre-copy (default pre-copy: see docs/migration.md).
    #[arg(long, default_value = "pre-copy")]
    strategy: String,
    /// At most this many pre-copy rounds.
    #[arg(long, default_value_t = 4)]
    rounds: u32,
    /// Write the memory here, then send it over the channel, instead of
    /// streaming it to CRIU's page server on the destination.
    #[arg(long)]
    no_page_stream: bool,
    /// Keep the images here after a migration.
    #[arg(long)]
    keep_images: bool,
    /// Send the bundle (config.json and rootfs) too; a writable rootfs's
    /// changes after the freeze go again. Nothing may be at its path there.
    #[arg(long)]
    copy_rootfs: bool,
    /// Where the images are written here.
    #[arg(long, default_value = "/var/lib/ward/migrate")]
    image_dir: PathBuf,
    /// The bundle's path on the destination (default: the same as here).
    #[arg(long)]
    dest_bundle: Option<String>,
    /// The runtime binary on the destination (for an ssh:// DEST).
    #[arg(long)]
    remote_ward: Option<String>,
    /// The runtime's --root on the destination (for an ssh:// DEST).
    #[arg(long)]
    remote_root: Option<String>,
    /// Where the images land on the destination (for an ssh:// DEST).
    #[arg(long)]
    remote_work: Option<String>,
    /// table (a progress line and a summary on stderr) or json (also a final record on stdout).
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
    /// No progress on stderr.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    local: Local,
}

#[derive(Subcommand)]
enum ClusterVerb {
    /// List the containers of every host, asked in parallel.
    Ps {
        #[arg(long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
    },
    /// Send a signal to HOST/ID.
    Kill {
        target: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Run a command in HOST/ID.
    Exec {
        target: String,
        #[arg(trailing_var_arg = true, required = true, allow_hyphen_values = true)]
        cmd: Vec<String>,
    },
    #[command(name = "__receive", hide = true)]
    Receive {
        #[arg(long)]
        work: Option<PathBuf>,
    },
    #[command(name = "__node", hide = true)]
    Node,
    #[command(name = "__guard", hide = true)]
    Guard {
        #[arg(long)]
        ward: PathBuf,
        #[arg(long)]
        work: PathBuf,
        #[arg(long)]
        bundle: PathBuf,
        id: String,
    },
}

fn runtime(l: &Local) -> Runtime {
    Runtime {
        bin: find_ward(),
        root: l.root.clone(),
        criu: l.criu.clone(),
    }
}

fn fail(what: &str, why: impl std::fmt::Display) -> ! {
    eprintln!("ward: {what}: {why}");
    std::process::exit(1)
}

fn main() {
    let cli = Cli::parse();
    match cli.cmd {
        Front::Migrate(a) => std::process::exit(do_migrate(a)),
        Front::Cluster { verb, local } => std::process::exit(do_cluster(verb, &local)),
    }
}

fn ssh_cfg(l: &Local) -> Option<PathBuf> {
    l.ssh_config.clone().or_else(ssh::ssh_config)
}

fn do_migrate(a: MigrateArgs) -> i32 {
    let what = format!("migrate {}", a.id);
    if let Err(e) = ward_core::id::validate_id(&a.id) {
        fail(&what, e);
    }
    let strategy = Strategy::parse(&a.strategy).unwrap_or_else(|e| fail(&what, e));
    let rt = runtime(&a.local);
    let cfg = ssh_cfg(&a.local);
    let dest = match (&a.dest, a.to.as_deref()) {
        (Some(_), Some(_)) => fail(&what, "give DEST or --to auto, not both"),
        (None, None) => fail(
            &what,
            "no destination: give DEST (ssh://... or a host's name) or --to auto",
        ),
        (None, Some("auto")) => {
            let hs = hosts::load(a.local.hosts.as_deref()).unwrap_or_else(|e| fail(&what, e));
            if hs.is_empty() {
                fail(
                    &what,
                    format!(
                        "--to auto: no hosts in {}",
                        hosts::path(a.local.hosts.as_deref()).display()
                    ),
                );
            }
            let rows = cluster::query_all(&hs, cfg.as_ref());
            match cluster::pick(&rows, &a.id) {
                Some(h) => {
                    if !a.quiet {
                        eprintln!("migrate {}: --to auto chose {}", a.id, h.name);
                    }
                    h.clone()
                }
                None => fail(
                    &what,
                    "--to auto: no host answered that doesn't hold it already",
                ),
            }
        }
        (None, Some(t)) => fail(&what, format!("--to {t:?}: only auto (or give DEST)")),
        (Some(d), None) => {
            hosts::resolve(d, a.local.hosts.as_deref()).unwrap_or_else(|e| fail(&what, e))
        }
    };
    let mut dest = dest;
    if let Some(w) = a.remote_ward {
        dest.ward = w;
    }
    if let Some(r) = a.remote_root {
        dest.root = Some(r);
    }
    if let Some(w) = a.remote_work {
        dest.work = Some(w);
    }
    let o = migrate::Opts {
        id: a.id.clone(),
        dest,
        strategy,
        tcp: true,
        keep_images: a.keep_images,
        image_dir: a.image_dir,
        ssh_config: cfg,
        dest_bundle: a.dest_bundle,
        max_rounds: a.rounds.max(1),
        quiet: a.quiet,
        copy_rootfs: a.copy_rootfs,
        page_stream: !a.no_page_stream,
    };
    match migrate::migrate(&rt, &o) {
        Ok(rec) => {
            if a.format == "json" {
                println!("{}", serde_json::to_string(&rec).expect("record"));
            }
            0
        }
        Err(e) => fail(&what, e),
    }
}

fn do_cluster(verb: ClusterVerb, l: &Local) -> i32 {
    let rt = runtime(l);
    let cfg = ssh_cfg(l);
    let host_of = |what: &str, name: &str| -> hosts::Host {
        hosts::resolve(name, l.hosts.as_deref()).unwrap_or_else(|e| fail(what, e))
    };
    match verb {
        ClusterVerb::Ps { format } => {
            let hs = hosts::load(l.hosts.as_deref()).unwrap_or_else(|e| fail("cluster ps", e));
            if hs.is_empty() {
                fail(
                    "cluster ps",
                    format!("no hosts in {}", hosts::path(l.hosts.as_deref()).display()),
                );
            }
            let rows = cluster::query_all(&hs, cfg.as_ref());
            if format == "json" {
                let v: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|(h, r)| match r {
                        Ok(n) => serde_json::json!({"host": h.name, "node": n}),
                        Err(e) => serde_json::json!({"host": h.name, "error": e}),
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(v));
            } else {
                print!("{}", cluster::table(&rows));
            }
            0
        }
        ClusterVerb::Kill { target, signal } => {
            let what = format!("cluster kill {target}");
            let (h, id) = cluster::split_target(&target).unwrap_or_else(|e| fail(&what, e));
            let h = host_of(&what, h);
            let argv = cluster::remote_ward(&h, &["kill", id, &signal]);
            match ssh::run(&h, cfg.as_ref(), &argv, std::time::Duration::from_secs(60)) {
                Ok(_) => 0,
                Err(e) => fail(&what, e.strip_prefix("ward: ").unwrap_or(&e)),
            }
        }
        ClusterVerb::Exec { target, cmd } => {
            let what = format!("cluster exec {target}");
            let (h, id) = cluster::split_target(&target).unwrap_or_else(|e| fail(&what, e));
            let h = host_of(&what, h);
            let mut args = vec!["exec", id, "--"];
            args.extend(cmd.iter().map(String::as_str));
            let argv = cluster::remote_ward(&h, &args);
            // The command's own stdio and exit code, as `ward exec` here.
            let st = ssh::command(&h, cfg.as_ref(), &argv)
                .status()
                .unwrap_or_else(|e| fail(&what, format!("ssh: {e}")));
            match st.code() {
                Some(255) => fail(&what, "ssh failed (its reason is above)"),
                Some(c) => c,
                None => 1,
            }
        }
        ClusterVerb::Receive { work } => {
            let work = work.unwrap_or_else(|| PathBuf::from(receive::DEFAULT_WORK));
            receive::receive(&rt, &work)
        }
        ClusterVerb::Node => match cluster::node(&rt) {
            Ok(n) => {
                println!("{}", serde_json::to_string(&n).expect("node"));
                0
            }
            Err(e) => fail("cluster node", e),
        },
        ClusterVerb::Guard {
            ward,
            work,
            bundle,
            id,
        } => {
            let rt = Runtime { bin: ward, ..rt };
            receive::guard(&rt, &id, &work, &bundle)
        }
    }
}
