//! The help and usage texts, rendered from the tables only when asked for.

use std::fmt::Write as _;

use super::table::{GLOBAL, SUBS};
use super::{show, Opt, Sub};

pub(super) fn usage(sub: Option<&Sub>) -> String {
    let Some(s) = sub else {
        return "ward [OPTIONS] <COMMAND>".to_string();
    };
    let mut u = format!("ward {} [OPTIONS]", s.name);
    for (i, a) in s.args.iter().enumerate() {
        let _ = match (s.trailing && i + 1 == s.args.len(), a.default.is_empty()) {
            (true, _) => write!(u, " [{}]...", a.name),
            (false, true) => write!(u, " <{}>", a.name),
            (false, false) => write!(u, " [{}]", a.name),
        };
    }
    u
}

/// The help of `ward` or of one subcommand.
pub(super) fn help(sub: Option<&Sub>) -> String {
    let mut h = format!(
        "{}\n\nUsage: {}\n",
        sub.map_or("A Linux container runtime (OCI, runc-compatible)", |s| s
            .about),
        usage(sub)
    );
    let mut opts: Vec<(String, String)> = Vec::new();
    match sub {
        None => {
            let mut cmds: Vec<(String, String)> = SUBS
                .iter()
                .map(|s| {
                    let about = match s.alias {
                        "" => s.about.to_string(),
                        a => format!("{} [alias: {a}]", s.about),
                    };
                    (s.name.to_string(), about)
                })
                .collect();
            cmds.push((
                "help".into(),
                "Print this message or the help of the given subcommand".into(),
            ));
            section(&mut h, "Commands", &cmds);
        }
        Some(s) => {
            let args: Vec<(String, String)> = s
                .args
                .iter()
                .map(|a| {
                    let mut text = a.help.to_string();
                    if !a.default.is_empty() {
                        let _ = write!(text, " [default: {}]", a.default);
                    }
                    (format!("<{}>", a.name), text)
                })
                .collect();
            section(&mut h, "Arguments", &args);
            opts.extend(s.opts.iter().flat_map(|t| t.iter()).filter_map(opt_row));
        }
    }
    opts.extend(GLOBAL.iter().filter_map(opt_row));
    opts.push(("-h, --help".into(), "Print help".into()));
    if sub.is_none() {
        opts.push(("-V, --version".into(), "Print version".into()));
    }
    section(&mut h, "Options", &opts);
    h
}

fn opt_row(o: &Opt) -> Option<(String, String)> {
    if o.hidden {
        return None;
    }
    let short = match o.short {
        0 => "    ".to_string(),
        c => format!("-{}, ", c as char),
    };
    let mut text = o.help.to_string();
    if !o.alias.is_empty() {
        let _ = write!(text, " [alias: --{}]", o.alias);
    }
    if !o.default.is_empty() {
        let _ = write!(text, " [default: {}]", o.default);
    }
    if !o.choices.is_empty() {
        let _ = write!(text, " [possible values: {}]", o.choices.join(", "));
    }
    Some((format!("{short}{}", show(o)), text))
}

fn section(h: &mut String, title: &str, rows: &[(String, String)]) {
    if rows.is_empty() {
        return;
    }
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let _ = write!(h, "\n{title}:\n");
    for (left, right) in rows {
        let _ = writeln!(h, "  {left:w$}  {right}");
    }
}
