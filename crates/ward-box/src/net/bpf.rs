//! The cgroup egress cap: a small eBPF program (written here as
//! instructions, as ward-core writes its device filter) on a box's v2
//! cgroup at `BPF_CGROUP_INET_EGRESS`, with a one-entry array map:
//!
//! ```text
//! offset  0  rate     bytes per second (0: count only)
//!         8  tokens   the bucket, in bytes (may go below zero)
//!        16  last     ktime of the last packet
//!        24  bytes    bytes let through
//!        32  packets  packets let through
//!        40  dropped  bytes dropped
//!        48  flows    TCP connections of the box that are open
//! ```
//!
//! Each packet refills the bucket by the time since the last one (at most
//! 100 ms of it, so the product can't overflow), up to a burst of 20 ms
//! at the rate (64 KiB at least), and takes the packet's length. A bucket
//! still positive lets it through (1). One in debt by up to a burst lets
//! it through with congestion notification (3): TCP enters CWR and
//! slows down without a loss. Deeper in debt the packet is dropped, with
//! the notification (2).
//!
//! A policer alone can't hold TCP to a rate on a short path: with a round
//! trip of tens of microseconds even a window of two segments is far
//! above the cap, so only drops slow it, and drops cost retransmission
//! timeouts (measured: 3.5 Mbit/s through a 10mbit cap). A second program,
//! at `BPF_CGROUP_SOCK_OPS`, makes TCP pace itself: each connection of the
//! box, once established, gets `SO_MAX_PACING_RATE` of the rate, renewed
//! at each round-trip sample (so `update` reaches open connections; TCP
//! paces internally when a maximum is set, qdisc or not). One busy
//! connection is then held at the rate by its own pacing; several share
//! the cap through the policer, which is coarser (measured in
//! docs/network.md). Dividing the rate by the open connections was tried:
//! an idle one (iperf3's control connection) halved the busy one's share.
//! The policer caps UDP and the rest.
//!
//! Both programs are found again by name through the cgroup
//! (BPF_PROG_QUERY), so `ls`, `inspect` and `update` need no pin.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

const PROG_NAME: &str = "ward_egress";
const PACE_NAME: &str = "ward_pace";
const MAP_NAME: &str = "ward_rate";
const VALUE_SIZE: u32 = 56;

// bpf(2) commands.
const MAP_CREATE: i64 = 0;
const MAP_LOOKUP_ELEM: i64 = 1;
const MAP_UPDATE_ELEM: i64 = 2;
const PROG_LOAD: i64 = 5;
const PROG_ATTACH: i64 = 8;
const PROG_GET_FD_BY_ID: i64 = 13;
const MAP_GET_FD_BY_ID: i64 = 14;
const OBJ_GET_INFO_BY_FD: i64 = 15;
const PROG_QUERY: i64 = 16;

const MAP_TYPE_ARRAY: u32 = 2;
const PROG_TYPE_CGROUP_SKB: u32 = 8;
const PROG_TYPE_SOCK_OPS: u32 = 13;
const CGROUP_INET_EGRESS: u32 = 1;
const CGROUP_SOCK_OPS: u32 = 3;
const F_ALLOW_MULTI: u32 = 2;

/// `union bpf_attr`, as bytes (every command's fields fit in 128).
#[repr(C, align(8))]
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Attr {
        Attr([0; 128])
    }
    fn u32(&mut self, off: usize, v: u32) -> &mut Self {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64(&mut self, off: usize, v: u64) -> &mut Self {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn name(&mut self, off: usize, n: &str) -> &mut Self {
        let b = n.as_bytes();
        self.0[off..off + b.len().min(15)].copy_from_slice(&b[..b.len().min(15)]);
        self
    }
    fn get_u32(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.0[off..off + 4].try_into().expect("4 bytes"))
    }
}

