//! The device cgroup: which device nodes a container may read, write and
//! create.
//!
//! The OCI config lists rules (`linux.resources.devices`); ward checks them,
//! appends the devices every container gets ([`effective_rules`]) and then
//! either writes them to the v1 `devices` controller ([`v1_writes`]) or, on
//! cgroup v2 where the controller is gone, compiles them into an eBPF program
//! of type `BPF_PROG_TYPE_CGROUP_DEVICE` ([`build_program`]) and attaches it
//! to the container's cgroup ([`load_and_attach`], [`replace`]).
//!
//! # Meaning of a rule list
//!
//! Both back ends give a list the same meaning:
//!
//! * A rule of type `a` stands for every device and every access, whatever
//!   its numbers and access string say (that is how the v1 kernel reads it):
//!   `deny a` forgets every earlier rule and denies everything, `allow a`
//!   forgets every earlier rule and allows everything.
//! * With no `a` rule the list starts from "deny everything".
//! * Each access bit (m, r, w) of a request is decided on its own by the
//!   last rule that matches the device and names that bit; a request is
//!   allowed when every one of its bits is. So `allow c 1:3 r` followed by
//!   `allow c 1:3 w` allows opening /dev/null read-write, and
//!   `allow c 1:3 rwm` followed by `deny c 1:3 w` leaves read and mknod.
//!
//! Where the v1 kernel itself differs (see [`v1_writes`]) it is in corners
//! no real config depends on.

use std::fmt;
use std::fs::OpenOptions;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::{CgroupError, Write};
use crate::sys::Errno;

/// One checked device rule. `kind` is 'a' (all devices), 'c' (char) or 'b'
/// (block); `major`/`minor` None means any; `access` is a non-empty subset of
/// "rwm", always written in that order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    pub kind: char,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: String,
}

impl DeviceRule {
    fn allow_rwm(kind: char, major: Option<i64>, minor: Option<i64>) -> DeviceRule {
        DeviceRule {
            allow: true,
            kind,
            major,
            minor,
            access: "rwm".to_string(),
        }
    }
}

/// The v1 form: "c 1:3 rwm", "b *:* m", "a *:* rwm".
impl fmt::Display for DeviceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.kind)?;
        match self.major {
            Some(n) => write!(f, "{n}:")?,
            None => write!(f, "*:")?,
        }
        match self.minor {
            Some(n) => write!(f, "{n} ")?,
            None => write!(f, "* ")?,
        }
        write!(f, "{}", self.access)
    }
}

/// The most device rules a config may have (the v2 program's jumps must
/// stay within 32767 instructions).
pub const MAX_RULES: usize = 4096;

/// The rules every container gets after its own, so that a config that
/// starts with "deny all" can still create device nodes and use the
/// standard ones: mknod of any char or block device, /dev/null, zero, full,
/// random, urandom, tty, console, ptmx and the pts devices.
fn default_rules() -> Vec<DeviceRule> {
    let mknod = |kind| DeviceRule {
        allow: true,
        kind,
        major: None,
        minor: None,
        access: "m".to_string(),
    };
    let mut rules = vec![mknod('c'), mknod('b')];
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
    ] {
        rules.push(DeviceRule::allow_rwm('c', Some(major), Some(minor)));
    }
    rules.push(DeviceRule::allow_rwm('c', Some(136), None));
    rules
}

/// Checks the config's device rules and returns them followed by the
/// default rules (see `default_rules`). An empty list stays empty: it
/// means no device policy at all, and the cgroup is left as it is.
///
/// A missing type means `a`, a missing access means "rwm", a major or minor
/// of -1 (or missing) means any. Refused: types `u` and `p` (they name
/// device nodes, not rules), access letters other than r, w and m, an empty
/// access, numbers below -1 or above 2^32-1, and more than [`MAX_RULES`]
/// rules. An `a` rule comes back as `a *:* rwm`, which is what it means to
/// the kernel.
pub fn effective_rules(user: &[LinuxDeviceCgroup]) -> Result<Vec<DeviceRule>, CgroupError> {
    if user.is_empty() {
        return Ok(Vec::new());
    }
    if user.len() > MAX_RULES {
        return Err(CgroupError::invalid(
            "linux.resources.devices",
            format!(
                "{} rules is more than the {MAX_RULES} ward supports",
                user.len()
            ),
        ));
    }
    let mut rules = Vec::with_capacity(user.len() + 11);
    for (i, rule) in user.iter().enumerate() {
        let what = || format!("linux.resources.devices[{i}] \"{rule}\"");
        let kind = match rule.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => 'a',
            LinuxDeviceType::C => 'c',
            LinuxDeviceType::B => 'b',
            other => {
                return Err(CgroupError::invalid(
                    what(),
                    format!(
                        "device type {:?} cannot be used in a device cgroup rule (only a, c or b)",
                        other.as_str()
                    ),
                ))
            }
        };
        let number = |n: Option<i64>, name: &str| match n {
            None | Some(-1) => Ok(None),
            Some(n) if (0..=i64::from(u32::MAX)).contains(&n) => Ok(Some(n)),
            Some(n) => Err(CgroupError::invalid(
                what(),
                format!("{name} number {n} is invalid (use -1 or leave it out for any)"),
            )),
        };
        let major = number(rule.major(), "major")?;
        let minor = number(rule.minor(), "minor")?;
        let given = rule.access().as_deref().unwrap_or("rwm");
        if given.is_empty() {
            return Err(CgroupError::invalid(
                what(),
                "access is empty (use r, w and m)",
            ));
        }
        if let Some(bad) = given.chars().find(|c| !"rwm".contains(*c)) {
            return Err(CgroupError::invalid(
                what(),
                format!("access {given:?} has {bad:?}: only r, w and m are allowed"),
            ));
        }
        let access: String = "rwm".chars().filter(|c| given.contains(*c)).collect();
        rules.push(if kind == 'a' {
            DeviceRule {
                allow: rule.allow(),
                kind,
                major: None,
                minor: None,
                access: "rwm".to_string(),
            }
        } else {
            DeviceRule {
                allow: rule.allow(),
                kind,
                major,
                minor,
                access,
            }
        });
    }
    rules.extend(default_rules());
    Ok(rules)
}

