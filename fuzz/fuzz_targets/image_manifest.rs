//! Image manifests (docker archives' `manifest.json`, OCI layouts' `index.json`) of
//! `--docker_registry`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesos_containerizer::provisioner::fuzzing::read_image_manifest;

fuzz_target!(|data: &[u8]| {
    let oci = data.first().is_some_and(|b| b & 1 == 1);
    let _ = read_image_manifest(data.get(1..).unwrap_or_default(), oci);
});
