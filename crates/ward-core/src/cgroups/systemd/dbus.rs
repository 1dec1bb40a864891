//! A small synchronous D-Bus client, just enough to ask systemd for
//! transient units: SASL EXTERNAL over a unix socket, method calls, their
//! replies and errors, and the JobRemoved signal. It starts no thread and
//! allocates nothing after a fork (it runs in ward's parent only), so
//! ward-core's single-thread rule holds.
//!
//! It speaks to systemd's private socket (/run/systemd/private for the
//! system instance, $XDG_RUNTIME_DIR/systemd/private for a user's): a
//! direct connection to the manager, without a bus daemon (so no Hello,
//! and no dbus-daemon or dbus-broker needed), on which systemd sends its
//! signals to every client without a subscription.
//!
//! Only little-endian messages are written and read (systemd writes its
//! host's order; every architecture ward builds for is little-endian).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// What can go wrong talking to systemd.
#[derive(Debug, thiserror::Error)]
pub enum DbusError {
    #[error("connect to {path}: {source}")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("D-Bus: {0}")]
    Io(#[from] std::io::Error),
    #[error("D-Bus authentication refused: {0:?}")]
    Auth(String),
    #[error("D-Bus: malformed message: {0}")]
    Malformed(&'static str),
    /// systemd said no: the error's name and message.
    #[error("{message} ({name})")]
    Remote { name: String, message: String },
}

impl DbusError {
    /// The remote error's name, if it is one.
    pub fn name(&self) -> Option<&str> {
        match self {
            DbusError::Remote { name, .. } => Some(name),
            _ => None,
        }
    }
}

type Result<T> = std::result::Result<T, DbusError>;

/// A value of a unit property (the `v` of `a(sv)`), in the types systemd's
/// resource properties use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    U64(u64),
    Str(String),
    /// `ay`: AllowedCPUs, AllowedMemoryNodes (a bit mask, byte 0 first).
    Bytes(Vec<u8>),
    /// `au`: PIDs.
    U32s(Vec<u32>),
    /// `a(ss)`: DeviceAllow (path or class, access).
    StrPairs(Vec<(String, String)>),
    /// `a(st)`: IOReadBandwidthMax and the like (device path, value).
    StrU64s(Vec<(String, u64)>),
}

impl Value {
    fn signature(&self) -> &'static str {
        match self {
            Value::Bool(_) => "b",
            Value::U64(_) => "t",
            Value::Str(_) => "s",
            Value::Bytes(_) => "ay",
            Value::U32s(_) => "au",
            Value::StrPairs(_) => "a(ss)",
            Value::StrU64s(_) => "a(st)",
        }
    }
}

/// A message body or header being written; offsets are from its start,
/// which is 8-aligned in the message.
#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn align(&mut self, n: usize) {
        while !self.buf.len().is_multiple_of(n) {
            self.buf.push(0);
        }
    }
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.align(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.align(8);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn bool(&mut self, v: bool) {
        self.u32(v as u32);
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }
    fn sig(&mut self, s: &str) {
        self.u8(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }
    /// An array whose elements align to `elem_align`; `f` writes them.
    fn array(&mut self, elem_align: usize, f: impl FnOnce(&mut Writer)) {
        self.align(4);
        let at = self.buf.len();
        self.u32(0);
        self.align(elem_align);
        let start = self.buf.len();
        f(self);
        let len = (self.buf.len() - start) as u32;
        self.buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }
    fn variant(&mut self, v: &Value) {
        self.sig(v.signature());
        match v {
            Value::Bool(b) => self.bool(*b),
            Value::U64(n) => self.u64(*n),
            Value::Str(s) => self.str(s),
            Value::Bytes(b) => self.array(1, |w| w.buf.extend_from_slice(b)),
            Value::U32s(l) => self.array(4, |w| l.iter().for_each(|n| w.u32(*n))),
            Value::StrPairs(l) => self.array(8, |w| {
                for (a, b) in l {
                    w.align(8);
                    w.str(a);
                    w.str(b);
                }
            }),
            Value::StrU64s(l) => self.array(8, |w| {
                for (a, n) in l {
                    w.align(8);
                    w.str(a);
                    w.u64(*n);
                }
            }),
        }
    }
    /// `a(sv)`.
    fn properties(&mut self, props: &[(&str, Value)]) {
        self.array(8, |w| {
            for (name, v) in props {
                w.align(8);
                w.str(name);
                w.variant(v);
            }
        });
    }
}

/// A body argument of the calls ward makes.
pub enum Arg<'a> {
    Str(&'a str),
    Bool(bool),
    Props(&'a [(&'a str, Value)]),
    /// `a(sa(sv))`, always empty here (StartTransientUnit's aux units).
    NoAux,
}

