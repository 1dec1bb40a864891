//! Seccomp: the spec's `linux.seccomp` profile compiled to a classic BPF
//! program, loaded by init, and the notify listener handed to the agent at
//! `listenerPath`.
//!
//! libseccomp runs only in the parent, before the fork: it resolves syscall
//! names per architecture and exports the program (`seccomp_export_bpf`). The
//! child loads that program with the raw seccomp(2) syscall, so it runs no
//! libseccomp code and allocates nothing after the fork. Semantics follow
//! runc's libcontainer/seccomp (see the notes at each rule below).

use std::fs::File;
use std::io::{IoSlice, Read, Seek, SeekFrom};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
    ScmpVersion,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use serde_json::{json, Value};

use crate::sys::Errno;

/// Linux syscalls take at most six arguments.
const MAX_ARGS: usize = 6;
/// The kernel's limit on a classic BPF program (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;
/// runc turns on libseccomp's binary-tree layout past this many syscalls
/// (libseccomp <= 2.5.4 misbehaves with it and no rules).
const OPTIMIZE_ABOVE: usize = 32;
/// The annotation of `ward features` that carries the libseccomp version
/// (runc's key).
pub const LIBSECCOMP_VERSION_ANNOTATION: &str = "io.github.seccomp.libseccomp.version";

const FLAG_TSYNC: u32 = libc::SECCOMP_FILTER_FLAG_TSYNC as u32;
const FLAG_LOG: u32 = libc::SECCOMP_FILTER_FLAG_LOG as u32;
const FLAG_SPEC_ALLOW: u32 = libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32;
const FLAG_NEW_LISTENER: u32 = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32;
const FLAG_WAIT_KILLABLE_RECV: u32 = libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV as u32;

const ACTIONS: [LinuxSeccompAction; 9] = [
    LinuxSeccompAction::ScmpActKill,
    LinuxSeccompAction::ScmpActKillProcess,
    LinuxSeccompAction::ScmpActKillThread,
    LinuxSeccompAction::ScmpActTrap,
    LinuxSeccompAction::ScmpActErrno,
    LinuxSeccompAction::ScmpActTrace,
    LinuxSeccompAction::ScmpActAllow,
    LinuxSeccompAction::ScmpActLog,
    LinuxSeccompAction::ScmpActNotify,
];
const OPERATORS: [LinuxSeccompOperator; 7] = [
    LinuxSeccompOperator::ScmpCmpNe,
    LinuxSeccompOperator::ScmpCmpLt,
    LinuxSeccompOperator::ScmpCmpLe,
    LinuxSeccompOperator::ScmpCmpEq,
    LinuxSeccompOperator::ScmpCmpGe,
    LinuxSeccompOperator::ScmpCmpGt,
    LinuxSeccompOperator::ScmpCmpMaskedEq,
];
const FLAGS: [LinuxSeccompFilterFlag; 4] = [
    LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
    LinuxSeccompFilterFlag::SeccompFilterFlagLog,
    LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
    LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
];
const ARCHS: [Arch; 24] = [
    Arch::ScmpArchNative,
    Arch::ScmpArchX86,
    Arch::ScmpArchX86_64,
    Arch::ScmpArchX32,
    Arch::ScmpArchArm,
    Arch::ScmpArchAarch64,
    Arch::ScmpArchMips,
    Arch::ScmpArchMips64,
    Arch::ScmpArchMips64n32,
    Arch::ScmpArchMipsel,
    Arch::ScmpArchMipsel64,
    Arch::ScmpArchMipsel64n32,
    Arch::ScmpArchPpc,
    Arch::ScmpArchPpc64,
    Arch::ScmpArchPpc64le,
    Arch::ScmpArchS390,
    Arch::ScmpArchS390x,
    Arch::ScmpArchParisc,
    Arch::ScmpArchParisc64,
    Arch::ScmpArchRiscv64,
    Arch::ScmpArchLoongarch64,
    Arch::ScmpArchM68k,
    Arch::ScmpArchSh,
    Arch::ScmpArchSheb,
];

/// What can go wrong with a profile or its listener. `field` is the spec's
/// path to the value at fault (`linux.seccomp.syscalls[2].action`).
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("{field}: unknown {what} {value:?}")]
    Unknown {
        field: String,
        what: &'static str,
        value: String,
    },
    #[error("{field}: {why}")]
    Invalid { field: String, why: String },
    #[error("{field}: {op}: {source}")]
    Libseccomp {
        field: String,
        op: String,
        source: libseccomp::error::SeccompError,
    },
    #[error("seccomp: {op}: {errno}")]
    Sys { op: &'static str, errno: Errno },
    #[error("failed to connect with seccomp agent {path}: {errno}")]
    Connect { path: PathBuf, errno: Errno },
    #[error("cannot send seccomp fd to {path}: {errno}")]
    Send { path: PathBuf, errno: Errno },
}

fn invalid(field: impl Into<String>, why: impl Into<String>) -> SeccompError {
    SeccompError::Invalid {
        field: field.into(),
        why: why.into(),
    }
}

/// A compiled profile, ready for [`Filter::load`] in the child.
#[derive(Clone)]
pub struct Filter {
    prog: Vec<libc::sock_filter>,
    /// SECCOMP_FILTER_FLAG_* for seccomp(2), NEW_LISTENER included.
    flags: u32,
    notify: bool,
    listener_path: Option<PathBuf>,
    listener_metadata: String,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("instructions", &self.prog.len())
            .field("flags", &self.flags)
            .field("notify", &self.notify)
            .field("listener_path", &self.listener_path)
            .field("listener_metadata", &self.listener_metadata)
            .finish()
    }
}

impl Filter {
    /// Installs the filter on the calling thread. Made for the child just
    /// before exec (or before capabilities are dropped when no_new_privs is
    /// off: the caller orders it). The kernel wants no_new_privs set or
    /// CAP_SYS_ADMIN in the user namespace. Returns the notify listener when a
    /// rule is SCMP_ACT_NOTIFY. One raw syscall: no allocation, no lock.
    pub fn load(&self) -> Result<Option<OwnedFd>, Errno> {
        crate::sys::seccomp_set_filter(&self.prog, self.flags)
    }

    /// Whether [`Filter::load`] returns a listener to hand to the agent.
    pub fn wants_listener(&self) -> bool {
        self.notify
    }

    /// `listenerPath`; always set when [`Filter::wants_listener`].
    pub fn listener_path(&self) -> Option<&Path> {
        self.listener_path.as_deref()
    }

    /// `listenerMetadata` (empty when absent).
    pub fn listener_metadata(&self) -> &str {
        &self.listener_metadata
    }

    /// The seccomp(2) flags used by [`Filter::load`] (runc logs the same number).
    pub fn flags(&self) -> u32 {
        self.flags
    }
}

