//! ward as a Kubernetes node's runtime, proven through the CRI: a containerd
//! with its CRI plugin started by the test ([`node::Node`]), a CRI client
//! ([`cri::Cri`]) that calls it as kubelet does, the streaming protocol of
//! Exec and Attach ([`stream`]), and images made here ([`image`]).
//! Test code only (`publish = false`): none of it reaches the ward binary.
//! The scenarios are in tests/cri.rs; docs/kubernetes.md says what they
//! cover.

pub mod cmd;
pub mod cri;
pub mod image;
pub mod node;
pub mod stream;