impl Arg<'_> {
    fn signature(&self) -> &'static str {
        match self {
            Arg::Str(_) => "s",
            Arg::Bool(_) => "b",
            Arg::Props(_) => "a(sv)",
            Arg::NoAux => "a(sa(sv))",
        }
    }
}

/// A message read from the connection, with what ward looks at.
#[derive(Debug, Default)]
pub struct Message {
    pub kind: u8,
    pub reply_serial: Option<u32>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    pub signature: String,
    pub body: Vec<u8>,
}

const METHOD_CALL: u8 = 1;
const METHOD_RETURN: u8 = 2;
const ERROR: u8 = 3;
const SIGNAL: u8 = 4;

/// Reads the basic values of a body in order.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    fn align(&mut self, n: usize) {
        self.pos = self.pos.div_ceil(n) * n;
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(DbusError::Malformed("value past the end"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Result<u32> {
        self.align(4);
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// `s` or `o`.
    pub fn str(&mut self) -> Result<String> {
        let n = self.u32()? as usize;
        let s = self.take(n)?;
        self.take(1)?;
        String::from_utf8(s.to_vec()).map_err(|_| DbusError::Malformed("string not UTF-8"))
    }
    /// `g`.
    pub fn sig(&mut self) -> Result<String> {
        let n = self.u8()? as usize;
        let s = self.take(n)?;
        self.take(1)?;
        String::from_utf8(s.to_vec()).map_err(|_| DbusError::Malformed("signature not UTF-8"))
    }
}

/// Largest message ward accepts (systemd's are far smaller).
const MAX_MESSAGE: usize = 1 << 20;

/// A connection to a systemd manager.
pub struct Conn {
    sock: UnixStream,
    serial: u32,
    /// Bytes read past the last message.
    pending: Vec<u8>,
    /// JobRemoved signals seen while waiting for something else: (job path,
    /// result).
    removed: Vec<(String, String)>,
    /// Method calls made (the unit tests count them).
    pub calls: u32,
    /// Bound on waiting for a reply or a job: the socket's timeout alone
    /// restarts with every message, and systemd sends every client on its
    /// private socket every signal of every unit.
    timeout: Duration,
}

impl Conn {
    /// Connects and authenticates as the caller's uid. `timeout` bounds
    /// every later read and write.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Conn> {
        let sock = UnixStream::connect(path).map_err(|source| DbusError::Connect {
            path: path.display().to_string(),
            source,
        })?;
        sock.set_read_timeout(Some(timeout))?;
        sock.set_write_timeout(Some(timeout))?;
        let mut c = Conn {
            sock,
            serial: 0,
            pending: Vec::new(),
            removed: Vec::new(),
            calls: 0,
            timeout,
        };
        // AUTH and BEGIN in one write (sd-bus's clients pipeline them too):
        // one round trip. The uid goes as hex of its decimal digits.
        let uid = nix::unistd::geteuid().to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        c.sock
            .write_all(format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n").as_bytes())?;
        let line = c.read_line()?;
        if !line.starts_with("OK ") {
            return Err(DbusError::Auth(line));
        }
        Ok(c)
    }

    fn fill(&mut self) -> Result<()> {
        let mut buf = [0u8; 4096];
        let n = loop {
            match self.sock.read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        if n == 0 {
            return Err(DbusError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        self.pending.extend_from_slice(&buf[..n]);
        Ok(())
    }

    fn read_line(&mut self) -> Result<String> {
        loop {
            if let Some(i) = self.pending.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.pending[..i]).into_owned();
                self.pending.drain(..i + 2);
                return Ok(line);
            }
            if self.pending.len() > 4096 {
                return Err(DbusError::Malformed("authentication line too long"));
            }
            self.fill()?;
        }
    }

    fn read_exact(&mut self, n: usize) -> Result<Vec<u8>> {
        while self.pending.len() < n {
            self.fill()?;
        }
        Ok(self.pending.drain(..n).collect())
    }

    /// The next message.
    pub fn read_message(&mut self) -> Result<Message> {
        let fixed = self.read_exact(16)?;
        if fixed[0] != b'l' {
            return Err(DbusError::Malformed("not a little-endian message"));
        }
        let le = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let body_len = le(&fixed[4..8]);
        let fields_len = le(&fixed[12..16]);
        let header_end = (16 + fields_len).div_ceil(8) * 8;
        if header_end + body_len > MAX_MESSAGE {
            return Err(DbusError::Malformed("message too large"));
        }
        let rest = self.read_exact(header_end - 16 + body_len)?;
        let mut all = fixed;
        all.extend_from_slice(&rest);
        let mut m = Message {
            kind: all[1],
            ..Message::default()
        };
        let mut r = Reader::new(&all[..16 + fields_len]);
        r.pos = 16;
        while r.pos < 16 + fields_len {
            r.align(8);
            if r.pos >= 16 + fields_len {
                break;
            }
            let code = r.u8()?;
            let sig = r.sig()?;
            match sig.as_str() {
                "s" | "o" => {
                    let s = r.str()?;
                    match code {
                        3 => m.member = Some(s),
                        4 => m.error_name = Some(s),
                        _ => {}
                    }
                }
                "u" => {
                    let v = r.u32()?;
                    if code == 5 {
                        m.reply_serial = Some(v);
                    }
                }
                "g" => {
                    let s = r.sig()?;
                    if code == 8 {
                        m.signature = s;
                    }
                }
                _ => return Err(DbusError::Malformed("unexpected header field type")),
            }
        }
        m.body = all[header_end..].to_vec();
        Ok(m)
    }

    /// Calls `member` of systemd's Manager and returns the reply's body
    /// (an error reply becomes [`DbusError::Remote`]).
    pub fn call(&mut self, member: &str, args: &[Arg]) -> Result<Vec<u8>> {
        self.serial += 1;
        let serial = self.serial;
        let mut body = Writer::default();
        let mut signature = String::new();
        for a in args {
            signature.push_str(a.signature());
            match a {
                Arg::Str(s) => body.str(s),
                Arg::Bool(b) => body.bool(*b),
                Arg::Props(p) => body.properties(p),
                Arg::NoAux => body.array(8, |_| {}),
            }
        }
        let mut h = Writer::default();
        h.buf.extend_from_slice(&[b'l', METHOD_CALL, 0, 1]);
        h.u32(body.buf.len() as u32);
        h.u32(serial);
        h.array(8, |w| {
            let field = |w: &mut Writer, code: u8, sig: &str, f: &dyn Fn(&mut Writer)| {
                w.align(8);
                w.u8(code);
                w.sig(sig);
                f(w);
            };
            field(w, 1, "o", &|w| w.str("/org/freedesktop/systemd1"));
            field(w, 2, "s", &|w| w.str("org.freedesktop.systemd1.Manager"));
            field(w, 3, "s", &|w| w.str(member));
            field(w, 6, "s", &|w| w.str("org.freedesktop.systemd1"));
            if !signature.is_empty() {
                field(w, 8, "g", &|w| w.sig(&signature));
            }
        });
        h.align(8);
        h.buf.extend_from_slice(&body.buf);
        self.sock.write_all(&h.buf)?;
        self.calls += 1;
        let deadline = std::time::Instant::now() + self.timeout;
        loop {
            self.check_deadline(deadline, member)?;
            let m = self.read_message()?;
            match m.kind {
                METHOD_RETURN | ERROR if m.reply_serial == Some(serial) => {
                    if m.kind == ERROR {
                        let message = if m.signature.starts_with('s') {
                            Reader::new(&m.body).str().unwrap_or_default()
                        } else {
                            String::new()
                        };
                        return Err(DbusError::Remote {
                            name: m.error_name.unwrap_or_default(),
                            message,
                        });
                    }
                    return Ok(m.body);
                }
                SIGNAL => self.note_signal(&m),
                _ => {}
            }
        }
    }

    fn check_deadline(&self, deadline: std::time::Instant, what: &str) -> Result<()> {
        if std::time::Instant::now() > deadline {
            return Err(DbusError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer for {what} within {} s", self.timeout.as_secs()),
            )));
        }
        Ok(())
    }

    fn note_signal(&mut self, m: &Message) {
        if m.member.as_deref() != Some("JobRemoved") || m.signature != "uoss" {
            return;
        }
        let mut r = Reader::new(&m.body);
        let parsed = (|| -> Result<(String, String)> {
            r.u32()?;
            let job = r.str()?;
            r.str()?;
            Ok((job, r.str()?))
        })();
        if let Ok(j) = parsed {
            self.removed.push(j);
        }
    }

    /// Waits for the JobRemoved signal of `job`; returns its result
    /// ("done", "failed", "canceled", ...).
    pub fn wait_job(&mut self, job: &str) -> Result<String> {
        let deadline = std::time::Instant::now() + self.timeout;
        loop {
            self.check_deadline(deadline, "the job")?;
            if let Some(i) = self.removed.iter().position(|(j, _)| j == job) {
                return Ok(self.removed.swap_remove(i).1);
            }
            let m = self.read_message()?;
            if m.kind == SIGNAL {
                self.note_signal(&m);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marshals_properties_as_the_spec_lays_them_out() {
        let mut w = Writer::default();
        w.properties(&[
            ("Delegate", Value::Bool(true)),
            ("MemoryMax", Value::U64(0x1122334455667788)),
        ]);
        let b = &w.buf;
        // Array length, then (8-aligned) the first struct: "Delegate".
        assert_eq!(&b[8..12], &8u32.to_le_bytes());
        assert_eq!(&b[12..21], b"Delegate\0");
        // variant: signature "b", then the bool aligned to 4.
        assert_eq!(&b[21..24], b"\x01b\0");
        assert_eq!(&b[24..28], &1u32.to_le_bytes());
        // Second struct at 32: name, signature "t", u64 at an 8 boundary.
        assert_eq!(&b[32..36], &9u32.to_le_bytes());
        assert_eq!(&b[36..46], b"MemoryMax\0");
        assert_eq!(&b[46..49], b"\x01t\0");
        assert_eq!(&b[56..64], &0x1122334455667788u64.to_le_bytes());
        let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        assert_eq!(len, b.len() - 8);
    }

    #[test]
    fn reads_back_strings_and_numbers() {
        let mut w = Writer::default();
        w.u32(7);
        w.str("/org/freedesktop/systemd1/job/42");
        w.str("x.scope");
        w.str("done");
        let mut r = Reader::new(&w.buf);
        assert_eq!(r.u32().unwrap(), 7);
        assert_eq!(r.str().unwrap(), "/org/freedesktop/systemd1/job/42");
        assert_eq!(r.str().unwrap(), "x.scope");
        assert_eq!(r.str().unwrap(), "done");
        assert!(r.str().is_err());
    }

    /// A fake manager on a socketpair: answers one call with an error and
    /// one with a job path, sending the job's JobRemoved first.
    #[test]
    fn calls_errors_and_job_signals_over_a_socket() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut c = Conn {
            sock: a,
            serial: 0,
            pending: Vec::new(),
            removed: Vec::new(),
            calls: 0,
            timeout: Duration::from_secs(5),
        };
        let msg = |kind: u8,
                   reply: Option<u32>,
                   member: Option<&str>,
                   err: Option<&str>,
                   sig: &str,
                   body: &[u8]| {
            let mut h = Writer::default();
            h.buf.extend_from_slice(&[b'l', kind, 0, 1]);
            h.u32(body.len() as u32);
            h.u32(99);
            h.array(8, |w| {
                if let Some(r) = reply {
                    w.align(8);
                    w.u8(5);
                    w.sig("u");
                    w.u32(r);
                }
                if let Some(m) = member {
                    w.align(8);
                    w.u8(3);
                    w.sig("s");
                    w.str(m);
                }
                if let Some(e) = err {
                    w.align(8);
                    w.u8(4);
                    w.sig("s");
                    w.str(e);
                }
                if !sig.is_empty() {
                    w.align(8);
                    w.u8(8);
                    w.sig("g");
                    w.sig(sig);
                }
            });
            h.align(8);
            h.buf.extend_from_slice(body);
            h.buf
        };
        let mut e = Writer::default();
        e.str("Unit x.scope already exists.");
        b.write_all(&msg(
            ERROR,
            Some(1),
            None,
            Some("org.freedesktop.systemd1.UnitExists"),
            "s",
            &e.buf,
        ))
        .unwrap();
        let err = c
            .call("StartTransientUnit", &[Arg::Str("x.scope")])
            .unwrap_err();
        assert_eq!(err.name(), Some("org.freedesktop.systemd1.UnitExists"));
        assert!(err.to_string().contains("already exists"), "{err}");

        let mut s = Writer::default();
        s.u32(5);
        s.str("/job/5");
        s.str("x.scope");
        s.str("done");
        let mut o = Writer::default();
        o.str("/job/5");
        let mut out = msg(SIGNAL, None, Some("JobRemoved"), None, "uoss", &s.buf);
        out.extend(msg(METHOD_RETURN, Some(2), None, None, "o", &o.buf));
        b.write_all(&out).unwrap();
        let body = c
            .call(
                "StartTransientUnit",
                &[Arg::Str("x.scope"), Arg::Str("fail")],
            )
            .unwrap();
        let job = Reader::new(&body).str().unwrap();
        assert_eq!(job, "/job/5");
        assert_eq!(c.wait_job(&job).unwrap(), "done");
        assert_eq!(c.calls, 2);
        // What ward sent parses as two method calls.
        drop(c);
        let mut sent = Vec::new();
        b.read_to_end(&mut sent).unwrap();
        assert_eq!(sent[0], b'l');
        assert_eq!(sent[1], METHOD_CALL);
    }
}
