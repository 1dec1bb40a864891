//! The node's side of the network: TCP connections made inside the test's
//! network namespace (where containerd, its streaming server and the pods'
//! bridge are), and the streaming protocol kubelet's clients speak to
//! containerd's streaming server for Exec and Attach (WebSocket,
//! `v4.channel.k8s.io`: one byte of channel, then the data; 0 stdin,
//! 1 stdout, 2 stderr, 3 the final status as JSON).

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tungstenite::protocol::Message;

/// Connects to `addr` from inside the network namespace pinned at `netns`.
/// A thread joins the namespace, so this process's own stays as it was;
/// the socket keeps the namespace it was made in.
pub fn connect_in(netns: &Path, addr: &str) -> std::io::Result<TcpStream> {
    let netns: PathBuf = netns.to_path_buf();
    let addr = addr.to_string();
    std::thread::spawn(move || {
        let f = File::open(&netns)?;
        // SAFETY: setns(2) on an fd we own; it changes only this thread's
        // network namespace, and the thread ends right after.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let addr: std::net::SocketAddr = addr
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        Ok(s)
    })
    .join()
    .expect("connect thread panicked")
}

/// A plain HTTP/1.0 GET from inside the netns: the body, or the error.
pub fn http_get(netns: &Path, addr: &str, path: &str) -> Result<String, String> {
    let mut s = connect_in(netns, addr).map_err(|e| format!("connect {addr}: {e}"))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).map_err(|e| e.to_string())?;
    Ok(buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or(buf))
}

/// What a streaming session returned.
#[derive(Debug, Default)]
pub struct Streamed {
    pub stdout: String,
    pub stderr: String,
    /// The status JSON of channel 3 (v4), if one came.
    pub status: Option<serde_json::Value>,
}

impl Streamed {
    /// The exit code the status says: 0 for Success, the ExitCode cause's
    /// message for NonZeroExitCode.
    pub fn exit_code(&self) -> Option<i64> {
        let s = self.status.as_ref()?;
        if s["status"] == "Success" {
            return Some(0);
        }
        s["details"]["causes"]
            .as_array()?
            .iter()
            .find(|c| c["reason"] == "ExitCode")?["message"]
            .as_str()?
            .parse()
            .ok()
    }
}

type Ws = tungstenite::WebSocket<TcpStream>;

/// Opens the WebSocket of a streaming URL (`http://127.0.0.1:PORT/exec/…`).
pub fn open(netns: &Path, url: &str) -> Result<Ws, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http URL: {url}"))?;
    let (hostport, path) = rest.split_once('/').unwrap_or((rest, ""));
    let tcp = connect_in(netns, hostport).map_err(|e| format!("connect {hostport}: {e}"))?;
    let req = tungstenite::ClientRequestBuilder::new(
        format!("ws://{hostport}/{path}")
            .parse()
            .map_err(|e| format!("{e}"))?,
    )
    .with_sub_protocol("v4.channel.k8s.io");
    let (ws, resp) = tungstenite::client(req, tcp).map_err(|e| format!("websocket: {e}"))?;
    let proto = resp
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if proto != "v4.channel.k8s.io" {
        return Err(format!("streaming server chose protocol {proto:?}"));
    }
    Ok(ws)
}

/// Sends `data` on the stdin channel.
pub fn send_stdin(ws: &mut Ws, data: &[u8]) -> Result<(), String> {
    let mut m = vec![0u8];
    m.extend_from_slice(data);
    ws.send(Message::Binary(m.into()))
        .map_err(|e| format!("send stdin: {e}"))
}

/// Reads frames into `into` until the server closes, `until` holds, or
/// `timeout` passes.
pub fn read_until(
    ws: &mut Ws,
    into: &mut Streamed,
    timeout: Duration,
    until: impl Fn(&Streamed) -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    ws.get_mut()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    while !until(into) {
        if Instant::now() >= deadline {
            return Err(format!("stream: timed out after {timeout:?}; got {into:?}"));
        }
        match ws.read() {
            Ok(Message::Binary(b)) if !b.is_empty() => {
                let text = String::from_utf8_lossy(&b[1..]).into_owned();
                match b[0] {
                    1 => into.stdout.push_str(&text),
                    2 => into.stderr.push_str(&text),
                    3 if !text.is_empty() => {
                        into.status = Some(
                            serde_json::from_str(&text)
                                .map_err(|e| format!("status {text:?}: {e}"))?,
                        )
                    }
                    _ => {}
                }
            }
            Ok(Message::Close(_)) => return Ok(()),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(tungstenite::Error::ConnectionClosed) | Err(tungstenite::Error::AlreadyClosed) => {
                return Ok(())
            }
            Err(e) => return Err(format!("stream: {e}")),
        }
    }
    Ok(())
}

/// An exec through the streaming server, to its end.
pub fn exec(netns: &Path, url: &str) -> Result<Streamed, String> {
    let mut ws = open(netns, url)?;
    let mut got = Streamed::default();
    read_until(&mut ws, &mut got, Duration::from_secs(30), |_| false)?;
    Ok(got)
}