/// What systemd is told about a rule list: DevicePolicy and the
/// DeviceAllow entries (`/dev/char/1:3`, `char-136`, `block-*` with
/// "rwm" letters), and whether they say exactly what the list does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemdDevices {
    /// "strict" (only the entries) or "auto" (everything, no entries).
    pub policy: &'static str,
    pub allow: Vec<(String, String)>,
    pub exact: bool,
}

/// systemd's DevicePolicy/DeviceAllow for `rules` (from
/// [`effective_rules`]); None for an empty list (no device policy, as
/// with cgroupfs). runc's systemd driver makes the same mapping.
///
/// systemd's list is an allow list of whole devices (`/dev/char/M:m`),
/// whole majors (`char-M`, systemd 240+) or whole types (`char-*`); it has
/// no deny rule, no "any major, minor n" and no "everything but". Where
/// the rules need one of those there is no exact translation, and `widen`
/// says which way to err:
///
/// * `widen` (cgroup v2): allow more than the rules (an `allow c *:5` is
///   `char-*`, an allow narrowed by a later deny stays whole, an allow-all
///   with denies is policy auto). ward's own eBPF program is attached next
///   to systemd's and the kernel lets a device through only when both
///   programs do, so the rules hold exactly, and a daemon-reload (systemd
///   attaches its program again) or a `systemctl set-property` (it changes
///   only systemd's program) can't open what they deny.
/// * not `widen` (cgroup v1, one devices list per cgroup that systemd
///   rewrites on a reload): allow less (such rules are left out; an
///   allow-all with denies becomes the allows that follow it), so that a
///   reload can take access away but never gives what the rules deny.
pub fn systemd_devices(rules: &[DeviceRule], widen: bool) -> Option<SystemdDevices> {
    if rules.is_empty() {
        return None;
    }
    let (all_allowed, rest) = match rules.iter().rposition(|r| r.kind == 'a') {
        Some(i) => (rules[i].allow, &rules[i + 1..]),
        None => (false, rules),
    };
    if all_allowed {
        let denies = rest.iter().any(|r| !r.allow);
        if !denies || widen {
            return Some(SystemdDevices {
                policy: "auto",
                allow: Vec::new(),
                exact: !denies,
            });
        }
    }
    let mut exact = !all_allowed;
    let mut allow: Vec<(String, String)> = Vec::new();
    let compatible = |a: Option<i64>, b: Option<i64>| a.is_none() || b.is_none() || a == b;
    for (i, r) in rest.iter().enumerate() {
        if !r.allow {
            continue;
        }
        let mut bits = String::new();
        for bit in r.access.chars() {
            let mut keep = true;
            for d in rest[i + 1..]
                .iter()
                .filter(|d| !d.allow && d.kind == r.kind && d.access.contains(bit))
            {
                let covers = (d.major.is_none() || d.major == r.major)
                    && (d.minor.is_none() || d.minor == r.minor);
                if covers {
                    keep = false;
                    break;
                }
                if compatible(d.major, r.major) && compatible(d.minor, r.minor) {
                    // A deny inside the allowed range: not expressible.
                    exact = false;
                    if !widen {
                        keep = false;
                        break;
                    }
                }
            }
            if keep {
                bits.push(bit);
            }
        }
        if bits.is_empty() {
            continue;
        }
        let ty = if r.kind == 'b' { "block" } else { "char" };
        let path = match (r.major, r.minor) {
            (Some(ma), Some(mi)) => format!("/dev/{ty}/{ma}:{mi}"),
            (Some(ma), None) => format!("{ty}-{ma}"),
            (None, None) => format!("{ty}-*"),
            (None, Some(_)) => {
                exact = false;
                if !widen {
                    continue;
                }
                format!("{ty}-*")
            }
        };
        match allow.iter_mut().find(|(p, _)| *p == path) {
            Some((_, have)) => {
                *have = "rwm"
                    .chars()
                    .filter(|c| have.contains(*c) || bits.contains(*c))
                    .collect();
            }
            None => allow.push((path, bits)),
        }
    }
    Some(SystemdDevices {
        policy: "strict",
        allow,
        exact,
    })
}

/// The v1 `devices` controller writes for `rules`, in order: each rule
/// becomes "c 1:3 rwm" written to devices.allow or devices.deny.
///
/// The v1 kernel applies each write to the cgroup's current state, which
/// is a default (allow or deny everything) plus a list of exceptions:
/// writing `a` to devices.deny clears the exceptions and makes the default
/// deny, writing `a` to devices.allow clears them and makes it allow (the
/// rest of an `a` line is ignored, and both fail with EINVAL while the
/// cgroup has child cgroups); any other write adds an exception (an allow
/// under a deny default, a deny under an allow default) or takes access
/// bits away from an exception with exactly the same type and numbers.
///
/// So that the result is the one [`build_program`] gives on v2:
/// * the list is written from its last `a` rule on (what comes before is
///   cleared by that write anyway), and
/// * a list without an `a` rule is preceded by `deny a *:* rwm`, because a
///   new v1 cgroup inherits its parent's state (usually allow everything)
///   while the list means "deny what it does not allow".
///
/// What stays different: in v1 a deny removes access only from an
/// exception with the very same type and numbers (`deny c 1:* w` does not
/// narrow an earlier `allow c 1:3 rwm`), and an allow needs one exception
/// covering all requested bits. On a running container (update) the first
/// `deny a` briefly denies every device until the allows that follow.
pub fn v1_writes(rules: &[DeviceRule]) -> Vec<Write> {
    if rules.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(rules.len() + 1);
    let from = match rules.iter().rposition(|r| r.kind == 'a') {
        Some(i) => i,
        None => {
            out.push(Write::new("devices", "devices.deny", "a *:* rwm"));
            0
        }
    };
    for rule in &rules[from..] {
        let file = if rule.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        out.push(Write::new("devices", file, rule.to_string()));
    }
    out
}

// ---------------------------------------------------------------------------
// cgroup v2: the eBPF device program

/// One eBPF instruction (the kernel's `struct bpf_insn`).
pub use crate::sys::BpfInsn;

