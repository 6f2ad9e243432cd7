// TEMPORARY STUB so the workspace builds; the provisioner's author replaces this whole file.
use crate::error::Result;
use std::path::PathBuf;
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Backend {
    Copy,
    Overlay,
}
impl Backend {
    pub fn parse(_s: &str) -> Result<Backend> {
        Ok(Backend::Copy)
    }
}
pub struct ProvisionerConfig {
    pub docker_registry: Option<PathBuf>,
    pub store_dir: PathBuf,
    pub rootfs_dir: PathBuf,
    pub backend: Backend,
}
pub struct ImageConfig {
    pub env: Vec<(String, String)>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
}
pub struct Provisioned {
    pub rootfs: PathBuf,
    pub config: ImageConfig,
    pub layers: Vec<String>,
    pub backend: Backend,
    pub cache_hit: bool,
}
pub struct Provisioner;
impl Provisioner {
    pub fn new(_c: ProvisionerConfig) -> Result<Provisioner> {
        Ok(Provisioner)
    }
    pub fn provision(&self, _c: &str, n: &str, _cached: bool) -> Result<Provisioned> {
        Err(crate::error::Error::Provision {
            image: n.into(),
            why: "images are not supported yet".into(),
        })
    }
    pub fn destroy(&self, _c: &str) -> Result<()> {
        Ok(())
    }
    pub fn containers(&self) -> Vec<String> {
        vec![]
    }
}