/// Checks the names in a raw `linux.seccomp` object (the JSON, before it is
/// deserialized into oci-spec's types, which can't hold an unknown name) and
/// says which field holds one: `linux.seccomp.syscalls[2].action: unknown
/// action "SCMP_ACT_FOO"`.
pub fn check_json(seccomp: &Value) -> Result<(), SeccompError> {
    fn check<T: std::str::FromStr>(
        v: Option<&Value>,
        field: String,
        what: &'static str,
    ) -> Result<(), SeccompError> {
        match v {
            Some(Value::String(s)) if s.parse::<T>().is_ok() => Ok(()),
            Some(Value::String(s)) => Err(SeccompError::Unknown {
                field,
                what,
                value: s.clone(),
            }),
            // Missing or mistyped values are left to the deserializer.
            _ => Ok(()),
        }
    }
    let list = |key: &str| seccomp.get(key).and_then(Value::as_array);
    let base = "linux.seccomp";
    check::<LinuxSeccompAction>(
        seccomp.get("defaultAction"),
        format!("{base}.defaultAction"),
        "action",
    )?;
    for (i, a) in list("architectures").into_iter().flatten().enumerate() {
        check::<Arch>(
            Some(a),
            format!("{base}.architectures[{i}]"),
            "architecture",
        )?;
    }
    for (i, f) in list("flags").into_iter().flatten().enumerate() {
        check::<LinuxSeccompFilterFlag>(Some(f), format!("{base}.flags[{i}]"), "flag")?;
    }
    for (i, call) in list("syscalls").into_iter().flatten().enumerate() {
        let field = format!("{base}.syscalls[{i}]");
        check::<LinuxSeccompAction>(call.get("action"), format!("{field}.action"), "action")?;
        let args = call.get("args").and_then(Value::as_array);
        for (j, arg) in args.into_iter().flatten().enumerate() {
            check::<LinuxSeccompOperator>(
                arg.get("op"),
                format!("{field}.args[{j}].op"),
                "operator",
            )?;
        }
    }
    Ok(())
}