// Opcode pieces (linux/bpf_common.h, linux/bpf.h).
const BPF_LDX: u8 = 0x01;
const BPF_ALU: u8 = 0x04; // 32-bit ALU: results are zero-extended to 64 bits
const BPF_JMP: u8 = 0x05; // 64-bit compares
const BPF_W: u8 = 0x00; // 4-byte access
const BPF_MEM: u8 = 0x60;
const BPF_K: u8 = 0x00; // operand is imm
const BPF_X: u8 = 0x08; // operand is the source register
const BPF_AND: u8 = 0x50;
const BPF_RSH: u8 = 0x70;
const BPF_MOV: u8 = 0xb0;
const BPF_JA: u8 = 0x00;
const BPF_JEQ: u8 = 0x10;
const BPF_JNE: u8 = 0x50;
const BPF_EXIT: u8 = 0x90;

/// Registers. R1 holds the context pointer on entry, R0 the return value
/// at exit (1 = allow, 0 = deny).
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;

impl BpfInsn {
    fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> BpfInsn {
        #[cfg(target_endian = "little")]
        let regs = (src << 4) | (dst & 0x0f);
        #[cfg(target_endian = "big")]
        let regs = (dst << 4) | (src & 0x0f);
        BpfInsn {
            code,
            regs,
            off,
            imm,
        }
    }

    /// The destination register.
    pub fn dst(&self) -> u8 {
        if cfg!(target_endian = "little") {
            self.regs & 0x0f
        } else {
            self.regs >> 4
        }
    }

    /// The source register.
    pub fn src(&self) -> u8 {
        if cfg!(target_endian = "little") {
            self.regs >> 4
        } else {
            self.regs & 0x0f
        }
    }
}

/// dst = *(u32 *)(src + off)
fn ldx_w(dst: u8, src: u8, off: i16) -> BpfInsn {
    BpfInsn::new(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0)
}

/// (u32) dst = imm
fn mov32_imm(dst: u8, imm: i32) -> BpfInsn {
    BpfInsn::new(BPF_ALU | BPF_MOV | BPF_K, dst, 0, 0, imm)
}

/// (u32) dst = src
fn mov32_reg(dst: u8, src: u8) -> BpfInsn {
    BpfInsn::new(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0)
}

/// (u32) dst &= imm
fn and32_imm(dst: u8, imm: i32) -> BpfInsn {
    BpfInsn::new(BPF_ALU | BPF_AND | BPF_K, dst, 0, 0, imm)
}

/// (u32) dst >>= imm
fn rsh32_imm(dst: u8, imm: i32) -> BpfInsn {
    BpfInsn::new(BPF_ALU | BPF_RSH | BPF_K, dst, 0, 0, imm)
}

/// if dst == imm: skip `off` instructions
fn jeq_imm(dst: u8, imm: i32, off: i16) -> BpfInsn {
    BpfInsn::new(BPF_JMP | BPF_JEQ | BPF_K, dst, 0, off, imm)
}

/// if dst != imm: skip `off` instructions
fn jne_imm(dst: u8, imm: i32, off: i16) -> BpfInsn {
    BpfInsn::new(BPF_JMP | BPF_JNE | BPF_K, dst, 0, off, imm)
}

/// skip `off` instructions
fn ja(off: i16) -> BpfInsn {
    BpfInsn::new(BPF_JMP | BPF_JA, 0, 0, off, 0)
}

/// return R0
fn exit() -> BpfInsn {
    BpfInsn::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
}

// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
// access_type = (access << 16) | device type.
const CTX_ACCESS_TYPE: i16 = 0;
const CTX_MAJOR: i16 = 4;
const CTX_MINOR: i16 = 8;
const DEV_BLOCK: i32 = 1; // BPF_DEVCG_DEV_BLOCK
const DEV_CHAR: i32 = 2; // BPF_DEVCG_DEV_CHAR
const ACC_MKNOD: i32 = 1; // BPF_DEVCG_ACC_MKNOD
const ACC_READ: i32 = 2; // BPF_DEVCG_ACC_READ
const ACC_WRITE: i32 = 4; // BPF_DEVCG_ACC_WRITE
const ACC_ALL: i32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// An instruction list in which jumps to "the next rule" or "the end of
/// this section" are written once their targets are known.
struct Asm {
    insns: Vec<BpfInsn>,
    /// A jump needed more than i16::MAX instructions.
    too_long: bool,
}

impl Asm {
    /// Points the jump at `at` to the instruction that comes next.
    fn land_here(&mut self, at: usize) {
        let dist = self.insns.len() - at - 1;
        match i16::try_from(dist) {
            Ok(off) => self.insns[at].off = off,
            Err(_) => self.too_long = true,
        }
    }
}

