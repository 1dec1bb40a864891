//! linux.memoryPolicy (runtime-spec 1.3): the container process's NUMA
//! memory policy, set with set_mempolicy(2) by init (and by each `exec`'d
//! process) before the program runs. The policy is inherited over fork and
//! execve, so every process of the container starts with it.
//!
//! Checked in the parent (stage 1 of create), set in the child; what only
//! the kernel can judge (a node that doesn't exist, a mode this kernel
//! lacks) fails the create there with the kernel's errno.

use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType};

use crate::error::{Error, Result};

// linux/mempolicy.h
const MPOL_DEFAULT: i32 = 0;
const MPOL_PREFERRED: i32 = 1;
const MPOL_BIND: i32 = 2;
const MPOL_INTERLEAVE: i32 = 3;
const MPOL_LOCAL: i32 = 4;
const MPOL_PREFERRED_MANY: i32 = 5;
const MPOL_WEIGHTED_INTERLEAVE: i32 = 6;
const MPOL_F_NUMA_BALANCING: i32 = 1 << 13;
const MPOL_F_RELATIVE_NODES: i32 = 1 << 14;
const MPOL_F_STATIC_NODES: i32 = 1 << 15;

/// The modes and flags `ward features` lists (all the spec's).
pub const MODES: &[&str] = &[
    "MPOL_DEFAULT",
    "MPOL_BIND",
    "MPOL_INTERLEAVE",
    "MPOL_WEIGHTED_INTERLEAVE",
    "MPOL_PREFERRED",
    "MPOL_PREFERRED_MANY",
    "MPOL_LOCAL",
];
pub const FLAGS: &[&str] = &[
    "MPOL_F_NUMA_BALANCING",
    "MPOL_F_RELATIVE_NODES",
    "MPOL_F_STATIC_NODES",
];

/// The kernel's MAX_NUMNODES is at most 1 << 10 (NODES_SHIFT 10).
const MAX_NODES: u64 = 1 << 10;

/// A policy ready for set_mempolicy: the mode with its flags, and the node
/// mask as 64-bit words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemPolicy {
    pub mode: i32,
    pub mask: Vec<u64>,
}

fn invalid(field: &str, why: impl Into<String>) -> Error {
    Error::invalid(format!("linux.memoryPolicy.{field}"), why.into())
}

/// Checks `p` and turns it into set_mempolicy's arguments.
#[cold]
#[inline(never)]
pub fn compile(p: &LinuxMemoryPolicy) -> Result<MemPolicy> {
    use MemoryPolicyModeType::*;
    let mode = match p.mode() {
        MpolDefault => MPOL_DEFAULT,
        MpolPreferred => MPOL_PREFERRED,
        MpolBind => MPOL_BIND,
        MpolInterleave => MPOL_INTERLEAVE,
        MpolLocal => MPOL_LOCAL,
        MpolPreferredMany => MPOL_PREFERRED_MANY,
        MpolWeightedInterleave => MPOL_WEIGHTED_INTERLEAVE,
    };
    let nodes = p.nodes().as_deref().unwrap_or("").trim();
    let mask = if nodes.is_empty() {
        Vec::new()
    } else {
        node_mask(nodes)?
    };
    let name = p.mode().to_string();
    match mode {
        // The kernel wants an empty mask for these.
        MPOL_DEFAULT | MPOL_LOCAL if !mask.is_empty() => {
            return Err(invalid(
                "nodes",
                format!("{nodes:?}: {name} takes no nodes"),
            ));
        }
        // An empty mask with MPOL_PREFERRED means "the local node".
        MPOL_BIND | MPOL_INTERLEAVE | MPOL_PREFERRED_MANY | MPOL_WEIGHTED_INTERLEAVE
            if mask.is_empty() =>
        {
            return Err(invalid("nodes", format!("{name} needs at least one node")));
        }
        _ => {}
    }
    let mut flags = 0;
    for f in p.flags().iter().flatten() {
        flags |= match f {
            MemoryPolicyFlagType::MpolFNumaBalancing => MPOL_F_NUMA_BALANCING,
            MemoryPolicyFlagType::MpolFRelativeNodes => MPOL_F_RELATIVE_NODES,
            MemoryPolicyFlagType::MpolFStaticNodes => MPOL_F_STATIC_NODES,
        };
    }
    if flags & MPOL_F_RELATIVE_NODES != 0 && flags & MPOL_F_STATIC_NODES != 0 {
        return Err(invalid(
            "flags",
            "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other",
        ));
    }
    if flags & (MPOL_F_RELATIVE_NODES | MPOL_F_STATIC_NODES) != 0
        && matches!(mode, MPOL_DEFAULT | MPOL_LOCAL)
    {
        return Err(invalid("flags", format!("{name} takes no node flags")));
    }
    if flags & MPOL_F_NUMA_BALANCING != 0 && !matches!(mode, MPOL_BIND | MPOL_PREFERRED_MANY) {
        return Err(invalid(
            "flags",
            format!(
                "MPOL_F_NUMA_BALANCING goes with MPOL_BIND (or MPOL_PREFERRED_MANY), not {name}"
            ),
        ));
    }
    Ok(MemPolicy {
        mode: mode | flags,
        mask,
    })
}