/// The libseccomp action of a spec action. ERRNO and TRACE carry `errno_ret`
/// or, as in runc, EPERM.
fn action(
    a: LinuxSeccompAction,
    errno_ret: Option<u32>,
    field: &str,
) -> Result<ScmpAction, SeccompError> {
    let ret = || match errno_ret {
        None => Ok(libc::EPERM as u16),
        // SECCOMP_RET_DATA is 16 bits wide; runc truncates, ward refuses.
        Some(n) => u16::try_from(n)
            .map_err(|_| invalid(field, format!("{n} is out of range (0 to 65535)"))),
    };
    Ok(match a {
        // SCMP_ACT_KILL is the old name of KILL_THREAD.
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(ret()? as i32),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(ret()?),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

fn arch(a: Arch) -> ScmpArch {
    match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

fn condition(
    op: LinuxSeccompOperator,
    index: u32,
    value: u64,
    value_two: Option<u64>,
) -> ScmpArgCompare {
    let op = match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        // As libseccomp (and runc) read it: `value` is the mask, `valueTwo`
        // what the masked argument must equal.
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            return ScmpArgCompare::new(
                index,
                ScmpCompareOp::MaskedEqual(value),
                value_two.unwrap_or(0),
            )
        }
    };
    ScmpArgCompare::new(index, op, value)
}

fn flag_bit(f: LinuxSeccompFilterFlag) -> u32 {
    match f {
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => FLAG_TSYNC,
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => FLAG_LOG,
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => FLAG_WAIT_KILLABLE_RECV,
    }
}

/// Whether the running kernel knows a filter flag: seccomp(2) with a NULL
/// program fails with EFAULT once the flags passed its checks, EINVAL
/// otherwise, and installs nothing either way (libseccomp probes the same way).
fn kernel_knows_flag(bit: u32) -> bool {
    // WAIT_KILLABLE_RECV is only valid together with NEW_LISTENER.
    let bit = if bit == FLAG_WAIT_KILLABLE_RECV {
        bit | FLAG_NEW_LISTENER
    } else {
        bit
    };
    crate::sys::seccomp_knows_flags(bit)
}

/// The seccomp(2) flags of a profile.
fn kernel_flags(
    flags: Option<&Vec<LinuxSeccompFilterFlag>>,
    notify: bool,
) -> Result<u32, SeccompError> {
    let mut out = 0;
    match flags {
        // runc's default when `flags` is absent (not when it is empty): skip
        // the Speculative Store Bypass mitigation, where the kernel can.
        None => {
            if kernel_knows_flag(FLAG_SPEC_ALLOW) {
                out |= FLAG_SPEC_ALLOW;
            }
        }
        Some(list) => {
            for (i, &f) in list.iter().enumerate() {
                let bit = flag_bit(f);
                // TSYNC is accepted and dropped, as runc does: ward's init is
                // single-threaded, so there is no other thread to sync, and the
                // kernel refuses TSYNC together with NEW_LISTENER (unless
                // TSYNC_ESRCH), which a NOTIFY profile needs.
                if bit == FLAG_TSYNC {
                    continue;
                }
                // Only meaningful (and only accepted by the kernel) with a
                // listener; runc would fail the load with EINVAL, ward drops it.
                if bit == FLAG_WAIT_KILLABLE_RECV && !notify {
                    continue;
                }
                if !kernel_knows_flag(bit) {
                    return Err(invalid(
                        format!("linux.seccomp.flags[{i}]"),
                        format!("{f} is not supported by the kernel"),
                    ));
                }
                out |= bit;
            }
        }
    }
    if notify {
        out |= FLAG_NEW_LISTENER;
    }
    Ok(out)
}

/// Compiles and validates a profile. Everything that can be wrong with it is
/// found here, in the parent, before anything exists on the system.
pub fn compile(s: &LinuxSeccomp) -> Result<Filter, SeccompError> {
    let base = "linux.seccomp";
    let default = action(
        s.default_action(),
        s.default_errno_ret(),
        &format!("{base}.defaultErrnoRet"),
    )?;
    // As runc: a default NOTIFY would also catch the syscalls init makes
    // between the load and the exec, before the agent has the listener.
    if default == ScmpAction::Notify {
        return Err(invalid(
            format!("{base}.defaultAction"),
            "SCMP_ACT_NOTIFY cannot be used as default action",
        ));
    }
    let syscalls = s.syscalls().as_deref().unwrap_or(&[]);
    // As runc, any NOTIFY rule asks for a listener, even one whose syscalls
    // this architecture doesn't have.
    let notify = syscalls
        .iter()
        .any(|c| c.action() == LinuxSeccompAction::ScmpActNotify);
    let listener_path = s
        .listener_path()
        .clone()
        .filter(|p| !p.as_os_str().is_empty());
    // A listenerPath without NOTIFY is ignored, as runc does (its test
    // "ignore listener path if no notify act").
    if notify && listener_path.is_none() {
        return Err(invalid(
            format!("{base}.listenerPath"),
            "must be set when a rule is SCMP_ACT_NOTIFY",
        ));
    }
    let flags = kernel_flags(s.flags().as_ref(), notify)?;

    let lib =
        |field: String, op: String| move |source| SeccompError::Libseccomp { field, op, source };
    // The context starts with the native architecture: it is always in.
    let mut ctx = ScmpFilterContext::new(default)
        .map_err(lib(format!("{base}.defaultAction"), "create filter".into()))?;
    for (i, &a) in s.architectures().iter().flatten().enumerate() {
        // libseccomp's only complaint here is an architecture it doesn't know.
        ctx.add_arch(arch(a)).map_err(|_| {
            invalid(
                format!("{base}.architectures[{i}]"),
                format!(
                    "{a} is not supported by libseccomp {}",
                    libseccomp_version()
                ),
            )
        })?;
    }
    let names: usize = syscalls.iter().map(|c| c.names().len()).sum();
    if names > OPTIMIZE_ABOVE {
        // Only a smaller, faster program is lost if this libseccomp can't.
        let _ = ctx.set_ctl_optimize(2);
    }

    for (i, call) in syscalls.iter().enumerate() {
        let field = format!("{base}.syscalls[{i}]");
        let act = action(
            call.action(),
            call.errno_ret(),
            &format!("{field}.errnoRet"),
        )?;
        let mut per_index = [0usize; MAX_ARGS];
        let mut conds = Vec::new();
        for (j, arg) in call.args().iter().flatten().enumerate() {
            let index = arg.index();
            if index >= MAX_ARGS {
                return Err(invalid(
                    format!("{field}.args[{j}].index"),
                    format!("{index} is out of range (0 to 5)"),
                ));
            }
            per_index[index] += 1;
            conds.push(condition(
                arg.op(),
                index as u32,
                arg.value(),
                arg.value_two(),
            ));
        }
        // runc's reading of args: conditions on distinct arguments must all
        // hold (one rule); several on the same argument are alternatives
        // (one rule each), since no value can meet two EQs at once.
        let alternatives = per_index.iter().any(|&n| n > 1);
        for (j, name) in call.names().iter().enumerate() {
            if name.is_empty() {
                return Err(invalid(
                    format!("{field}.names[{j}]"),
                    "empty string is not a valid syscall",
                ));
            }
            // runc's rule; ward's init also writes after the load (the start
            // socket's "exec failed" message), which must not wait on the agent.
            if act == ScmpAction::Notify && name == "write" {
                return Err(invalid(
                    field,
                    "SCMP_ACT_NOTIFY cannot be used for the write syscall",
                ));
            }
            // libseccomp refuses a rule that does what the default does.
            if act == default {
                continue;
            }
            // A name this libseccomp can't resolve for the native
            // architecture is a syscall this kernel doesn't have: skipped, as
            // in runc, so one profile serves old and new kernels.
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let op = || format!("add rule for {name:?}");
            if alternatives {
                for c in &conds {
                    ctx.add_rule_conditional(act, nr, std::slice::from_ref(c))
                        .map_err(lib(field.clone(), op()))?;
                }
            } else {
                ctx.add_rule_conditional(act, nr, &conds)
                    .map_err(lib(field.clone(), op()))?;
            }
        }
    }

    let mut prog = export(&ctx)?;
    if let Some(stub) = enosys_stub(s, &default) {
        prog.splice(0..0, stub);
    }
    if prog.len() > MAX_INSNS {
        return Err(invalid(
            base,
            format!(
                "the profile compiles to {} BPF instructions, more than the kernel's {MAX_INSNS}",
                prog.len()
            ),
        ));
    }
    Ok(Filter {
        prog,
        flags,
        notify,
        listener_path: if notify { listener_path } else { None },
        listener_metadata: s.listener_metadata().clone().unwrap_or_default(),
    })
}

/// AUDIT_ARCH_* (linux/audit.h): the `arch` field of struct seccomp_data.
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
const AUDIT_ARCH_PPC64LE: u32 = 0xC000_0015;
const AUDIT_ARCH_RISCV64: u32 = 0xC000_00F3;
/// x32 calls arrive as AUDIT_ARCH_X86_64 with this bit in the number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The kernel's value for a libseccomp architecture, for those the ENOSYS
/// stub covers. x32 shares x86_64's.
fn audit_arch(a: ScmpArch) -> Option<u32> {
    Some(match a {
        ScmpArch::X8664 | ScmpArch::X32 => AUDIT_ARCH_X86_64,
        ScmpArch::X86 => AUDIT_ARCH_I386,
        ScmpArch::Aarch64 => AUDIT_ARCH_AARCH64,
        ScmpArch::Arm => AUDIT_ARCH_ARM,
        ScmpArch::Ppc64Le => AUDIT_ARCH_PPC64LE,
        ScmpArch::Riscv64 => AUDIT_ARCH_RISCV64,
        _ => return None,
    })
}

/// The highest syscall number the profile names, per architecture the
/// filter has (the native one and `architectures`): x86_64, x32 (its numbers
/// carry X32_SYSCALL_BIT) and the others apart. Names an architecture lacks
/// are left out; an architecture with none is left out.
fn last_syscalls(s: &LinuxSeccomp) -> Vec<(ScmpArch, u32)> {
    let mut archs = vec![ScmpArch::native()];
    for &a in s.architectures().iter().flatten() {
        let a = arch(a);
        let a = if a == ScmpArch::Native {
            ScmpArch::native()
        } else {
            a
        };
        if !archs.contains(&a) {
            archs.push(a);
        }
    }
    let names: Vec<&String> = s
        .syscalls()
        .iter()
        .flatten()
        .flat_map(|c| c.names())
        .collect();
    archs
        .into_iter()
        .filter_map(|a| {
            let max = names
                .iter()
                .filter_map(|n| ScmpSyscall::from_name_by_arch(n, a).ok())
                .map(i32::from)
                // Negative numbers are libseccomp's pseudo-syscalls.
                .filter(|&nr| nr >= 0)
                .max()?;
            Some((a, max as u32))
        })
        .collect()
}

/// runc's -ENOSYS rule (its libcontainer/seccomp/patchbpf), as a program to
/// put before libseccomp's: on each architecture of the filter, a syscall
/// numbered above every syscall the profile names returns ENOSYS instead of
/// the default action. Such a syscall is newer than the profile, and ENOSYS
/// makes a libc fall back to the older call (clone3 → clone, faccessat2 →
/// faccessat, openat2 → openat) where the default's EPERM would fail it.
/// None when the default allows (or logs) anyway, when the default already
/// is ENOSYS, or when no architecture the stub knows has a named syscall.
///
/// Unlike runc, the native architecture counts even when `architectures`
/// doesn't list it: libseccomp's filter always has it.
fn enosys_stub(s: &LinuxSeccomp, default: &ScmpAction) -> Option<Vec<libc::sock_filter>> {
    match default {
        ScmpAction::Allow | ScmpAction::Log => return None,
        ScmpAction::Errno(e) if *e == libc::ENOSYS => return None,
        _ => {}
    }
    stub_for(&last_syscalls(s))
}

/// The stub for `last` (architecture, highest named number). Its layout:
///
/// ```text
///     ld  [arch]
///     jeq ARCH_1 → block 1  ... one per architecture
///     ja  → filter
///   block (x86_64): ld [nr]; jset X32_BIT → x32 check (or → filter)
///                   jgt MAX → enosys, → filter; [x32: jgt MAX32 → enosys, → filter]
///   block (others): ld [nr]; jgt MAX → enosys, → filter
///     ret ERRNO(ENOSYS)
///   filter: libseccomp's program
/// ```
fn stub_for(last: &[(ScmpArch, u32)]) -> Option<Vec<libc::sock_filter>> {
    const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const JGT: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
    const JSET: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
    const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
    const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    /// Jump targets, resolved once the stub's length is known.
    #[derive(Clone, Copy)]
    enum To {
        Skip(u8),
        Enosys,
        Filter,
        Block(usize),
    }
    // Group by the kernel's architecture value: x86_64 and x32 share one.
    let mut groups: Vec<(u32, Option<u32>, Option<u32>)> = Vec::new();
    for &(a, max) in last {
        let Some(audit) = audit_arch(a) else {
            continue;
        };
        let i = match groups.iter().position(|g| g.0 == audit) {
            Some(i) => i,
            None => {
                groups.push((audit, None, None));
                groups.len() - 1
            }
        };
        if a == ScmpArch::X32 {
            groups[i].2 = Some(max);
        } else {
            groups[i].1 = Some(max);
        }
    }
    if groups.is_empty() {
        return None;
    }
    let ins = |code: u16, jt: To, jf: To, k: u32| (code, jt, jf, k);
    let mut head = vec![ins(LD_W_ABS, To::Skip(0), To::Skip(0), 4)];
    for (i, g) in groups.iter().enumerate() {
        head.push(ins(JEQ, To::Block(i), To::Skip(0), g.0));
    }
    head.push(ins(JA, To::Skip(0), To::Skip(0), 0)); // k patched to → filter
    let mut blocks = Vec::new();
    let mut starts = Vec::new();
    for &(audit, max, max32) in &groups {
        starts.push(head.len() + blocks.len());
        blocks.push(ins(LD_W_ABS, To::Skip(0), To::Skip(0), 0));
        if audit == AUDIT_ARCH_X86_64 {
            // x32 calls go to the x32 check, or to the filter when the
            // profile has no x32 numbers; the others likewise.
            let on_x32 = match (max32, max) {
                (Some(_), Some(_)) => To::Skip(1),
                (Some(_), None) => To::Skip(0),
                (None, _) => To::Filter,
            };
            let on_64 = if max.is_some() {
                To::Skip(0)
            } else {
                To::Filter
            };
            blocks.push(ins(JSET, on_x32, on_64, X32_SYSCALL_BIT));
            if let Some(m) = max {
                blocks.push(ins(JGT, To::Enosys, To::Filter, m));
            }
            if let Some(m) = max32 {
                blocks.push(ins(JGT, To::Enosys, To::Filter, m));
            }
        } else if let Some(m) = max {
            blocks.push(ins(JGT, To::Enosys, To::Filter, m));
        }
    }
    let mut all = head;
    all.extend(blocks);
    let enosys = all.len();
    let filter = enosys + 1;
    let mut out = Vec::with_capacity(filter);
    for (at, &(code, jt, jf, k)) in all.iter().enumerate() {
        let rel = |t: To| -> Option<u8> {
            let target = match t {
                To::Skip(n) => return Some(n),
                To::Enosys => enosys,
                To::Filter => filter,
                To::Block(b) => starts[b],
            };
            u8::try_from(target - at - 1).ok()
        };
        let k = if code == JA {
            (filter - at - 1) as u32
        } else {
            k
        };
        out.push(libc::sock_filter {
            code,
            jt: rel(jt)?,
            jf: rel(jf)?,
            k,
        });
    }
    out.push(libc::sock_filter {
        code: RET,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
    });
    Some(out)
}

/// The program as libseccomp writes it (struct sock_filter, native endian).
/// A memfd rather than a pipe: a large profile can't fill it and block.
/// (libseccomp 2.5's API has no export to memory.)
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let sys = |op| {
        move |e: std::io::Error| SeccompError::Sys {
            op,
            errno: e.into(),
        }
    };
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let fd = memfd_create(c"ward-seccomp", MFdFlags::MFD_CLOEXEC)
        .map_err(|e| sys("memfd_create")(e.into()))?;
    let mut file = File::from(fd);
    ctx.export_bpf(file.as_fd())
        .map_err(|source| SeccompError::Libseccomp {
            field: "linux.seccomp".into(),
            op: "export BPF".into(),
            source,
        })?;
    file.seek(SeekFrom::Start(0)).map_err(sys("seek memfd"))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(sys("read memfd"))?;
    let size = std::mem::size_of::<libc::sock_filter>();
    if bytes.is_empty() || bytes.len() % size != 0 {
        return Err(invalid(
            "linux.seccomp",
            format!("libseccomp exported {} bytes of BPF", bytes.len()),
        ));
    }
    Ok(bytes
        .chunks_exact(size)
        .map(|b| libc::sock_filter {
            code: u16::from_ne_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        })
        .collect())
}

/// Hands the notify listener to the seccomp agent, as runc does: one
/// SOCK_STREAM connection to `path` (a leading '@' names an abstract socket,
/// as in Go), one message carrying the runtime spec's "container process
/// state" as JSON with `fd` attached by SCM_RIGHTS. `pid` is the process the
/// filter is on; `state` the container's state object.
pub fn send_listener_fd(
    path: &Path,
    metadata: &str,
    pid: i32,
    state: &Value,
    fd: BorrowedFd,
) -> Result<(), SeccompError> {
    use nix::sys::socket::{
        connect, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
        UnixAddr,
    };
    let connect_err = |e: nix::errno::Errno| SeccompError::Connect {
        path: path.to_path_buf(),
        errno: e.into(),
    };
    let send_err = |e: nix::errno::Errno| SeccompError::Send {
        path: path.to_path_buf(),
        errno: e.into(),
    };
    let bytes = path.as_os_str().as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => UnixAddr::new_abstract(name),
        None => UnixAddr::new(path),
    }
    .map_err(connect_err)?;
    let sock = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(connect_err)?;
    connect(sock.as_raw_fd(), &addr).map_err(connect_err)?;

    let mut msg = json!({
        "ociVersion": crate::OCI_VERSION_MAX,
        "fds": [oci_spec::runtime::SECCOMP_FD_NAME],
        "pid": pid,
        "state": state,
    });
    // Go's omitempty, as runc sends it.
    if !metadata.is_empty() {
        msg["metadata"] = metadata.into();
    }
    let payload = msg.to_string();
    let payload = payload.as_bytes();
    let fds = [fd.as_raw_fd()];
    let sent = sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(payload)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(send_err)?;
    // A stream may take part of it; the fd went with the first byte.
    let mut rest = &payload[sent..];
    while !rest.is_empty() {
        let n = nix::sys::socket::send(sock.as_raw_fd(), rest, MsgFlags::MSG_NOSIGNAL)
            .map_err(send_err)?;
        rest = &rest[n..];
    }
    Ok(())
}

