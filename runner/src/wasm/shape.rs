//! What a scenario component defines that each VU's instance allocates:
//! linear memories, counted in the component's core modules.
//!
//! The instance allocator is chosen from this count: every pooled memory
//! takes four kernel memory maps, so under `vm.max_map_count` a component
//! with two memories fits 60 % as many pooled instances as one with a
//! single memory (see [`super::engine::Strategy::choose`]).

use anyhow::Context;
use wasmparser::{Parser, Payload};

/// What one instance of a component defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComponentShape {
    /// Linear memories defined (not imported) by its core modules.
    pub memories: u32,
}

impl ComponentShape {
    /// The shape of the components Rust's wasm32-wasip2 toolchain builds:
    /// one memory.
    pub const SINGLE_MEMORY: ComponentShape = ComponentShape { memories: 1 };

    /// Counts the memories of the core modules in `bytes`, nested ones
    /// included. A module instantiated more than once would count once;
    /// toolchains instantiate each module of a scenario once.
    pub fn of(bytes: &[u8]) -> anyhow::Result<Self> {
        let mut memories = 0;
        for payload in Parser::new(0).parse_all(bytes) {
            if let Payload::MemorySection(s) =
                payload.context("reading the component's core modules")?
            {
                memories += s.count();
            }
        }
        Ok(ComponentShape { memories })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memories_of_every_core_module_are_counted() {
        let two = wat::parse_str(
            r#"(component
                 (core module $a (memory 1) (table 1 funcref))
                 (core module $b
                   (import "a" "m" (memory 1))
                   (memory 2)
                   (table 1 funcref)
                   (table 2 funcref))
                 (component (core module (memory 1))))"#,
        )
        .unwrap();
        assert_eq!(
            ComponentShape::of(&two).unwrap(),
            ComponentShape { memories: 3 },
            "imported memories are not counted, nested components' are"
        );
        let none = wat::parse_str("(component)").unwrap();
        assert_eq!(ComponentShape::of(&none).unwrap().memories, 0);
    }

    #[test]
    fn bytes_that_are_no_component_are_an_error() {
        let err = ComponentShape::of(b"\0asm\x0d\0\x01\0junk").unwrap_err();
        assert!(format!("{err:#}").contains("core modules"), "{err:#}");
    }
}
