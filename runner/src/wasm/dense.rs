//! Linear memories and fiber stacks carved out of one reserved region each,
//! for runs with more VUs than the kernel's map budget allows otherwise.
//!
//! wasmtime's allocators give every linear memory its own mapping with an
//! inaccessible tail (and a copy-on-write image in the middle) and every
//! fiber stack a guard page: four to six kernel memory maps per instance, so
//! `vm.max_map_count` (65,530 by default) stops a run near 10,000 VUs. Here
//! all memories live in one read-write `MAP_NORESERVE` region and all stacks
//! in another, two maps in total whatever the VU count (plus one per stack
//! when stacks keep guard pages, which the plan decides from the budget).
//!
//! Safety of an always-accessible region rests on code generation: the
//! engine is configured with no guard region after linear memories and a
//! reservation below 4 GiB, so every access to a memory that may move is
//! bounds-checked against the memory's current size, never against the
//! mapping. Memories that can never move are compiled with checks against
//! the whole reservation, so they are refused here. Pages are
//! only resident once touched. A released slot keeps its pages until it is
//! taken again, when they are handed back to the kernel (`MADV_DONTNEED`),
//! which zeroes them for the new owner: the slots freed at the end of a run
//! cost no system call (each one is a TLB shoot-down across threads), and
//! a trapped VU's replacement reuses its predecessor's slot (last freed,
//! first taken).

use std::io;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use wasmtime::{LinearMemory, MemoryCreator, MemoryType, StackCreator, StackMemory};

/// One reserved mapping cut into equal slots, with a free list.
#[derive(Debug)]
struct Region {
    base: usize,
    slot_size: usize,
    slots: usize,
    /// Free slots with the bytes their last owner may have written (from
    /// the slot's start); the most recently freed is reused first.
    free: Mutex<Vec<(u32, usize)>>,
    what: &'static str,
}

impl Region {
    /// Reserves `slots` slots of `slot_size` bytes (a multiple of the page size).
    fn reserve(what: &'static str, slot_size: usize, slots: usize) -> io::Result<Region> {
        let len = slot_size
            .checked_mul(slots)
            .filter(|&len| len > 0)
            .ok_or_else(|| io::Error::other(format!("{what}: {slots} slots do not fit")))?;
        // SAFETY: a fresh anonymous mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            let err = io::Error::last_os_error();
            return Err(io::Error::new(
                err.kind(),
                format!("{what}: reserving {} GiB: {err}", len >> 30),
            ));
        }
        // One big anonymous mapping is a candidate for transparent huge
        // pages, which would make every VU's first touch cost 2 MiB.
        // SAFETY: advice on our own fresh mapping.
        unsafe {
            libc::madvise(base, len, libc::MADV_NOHUGEPAGE);
        }
        let slot_count = u32::try_from(slots).map_err(io::Error::other)?;
        Ok(Region {
            base: base as usize,
            slot_size,
            slots,
            free: Mutex::new((0..slot_count).rev().map(|slot| (slot, 0)).collect()),
            what,
        })
    }

    fn slot_base(&self, slot: u32) -> usize {
        self.base + slot as usize * self.slot_size
    }

    /// A free slot, zeroed: pages `skip..` of what its last owner wrote
    /// are dropped (the owner's first `skip` bytes are never handed out:
    /// a stack's guard page).
    fn take(&self, skip: usize) -> Result<u32, String> {
        let (slot, dirty) = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .ok_or_else(|| {
                format!(
                    "all {} {} slots are in use (the engine was sized for fewer VUs)",
                    self.slots, self.what
                )
            })?;
        let dirty = dirty.min(self.slot_size);
        if dirty > skip {
            // SAFETY: the range lies inside this slot, which nobody owns
            // between its release and this hand-out.
            unsafe {
                libc::madvise(
                    (self.slot_base(slot) + skip) as *mut libc::c_void,
                    dirty - skip,
                    libc::MADV_DONTNEED,
                );
            }
        }
        Ok(slot)
    }

    /// Returns `slot`, whose owner may have written its first `dirty` bytes.
    fn give_back(&self, slot: u32, dirty: usize) {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((slot, dirty));
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: every memory and stack holds an `Arc` of its region, so
        // none is alive when the region is dropped.
        unsafe {
            libc::munmap(self.base as *mut libc::c_void, self.slot_size * self.slots);
        }
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|&s| s > 0)
        .unwrap_or(4096)
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// Creates linear memories in slots of one region (a wasmtime
/// [`MemoryCreator`]).
#[derive(Debug)]
pub struct DenseMemories {
    region: Arc<Region>,
}

impl DenseMemories {
    /// Room for `count` memories of up to `reservation` bytes each.
    pub fn new(reservation: u64, count: usize) -> io::Result<Self> {
        let slot = usize::try_from(reservation).map_err(io::Error::other)?;
        let slot = round_up(slot, page_size());
        Ok(DenseMemories {
            region: Arc::new(Region::reserve("linear memory", slot, count)?),
        })
    }
}