/// Compiles `rules` (as [`effective_rules`] returns them) into a
/// `BPF_PROG_TYPE_CGROUP_DEVICE` program with the meaning described in the
/// module docs.
///
/// Shape: the prologue loads the device type into R2, the requested access
/// bits into R3, major into R4 and minor into R5. Then, for each access bit
/// (m, r, w) that is requested, the rules after the last `a` rule that name
/// that bit are tried from last to first: the first that matches the device
/// either denies (return 0) or settles that bit (jump to the next bit's
/// section); when none matches, the default applies (deny, or allow when
/// the last `a` rule is an allow). A request that got through all its bits
/// is allowed (return 1).
///
/// Rules that cannot match any device are left out: types other than c and
/// b (after the last `a`), and numbers outside 0..=2^31-1 (the kernel's
/// majors have 12 bits, minors 20). An empty list compiles to "deny
/// everything"; an empty list from [`effective_rules`] means "attach
/// nothing". A list so long that a jump would span more than 32767
/// instructions (about 6500 rules; [`effective_rules`] allows at most
/// [`MAX_RULES`]) compiles to "deny everything" too.
pub fn build_program(rules: &[DeviceRule]) -> Vec<BpfInsn> {
    let last_a = rules.iter().rposition(|r| r.kind == 'a');
    let default_allow = last_a.is_some_and(|i| rules[i].allow);
    let tail = &rules[last_a.map_or(0, |i| i + 1)..];

    let mut asm = Asm {
        insns: vec![
            ldx_w(R2, R1, CTX_ACCESS_TYPE),
            mov32_reg(R3, R2),
            and32_imm(R2, 0xffff),
            rsh32_imm(R3, 16),
            ldx_w(R4, R1, CTX_MAJOR),
            ldx_w(R5, R1, CTX_MINOR),
        ],
        too_long: false,
    };

    // Access bits this program does not know get the default.
    if !default_allow {
        asm.insns.push(mov32_reg(R0, R3));
        asm.insns.push(and32_imm(R0, !ACC_ALL));
        asm.insns.push(jeq_imm(R0, 0, 2));
        asm.insns.push(mov32_imm(R0, 0));
        asm.insns.push(exit());
    }

    for bit in [ACC_MKNOD, ACC_READ, ACC_WRITE] {
        // Skip the section when the bit is not requested.
        asm.insns.push(mov32_reg(R0, R3));
        asm.insns.push(and32_imm(R0, bit));
        let skip_section = asm.insns.len();
        asm.insns.push(jeq_imm(R0, 0, 0));
        let mut settled = Vec::new();
        for rule in tail.iter().rev() {
            if access_bits(&rule.access) & bit == 0 {
                continue;
            }
            let dev_type = match rule.kind {
                'c' => DEV_CHAR,
                'b' => DEV_BLOCK,
                _ => continue,
            };
            let number = |n: Option<i64>| match n {
                None => Ok(None),
                Some(n) => i32::try_from(n).map(Some).map_err(|_| ()),
            };
            let (Ok(major), Ok(minor)) = (number(rule.major), number(rule.minor)) else {
                continue;
            };
            if major.is_some_and(|n| n < 0) || minor.is_some_and(|n| n < 0) {
                continue;
            }
            let mut next_rule = vec![asm.insns.len()];
            asm.insns.push(jne_imm(R2, dev_type, 0));
            if let Some(n) = major {
                next_rule.push(asm.insns.len());
                asm.insns.push(jne_imm(R4, n, 0));
            }
            if let Some(n) = minor {
                next_rule.push(asm.insns.len());
                asm.insns.push(jne_imm(R5, n, 0));
            }
            if rule.allow {
                settled.push(asm.insns.len());
                asm.insns.push(ja(0));
            } else {
                asm.insns.push(mov32_imm(R0, 0));
                asm.insns.push(exit());
            }
            for at in next_rule {
                asm.land_here(at);
            }
        }
        if !default_allow {
            asm.insns.push(mov32_imm(R0, 0));
            asm.insns.push(exit());
        }
        asm.land_here(skip_section);
        for at in settled {
            asm.land_here(at);
        }
    }
    asm.insns.push(mov32_imm(R0, 1));
    asm.insns.push(exit());
    if asm.too_long {
        // Fail closed rather than jump to the wrong place.
        return vec![mov32_imm(R0, 0), exit()];
    }
    asm.insns
}

fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |bits, c| {
        bits | match c {
            'm' => ACC_MKNOD,
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            _ => 0,
        }
    })
}

// ---------------------------------------------------------------------------
// bpf(2)

const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6; // enum bpf_attach_type
const BPF_F_ALLOW_OVERRIDE: u32 = 1 << 0;
const BPF_F_ALLOW_MULTI: u32 = 1 << 1;

/// The license the program declares. It calls no kernel helpers at all, so
/// it needs none of the GPL-only ones, and the kernel accepts a non-GPL
/// license for it (checked by the kernel test below).
const LICENSE: &std::ffi::CStr = c"Apache-2.0";
/// Shown by `bpftool prog` (letters, digits, '_' and '.' only).
const PROG_NAME: &[u8] = b"ward_devices";

fn io_err(op: &'static str, path: &Path, errno: Errno) -> CgroupError {
    CgroupError::Io {
        op,
        path: path.to_path_buf(),
        errno,
    }
}

/// Loads `prog`. When the kernel refuses it, loads it again with the
/// verifier's log on, so that the error can say why.
fn load(cgroup_dir: &Path, prog: &[BpfInsn]) -> Result<OwnedFd, CgroupError> {
    if prog.is_empty() {
        return Err(CgroupError::invalid(
            "device cgroup BPF program",
            "no instructions",
        ));
    }
    if u32::try_from(prog.len()).is_err() {
        return Err(CgroupError::invalid(
            "device cgroup BPF program",
            format!("{} instructions is too many", prog.len()),
        ));
    }
    let mut log: Vec<u8> = Vec::new();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match crate::sys::bpf_prog_load(
            BPF_PROG_TYPE_CGROUP_DEVICE,
            prog,
            LICENSE,
            PROG_NAME,
            &mut log,
        ) {
            Ok(fd) => return Ok(fd),
            // The verifier can be interrupted; the kernel asks to retry.
            Err(Errno(libc::EAGAIN)) | Err(Errno(libc::EINTR)) if attempt < 5 => continue,
            Err(errno @ (Errno(libc::EACCES) | Errno(libc::EINVAL))) => {
                if log.is_empty() {
                    log = vec![0u8; 256 * 1024];
                    attempt = 0;
                    continue;
                }
                let text = String::from_utf8_lossy(&log);
                let text = text.trim_end_matches('\0').trim();
                // The reason is at the end; keep the error line short.
                let start = text.char_indices().rev().nth(1500).map_or(0, |(i, _)| i);
                return Err(CgroupError::invalid(
                    format!(
                        "device cgroup BPF program for {} ({} instructions)",
                        cgroup_dir.display(),
                        prog.len()
                    ),
                    format!(
                        "the kernel refused it ({errno}): {}",
                        text[start..].replace('\n', "; ")
                    ),
                ));
            }
            Err(errno) => return Err(io_err("load device BPF program for", cgroup_dir, errno)),
        }
    }
}

fn open_cgroup(cgroup_dir: &Path) -> Result<std::fs::File, CgroupError> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(cgroup_dir)
        .map_err(|e| io_err("open", cgroup_dir, Errno::from(&e)))
}

fn attach(cgroup: &std::fs::File, prog: &OwnedFd, flags: u32) -> Result<(), Errno> {
    crate::sys::bpf_prog_attach(cgroup.as_fd(), prog.as_fd(), BPF_CGROUP_DEVICE, flags)
}

fn detach(cgroup: &std::fs::File, prog: &OwnedFd) -> Result<(), Errno> {
    crate::sys::bpf_prog_detach(cgroup.as_fd(), prog.as_fd(), BPF_CGROUP_DEVICE)
}

/// The device programs attached to this very cgroup (not inherited ones):
/// the attach flags of the cgroup's device slot and the program ids.
fn query(cgroup: &std::fs::File) -> Result<(u32, Vec<u32>), Errno> {
    crate::sys::bpf_prog_query(cgroup.as_fd(), BPF_CGROUP_DEVICE)
}

fn prog_fd_by_id(id: u32) -> Result<OwnedFd, Errno> {
    crate::sys::bpf_prog_get_fd_by_id(id)
}

