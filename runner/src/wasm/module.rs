//! A scenario module from disk: read, checked to be a component of our WIT
//! package in a supported version, compiled (through the on-disk cache), and
//! linked against the host's imports.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker};

use super::bindings::{WIT_PACKAGE, WIT_VERSION};
use super::cache::CompileCache;
use super::engine::CodegenProfile;
use crate::exit::bad_input;

/// Largest module accepted; real scenarios are a few MiB.
pub const MAX_MODULE_BYTES: u64 = 256 << 20;

/// The bytes of a scenario module, checked to look like a component.
pub struct ModuleSource {
    /// Where it was read from.
    pub path: PathBuf,
    /// The raw bytes.
    pub bytes: Vec<u8>,
    /// Hex SHA-256 of the bytes: identifies the module in results.
    pub sha256: String,
}

impl ModuleSource {
    /// Reads and checks `path`.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| {
            bad_input(format!(
                "cannot read scenario module `{}`: {e}",
                path.display()
            ))
        })?;
        if meta.is_dir() {
            return Err(bad_input(format!(
                "`{}` is a directory; give the path of a .wasm component",
                path.display()
            )));
        }
        if meta.len() > MAX_MODULE_BYTES {
            return Err(bad_input(format!(
                "`{}` is {} MiB; scenario modules may be at most {} MiB",
                path.display(),
                meta.len() >> 20,
                MAX_MODULE_BYTES >> 20
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| {
            bad_input(format!(
                "cannot read scenario module `{}`: {e}",
                path.display()
            ))
        })?;
        check_header(path, &bytes)?;
        let sha256 = hex(&Sha256::digest(&bytes));
        Ok(ModuleSource {
            path: path.to_owned(),
            bytes,
            sha256,
        })
    }
}

fn check_header(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    const BUILD_HINT: &str =
        "build the scenario with `cargo build --release --target wasm32-wasip2`";
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(bad_input(format!(
            "`{}` is not a WebAssembly file; {BUILD_HINT}",
            path.display()
        )));
    }
    match bytes[4..8] {
        [0x0d, 0x00, 0x01, 0x00] => Ok(()),
        [0x01, 0x00, 0x00, 0x00] => Err(bad_input(format!(
            "`{}` is a core WebAssembly module, not a component; {BUILD_HINT} \
             (wasm32-wasip2 produces components)",
            path.display()
        ))),
        _ => Err(bad_input(format!(
            "`{}` uses an unsupported WebAssembly binary version {:02x?}",
            path.display(),
            &bytes[4..8]
        ))),
    }
}

/// Compiles `source` for `engine` through `cache`, then checks that it
/// exports our scenario interface in a version this runner supports.
pub fn compile(
    engine: &Engine,
    profile: &CodegenProfile,
    source: &ModuleSource,
    cache: &CompileCache,
) -> anyhow::Result<Component> {
    let component = cache.load_or_compile(engine, profile, source)?;
    check_exports(engine, &component, &source.path)?;
    Ok(component)
}

/// Compiles without the cache (used by the cache on a miss).
pub fn compile_fresh(engine: &Engine, source: &ModuleSource) -> anyhow::Result<Vec<u8>> {
    engine.precompile_component(&source.bytes).map_err(|e| {
        bad_input(format!(
            "`{}` is not a valid component: {e:#}",
            source.path.display()
        ))
    })
}

/// The WIT version the component's `scenario` export was built against.
pub fn exported_version(engine: &Engine, component: &Component) -> Option<String> {
    let prefix = format!("{WIT_PACKAGE}/scenario@");
    component
        .component_type()
        .exports(engine)
        .find_map(|(name, _)| name.strip_prefix(&prefix).map(str::to_owned))
}

