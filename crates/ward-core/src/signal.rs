//! Signal names and numbers as used on ward's command line (`ward kill`):
//! parsing `9`, `KILL`, `sigterm`, `RTMIN+3`, ... into a signal number, and
//! turning a number back into its conventional name.

use std::str::FromStr;

use nix::sys::signal::Signal;

/// A signal specification that is not a valid signal on this system.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid signal {input:?}")]
pub struct SignalError {
    /// The text that was rejected, exactly as given.
    pub input: String,
}

/// Lowest real-time signal number usable by applications (libc's view).
fn rt_min() -> i32 {
    libc::SIGRTMIN()
}

/// Highest valid signal number.
fn rt_max() -> i32 {
    libc::SIGRTMAX()
}

/// Historical alternative names that the kernel headers also define.
const ALIASES: &[(&str, Signal)] = &[
    ("IOT", Signal::SIGABRT),
    ("CLD", Signal::SIGCHLD),
    ("POLL", Signal::SIGIO),
];

/// Parse a string of ASCII digits (no sign, no whitespace) as an `i32`.
fn parse_digits(s: &str) -> Option<i32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `RTMIN`, `RTMIN+n`, `RTMAX`, `RTMAX-n` (already upper-cased, no `SIG`).
fn parse_realtime(name: &str) -> Option<i32> {
    let (min, max) = (rt_min(), rt_max());
    let sig = if let Some(rest) = name.strip_prefix("RTMIN") {
        match rest.strip_prefix('+') {
            None if rest.is_empty() => min,
            Some(n) => min.checked_add(parse_digits(n)?)?,
            None => return None,
        }
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        match rest.strip_prefix('-') {
            None if rest.is_empty() => max,
            Some(n) => max.checked_sub(parse_digits(n)?)?,
            None => return None,
        }
    } else {
        return None;
    };
    (min..=max).contains(&sig).then_some(sig)
}

/// Parse a signal given as a number (`"9"`, `0..=SIGRTMAX`, including
/// real-time signals; 0 is kill(2)'s "is it alive" check, which runc and
/// crun accept too), as a name with or without the `SIG` prefix in any
/// letter case (`"KILL"`, `"SIGKILL"`, `"kill"`, `"term"`), or as a real-time
/// offset (`"RTMIN"`, `"RTMIN+3"`, `"RTMAX-2"`).
pub fn parse_signal(s: &str) -> Result<i32, SignalError> {
    let invalid = || SignalError {
        input: s.to_owned(),
    };

    if let Some(n) = parse_digits(s) {
        return if (0..=rt_max()).contains(&n) {
            Ok(n)
        } else {
            Err(invalid())
        };
    }

    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if name.is_empty() {
        return Err(invalid());
    }
    if let Some(sig) = parse_realtime(name) {
        return Ok(sig);
    }
    if let Some((_, sig)) = ALIASES.iter().find(|(alias, _)| *alias == name) {
        return Ok(*sig as i32);
    }
    // nix's table only has the names that exist on the target architecture.
    Signal::from_str(&format!("SIG{name}"))
        .map(|sig| sig as i32)
        .map_err(|_| invalid())
}