fn libseccomp_version() -> String {
    match ScmpVersion::current() {
        Ok(v) => format!("{}.{}.{}", v.major, v.minor, v.micro),
        Err(_) => "unknown".into(),
    }
}

/// What `ward features` says about seccomp.
#[derive(Debug, Clone)]
pub struct Features {
    /// The runtime spec's `linux.seccomp` features object: enabled, actions,
    /// operators, archs, knownFlags, supportedFlags.
    pub seccomp: Value,
    /// The libseccomp ward is linked with, for the
    /// [`LIBSECCOMP_VERSION_ANNOTATION`] annotation.
    pub libseccomp_version: String,
}

/// The actions, operators and flags ward knows, the architectures its
/// libseccomp supports, and the flags the running kernel supports.
pub fn features() -> Features {
    fn names<T: ToString>(xs: impl IntoIterator<Item = T>) -> Vec<String> {
        xs.into_iter().map(|x| x.to_string()).collect()
    }
    // libseccomp knows an architecture if it can add it to a filter.
    // SCMP_ARCH_NATIVE is an alias, not an architecture: runc leaves it out.
    let archs = match ScmpFilterContext::new(ScmpAction::Allow) {
        Ok(mut ctx) => names(
            ARCHS
                .iter()
                .filter(|&&a| a != Arch::ScmpArchNative && ctx.add_arch(arch(a)).is_ok()),
        ),
        Err(_) => Vec::new(),
    };
    // TSYNC is accepted (and dropped) whatever the kernel says.
    let supported = FLAGS.iter().filter(|&&f| {
        f == LinuxSeccompFilterFlag::SeccompFilterFlagTsync || kernel_knows_flag(flag_bit(f))
    });
    Features {
        seccomp: json!({
            "enabled": true,
            "actions": names(ACTIONS),
            "operators": names(OPERATORS),
            "archs": archs,
            "knownFlags": names(FLAGS),
            "supportedFlags": names(supported),
        }),
        libseccomp_version: libseccomp_version(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;
    use std::os::fd::{FromRawFd, RawFd};
    use std::os::unix::net::UnixListener;

    fn profile(v: Value) -> LinuxSeccomp {
        serde_json::from_value(v).expect("profile")
    }

    fn compile_err(v: Value) -> String {
        compile(&profile(v)).expect_err("must fail").to_string()
    }

    /// How a forked child ended.
    #[derive(Debug, PartialEq)]
    enum End {
        Exit(i32),
        Signal(i32),
    }

    /// Kills and reaps the child if the test fails before waiting for it.
    struct Child(libc::pid_t);

    impl Child {
        fn wait(self) -> End {
            let mut status = 0;
            // SAFETY: status is a valid out pointer; self.0 is our child.
            let r = unsafe { libc::waitpid(self.0, &mut status, 0) };
            assert_eq!(r, self.0, "waitpid");
            std::mem::forget(self);
            if libc::WIFSIGNALED(status) {
                End::Signal(libc::WTERMSIG(status))
            } else {
                End::Exit(libc::WEXITSTATUS(status))
            }
        }
    }

    impl Drop for Child {
        fn drop(&mut self) {
            // SAFETY: plain syscalls on our own child's pid.
            unsafe {
                libc::kill(self.0, libc::SIGKILL);
                libc::waitpid(self.0, std::ptr::null_mut(), 0);
            }
        }
    }

    /// Forks a child that loads `f` and exits with what `body` returns
    /// (250 when the load fails); `body` gets the listener (or -1). The test harness has threads, so the child
    /// only makes raw syscalls: no allocation, no lock, no output.
    fn spawn(f: &Filter, body: impl Fn(RawFd) -> i32) -> Child {
        // SAFETY: see above; the child ends in _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid > 0 {
            return Child(pid);
        }
        // SAFETY: prctl and _exit are raw syscalls. Not dumpable: a child
        // killed by SIGSYS leaves no core file behind.
        unsafe {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        }
        let code = match f.load() {
            // The listener stays open in the child (no close on drop).
            Ok(fd) => body(fd.map_or(-1, std::os::fd::IntoRawFd::into_raw_fd)),
            Err(_) => 250,
        };
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(code) }
    }

    fn run(f: &Filter, body: impl Fn() -> i32) -> End {
        spawn(f, |_| body()).wait()
    }

    /// errno of a raw syscall's result (0 on success). Child-safe.
    fn err(r: libc::c_long) -> i32 {
        if r < 0 {
            // SAFETY: errno is thread-local and always readable.
            unsafe { *libc::__errno_location() }
        } else {
            0
        }
    }

    fn mkdirat() -> i32 {
        let path: &CStr = c"/nonexistent-ward-seccomp/x";
        // SAFETY: a raw syscall with a NUL-terminated static path.
        err(unsafe { libc::syscall(libc::SYS_mkdirat, libc::AT_FDCWD, path.as_ptr(), 0o755) })
    }

    fn getppid() -> libc::c_long {
        // SAFETY: a raw syscall without arguments.
        unsafe { libc::syscall(libc::SYS_getppid) }
    }

    fn syscall2(nr: libc::c_long, a: u64, b: u64) -> i32 {
        // SAFETY: raw syscalls used here take integer arguments only.
        err(unsafe { libc::syscall(nr, a, b, 0u64) })
    }

    #[test]
    fn unknown_names_in_raw_json_name_their_field() {
        let cases = [
            (
                json!({"defaultAction": "SCMP_ACT_FOO"}),
                r#"linux.seccomp.defaultAction: unknown action "SCMP_ACT_FOO""#,
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                    {"names": ["a"], "action": "SCMP_ACT_ERRNO"},
                    {"names": ["b"], "action": "SCMP_ACT_LOG"},
                    {"names": ["c"], "action": "SCMP_ACT_FOO"}]}),
                r#"linux.seccomp.syscalls[2].action: unknown action "SCMP_ACT_FOO""#,
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_VAX"]}),
                r#"linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_VAX""#,
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]}),
                r#"linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_NOPE""#,
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]}),
                r#"linux.seccomp.syscalls[0].args[1].op: unknown operator "SCMP_CMP_ABOUT""#,
            ),
        ];
        for (v, want) in cases {
            assert_eq!(check_json(&v).unwrap_err().to_string(), want);
            // oci-spec's types can't hold the name either.
            assert!(serde_json::from_value::<LinuxSeccomp>(v).is_err());
        }
        let good = json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"], "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_MASKED_EQ"}]}]});
        check_json(&good).unwrap();
        compile(&profile(good)).unwrap();
    }

    #[test]
    fn invalid_profiles_are_refused_with_their_field() {
        let cases = [
            (
                json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"}),
                "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be used as default action",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
                "linux.seccomp.listenerPath: must be set when a rule is SCMP_ACT_NOTIFY",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "",
                    "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
                "linux.seccomp.listenerPath: must be set when a rule is SCMP_ACT_NOTIFY",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
                    "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}]}),
                "linux.seccomp.syscalls[0]: SCMP_ACT_NOTIFY cannot be used for the write syscall",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getpid", ""], "action": "SCMP_ACT_ERRNO"}]}),
                "linux.seccomp.syscalls[0].names[1]: empty string is not a valid syscall",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
                "linux.seccomp.syscalls[0].args[0].index: 6 is out of range (0 to 5)",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]}),
                "linux.seccomp.syscalls[0].errnoRet: 70000 is out of range (0 to 65535)",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_TRACE", "defaultErrnoRet": 65536}),
                "linux.seccomp.defaultErrnoRet: 65536 is out of range (0 to 65535)",
            ),
        ];
        for (v, want) in cases {
            assert_eq!(compile_err(v), want);
        }
        // Known to the spec, not to libseccomp 2.5.
        if !libseccomp_version().starts_with("2.5.") {
            return;
        }
        let err = compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_M68K"]}));
        assert!(
            err.starts_with(
                "linux.seccomp.architectures[1]: SCMP_ARCH_M68K is not supported by libseccomp 2.5."
            ),
            "{err}"
        );
    }

    #[test]
    fn skips_unknown_syscalls_and_rules_like_the_default() {
        let base = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["getppid", "exit_group"], "action": "SCMP_ACT_ALLOW"}]});
        let plain = compile(&profile(base.clone())).unwrap();
        let mut more = base;
        more["syscalls"][0]["names"] = json!(["no_such_syscall", "getppid", "exit_group"]);
        // Same action and return code as the default: skipped, not an error.
        more["syscalls"]
            .as_array_mut()
            .unwrap()
            .push(json!({"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}));
        let skipped = compile(&profile(more)).unwrap();
        assert_eq!(plain.prog.len(), skipped.prog.len());
        assert!(plain
            .prog
            .iter()
            .zip(&skipped.prog)
            .all(|(a, b)| (a.code, a.jt, a.jf, a.k) == (b.code, b.jt, b.jf, b.k)));
    }

    #[test]
    fn listener_path_without_notify_is_ignored() {
        let f = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock", "listenerMetadata": "m"})))
        .unwrap();
        assert!(!f.wants_listener());
        assert_eq!(f.listener_path(), None);
        assert_eq!(f.flags() & FLAG_NEW_LISTENER, 0);
    }

    #[test]
    fn flags_follow_runc() {
        let flags = |v: Value| {
            let mut p = json!({"defaultAction": "SCMP_ACT_ALLOW"});
            if !v.is_null() {
                p["flags"] = v;
            }
            compile(&profile(p)).unwrap().flags()
        };
        // Absent: SPEC_ALLOW where the kernel has it; empty: none.
        assert_eq!(flags(Value::Null), FLAG_SPEC_ALLOW);
        assert_eq!(flags(json!([])), 0);
        // TSYNC is dropped; WAIT_KILLABLE_RECV needs a listener.
        assert_eq!(
            flags(json!([
                "SECCOMP_FILTER_FLAG_TSYNC",
                "SECCOMP_FILTER_FLAG_LOG",
                "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
            ])),
            FLAG_LOG
        );
        let f = compile(&profile(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}),
        ))
        .unwrap();
        assert_eq!(f.flags(), FLAG_WAIT_KILLABLE_RECV | FLAG_NEW_LISTENER);
        assert!(f.wants_listener());
        assert_eq!(f.listener_path(), Some(Path::new("/x")));
    }

    #[test]
    fn errno_rule_returns_its_errno_and_spares_the_rest() {
        let f = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99}]})))
        .unwrap();
        let body = || if getppid() > 0 { mkdirat() } else { 255 };
        assert_eq!(run(&f, body), End::Exit(99));
        // Without the filter the same call fails differently.
        assert_eq!(mkdirat(), libc::ENOENT);
    }

    #[test]
    fn errno_without_errno_ret_is_eperm() {
        let f = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO"}]})))
        .unwrap();
        assert_eq!(run(&f, mkdirat), End::Exit(libc::EPERM));
    }

    #[test]
    fn default_errno_uses_default_errno_ret() {
        let f = compile(&profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "syscalls": [{"names": ["getppid", "exit_group", "exit"], "action": "SCMP_ACT_ALLOW"}]})))
        .unwrap();
        let body = || if getppid() > 0 { mkdirat() } else { 255 };
        assert_eq!(run(&f, body), End::Exit(libc::ENOSYS));
    }

    #[test]
    fn args_with_distinct_indexes_all_must_match() {
        // dup3(1000, 1001, _) is refused; dup3(1000, 1002, _) reaches the
        // kernel, which says EBADF.
        let f = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["dup3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77, "args": [
                {"index": 0, "value": 1000, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 1001, "op": "SCMP_CMP_EQ"}]}]})))
        .unwrap();
        let dup3 = |a, b| syscall2(libc::SYS_dup3, a, b);
        let body = || {
            (dup3(1000, 1001) == 77
                && dup3(1000, 1002) == libc::EBADF
                && dup3(999, 1001) == libc::EBADF) as i32
        };
        assert_eq!(run(&f, body), End::Exit(1));
    }

    #[test]
    fn args_sharing_an_index_are_alternatives() {
        let f = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["fchdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77, "args": [
                {"index": 0, "value": 1000, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 1001, "op": "SCMP_CMP_EQ"}]}]})))
        .unwrap();
        let fchdir = |fd| syscall2(libc::SYS_fchdir, fd, 0);
        let body =
            || (fchdir(1000) == 77 && fchdir(1001) == 77 && fchdir(1002) == libc::EBADF) as i32;
        assert_eq!(run(&f, body), End::Exit(1));
    }

    #[test]
    fn personality_query_and_masked_socket_domain() {
        // Docker's profile style: personality only for the query value;
        // socket refused for AF_INET (mask 0xff, then equal to 2).
        let f = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42,
             "args": [{"index": 0, "value": 4294967295u64, "op": "SCMP_CMP_EQ"}]},
            {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 43,
             "args": [{"index": 0, "value": 255, "valueTwo": libc::AF_INET, "op": "SCMP_CMP_MASKED_EQ"}]}]})))
        .unwrap();
        let body = || {
            let st = libc::SOCK_STREAM as u64;
            let ok = syscall2(libc::SYS_personality, 0xffff_ffff, 0) == 42
                && syscall2(libc::SYS_personality, 0, 0) == 0
                && syscall2(libc::SYS_socket, libc::AF_INET as u64, st) == 43
                // 0x102 & 0xff == 2 as well: the mask is applied.
                && syscall2(libc::SYS_socket, 0x100 | libc::AF_INET as u64, st) == 43
                && syscall2(libc::SYS_socket, libc::AF_UNIX as u64, st) == 0;
            ok as i32
        };
        assert_eq!(run(&f, body), End::Exit(1));
    }

    #[test]
    fn comparison_operators() {
        // fchdir(fd) refused with errno = 10 + k where rule k matches fd.
        let ops = [
            ("SCMP_CMP_LT", 100u64),
            ("SCMP_CMP_LE", 200),
            ("SCMP_CMP_GT", 5000),
            ("SCMP_CMP_GE", 4000),
        ];
        for (k, (op, value)) in ops.iter().enumerate() {
            let f = compile(&profile(
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["fchdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 10 + k,
                 "args": [{"index": 0, "value": value, "op": op}]}]}),
            ))
            .unwrap();
            let fchdir = |fd| syscall2(libc::SYS_fchdir, fd, 0);
            let hit = 10 + k as i32;
            let body = || {
                let r = [
                    fchdir(99),
                    fchdir(100),
                    fchdir(200),
                    fchdir(201),
                    fchdir(4000),
                    fchdir(5001),
                ];
                let want = match k {
                    0 => [hit, 9, 9, 9, 9, 9],
                    1 => [hit, hit, hit, 9, 9, 9],
                    2 => [9, 9, 9, 9, 9, hit],
                    _ => [9, 9, 9, 9, hit, hit],
                };
                (r == want) as i32
            };
            assert_eq!(run(&f, body), End::Exit(1), "{op}");
        }
        let f = compile(&profile(
            json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 20,
            "syscalls": [{"names": ["fchdir"], "action": "SCMP_ACT_ALLOW",
                          "args": [{"index": 0, "value": 300, "op": "SCMP_CMP_NE"}]},
                         {"names": ["exit_group"], "action": "SCMP_ACT_ALLOW"}]}),
        ))
        .unwrap();
        let body = || {
            (syscall2(libc::SYS_fchdir, 300, 0) == 20
                && syscall2(libc::SYS_fchdir, 301, 0) == libc::EBADF) as i32
        };
        assert_eq!(run(&f, body), End::Exit(1));
    }

    #[test]
    fn kill_and_trap_end_in_sigsys() {
        for act in ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"] {
            let f = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdirat"], "action": act}]})))
            .unwrap();
            assert_eq!(run(&f, mkdirat), End::Signal(libc::SIGSYS), "{act}");
        }
        // TRACE without a tracer: the kernel fails the call with ENOSYS.
        let f = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_TRACE", "errnoRet": 5}]})))
        .unwrap();
        assert_eq!(run(&f, mkdirat), End::Exit(libc::ENOSYS));
        // LOG lets the call through.
        let f = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_LOG"}]})))
        .unwrap();
        assert_eq!(run(&f, mkdirat), End::Exit(libc::ENOENT));
    }

    /// A listening socket for send_listener_fd, removed on drop.
    struct Agent(PathBuf, UnixListener);

    impl Agent {
        fn new(name: &str) -> Agent {
            let path = std::env::temp_dir()
                .join(format!("ward-seccomp-{name}-{}.sock", std::process::id()));
            let _ = std::fs::remove_file(&path);
            let l = UnixListener::bind(&path).unwrap();
            Agent(path, l)
        }

        /// Accepts one connection: its whole payload as JSON and the fd.
        fn receive(&self) -> (Value, OwnedFd) {
            use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
            // Bounded: a sender that failed to connect must not hang the test.
            self.1.set_nonblocking(true).unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let conn = loop {
                match self.1.accept() {
                    Ok((c, _)) => break c,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        assert!(std::time::Instant::now() < deadline, "no connection");
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            };
            conn.set_nonblocking(false).unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            let mut cmsg = nix::cmsg_space!([RawFd; 2]);
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(
                conn.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .unwrap();
            let mut fds = Vec::new();
            for c in msg.cmsgs().unwrap() {
                if let ControlMessageOwned::ScmRights(v) = c {
                    fds.extend(v);
                }
            }
            let n = msg.bytes;
            let mut data = buf[..n].to_vec();
            // The rest, if the stream split it.
            (&conn).read_to_end(&mut data).unwrap();
            assert_eq!(fds.len(), 1, "one fd");
            // SAFETY: SCM_RIGHTS gave us a new fd that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(fds[0]) };
            (serde_json::from_slice(&data).unwrap(), fd)
        }
    }

    impl Drop for Agent {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn send_listener_fd_sends_state_and_a_working_fd() {
        let agent = Agent::new("pipe");
        let (r, w) = nix::unistd::pipe().unwrap();
        let state = json!({"ociVersion": "1.2.0", "id": "c1", "status": "created", "pid": 7, "bundle": "/b"});
        let path = agent.0.clone();
        let st = state.clone();
        let sender =
            std::thread::spawn(move || send_listener_fd(&path, "meta", 42, &st, r.as_fd()));
        let (msg, fd) = agent.receive();
        sender.join().unwrap().unwrap();
        assert_eq!(
            msg,
            json!({"ociVersion": crate::OCI_VERSION_MAX, "fds": ["seccompFd"],
                   "pid": 42, "metadata": "meta", "state": state})
        );
        nix::unistd::write(&w, b"hi").unwrap();
        let mut got = [0u8; 2];
        File::from(fd).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hi");
        // No metadata: the key is left out, as Go's omitempty does.
        let path = agent.0.clone();
        let (r2, _w2) = nix::unistd::pipe().unwrap();
        let sender =
            std::thread::spawn(move || send_listener_fd(&path, "", 1, &json!({}), r2.as_fd()));
        let (msg, _) = agent.receive();
        sender.join().unwrap().unwrap();
        assert!(msg.get("metadata").is_none());

        let err = send_listener_fd(
            Path::new("/nonexistent/agent.sock"),
            "",
            1,
            &json!({}),
            w.as_fd(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "failed to connect with seccomp agent /nonexistent/agent.sock: no such file or directory"
        );
        let err = send_listener_fd(
            Path::new("@ward-no-such-agent"),
            "",
            1,
            &json!({}),
            w.as_fd(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("connection refused"), "{err}");
    }

    #[test]
    fn notify_gives_a_listener_that_the_agent_answers() {
        use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
        let agent = Agent::new("notify");
        let f = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": agent.0, "listenerMetadata": "bar",
            "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]})))
        .unwrap();
        assert!(f.wants_listener());
        // The child tells the listener's number through a pipe; the parent
        // takes the fd with pidfd_getfd (as runc's parent does).
        let (r, w) = nix::unistd::pipe().unwrap();
        let wfd = w.as_raw_fd();
        let child = spawn(&f, |listener| {
            // SAFETY: raw write/getppid with a stack buffer.
            unsafe {
                libc::write(wfd, (&listener as *const RawFd).cast(), 4);
                (libc::syscall(libc::SYS_getppid) == 4242) as i32
            }
        });
        drop(w);
        let mut num = [0u8; 4];
        File::from(r).read_exact(&mut num).unwrap();
        let num = i32::from_ne_bytes(num);
        // SAFETY: plain syscalls with integer arguments.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.0, 0) };
        assert!(
            pidfd >= 0,
            "pidfd_open: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: pidfd_open returned a new fd that nothing else owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
        // SAFETY: as above.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), num, 0) };
        assert!(fd >= 0, "pidfd_getfd: {}", std::io::Error::last_os_error());
        // SAFETY: pidfd_getfd returned a new fd that nothing else owns.
        let listener = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };

        let path = f.listener_path().unwrap().to_path_buf();
        let state = json!({"ociVersion": "1.2.0", "id": "c1", "status": "running", "pid": child.0});
        let (pid, st) = (child.0, state.clone());
        let sender =
            std::thread::spawn(move || send_listener_fd(&path, "bar", pid, &st, listener.as_fd()));
        let (msg, fd) = agent.receive();
        sender.join().unwrap().unwrap();
        assert_eq!(msg["metadata"], "bar");
        assert_eq!(msg["fds"], json!(["seccompFd"]));
        assert_eq!(msg["pid"], child.0);
        assert_eq!(msg["state"], state);

        let req = ScmpNotifReq::receive(fd.as_raw_fd()).unwrap();
        assert_eq!(req.pid, child.0 as u32);
        assert_eq!(req.data.syscall, ScmpSyscall::from_name("getppid").unwrap());
        ScmpNotifResp::new_val(req.id, 4242, ScmpNotifRespFlags::empty())
            .respond(fd.as_raw_fd())
            .unwrap();
        assert_eq!(child.wait(), End::Exit(1));
    }

    #[test]
    fn features_lists_what_ward_and_libseccomp_know() {
        let f = features();
        assert!(
            f.libseccomp_version.starts_with("2."),
            "{}",
            f.libseccomp_version
        );
        let s = &f.seccomp;
        assert!(!s["archs"]
            .as_array()
            .unwrap()
            .contains(&json!("SCMP_ARCH_NATIVE")));
        assert_eq!(s["enabled"], true);
        assert_eq!(s["actions"].as_array().unwrap().len(), 9);
        assert!(s["actions"]
            .as_array()
            .unwrap()
            .contains(&json!("SCMP_ACT_KILL_PROCESS")));
        assert!(s["operators"]
            .as_array()
            .unwrap()
            .contains(&json!("SCMP_CMP_MASKED_EQ")));
        for a in [
            "SCMP_ARCH_X86_64",
            "SCMP_ARCH_X86",
            "SCMP_ARCH_X32",
            "SCMP_ARCH_AARCH64",
            "SCMP_ARCH_PPC64LE",
        ] {
            assert!(s["archs"].as_array().unwrap().contains(&json!(a)), "{a}");
        }
        assert_eq!(s["knownFlags"].as_array().unwrap().len(), 4);
        assert!(s["supportedFlags"]
            .as_array()
            .unwrap()
            .contains(&json!("SECCOMP_FILTER_FLAG_LOG")));
        // It is the spec's features object.
        let _: oci_spec::runtime::Seccomp = serde_json::from_value(s.clone()).unwrap();
    }

    /// clone3 (435) and close_range (436): numbers no libc lacks a fallback for.
    const SYS_CLONE3: libc::c_long = 435;
    const SYS_CLOSE_RANGE: libc::c_long = 436;

    /// A profile written before clone3 (its highest name pidfd_open, 434):
    /// newer syscalls get ENOSYS, older ones it doesn't name the default.
    #[test]
    fn newer_syscalls_than_the_profile_get_enosys() {
        let f = compile(&profile(json!({"defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["getppid", "exit_group", "exit", "pidfd_open"],
                          "action": "SCMP_ACT_ALLOW"}]})))
        .unwrap();
        let body = || {
            (syscall2(SYS_CLONE3, 0, 0) == libc::ENOSYS
                && syscall2(SYS_CLOSE_RANGE, 1000, 1000) == libc::ENOSYS
                && mkdirat() == libc::EPERM
                && getppid() > 0) as i32
        };
        assert_eq!(run(&f, body), End::Exit(1));
        // Naming clone3 moves the line: clone3 gets the rule's errno, the
        // next one ENOSYS.
        let f = compile(&profile(json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["getppid", "exit_group", "exit"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99}]})))
        .unwrap();
        let body = || {
            (syscall2(SYS_CLONE3, 0, 0) == 99
                && syscall2(SYS_CLOSE_RANGE, 1000, 1000) == libc::ENOSYS
                && mkdirat() == libc::EPERM) as i32
        };
        assert_eq!(run(&f, body), End::Exit(1));
    }

    /// No stub where the default allows or already is ENOSYS, or with
    /// nothing named; an x32 profile's numbers carry the x32 bit.
    #[test]
    fn enosys_stub_only_where_it_changes_something() {
        let p = |v: Value| profile(v);
        let names = json!([{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]);
        for (default, errno) in [
            ("SCMP_ACT_ALLOW", None),
            ("SCMP_ACT_LOG", None),
            ("SCMP_ACT_ERRNO", Some(38)),
        ] {
            let mut v = json!({"defaultAction": default, "syscalls": names});
            if let Some(e) = errno {
                v["defaultErrnoRet"] = json!(e);
            }
            let s = p(v);
            let d = action(s.default_action(), s.default_errno_ret(), "").unwrap();
            assert!(enosys_stub(&s, &d).is_none(), "{default}");
        }
        let s = p(json!({"defaultAction": "SCMP_ACT_KILL"}));
        assert!(enosys_stub(&s, &ScmpAction::KillThread).is_none());
        let s = p(json!({"defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["pidfd_open"], "action": "SCMP_ACT_ALLOW"}]}));
        if ScmpArch::native() == ScmpArch::X8664 {
            let last = last_syscalls(&s);
            assert_eq!(
                last,
                vec![
                    (ScmpArch::X8664, 434),
                    (ScmpArch::X32, 434 | X32_SYSCALL_BIT)
                ]
            );
            let stub = stub_for(&last).unwrap();
            let ret = stub.last().unwrap();
            assert_eq!(ret.k, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
        }
    }
}