fn check_exports(engine: &Engine, component: &Component, path: &Path) -> anyhow::Result<()> {
    let ty = component.component_type();
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_owned()).collect();
    let Some(version) = exported_version(engine, component) else {
        let listed = if exports.is_empty() {
            "nothing".to_owned()
        } else {
            exports.join(", ")
        };
        return Err(bad_input(format!(
            "`{}` is not a wasm-slo scenario: it does not export `{WIT_PACKAGE}/scenario` \
             (it exports {listed}); build it against the wasm-slo WIT package or the wasm-slo-sdk crate",
            path.display()
        )));
    };
    if !compatible(&version, WIT_VERSION) {
        return Err(bad_input(format!(
            "`{}` was built for {WIT_PACKAGE}@{version}, but this runner supports \
             {WIT_PACKAGE}@{WIT_VERSION} (compatible: {}); rebuild the module against {WIT_VERSION} \
             or use a runner that supports {version}",
            path.display(),
            compat_range(WIT_VERSION)
        )));
    }
    Ok(())
}

/// Semver compatibility as Cargo reads it: same major, and for 0.x the same minor.
fn compatible(module: &str, runner: &str) -> bool {
    let parse = |v: &str| -> Option<(u64, u64)> {
        let mut it = v.split(['.', '-', '+']);
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    };
    match (parse(module), parse(runner)) {
        (Some((0, m1)), Some((0, m2))) => m1 == m2,
        (Some((a, _)), Some((b, _))) => a == b,
        _ => false,
    }
}

/// The version of an import of our own package (`wasm-slo:scenario/http@0.1.0`
/// gives `0.1.0`); None for other packages.
fn own_version(import: &str) -> Option<&str> {
    import
        .strip_prefix(WIT_PACKAGE)?
        .strip_prefix('/')?
        .split_once('@')
        .map(|(_, v)| v)
}

/// The patch number of `major.minor.patch` (0 when absent or unreadable).
fn patch_of(v: &str) -> u64 {
    v.split(['.', '-', '+'])
        .nth(2)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

fn compat_range(v: &str) -> String {
    let mut it = v.split('.');
    match (it.next(), it.next()) {
        (Some("0"), Some(minor)) => format!("0.{minor}.x"),
        (Some(major), _) => format!("{major}.x"),
        _ => v.to_owned(),
    }
}

/// Links the component against the host's imports. On failure, names the
/// interfaces the runner does not offer (all of them, not only the linker's
/// first), and for our own package the version the module was built for.
pub fn link<T>(
    engine: &Engine,
    linker: &Linker<T>,
    component: &Component,
    path: &Path,
) -> anyhow::Result<wasmtime::component::InstancePre<T>> {
    linker.instantiate_pre(component).map_err(|err| {
        let imports: Vec<String> = component
            .component_type()
            .imports(engine)
            .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentInstance(_)))
            .map(|(n, _)| n.to_owned())
            .collect();
        bad_input(link_error(path, &imports, &format!("{err:#}")))
    })
}

/// The message for a component whose instance imports `imports` failed to
/// link with `linker_error`.
fn link_error(path: &Path, imports: &[String], linker_error: &str) -> String {
    let foreign: Vec<&str> = imports
        .iter()
        .map(String::as_str)
        .filter(|name| !offered(name))
        .collect();
    if foreign.is_empty() {
        // A later 0.1.x may add functions: a module that uses them links
        // only on a runner of that version or newer.
        let newer = imports
            .iter()
            .filter_map(|name| own_version(name))
            .find(|v| patch_of(v) > patch_of(WIT_VERSION));
        let hint = match newer {
            Some(v) => format!(
                "; it was built for {WIT_PACKAGE}@{v}, newer than this runner's {WIT_VERSION}: \
                 use a runner that supports {v}, or rebuild the module against {WIT_VERSION}"
            ),
            None => String::new(),
        };
        return format!(
            "`{}` cannot be linked: {linker_error}{hint}",
            path.display()
        );
    }
    let built_for = foreign.iter().find_map(|name| own_version(name));
    let versions = match built_for {
        Some(v) => format!(
            "; it was built for {WIT_PACKAGE}@{v}, this runner speaks {WIT_PACKAGE}@{WIT_VERSION}, \
             so rebuild it against {WIT_VERSION}"
        ),
        None => String::new(),
    };
    format!(
        "`{}` imports interfaces this runner does not offer: {}{versions}; a scenario may import \
         only {WIT_PACKAGE}/*@{} and the WASI 0.2 interfaces of its standard library (cli, io, \
         clocks, random, filesystem, sockets; wasi:http is not offered: requests go through \
         {WIT_PACKAGE}/http)",
        path.display(),
        foreign.join(", "),
        compat_range(WIT_VERSION),
    )
}