/// The conventional name of signal number `sig`: `"SIGKILL"` for standard
/// signals, `"SIGRTMIN"`, `"SIGRTMIN+n"`, `"SIGRTMAX-n"`, `"SIGRTMAX"` for
/// real-time ones (the lower half counted from `SIGRTMIN`, the upper half
/// from `SIGRTMAX`, as `kill -l` does), and `"SIG<n>"` for anything else
/// (e.g. the glibc-reserved 32 and 33, or out-of-range numbers).
pub fn signal_name(sig: i32) -> String {
    if let Ok(s) = Signal::try_from(sig) {
        return s.as_str().to_owned();
    }
    let (min, max) = (rt_min(), rt_max());
    if (min..=max).contains(&sig) {
        let from_min = sig - min;
        let from_max = max - sig;
        return match (from_min, from_max) {
            (0, _) => "SIGRTMIN".to_owned(),
            (_, 0) => "SIGRTMAX".to_owned(),
            _ if from_min <= (max - min) / 2 => format!("SIGRTMIN+{from_min}"),
            _ => format!("SIGRTMAX-{from_max}"),
        };
    }
    format!("SIG{sig}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_signal("0"), Ok(0));
        assert_eq!(parse_signal("9"), Ok(9));
        assert_eq!(parse_signal("1"), Ok(1));
        assert_eq!(parse_signal("15"), Ok(15));
        assert_eq!(parse_signal("34"), Ok(34));
        assert_eq!(parse_signal("64"), Ok(rt_max().min(64)));
        assert_eq!(parse_signal(&rt_max().to_string()), Ok(rt_max()));
        assert_eq!(parse_signal("009"), Ok(9));
    }

    #[test]
    fn names_any_case_with_or_without_prefix() {
        for s in ["KILL", "SIGKILL", "kill", "sigkill", "SigKill"] {
            assert_eq!(parse_signal(s), Ok(libc::SIGKILL), "{s}");
        }
        assert_eq!(parse_signal("term"), Ok(libc::SIGTERM));
        assert_eq!(parse_signal("SIGTERM"), Ok(libc::SIGTERM));
        assert_eq!(parse_signal("hup"), Ok(libc::SIGHUP));
        assert_eq!(parse_signal("USR1"), Ok(libc::SIGUSR1));
        assert_eq!(parse_signal("sigusr2"), Ok(libc::SIGUSR2));
        assert_eq!(parse_signal("WINCH"), Ok(libc::SIGWINCH));
        assert_eq!(parse_signal("CHLD"), Ok(libc::SIGCHLD));
        assert_eq!(parse_signal("SIGSYS"), Ok(libc::SIGSYS));
    }

    #[test]
    fn aliases() {
        assert_eq!(parse_signal("IOT"), Ok(libc::SIGABRT));
        assert_eq!(parse_signal("SIGCLD"), Ok(libc::SIGCHLD));
        assert_eq!(parse_signal("poll"), Ok(libc::SIGIO));
    }

    #[test]
    fn realtime() {
        let (min, max) = (rt_min(), rt_max());
        assert_eq!(parse_signal("RTMIN"), Ok(min));
        assert_eq!(parse_signal("SIGRTMIN"), Ok(min));
        assert_eq!(parse_signal("rtmin+3"), Ok(min + 3));
        assert_eq!(parse_signal("RTMIN+0"), Ok(min));
        assert_eq!(parse_signal("RTMAX"), Ok(max));
        assert_eq!(parse_signal("SIGRTMAX-2"), Ok(max - 2));
        assert_eq!(parse_signal(&format!("RTMIN+{}", max - min)), Ok(max));
        assert_eq!(parse_signal(&format!("RTMAX-{}", max - min)), Ok(min));
        // Out of the real-time range, malformed offsets.
        for bad in [
            format!("RTMIN+{}", max - min + 1),
            format!("RTMAX-{}", max - min + 1),
            "RTMIN-1".to_owned(),
            "RTMAX+1".to_owned(),
            "RTMIN+".to_owned(),
            "RTMIN+-1".to_owned(),
            "RTMIN+ 1".to_owned(),
            "RTMIN3".to_owned(),
            "RTMIN+99999999999".to_owned(),
        ] {
            assert!(parse_signal(&bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn rejects() {
        for bad in [
            "65",
            "",
            "FOO",
            "SIG",
            "SIGSIGKILL",
            "-9",
            "+9",
            " 9",
            "9 ",
            "KILL ",
            "99999999999",
            "SIGRT",
            "1.5",
        ] {
            let err = parse_signal(bad).unwrap_err();
            assert_eq!(err.input, bad);
        }
        assert_eq!(
            parse_signal(&(rt_max() + 1).to_string()).unwrap_err().input,
            (rt_max() + 1).to_string()
        );
    }

    #[test]
    fn error_names_input() {
        assert_eq!(
            parse_signal("FOO").unwrap_err().to_string(),
            r#"invalid signal "FOO""#
        );
        assert_eq!(
            parse_signal("").unwrap_err().to_string(),
            r#"invalid signal """#
        );
        assert_eq!(
            parse_signal("65").unwrap_err().to_string(),
            r#"invalid signal "65""#
        );
    }

    #[test]
    fn names() {
        assert_eq!(signal_name(libc::SIGKILL), "SIGKILL");
        assert_eq!(signal_name(libc::SIGTERM), "SIGTERM");
        assert_eq!(signal_name(libc::SIGHUP), "SIGHUP");
        let (min, max) = (rt_min(), rt_max());
        assert_eq!(signal_name(min), "SIGRTMIN");
        assert_eq!(signal_name(min + 1), "SIGRTMIN+1");
        assert_eq!(signal_name(max), "SIGRTMAX");
        assert_eq!(signal_name(max - 1), "SIGRTMAX-1");
        assert_eq!(signal_name(0), "SIG0");
        assert_eq!(signal_name(max + 1), format!("SIG{}", max + 1));
        assert_eq!(signal_name(-3), "SIG-3");
    }

    #[test]
    fn names_match_kill_l_on_glibc_layout() {
        // With the usual Linux layout (34..=64) this is what `kill -l` prints.
        if (rt_min(), rt_max()) == (34, 64) {
            assert_eq!(signal_name(49), "SIGRTMIN+15");
            assert_eq!(signal_name(50), "SIGRTMAX-14");
            assert_eq!(signal_name(32), "SIG32");
        }
    }

    #[test]
    fn name_round_trip() {
        for sig in 1..=rt_max() {
            let name = signal_name(sig);
            if name == format!("SIG{sig}") {
                // Unnamed (libc-reserved) signals are still reachable by number.
                assert_eq!(parse_signal(&sig.to_string()), Ok(sig));
                continue;
            }
            assert_eq!(parse_signal(&name), Ok(sig), "{name}");
            assert_eq!(parse_signal(&name[3..].to_lowercase()), Ok(sig), "{name}");
        }
    }
}
