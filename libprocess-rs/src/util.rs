//! Small shared helpers.

/// Builds fast non-cryptographic hashers (rustc-hash's Fx) for short trusted keys (process
/// ids, message names, dense indices). Not for keys an adversary chooses.
pub type FxBuild = rustc_hash::FxBuildHasher;