struct DenseMemory {
    region: Arc<Region>,
    slot: u32,
    size: usize,
    /// The furthest size it ever had: what to hand back to the kernel.
    high_water: usize,
}

// SAFETY: the memory is a fixed, page-aligned slot of a read-write mapping
// owned (through the `Arc`) for as long as this value lives; growth never
// moves it, and `byte_capacity` is the slot's size.
unsafe impl LinearMemory for DenseMemory {
    fn byte_size(&self) -> usize {
        self.size
    }

    fn byte_capacity(&self) -> usize {
        self.region.slot_size
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        if new_size > self.region.slot_size {
            wasmtime::bail!(
                "linear memory of {new_size} bytes does not fit its reservation of {} bytes",
                self.region.slot_size
            );
        }
        // The slot is mapped read-write already; bounds checks use `size`.
        self.size = new_size;
        self.high_water = self.high_water.max(new_size);
        Ok(())
    }

    fn as_ptr(&self) -> *mut u8 {
        self.region.slot_base(self.slot) as *mut u8
    }
}

impl Drop for DenseMemory {
    fn drop(&mut self) {
        self.region.give_back(self.slot, self.high_water);
    }
}

// SAFETY: see `DenseMemory`; memories are zero-filled because fresh slots
// are untouched anonymous pages and released ones were `MADV_DONTNEED`ed.
unsafe impl MemoryCreator for DenseMemories {
    fn new_memory(
        &self,
        ty: MemoryType,
        minimum: usize,
        maximum: Option<usize>,
        reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        if guard_size_in_bytes != 0 {
            // Compiled code would skip bounds checks the guard should catch.
            return Err(format!(
                "dense memories need an engine without guard pages (asked for {guard_size_in_bytes} bytes)"
            ));
        }
        let slot_size = self.region.slot_size;
        // wasmtime compiles a memory that can never move (shared, or with a
        // declared maximum within the reservation) with bounds checks
        // against the whole reservation, trusting the mapping beyond the
        // memory's size to be inaccessible; here it is not.
        let reservation = reserved_size_in_bytes.unwrap_or(slot_size);
        if ty.is_shared() || maximum.is_some_and(|max| max <= reservation) {
            return Err(format!(
                "the module declares a {} linear memory of at most {} bytes, which the dense \
                 allocator (chosen for this many VUs) cannot hold safely: run fewer VUs per \
                 process, or raise vm.max_map_count (sysctl vm.max_map_count=262144) so the \
                 pooling allocator is used",
                if ty.is_shared() {
                    "shared"
                } else {
                    "fixed-size"
                },
                maximum.unwrap_or(minimum)
            ));
        }
        if reserved_size_in_bytes.is_some_and(|r| r > slot_size) || minimum > slot_size {
            return Err(format!(
                "a linear memory of {minimum} bytes (reservation {reserved_size_in_bytes:?}) does not fit a slot of {slot_size} bytes"
            ));
        }
        let slot = self.region.take(0)?;
        Ok(Box::new(DenseMemory {
            region: self.region.clone(),
            slot,
            size: minimum,
            high_water: minimum,
        }))
    }
}

/// Creates fiber stacks in slots of one region (a wasmtime [`StackCreator`]).
#[derive(Debug)]
pub struct DenseStacks {
    region: Arc<Region>,
    /// Bytes at the bottom of each slot kept inaccessible (0 or one page).
    guard: usize,
}