/// "0-3,7" → bits 0..=3 and 7.
fn node_mask(list: &str) -> Result<Vec<u64>> {
    let bad = |why: &str| invalid("nodes", format!("{list:?}: {why}"));
    let num = |s: &str| -> Result<u64> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("not a list of node numbers and ranges like \"0-3,7\""));
        }
        match s.parse::<u64>() {
            Ok(n) if n < MAX_NODES => Ok(n),
            _ => Err(bad(&format!("a node number must be below {MAX_NODES}"))),
        }
    };
    let mut mask = Vec::new();
    for item in list.split(',') {
        let (a, b) = match item.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let n = num(item)?;
                (n, n)
            }
        };
        if a > b {
            return Err(bad("a range must not run backwards"));
        }
        for n in a..=b {
            let word = (n / 64) as usize;
            if mask.len() <= word {
                mask.resize(word + 1, 0);
            }
            mask[word] |= 1 << (n % 64);
        }
    }
    Ok(mask)
}

impl MemPolicy {
    /// set_mempolicy(2) on the calling thread (the whole process: init and
    /// exec are single-threaded).
    #[cold]
    #[inline(never)]
    pub fn apply(&self) -> Result<()> {
        crate::sys::set_mempolicy(self.mode, &self.mask).map_err(|e| {
            Error::sys(
                format!("set_mempolicy (linux.memoryPolicy, mode {:#x})", self.mode),
                e,
            )
        })
    }
}

/// The spec's policy, checked (None when it has none).
pub fn from_spec(spec: &oci_spec::runtime::Spec) -> Result<Option<MemPolicy>> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.memory_policy().as_ref())
        .map(compile)
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(v: serde_json::Value) -> Result<MemPolicy> {
        compile(&serde_json::from_value(v).unwrap())
    }

    #[test]
    fn modes_nodes_and_flags() {
        let p = policy(json!({"mode": "MPOL_BIND", "nodes": "0-2,5,64"})).unwrap();
        assert_eq!(p.mode, MPOL_BIND);
        assert_eq!(p.mask, vec![0b100111, 1]);
        let p = policy(json!({"mode": "MPOL_INTERLEAVE", "nodes": "1",
            "flags": ["MPOL_F_STATIC_NODES"]}))
        .unwrap();
        assert_eq!(p.mode, MPOL_INTERLEAVE | MPOL_F_STATIC_NODES);
        let p = policy(json!({"mode": "MPOL_PREFERRED"})).unwrap();
        assert_eq!((p.mode, p.mask.len()), (MPOL_PREFERRED, 0));
        let p = policy(json!({"mode": "MPOL_BIND", "nodes": "0",
            "flags": ["MPOL_F_NUMA_BALANCING"]}))
        .unwrap();
        assert_eq!(p.mode, MPOL_BIND | MPOL_F_NUMA_BALANCING);
        assert_eq!(
            policy(json!({"mode": "MPOL_LOCAL"})).unwrap().mode,
            MPOL_LOCAL
        );
    }

    #[test]
    fn refused_with_the_field() {
        for (v, want) in [
            (
                json!({"mode": "MPOL_BIND"}),
                "linux.memoryPolicy.nodes: MPOL_BIND needs at least one node",
            ),
            (
                json!({"mode": "MPOL_DEFAULT", "nodes": "0"}),
                "takes no nodes",
            ),
            (
                json!({"mode": "MPOL_BIND", "nodes": "3-1"}),
                "must not run backwards",
            ),
            (json!({"mode": "MPOL_BIND", "nodes": "x"}), "not a list"),
            (json!({"mode": "MPOL_BIND", "nodes": "4096"}), "below 1024"),
            (
                json!({"mode": "MPOL_BIND", "nodes": "0",
                    "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}),
                "exclude each other",
            ),
            (
                json!({"mode": "MPOL_INTERLEAVE", "nodes": "0",
                    "flags": ["MPOL_F_NUMA_BALANCING"]}),
                "MPOL_F_NUMA_BALANCING goes with",
            ),
        ] {
            let e = policy(v.clone()).expect_err(&v.to_string()).to_string();
            assert!(e.contains(want), "{v}: {e}");
        }
    }
}
