//! On-disk cache of compiled components, keyed by the module's hash, the
//! runner and wasmtime versions and the code-generation profile, so the
//! second run of a module starts without compiling.

use std::path::PathBuf;

use wasmtime::Engine;
use wasmtime::component::Component;

use super::engine::CodegenProfile;
use super::module::{ModuleSource, compile_fresh};

/// Where compiled components are kept (or nowhere).
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: Option<PathBuf>,
}

impl CompileCache {
    /// The cache in `WASM_SLO_CACHE_DIR`, else `$XDG_CACHE_HOME/wasm-slo`,
    /// else `~/.cache/wasm-slo`.
    pub fn default_location() -> Self {
        let dir = std::env::var_os("WASM_SLO_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("wasm-slo"))
            })
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/wasm-slo")));
        CompileCache { dir }
    }

    /// A cache in `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        CompileCache {
            dir: Some(dir.into()),
        }
    }

    /// No caching: always compile.
    pub fn disabled() -> Self {
        CompileCache { dir: None }
    }

    fn entry(&self, profile: &CodegenProfile, source: &ModuleSource) -> Option<PathBuf> {
        let key = format!(
            "{}-r{}-{}",
            source.sha256,
            env!("CARGO_PKG_VERSION"),
            profile.cache_tag()
        );
        self.dir.as_ref().map(|d| d.join(format!("{key}.cwasm")))
    }

    /// The compiled component from the cache, or compiled now and stored.
    /// A stale or unreadable entry is recompiled, never an error.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        profile: &CodegenProfile,
        source: &ModuleSource,
    ) -> anyhow::Result<Component> {
        let entry = self.entry(profile, source);
        if let Some(path) = &entry
            && path.exists()
        {
            // SAFETY: the file is one this runner wrote into its own cache
            // directory; wasmtime still checks that it was produced by a
            // compatible engine and refuses it otherwise.
            if let Ok(c) = unsafe { Component::deserialize_file(engine, path) } {
                return Ok(c);
            }
        }
        let compiled = compile_fresh(engine, source)?;
        if let Some(path) = &entry {
            // A cache that cannot be written only costs the next start.
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = crate::atomic_file::write(path, &compiled);
        }
        // SAFETY: the bytes were produced just now by `engine`.
        Ok(unsafe { Component::deserialize(engine, &compiled)? })
    }
}