impl DenseStacks {
    /// Room for `count` stacks of `size` bytes, each with a guard page below
    /// it when `guarded` (one more kernel map per stack).
    pub fn new(size: usize, count: usize, guarded: bool) -> io::Result<Self> {
        let page = page_size();
        let guard = if guarded { page } else { 0 };
        let region = Region::reserve("fiber stack", round_up(size, page) + guard, count)?;
        if guarded {
            // `reserve` checked that the slot count fits a u32.
            for slot in 0..count as u32 {
                let at = region.slot_base(slot);
                // SAFETY: the first page of a slot of our own mapping.
                let rc = unsafe { libc::mprotect(at as *mut libc::c_void, guard, libc::PROT_NONE) };
                if rc != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        Ok(DenseStacks {
            region: Arc::new(region),
            guard,
        })
    }
}

struct DenseStack {
    region: Arc<Region>,
    slot: u32,
    guard: usize,
}

// SAFETY: the stack is a page-aligned slot of a read-write mapping owned
// for as long as this value lives; `range` excludes the guard page.
unsafe impl StackMemory for DenseStack {
    fn top(&self) -> *mut u8 {
        (self.region.slot_base(self.slot) + self.region.slot_size) as *mut u8
    }

    fn range(&self) -> Range<usize> {
        let base = self.region.slot_base(self.slot);
        base + self.guard..base + self.region.slot_size
    }

    fn guard_range(&self) -> Range<*mut u8> {
        let base = self.region.slot_base(self.slot);
        base as *mut u8..(base + self.guard) as *mut u8
    }
}

impl Drop for DenseStack {
    fn drop(&mut self) {
        // Which part of the stack was used is unknown: all of it may be dirty.
        self.region.give_back(self.slot, self.region.slot_size);
    }
}

// SAFETY: see `DenseStack`; stacks are zero-filled like memories.
unsafe impl StackCreator for DenseStacks {
    fn new_stack(&self, size: usize, _zeroed: bool) -> wasmtime::Result<Box<dyn StackMemory>> {
        let room = self.region.slot_size - self.guard;
        if size > room {
            wasmtime::bail!("a fiber stack of {size} bytes does not fit a slot of {room} bytes");
        }
        let slot = self.region.take(self.guard).map_err(wasmtime::Error::msg)?;
        Ok(Box::new(DenseStack {
            region: self.region.clone(),
            slot,
            guard: self.guard,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(creator: &DenseMemories, min: usize) -> Box<dyn LinearMemory> {
        let ty = MemoryType::new(1, None);
        creator.new_memory(ty, min, None, Some(1 << 20), 0).unwrap()
    }

    #[test]
    fn memories_grow_in_place_and_come_back_zeroed() {
        let creator = DenseMemories::new(1 << 20, 2).unwrap();
        let mut a = memory(&creator, 65536);
        let b = memory(&creator, 65536);
        assert_ne!(a.as_ptr(), b.as_ptr());
        let base = a.as_ptr();
        a.grow_to(3 * 65536).unwrap();
        assert_eq!(a.as_ptr(), base, "growth never moves a memory");
        assert_eq!(a.byte_size(), 3 * 65536);
        assert!(a.grow_to((1 << 20) + 65536).is_err(), "past the slot");
        // SAFETY: within the memory's size.
        unsafe { base.add(2 * 65536).write(7) };
        let third = creator
            .new_memory(MemoryType::new(1, None), 65536, None, Some(1 << 20), 0)
            .err()
            .expect("both slots are taken");
        assert!(
            third.contains("all 2 linear memory slots are in use"),
            "{third}"
        );
        drop(a);
        let again = memory(&creator, 65536);
        assert_eq!(again.as_ptr(), base, "the freed slot is reused first");
        // SAFETY: the slot is mapped; the byte lies inside it.
        assert_eq!(
            unsafe { base.add(2 * 65536).read() },
            0,
            "zeroed for its next owner"
        );
    }

    #[test]
    fn memories_that_cannot_move_are_refused() {
        // Their code checks against the reservation, not the size.
        let creator = DenseMemories::new(1 << 20, 1).unwrap();
        let err = creator
            .new_memory(
                MemoryType::new(1, Some(16)),
                65536,
                Some(16 << 16),
                Some(1 << 20),
                0,
            )
            .err()
            .unwrap();
        assert!(
            err.contains("fixed-size") && err.contains("vm.max_map_count"),
            "{err}"
        );
        // A maximum beyond the reservation leaves the memory movable: fine.
        creator
            .new_memory(
                MemoryType::new(1, Some(64)),
                65536,
                Some(64 << 16),
                Some(1 << 20),
                0,
            )
            .unwrap();
    }

    #[test]
    fn memories_refuse_guards_and_oversized_requests() {
        let creator = DenseMemories::new(1 << 20, 1).unwrap();
        let ty = MemoryType::new(1, None);
        let err = creator
            .new_memory(ty.clone(), 65536, None, Some(1 << 20), 65536)
            .err()
            .unwrap();
        assert!(err.contains("without guard pages"), "{err}");
        let err = creator
            .new_memory(ty, 65536, None, Some(2 << 20), 0)
            .err()
            .unwrap();
        assert!(err.contains("does not fit"), "{err}");
    }

    #[test]
    fn stacks_are_disjoint_aligned_and_guarded_when_asked() {
        for guarded in [false, true] {
            let stacks = DenseStacks::new(64 << 10, 3, guarded).unwrap();
            let a = stacks.new_stack(64 << 10, false).unwrap();
            let b = stacks.new_stack(64 << 10, false).unwrap();
            let (ra, rb) = (a.range(), b.range());
            assert_eq!(ra.end - ra.start, 64 << 10);
            assert!(ra.end <= rb.start || rb.end <= ra.start, "disjoint");
            assert_eq!(a.top() as usize, ra.end);
            assert_eq!(ra.start % page_size(), 0);
            let guard = a.guard_range();
            assert_eq!(guard.end as usize, ra.start);
            assert_eq!(
                guard.end as usize - guard.start as usize,
                if guarded { page_size() } else { 0 }
            );
            assert!(
                stacks.new_stack(128 << 10, false).is_err(),
                "too big for a slot"
            );
            let top = a.top();
            // SAFETY: the last byte of the stack, inside its range.
            unsafe { top.sub(1).write(9) };
            drop(a);
            let again = stacks.new_stack(64 << 10, false).unwrap();
            assert_eq!(again.top(), top, "the freed slot is reused first");
            // SAFETY: as above; the slot is mapped.
            assert_eq!(unsafe { top.sub(1).read() }, 0, "zeroed for its next owner");
        }
    }
}