fn bpf(cmd: i64, attr: &mut Attr) -> std::io::Result<i64> {
    // SAFETY: attr is a zero-padded bpf_attr of 128 bytes, larger than
    // every command's part of the union; pointers in it point at live
    // buffers of the caller for the duration of the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.0.as_mut_ptr(),
            attr.0.len() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn fd_of(r: i64) -> OwnedFd {
    // SAFETY: a successful bpf(2) call that returns an fd gives us a new
    // descriptor that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(r as i32) }
}

// -- the program -------------------------------------------------------

#[derive(Clone, Copy)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

fn ins(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

// Opcodes (class | size/op | source).
const LDX_W: u8 = 0x61;
const LDX_DW: u8 = 0x79;
const STX_DW: u8 = 0x7b;
const ST_W: u8 = 0x62;
const ATOMIC_ADD_DW: u8 = 0xdb;
const LD_IMM64: u8 = 0x18;
const MOV64_X: u8 = 0xbf;
const MOV64_K: u8 = 0xb7;
const ADD64_X: u8 = 0x0f;
const ADD64_K: u8 = 0x07;
const SUB64_X: u8 = 0x1f;
const MUL64_X: u8 = 0x2f;
const DIV64_K: u8 = 0x37;
const JEQ_K: u8 = 0x15;
const JGT_K: u8 = 0x25;
const JLT_K: u8 = 0xa5;
const JSGT_X: u8 = 0x6d;
const JSGE_K: u8 = 0x75;
const JNE_K: u8 = 0x55;
const STX_W: u8 = 0x63;
const CALL: u8 = 0x85;
const EXIT: u8 = 0x95;

const HELPER_MAP_LOOKUP: i32 = 1;
const HELPER_KTIME_GET_NS: i32 = 5;
const HELPER_SETSOCKOPT: i32 = 49;
const HELPER_SOCK_OPS_CB_FLAGS_SET: i32 = 59;

/// Jumps to labels, resolved at the end.
struct Asm {
    code: Vec<Insn>,
    fixups: Vec<(usize, &'static str)>,
    labels: Vec<(&'static str, usize)>,
}

impl Asm {
    fn op(&mut self, i: Insn) {
        self.code.push(i);
    }
    fn jump(&mut self, code: u8, dst: u8, src: u8, imm: i32, to: &'static str) {
        self.fixups.push((self.code.len(), to));
        self.code.push(ins(code, dst, src, 0, imm));
    }
    fn label(&mut self, name: &'static str) {
        self.labels.push((name, self.code.len()));
    }
    fn finish(mut self) -> Vec<Insn> {
        for (at, to) in &self.fixups {
            let target = self
                .labels
                .iter()
                .find(|(n, _)| n == to)
                .map(|(_, i)| *i)
                .expect("a defined label");
            self.code[*at].off = (target as i64 - *at as i64 - 1) as i16;
        }
        self.code
    }
}

fn program(map_fd: i32) -> Vec<Insn> {
    let mut a = Asm {
        code: vec![],
        fixups: vec![],
        labels: vec![],
    };
    // r6 = ctx; r7 = skb->len
    a.op(ins(MOV64_X, 6, 1, 0, 0));
    a.op(ins(LDX_W, 7, 6, 0, 0));
    // key 0 at fp-4; r0 = lookup(map, &key)
    a.op(ins(ST_W, 10, 0, -4, 0));
    a.op(ins(LD_IMM64, 1, 1, 0, map_fd));
    a.op(ins(0, 0, 0, 0, 0));
    a.op(ins(MOV64_X, 2, 10, 0, 0));
    a.op(ins(ADD64_K, 2, 0, 0, -4));
    a.op(ins(CALL, 0, 0, 0, HELPER_MAP_LOOKUP));
    a.jump(JEQ_K, 0, 0, 0, "pass_uncounted");
    a.op(ins(MOV64_X, 8, 0, 0, 0));
    // r9 = rate; 0: count only
    a.op(ins(LDX_DW, 9, 8, 0, 0));
    a.jump(JEQ_K, 9, 0, 0, "pass");
    // r0 = now - last (at most 100 ms); last = now
    a.op(ins(CALL, 0, 0, 0, HELPER_KTIME_GET_NS));
    a.op(ins(LDX_DW, 1, 8, 16, 0));
    a.op(ins(STX_DW, 8, 0, 16, 0));
    a.op(ins(SUB64_X, 0, 1, 0, 0));
    a.jump(JGT_K, 0, 0, 100_000_000, "clamp");
    a.jump(0x05, 0, 0, 0, "refill");
    a.label("clamp");
    a.op(ins(MOV64_K, 0, 0, 0, 100_000_000));
    a.label("refill");
    // r0 = elapsed * rate / 1e9; r1 = tokens + r0
    a.op(ins(MUL64_X, 0, 9, 0, 0));
    a.op(ins(DIV64_K, 0, 0, 0, 1_000_000_000));
    a.op(ins(LDX_DW, 1, 8, 8, 0));
    a.op(ins(ADD64_X, 1, 0, 0, 0));
    // r2 = burst = max(rate / 50, 64 KiB)
    a.op(ins(MOV64_X, 2, 9, 0, 0));
    a.op(ins(DIV64_K, 2, 0, 0, 50));
    a.jump(JLT_K, 2, 0, 65536, "min_burst");
    a.jump(0x05, 0, 0, 0, "cap");
    a.label("min_burst");
    a.op(ins(MOV64_K, 2, 0, 0, 65536));
    a.label("cap");
    // tokens = min(tokens, burst) - len
    a.jump(JSGT_X, 1, 2, 0, "to_burst");
    a.jump(0x05, 0, 0, 0, "debit");
    a.label("to_burst");
    a.op(ins(MOV64_X, 1, 2, 0, 0));
    a.label("debit");
    a.op(ins(SUB64_X, 1, 7, 0, 0));
    a.jump(JSGE_K, 1, 0, 0, "store_pass");
    // r3 = -burst: in debt by less, pass with CN; else drop with CN
    a.op(ins(MOV64_K, 3, 0, 0, 0));
    a.op(ins(SUB64_X, 3, 2, 0, 0));
    a.jump(JSGT_X, 1, 3, 0, "store_cn");
    // drop: give the length back, count it as dropped
    a.op(ins(ADD64_X, 1, 7, 0, 0));
    a.op(ins(STX_DW, 8, 1, 8, 0));
    a.op(ins(ATOMIC_ADD_DW, 8, 7, 40, 0));
    a.op(ins(MOV64_K, 0, 0, 0, 2));
    a.op(ins(EXIT, 0, 0, 0, 0));
    a.label("store_cn");
    a.op(ins(STX_DW, 8, 1, 8, 0));
    a.op(ins(ATOMIC_ADD_DW, 8, 7, 24, 0));
    a.op(ins(MOV64_K, 1, 0, 0, 1));
    a.op(ins(ATOMIC_ADD_DW, 8, 1, 32, 0));
    a.op(ins(MOV64_K, 0, 0, 0, 3));
    a.op(ins(EXIT, 0, 0, 0, 0));
    a.label("store_pass");
    a.op(ins(STX_DW, 8, 1, 8, 0));
    a.label("pass");
    a.op(ins(ATOMIC_ADD_DW, 8, 7, 24, 0));
    a.op(ins(MOV64_K, 1, 0, 0, 1));
    a.op(ins(ATOMIC_ADD_DW, 8, 1, 32, 0));
    a.label("pass_uncounted");
    a.op(ins(MOV64_K, 0, 0, 0, 1));
    a.op(ins(EXIT, 0, 0, 0, 0));
    a.finish()
}

/// r8 = the map's value (or to `out` when there is none); clobbers r0-r5.
fn lookup_value(a: &mut Asm, map_fd: i32, out: &'static str) {
    a.op(ins(ST_W, 10, 0, -4, 0));
    a.op(ins(LD_IMM64, 1, 1, 0, map_fd));
    a.op(ins(0, 0, 0, 0, 0));
    a.op(ins(MOV64_X, 2, 10, 0, 0));
    a.op(ins(ADD64_K, 2, 0, 0, -4));
    a.op(ins(CALL, 0, 0, 0, HELPER_MAP_LOOKUP));
    a.jump(JEQ_K, 0, 0, 0, out);
    a.op(ins(MOV64_X, 8, 0, 0, 0));
}

/// The sock_ops program: each TCP connection of the box paces itself at
/// the rate (and the box's open connections are counted).
fn pacing_program(map_fd: i32) -> Vec<Insn> {
    const ACTIVE_ESTABLISHED: i32 = 4;
    const PASSIVE_ESTABLISHED: i32 = 5;
    const STATE_CB: i32 = 10;
    const RTT_CB: i32 = 12;
    const FLAG_STATE: i32 = 4;
    const FLAG_RTT: i32 = 8;
    const TCP_CLOSE: i32 = 7;
    const SOL_SOCKET: i32 = 1;
    const SO_MAX_PACING_RATE: i32 = 47;
    let mut a = Asm {
        code: vec![],
        fixups: vec![],
        labels: vec![],
    };
    a.op(ins(MOV64_X, 6, 1, 0, 0));
    a.op(ins(LDX_W, 2, 6, 0, 0));
    a.jump(JEQ_K, 2, 0, ACTIVE_ESTABLISHED, "established");
    a.jump(JEQ_K, 2, 0, PASSIVE_ESTABLISHED, "established");
    a.jump(JEQ_K, 2, 0, STATE_CB, "state");
    a.jump(JEQ_K, 2, 0, RTT_CB, "rtt");
    a.jump(0x05, 0, 0, 0, "out");
    // A new connection: ask for state and round-trip callbacks; count it.
    a.label("established");
    a.op(ins(MOV64_X, 1, 6, 0, 0));
    a.op(ins(MOV64_K, 2, 0, 0, FLAG_STATE | FLAG_RTT));
    a.op(ins(CALL, 0, 0, 0, HELPER_SOCK_OPS_CB_FLAGS_SET));
    lookup_value(&mut a, map_fd, "out");
    a.op(ins(MOV64_K, 1, 0, 0, 1));
    a.op(ins(ATOMIC_ADD_DW, 8, 1, 48, 0));
    a.jump(0x05, 0, 0, 0, "pace");
    // A connection closing: uncount it.
    a.label("state");
    a.op(ins(LDX_W, 2, 6, 8, 0));
    a.jump(JNE_K, 2, 0, TCP_CLOSE, "out");
    lookup_value(&mut a, map_fd, "out");
    a.op(ins(MOV64_K, 1, 0, 0, -1));
    a.op(ins(ATOMIC_ADD_DW, 8, 1, 48, 0));
    a.jump(0x05, 0, 0, 0, "out");
    a.label("rtt");
    lookup_value(&mut a, map_fd, "out");
    // pace = the rate, at most u32::MAX bytes per second.
    a.label("pace");
    a.op(ins(LDX_DW, 9, 8, 0, 0));
    a.jump(JEQ_K, 9, 0, 0, "out");
    a.op(ins(MOV64_K, 3, 0, 0, -1));
    a.op(ins(0x77, 3, 0, 0, 32)); // r3 >>= 32: u32::MAX
    a.jump(JGT_K, 9, 0, i32::MAX, "clamp");
    a.jump(0x05, 0, 0, 0, "set");
    a.label("clamp");
    a.op(ins(MOV64_X, 9, 3, 0, 0));
    a.label("set");
    a.op(ins(STX_W, 10, 9, -8, 0));
    a.op(ins(MOV64_X, 1, 6, 0, 0));
    a.op(ins(MOV64_K, 2, 0, 0, SOL_SOCKET));
    a.op(ins(MOV64_K, 3, 0, 0, SO_MAX_PACING_RATE));
    a.op(ins(MOV64_X, 4, 10, 0, 0));
    a.op(ins(ADD64_K, 4, 0, 0, -8));
    a.op(ins(MOV64_K, 5, 0, 0, 4));
    a.op(ins(CALL, 0, 0, 0, HELPER_SETSOCKOPT));
    a.label("out");
    a.op(ins(MOV64_K, 0, 0, 0, 1));
    a.op(ins(EXIT, 0, 0, 0, 0));
    a.finish()
}

fn load(prog: &[Insn], prog_type: u32, attach_type: u32, name: &str) -> Result<OwnedFd, String> {
    let mut bytes = Vec::with_capacity(prog.len() * 8);
    for i in prog {
        bytes.push(i.code);
        bytes.push(i.regs);
        bytes.extend_from_slice(&i.off.to_le_bytes());
        bytes.extend_from_slice(&i.imm.to_le_bytes());
    }
    let license = CString::new("Apache-2.0").expect("no NUL");
    let mut log = vec![0u8; 64 * 1024];
    let mut a = Attr::new();
    a.u32(0, prog_type)
        .u32(4, prog.len() as u32)
        .u64(8, bytes.as_ptr() as u64)
        .u64(16, license.as_ptr() as u64)
        .u32(24, 1)
        .u32(28, log.len() as u32)
        .u64(32, log.as_mut_ptr() as u64)
        .name(48, name)
        .u32(68, attach_type);
    match bpf(PROG_LOAD, &mut a) {
        Ok(fd) => Ok(fd_of(fd)),
        Err(e) => {
            let text = String::from_utf8_lossy(&log);
            let last = text
                .trim_end_matches('\0')
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("")
                .to_string();
            Err(format!("load the {name} program: {e}: {last}"))
        }
    }
}

fn attach(dir: &OwnedFd, prog: &OwnedFd, attach_type: u32, cg: &Path) -> Result<(), String> {
    let mut a = Attr::new();
    a.u32(0, dir.as_raw_fd() as u32)
        .u32(4, prog.as_raw_fd() as u32)
        .u32(8, attach_type)
        .u32(12, F_ALLOW_MULTI);
    bpf(PROG_ATTACH, &mut a)
        .map(|_| ())
        .map_err(|e| format!("attach to {}: {e}", cg.display()))
}

fn open_dir(p: &Path) -> Result<OwnedFd, String> {
    let f = std::fs::File::open(p).map_err(|e| format!("open {}: {e}", p.display()))?;
    Ok(OwnedFd::from(f))
}

fn update(map: &OwnedFd, value: &[u8; VALUE_SIZE as usize]) -> Result<(), String> {
    let key: u32 = 0;
    let mut a = Attr::new();
    a.u32(0, map.as_raw_fd() as u32)
        .u64(8, &key as *const u32 as u64)
        .u64(16, value.as_ptr() as u64);
    bpf(MAP_UPDATE_ELEM, &mut a).map_err(|e| format!("bpf map update: {e}"))?;
    Ok(())
}

fn lookup(map: &OwnedFd) -> Result<[u8; VALUE_SIZE as usize], String> {
    let key: u32 = 0;
    let mut v = [0u8; VALUE_SIZE as usize];
    let mut a = Attr::new();
    a.u32(0, map.as_raw_fd() as u32)
        .u64(8, &key as *const u32 as u64)
        .u64(16, v.as_mut_ptr() as u64);
    bpf(MAP_LOOKUP_ELEM, &mut a).map_err(|e| format!("bpf map lookup: {e}"))?;
    Ok(v)
}

/// Loads the program with a new map holding `rate` (bytes per second) and
/// attaches it to the cgroup at `cg`.
pub fn attach_egress_cap(cg: &Path, rate: u64) -> Result<(), String> {
    if find_map(cg).is_ok() {
        return set_rate(cg, rate);
    }
    let mut a = Attr::new();
    a.u32(0, MAP_TYPE_ARRAY)
        .u32(4, 4)
        .u32(8, VALUE_SIZE)
        .u32(12, 1)
        .name(28, MAP_NAME);
    let map = fd_of(bpf(MAP_CREATE, &mut a).map_err(|e| format!("bpf map create: {e}"))?);
    let mut v = [0u8; VALUE_SIZE as usize];
    v[..8].copy_from_slice(&rate.to_ne_bytes());
    update(&map, &v)?;
    let egress = load(
        &program(map.as_raw_fd()),
        PROG_TYPE_CGROUP_SKB,
        CGROUP_INET_EGRESS,
        PROG_NAME,
    )?;
    let pace = load(
        &pacing_program(map.as_raw_fd()),
        PROG_TYPE_SOCK_OPS,
        0,
        PACE_NAME,
    )?;
    let dir = open_dir(cg)?;
    attach(&dir, &pace, CGROUP_SOCK_OPS, cg)?;
    attach(&dir, &egress, CGROUP_INET_EGRESS, cg)?;
    Ok(())
}

/// The map of ward's program on the cgroup.
fn find_map(cg: &Path) -> Result<OwnedFd, String> {
    let dir = open_dir(cg)?;
    let mut ids = [0u32; 64];
    let mut a = Attr::new();
    a.u32(0, dir.as_raw_fd() as u32)
        .u32(4, CGROUP_INET_EGRESS)
        .u64(16, ids.as_mut_ptr() as u64)
        .u32(24, ids.len() as u32);
    bpf(PROG_QUERY, &mut a).map_err(|e| format!("query {}: {e}", cg.display()))?;
    let n = a.get_u32(24) as usize;
    for id in &ids[..n.min(ids.len())] {
        let mut a = Attr::new();
        a.u32(0, *id);
        let Ok(fd) = bpf(PROG_GET_FD_BY_ID, &mut a) else {
            continue;
        };
        let prog = fd_of(fd);
        let mut info = [0u8; 256];
        let mut map_ids = [0u32; 4];
        // nr_map_ids and map_ids in, the rest out.
        info[52..56].copy_from_slice(&(map_ids.len() as u32).to_ne_bytes());
        info[56..64].copy_from_slice(&(map_ids.as_mut_ptr() as u64).to_ne_bytes());
        let mut a = Attr::new();
        a.u32(0, prog.as_raw_fd() as u32)
            .u32(4, info.len() as u32)
            .u64(8, info.as_mut_ptr() as u64);
        if bpf(OBJ_GET_INFO_BY_FD, &mut a).is_err() {
            continue;
        }
        let name = &info[64..80];
        let name = &name[..name.iter().position(|b| *b == 0).unwrap_or(16)];
        if name != PROG_NAME.as_bytes() {
            continue;
        }
        let nr = u32::from_ne_bytes(info[52..56].try_into().expect("4 bytes")) as usize;
        for m in &map_ids[..nr.min(map_ids.len())] {
            let mut a = Attr::new();
            a.u32(0, *m);
            if let Ok(fd) = bpf(MAP_GET_FD_BY_ID, &mut a) {
                return Ok(fd_of(fd));
            }
        }
    }
    Err(format!("{}: no ward egress program", cg.display()))
}

/// Changes the rate (bytes per second) of the program on the cgroup.
pub fn set_rate(cg: &Path, rate: u64) -> Result<(), String> {
    let map = find_map(cg)?;
    let mut v = lookup(&map)?;
    v[..8].copy_from_slice(&rate.to_ne_bytes());
    update(&map, &v)
}

pub struct Counters {
    pub rate: u64,
    pub bytes: u64,
    pub packets: u64,
    pub dropped: u64,
}

pub fn counters(cg: &Path) -> Result<Counters, String> {
    let v = lookup(&find_map(cg)?)?;
    let at = |o: usize| u64::from_ne_bytes(v[o..o + 8].try_into().expect("8 bytes"));
    Ok(Counters {
        rate: at(0),
        bytes: at(24),
        packets: at(32),
        dropped: at(40),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps_resolve_forward_within_the_program() {
        check(&program(3));
        check(&pacing_program(3));
    }

    fn check(p: &[Insn]) {
        assert!(p.len() < 100);
        for (i, insn) in p.iter().enumerate() {
            let class = insn.code & 0x07;
            if class == 0x05 && insn.code != CALL && insn.code != EXIT {
                let to = i as i64 + 1 + insn.off as i64;
                assert!(insn.off >= 0 && (to as usize) < p.len(), "jump at {i}");
            }
        }
        assert_eq!(p.last().unwrap().code, EXIT);
    }
}