/// Whether the host links the interface `import` (`package/name@version`):
/// our package in a compatible version, and WASI 0.2 minus wasi:http (which
/// would bypass the runner's measured HTTP).
fn offered(import: &str) -> bool {
    let (name, version) = import.split_once('@').unwrap_or((import, ""));
    if let Some(rest) = name.strip_prefix(WIT_PACKAGE) {
        return rest.starts_with('/') && compatible(version, WIT_VERSION);
    }
    [
        "wasi:cli/",
        "wasi:io/",
        "wasi:clocks/",
        "wasi:random/",
        "wasi:filesystem/",
        "wasi:sockets/",
    ]
    .iter()
    .any(|p| name.starts_with(p))
        && compatible(version, "0.2.0")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_compatibility() {
        assert!(compatible("0.1.0", "0.1.0"));
        assert!(compatible("0.1.7", "0.1.0"));
        assert!(!compatible("0.2.0", "0.1.0"));
        assert!(!compatible("1.0.0", "0.1.0"));
        assert!(compatible("1.3.0", "1.0.0"));
        assert!(!compatible("x", "0.1.0"));
        assert_eq!(compat_range("0.1.0"), "0.1.x");
    }

    #[test]
    fn link_errors_name_every_interface_not_offered() {
        let p = Path::new("m.wasm");
        let imports = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let e = link_error(
            p,
            &imports(&[
                "wasi:cli/environment@0.2.3",
                "wasi:http/outgoing-handler@0.2.0",
                "wasm-slo:scenario/http@0.1.0",
                "wasi:io/streams@0.3.0",
            ]),
            "first",
        );
        assert!(
            e.starts_with(
                "`m.wasm` imports interfaces this runner does not offer: \
                 wasi:http/outgoing-handler@0.2.0, wasi:io/streams@0.3.0; a scenario may import \
                 only wasm-slo:scenario/*@0.1.x"
            ),
            "{e}"
        );
        let e = link_error(
            p,
            &imports(&[
                "wasm-slo:scenario/http@0.2.0",
                "wasm-slo:scenario/types@0.2.0",
            ]),
            "first",
        );
        assert!(
            e.contains(
                "it was built for wasm-slo:scenario@0.2.0, this runner speaks \
                 wasm-slo:scenario@0.1.3, so rebuild it against 0.1.3"
            ),
            "{e}"
        );
        let e = link_error(
            p,
            &imports(&["wasm-slo:scenario/http@0.1.0"]),
            "no `stream`",
        );
        assert_eq!(e, "`m.wasm` cannot be linked: no `stream`");
        let e = link_error(
            p,
            &imports(&["wasm-slo:scenario/http@0.1.9"]),
            "no `stream`",
        );
        assert_eq!(
            e,
            "`m.wasm` cannot be linked: no `stream`; it was built for wasm-slo:scenario@0.1.9, \
             newer than this runner's 0.1.3: use a runner that supports 0.1.9, or rebuild the \
             module against 0.1.3"
        );
        assert!(!offered("wasm-slo:scenarios/x@0.1.0"));
        assert!(!offered("wasi:cli/environment"));
    }

    #[test]
    fn headers_are_classified() {
        let p = Path::new("m.wasm");
        let e = check_header(p, b"hello world").unwrap_err().to_string();
        assert!(e.contains("not a WebAssembly file"), "{e}");
        let e = check_header(p, b"\0asm\x01\0\0\0").unwrap_err().to_string();
        assert!(
            e.contains("core WebAssembly module, not a component"),
            "{e}"
        );
        check_header(p, b"\0asm\x0d\0\x01\0").unwrap();
    }
}