/// Loads `prog` and attaches it to the cgroup v2 directory `cgroup_dir`
/// with BPF_F_ALLOW_MULTI, next to whatever is attached there already (the
/// kernel allows a device only when every attached program does, here and
/// in every ancestor). For a new cgroup. The cgroup keeps the program
/// alive; it goes away with the cgroup.
pub fn load_and_attach(cgroup_dir: &Path, prog: &[BpfInsn]) -> Result<(), CgroupError> {
    let cgroup = open_cgroup(cgroup_dir)?;
    let fd = load(cgroup_dir, prog)?;
    attach(&cgroup, &fd, BPF_F_ALLOW_MULTI)
        .map_err(|e| io_err("attach device BPF program to", cgroup_dir, e))
}

/// Makes `prog` the cgroup's device program, for creation and `update`
/// alike: loads it (a program the verifier refuses changes nothing), lists
/// the device programs attached to the cgroup itself, attaches the new one
/// and then detaches every old one.
///
/// Between attach and detach both programs are attached and a device must
/// pass both, so an access allowed before and after is never refused, and
/// one allowed by only one of them is never let through early.
///
/// A cgroup whose device slot is in single-program mode (someone attached
/// without BPF_F_ALLOW_MULTI) cannot take a second program; there the
/// attach is done with the slot's own flags, which swaps the program in one
/// step.
pub fn replace(cgroup_dir: &Path, prog: &[BpfInsn]) -> Result<(), CgroupError> {
    let cgroup = open_cgroup(cgroup_dir)?;
    let fd = load(cgroup_dir, prog)?;
    let (flags, old) =
        query(&cgroup).map_err(|e| io_err("query device BPF programs of", cgroup_dir, e))?;
    if !old.is_empty() && flags & BPF_F_ALLOW_MULTI == 0 {
        return attach(&cgroup, &fd, flags & BPF_F_ALLOW_OVERRIDE)
            .map_err(|e| io_err("attach device BPF program to", cgroup_dir, e));
    }
    attach(&cgroup, &fd, BPF_F_ALLOW_MULTI)
        .map_err(|e| io_err("attach device BPF program to", cgroup_dir, e))?;
    for id in old {
        let old_fd = match prog_fd_by_id(id) {
            Ok(fd) => fd,
            // Detached and freed since the query.
            Err(Errno(libc::ENOENT)) => continue,
            Err(e) => return Err(io_err("open old device BPF program of", cgroup_dir, e)),
        };
        match detach(&cgroup, &old_fd) {
            Ok(()) | Err(Errno(libc::ENOENT)) => {}
            Err(e) => return Err(io_err("detach old device BPF program from", cgroup_dir, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;
    use std::path::PathBuf;
    use std::process::Command;

    fn oci(
        allow: bool,
        typ: Option<LinuxDeviceType>,
        major: Option<i64>,
        minor: Option<i64>,
        access: Option<&str>,
    ) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default().allow(allow);
        if let Some(t) = typ {
            b = b.typ(t);
        }
        if let Some(n) = major {
            b = b.major(n);
        }
        if let Some(n) = minor {
            b = b.minor(n);
        }
        if let Some(a) = access {
            b = b.access(a);
        }
        b.build().unwrap()
    }

    /// Parses "allow c 1:3 rw" / "deny a" into a rule.
    fn rule(s: &str) -> DeviceRule {
        let parts: Vec<&str> = s.split_whitespace().collect();
        let allow = match parts[0] {
            "allow" => true,
            "deny" => false,
            other => panic!("bad verdict {other}"),
        };
        let kind = parts[1].chars().next().unwrap();
        let (major, minor, access) = if kind == 'a' {
            (None, None, "rwm".to_string())
        } else {
            let (ma, mi) = parts[2].split_once(':').unwrap();
            let num = |x: &str| {
                if x == "*" {
                    None
                } else {
                    Some(x.parse().unwrap())
                }
            };
            (num(ma), num(mi), parts[3].to_string())
        };
        DeviceRule {
            allow,
            kind,
            major,
            minor,
            access,
        }
    }

    fn rules(list: &[&str]) -> Vec<DeviceRule> {
        list.iter().map(|s| rule(s)).collect()
    }

    #[test]
    fn systemd_mapping() {
        let sd = |list: &[&str], widen: bool| systemd_devices(&rules(list), widen).unwrap();
        let pairs = |l: &[(&str, &str)]| -> Vec<(String, String)> {
            l.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(systemd_devices(&[], true), None);
        // The usual engine list: exact both ways.
        let list = [
            "deny a",
            "allow c 1:11 w",
            "allow c *:* m",
            "allow b 8:* r",
            "allow c 136:* rwm",
            "allow c 1:3 r",
            "allow c 1:3 w",
        ];
        for widen in [true, false] {
            let s = sd(&list, widen);
            assert_eq!(s.policy, "strict");
            assert!(s.exact);
            assert_eq!(
                s.allow,
                pairs(&[
                    ("/dev/char/1:11", "w"),
                    ("char-*", "m"),
                    ("block-8", "r"),
                    ("char-136", "rwm"),
                    ("/dev/char/1:3", "rw"),
                ])
            );
        }
        // A later deny of the whole device or more takes the bits away,
        // exactly; one inside a wider allow can't be said.
        let s = sd(&["allow c 1:3 rw", "deny c 1:* w"], false);
        assert_eq!((s.allow, s.exact), (pairs(&[("/dev/char/1:3", "r")]), true));
        let l = ["allow c 1:* rw", "deny c 1:3 w"];
        let s = sd(&l, true);
        assert_eq!((s.allow, s.exact), (pairs(&[("char-1", "rw")]), false));
        let s = sd(&l, false);
        assert_eq!((s.allow, s.exact), (pairs(&[("char-1", "r")]), false));
        // Any major, one minor.
        let s = sd(&["allow c *:5 r"], true);
        assert_eq!((s.allow, s.exact), (pairs(&[("char-*", "r")]), false));
        assert!(sd(&["allow c *:5 r"], false).allow.is_empty());
        // Allow-all: auto; with denies after it, auto widened, else the
        // allows that follow.
        let s = sd(&["deny a", "allow a"], false);
        assert_eq!((s.policy, s.exact), ("auto", true));
        assert!(s.allow.is_empty());
        let l = ["allow a", "deny c 1:1 rwm", "allow c 1:3 rwm"];
        let s = sd(&l, true);
        assert_eq!((s.policy, s.exact), ("auto", false));
        let s = sd(&l, false);
        assert_eq!((s.policy, s.exact), ("strict", false));
        assert_eq!(s.allow, pairs(&[("/dev/char/1:3", "rwm")]));
        // A deny of another type or another bit doesn't matter.
        let s = sd(&["allow c 1:* r", "deny b 1:3 r", "deny c 1:3 w"], false);
        assert_eq!((s.allow, s.exact), (pairs(&[("char-1", "r")]), true));
    }

    #[test]
    fn empty_list_means_no_policy() {
        assert_eq!(effective_rules(&[]).unwrap(), vec![]);
        assert!(v1_writes(&[]).is_empty());
    }

    #[test]
    fn effective_rules_normalizes_and_appends_defaults() {
        let user = [
            oci(false, None, None, None, Some("rwm")),
            oci(
                true,
                Some(LinuxDeviceType::C),
                Some(10),
                Some(-1),
                Some("wr"),
            ),
            oci(true, Some(LinuxDeviceType::B), Some(-1), None, None),
            oci(false, Some(LinuxDeviceType::A), Some(1), Some(3), Some("r")),
            oci(
                true,
                Some(LinuxDeviceType::C),
                Some(4),
                Some(4),
                Some("mmr"),
            ),
        ];
        let got = effective_rules(&user).unwrap();
        let want = rules(&[
            "deny a",
            "allow c 10:* rw",
            "allow b *:* rwm",
            "deny a",
            "allow c 4:4 rm",
            "allow c *:* m",
            "allow b *:* m",
            "allow c 1:3 rwm",
            "allow c 1:5 rwm",
            "allow c 1:7 rwm",
            "allow c 1:8 rwm",
            "allow c 1:9 rwm",
            "allow c 5:0 rwm",
            "allow c 5:1 rwm",
            "allow c 5:2 rwm",
            "allow c 136:* rwm",
        ]);
        assert_eq!(got, want);
    }

    #[test]
    fn effective_rules_refuses_bad_rules() {
        let cases = [
            (
                oci(true, Some(LinuxDeviceType::U), Some(1), Some(3), None),
                "cannot be used",
            ),
            (
                oci(true, Some(LinuxDeviceType::P), None, None, None),
                "cannot be used",
            ),
            (
                oci(true, Some(LinuxDeviceType::C), Some(1), Some(3), Some("rx")),
                "only r, w and m",
            ),
            (
                oci(true, Some(LinuxDeviceType::C), Some(1), Some(3), Some("")),
                "empty",
            ),
            (
                oci(true, Some(LinuxDeviceType::C), Some(-2), Some(3), None),
                "major number -2",
            ),
            (
                oci(true, Some(LinuxDeviceType::C), Some(1), Some(-7), None),
                "minor number -7",
            ),
            (
                oci(true, Some(LinuxDeviceType::B), Some(1 << 32), None, None),
                "major number 4294967296",
            ),
        ];
        for (bad, why) in cases {
            let list = [oci(false, None, None, None, None), bad];
            let err = effective_rules(&list).unwrap_err().to_string();
            assert!(err.contains(why), "{err:?} lacks {why:?}");
            assert!(
                err.contains("linux.resources.devices[1]"),
                "{err:?} names no rule"
            );
        }
        let err = effective_rules(&[oci(
            true,
            Some(LinuxDeviceType::U),
            Some(1),
            Some(3),
            Some("rw"),
        )])
        .unwrap_err()
        .to_string();
        assert!(err.contains("\"u 1:3 rw\""), "{err}");
    }

    #[test]
    fn v1_writes_in_order() {
        let list = rules(&[
            "deny a",
            "allow c 1:3 rwm",
            "deny c 1:3 w",
            "allow b *:* m",
            "allow c 136:* rw",
        ]);
        let got: Vec<(String, String)> = v1_writes(&list)
            .into_iter()
            .map(|w| {
                assert_eq!(w.controller, "devices");
                (w.file, w.value)
            })
            .collect();
        let want = [
            ("devices.deny", "a *:* rwm"),
            ("devices.allow", "c 1:3 rwm"),
            ("devices.deny", "c 1:3 w"),
            ("devices.allow", "b *:* m"),
            ("devices.allow", "c 136:* rw"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(f, v)| (f.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn v1_writes_start_at_last_a_or_deny_all() {
        let values = |list: &[&str]| -> Vec<String> {
            v1_writes(&rules(list))
                .into_iter()
                .map(|w| format!("{} {}", w.file, w.value))
                .collect()
        };
        assert_eq!(
            values(&["allow c 1:3 rwm", "allow a", "deny c 1:5 w"]),
            ["devices.allow a *:* rwm", "devices.deny c 1:5 w"]
        );
        assert_eq!(
            values(&["allow c 1:3 r"]),
            ["devices.deny a *:* rwm", "devices.allow c 1:3 r"]
        );
    }

    // -- a tiny interpreter for the instructions build_program emits --------

    const CTX_BASE: u64 = 0x1000;

    /// Runs `prog` on one request; returns R0. Panics on anything the
    /// verifier would refuse that we can see here (unknown opcode, bad
    /// jump, backward jump, reading a register never written, falling off
    /// the end, a return value other than 0 or 1).
    fn run(prog: &[BpfInsn], kind: i32, major: u32, minor: u32, access: i32) -> u64 {
        let ctx = [((access as u32) << 16) | kind as u32, major, minor];
        let mut regs = [None::<u64>; 11];
        regs[1] = Some(CTX_BASE);
        let mut pc = 0usize;
        for _ in 0..100_000 {
            let insn = prog
                .get(pc)
                .unwrap_or_else(|| panic!("ran off the end at {pc}"));
            let (d, s) = (insn.dst() as usize, insn.src() as usize);
            let get = |r: usize, regs: &[Option<u64>; 11]| {
                regs[r].unwrap_or_else(|| panic!("R{r} read before written at {pc}"))
            };
            let imm = insn.imm;
            let mut next = pc + 1;
            let jump = |cond: bool| -> usize {
                assert!(insn.off >= 0, "backward jump at {pc}");
                let to = pc + 1 + if cond { insn.off as usize } else { 0 };
                assert!(to < prog.len(), "jump out of the program at {pc}");
                to
            };
            match insn.code {
                0x61 => {
                    let addr = get(s, &regs) as i64 + insn.off as i64;
                    let i = (addr - CTX_BASE as i64) as usize;
                    assert!(i.is_multiple_of(4) && i < 12, "bad ctx load at {pc}");
                    regs[d] = Some(ctx[i / 4] as u64);
                }
                0xb4 => regs[d] = Some(imm as u32 as u64),
                0xbc => regs[d] = Some(get(s, &regs) as u32 as u64),
                0x54 => regs[d] = Some((get(d, &regs) as u32 & imm as u32) as u64),
                0x74 => regs[d] = Some((get(d, &regs) as u32 >> imm) as u64),
                0x05 => next = jump(true),
                0x15 => next = jump(get(d, &regs) == imm as i64 as u64),
                0x55 => next = jump(get(d, &regs) != imm as i64 as u64),
                0x95 => {
                    let r0 = get(0, &regs);
                    assert!(r0 <= 1, "returns {r0}");
                    return r0;
                }
                other => panic!("opcode {other:#x} at {pc} is not one build_program emits"),
            }
            pc = next;
        }
        panic!("no exit");
    }

    fn acc(s: &str) -> i32 {
        access_bits(s)
    }

    /// Checks `(type, major, minor, access) -> allowed` cases against the
    /// program for `list`.
    fn check(list: &[DeviceRule], cases: &[(&str, bool)]) {
        let prog = build_program(list);
        for (case, want) in cases {
            let parts: Vec<&str> = case.split_whitespace().collect();
            let kind = match parts[0] {
                "c" => DEV_CHAR,
                "b" => DEV_BLOCK,
                other => panic!("bad type {other}"),
            };
            let (ma, mi) = parts[1].split_once(':').unwrap();
            let got = run(
                &prog,
                kind,
                ma.parse().unwrap(),
                mi.parse().unwrap(),
                acc(parts[2]),
            );
            assert_eq!(
                got == 1,
                *want,
                "rules {list:?}: {case} should be {}",
                if *want { "allowed" } else { "denied" }
            );
        }
    }

    #[test]
    fn program_deny_all_then_allow_null_rw() {
        check(
            &rules(&["deny a", "allow c 1:3 rw"]),
            &[
                ("c 1:3 r", true),
                ("c 1:3 w", true),
                ("c 1:3 rw", true),
                ("c 1:3 m", false),
                ("c 1:3 rm", false),
                ("c 1:5 r", false),
                ("c 2:3 r", false),
                ("b 1:3 r", false),
                ("b 8:0 m", false),
            ],
        );
    }

    #[test]
    fn program_allow_all() {
        let list = rules(&["allow a"]);
        check(
            &list,
            &[
                ("c 1:3 rwm", true),
                ("b 8:0 rw", true),
                ("c 4095:1048575 m", true),
            ],
        );
        // Unknown access bits follow the default.
        assert_eq!(run(&build_program(&list), DEV_CHAR, 1, 3, 8), 1);
        assert_eq!(
            run(
                &build_program(&rules(&["deny a", "allow c *:* rwm"])),
                DEV_CHAR,
                1,
                3,
                8 | 2
            ),
            0
        );
    }

    #[test]
    fn program_allow_all_then_deny() {
        check(
            &rules(&["allow a", "deny c 1:3 w", "deny b 8:* rwm"]),
            &[
                ("c 1:3 r", true),
                ("c 1:3 m", true),
                ("c 1:3 w", false),
                ("c 1:3 rw", false),
                ("c 1:5 w", true),
                ("b 8:0 r", false),
                ("b 8:16 m", false),
                ("b 9:0 rwm", true),
            ],
        );
    }

    #[test]
    fn program_last_rule_wins() {
        check(
            &rules(&["deny a", "allow c *:* rwm", "deny c 1:* w", "allow c 1:5 w"]),
            &[
                ("c 1:3 r", true),
                ("c 1:3 w", false),
                ("c 1:3 rw", false),
                ("c 1:5 rw", true),
                ("c 2:0 rwm", true),
                ("b 2:0 r", false),
            ],
        );
        // Bits given by separate rules add up.
        check(
            &rules(&["deny a", "allow c 1:3 r", "allow c 1:3 w"]),
            &[("c 1:3 rw", true), ("c 1:3 rwm", false)],
        );
        // A later `a` rule resets everything before it.
        check(
            &rules(&["allow c 1:3 rwm", "deny a"]),
            &[("c 1:3 r", false), ("b 1:3 m", false)],
        );
        check(
            &rules(&["deny a", "deny c 1:3 rwm", "allow a"]),
            &[("c 1:3 r", true), ("b 1:3 m", true)],
        );
    }

    #[test]
    fn program_without_a_rule_denies_by_default() {
        check(
            &rules(&["allow c 1:3 r"]),
            &[
                ("c 1:3 r", true),
                ("c 1:3 w", false),
                ("c 1:3 rw", false),
                ("c 1:5 r", false),
            ],
        );
        check(&[], &[("c 1:3 r", false)]);
    }

    #[test]
    fn program_for_effective_defaults() {
        let list = effective_rules(&[oci(false, None, None, None, Some("rwm"))]).unwrap();
        check(
            &list,
            &[
                ("c 1:3 rw", true),
                ("c 1:3 m", true),
                ("c 1:9 r", true),
                ("c 5:2 rw", true),
                ("c 136:7 rw", true),
                ("c 10:200 m", true),
                ("b 8:0 m", true),
                ("c 10:200 rw", false),
                ("b 8:0 r", false),
                ("c 1:4 r", false),
                ("c 4:1 w", false),
            ],
        );
    }

    #[test]
    fn program_skips_numbers_no_device_has() {
        let list = vec![
            rule("allow a"),
            DeviceRule {
                allow: false,
                kind: 'c',
                major: Some(1 << 31),
                minor: None,
                access: "rwm".into(),
            },
        ];
        check(&list, &[("c 0:0 r", true)]);
    }

    #[test]
    fn program_too_long_denies_everything() {
        let mut list = vec![rule("allow a")];
        list.extend((0..7000).map(|i| DeviceRule {
            allow: false,
            kind: 'c',
            major: Some(4000),
            minor: Some(i),
            access: "r".into(),
        }));
        assert_eq!(build_program(&list), vec![mov32_imm(R0, 0), exit()]);
        // The most effective_rules lets through still compiles.
        let user = vec![oci(false, Some(LinuxDeviceType::C), Some(4000), Some(1), None); MAX_RULES];
        let list = effective_rules(&user).unwrap();
        check(&list, &[("c 1:3 r", true), ("c 4000:1 r", false)]);
        let too_many = vec![oci(true, None, None, None, None); MAX_RULES + 1];
        assert!(effective_rules(&too_many).is_err());
    }

    #[test]
    fn insn_layout() {
        assert_eq!(std::mem::size_of::<BpfInsn>(), 8);
        let i = ldx_w(R4, R1, CTX_MAJOR);
        assert_eq!((i.code, i.dst(), i.src(), i.off), (0x61, 4, 1, 4));
        #[cfg(target_endian = "little")]
        assert_eq!(i.regs, 0x14);
    }

    // -- the real kernel ----------------------------------------------------

    const UNIFIED: &str = "/sys/fs/cgroup/unified";

    /// Removes the test's cgroup and scratch directory, even when an
    /// assertion failed: moves any process left in the cgroup back to the
    /// root and rmdirs it.
    struct Cleanup {
        cgroup: PathBuf,
        scratch: PathBuf,
    }

    impl Drop for Cleanup {
        fn drop(&mut self) {
            if let Ok(procs) = std::fs::read_to_string(self.cgroup.join("cgroup.procs")) {
                for pid in procs.lines() {
                    let _ = std::fs::write(Path::new(UNIFIED).join("cgroup.procs"), pid);
                }
            }
            for _ in 0..50 {
                if std::fs::remove_dir(&self.cgroup).is_ok() || !self.cgroup.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let _ = std::fs::remove_dir_all(&self.scratch);
        }
    }

    /// Runs `script` under busybox sh inside `cgroup` (the shell moves
    /// itself in before exec'ing busybox, so every open happens inside).
    fn run_in(cgroup: &Path, scratch: &Path, script: &str) -> (String, String) {
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg("echo $$ > \"$1/cgroup.procs\" || exit 90; exec /bin/busybox sh -c \"$2\" sh \"$3\"")
            .arg("sh")
            .arg(cgroup)
            .arg(script)
            .arg(scratch)
            .output()
            .expect("spawn /bin/sh");
        assert_ne!(
            out.status.code(),
            Some(90),
            "could not join {}",
            cgroup.display()
        );
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[test]
    fn kernel_program_allows_only_listed_devices() {
        let fstype = nix::sys::statfs::statfs(UNIFIED).map(|s| s.filesystem_type());
        if fstype != Ok(nix::sys::statfs::CGROUP2_SUPER_MAGIC) {
            println!("SKIP: no cgroup2 hierarchy at {UNIFIED}");
            return;
        }
        if !Path::new("/bin/busybox").exists() {
            println!("SKIP: no /bin/busybox");
            return;
        }
        let pid = std::process::id();
        let guard = Cleanup {
            cgroup: Path::new(UNIFIED).join(format!("ward-devtest-{pid}")),
            scratch: std::env::temp_dir().join(format!("ward-devtest-{pid}")),
        };
        std::fs::create_dir(&guard.cgroup).expect("mkdir test cgroup");
        std::fs::create_dir(&guard.scratch).expect("mkdir scratch dir");

        let script = "cat /dev/null && echo NULL_OK; \
                      if head -c1 /dev/zero >/dev/null; then echo ZERO_OK; else echo ZERO_DENIED; fi; \
                      if mknod \"$1/n\" c 1 3; then echo MKNOD_OK; else echo MKNOD_DENIED; fi";

        load_and_attach(&guard.cgroup, &build_program(&rules(&["allow c 1:3 rw"])))
            .expect("load_and_attach");
        let (out, err) = run_in(&guard.cgroup, &guard.scratch, script);
        assert!(out.contains("NULL_OK"), "stdout {out:?} stderr {err:?}");
        assert!(out.contains("ZERO_DENIED"), "stdout {out:?} stderr {err:?}");
        assert!(
            out.contains("MKNOD_DENIED"),
            "stdout {out:?} stderr {err:?}"
        );
        assert!(err.contains("Operation not permitted"), "stderr {err:?}");

        // update: allow everything instead; exactly one program remains.
        replace(&guard.cgroup, &build_program(&rules(&["allow a"]))).expect("replace");
        let (out, err) = run_in(&guard.cgroup, &guard.scratch, script);
        assert!(
            out.contains("NULL_OK") && out.contains("ZERO_OK") && out.contains("MKNOD_OK"),
            "stdout {out:?} stderr {err:?}"
        );
        let dir = open_cgroup(&guard.cgroup).unwrap();
        let (flags, ids) = query(&dir).expect("query");
        assert_eq!(
            (flags, ids.len()),
            (BPF_F_ALLOW_MULTI, 1),
            "programs {ids:?}"
        );

        // And back, through replace again.
        std::fs::remove_file(guard.scratch.join("n")).unwrap();
        replace(
            &guard.cgroup,
            &build_program(&rules(&["deny a", "allow c 1:3 rw"])),
        )
        .expect("replace");
        let (out, err) = run_in(&guard.cgroup, &guard.scratch, script);
        assert!(
            out.contains("NULL_OK") && out.contains("ZERO_DENIED") && out.contains("MKNOD_DENIED"),
            "stdout {out:?} stderr {err:?}"
        );
        let (_, ids2) = query(&dir).expect("query");
        assert_eq!(ids2.len(), 1);
        assert_ne!(ids2, ids);
        drop(guard);
    }

    #[test]
    fn kernel_reports_verifier_errors() {
        if nix::sys::statfs::statfs(UNIFIED).map(|s| s.filesystem_type())
            != Ok(nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        {
            println!("SKIP: no cgroup2 hierarchy at {UNIFIED}");
            return;
        }
        // Returns without setting R0.
        // The longest list effective_rules lets through loads.
        let user = vec![oci(false, Some(LinuxDeviceType::C), Some(4000), Some(1), None); MAX_RULES];
        let prog = build_program(&effective_rules(&user).unwrap());
        assert!(prog.len() > 3 * 5 * MAX_RULES);
        load(Path::new(UNIFIED), &prog).expect("load the longest program");
        let err = load(Path::new(UNIFIED), &[exit()]).unwrap_err().to_string();
        assert!(err.contains("refused") && err.contains("R0"), "{err}");
    }
}
