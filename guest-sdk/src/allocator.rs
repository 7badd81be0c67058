//! The scenario's memory allocator: small blocks are recycled through a free
//! list per size class, in front of the standard allocator (wasi-libc's
//! dlmalloc).
//!
//! An iteration allocates the same few small blocks every time (the URL, the
//! request's name, the flow's name, the response's body and, when read, its
//! headers, each handed over by the runner through `cabi_realloc`), and
//! frees them before the next. dlmalloc spends about 100 wasm instructions
//! on each `malloc` and as many on each `free`: of the guest's 3,500
//! instructions per GET, 1,540 were the allocator's (callgrind, the probe's
//! `fast` flow at 16 VUs, with memories unchecked as in a real run). A pop
//! or push on a free list is a few instructions. (talc 5, the usual faster
//! wasm allocator, measured 1,165.)
//!
//! Blocks up to [`MAX_SMALL`] bytes are kept on their class's list when
//! freed, up to [`KEPT_PER_CLASS`] bytes of them per class; past that they go
//! back to dlmalloc, which can merge them for other sizes. So a scenario that
//! frees megabytes of small blocks of one size and then fills another size
//! reuses the memory as it did with dlmalloc alone, and the lists hold at
//! most 4 MiB in all (64 classes), far more than an iteration cycles through.
//! Larger or more aligned blocks go to dlmalloc as before.
//!
//! On by default (feature `fast-alloc`). A scenario that brings its own
//! `#[global_allocator]` turns it off with `default-features = false`.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr;

/// Size classes are multiples of this; it is also the blocks' alignment.
const GRANULE: usize = 8;
/// The largest block kept on a free list.
pub const MAX_SMALL: usize = 512;
const CLASSES: usize = MAX_SMALL / GRANULE;
/// Bytes of free blocks a class keeps for reuse.
pub const KEPT_PER_CLASS: usize = 64 << 10;

/// Free lists by size class in front of `inner`. For one thread only: wasm
/// guests without the `atomics` feature have one.
pub struct SizeClasses<A> {
    inner: A,
    /// Each list's first block; a free block holds the next one's address
    /// in its first bytes.
    heads: UnsafeCell<[*mut u8; CLASSES]>,
    /// Blocks on each list.
    kept: UnsafeCell<[u32; CLASSES]>,
}

impl<A> SizeClasses<A> {
    pub const fn new(inner: A) -> Self {
        SizeClasses {
            inner,
            heads: UnsafeCell::new([ptr::null_mut(); CLASSES]),
            kept: UnsafeCell::new([0; CLASSES]),
        }
    }
}

/// The class of a layout, if it is small enough to keep.
fn class(layout: Layout) -> Option<usize> {
    (layout.size() <= MAX_SMALL && layout.align() <= GRANULE)
        .then(|| layout.size().saturating_sub(1) / GRANULE)
}

/// The layout a class's blocks are allocated with.
fn block(class: usize) -> Layout {
    // SAFETY: a non-zero multiple of GRANULE, a power of two.
    unsafe { Layout::from_size_align_unchecked((class + 1) * GRANULE, GRANULE) }
}

unsafe impl<A: GlobalAlloc> GlobalAlloc for SizeClasses<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(c) = class(layout) else {
            return unsafe { self.inner.alloc(layout) };
        };
        // SAFETY: one thread, and no reentry: `inner` does not call back.
        let head = unsafe { &mut (*self.heads.get())[c] };
        if head.is_null() {
            return unsafe { self.inner.alloc(block(c)) };
        }
        let out = *head;
        // SAFETY: a free block of this class, holding the next one's address.
        *head = unsafe { out.cast::<*mut u8>().read_unaligned() };
        unsafe { (*self.kept.get())[c] -= 1 };
        out
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        let Some(c) = class(layout) else {
            return unsafe { self.inner.dealloc(p, layout) };
        };
        let kept = unsafe { &mut (*self.kept.get())[c] };
        if *kept as usize * block(c).size() >= KEPT_PER_CLASS {
            return unsafe { self.inner.dealloc(p, block(c)) };
        }
        *kept += 1;
        let head = unsafe { &mut (*self.heads.get())[c] };
        // SAFETY: the block is at least GRANULE bytes and ours again.
        unsafe { p.cast::<*mut u8>().write_unaligned(*head) };
        *head = p;
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY (all below): as GlobalAlloc::realloc requires of the caller.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class(layout), class(new)) {
            // The block already has room (a String growing within its class).
            (Some(a), Some(b)) if a == b => p,
            (None, None) => unsafe { self.inner.realloc(p, layout, new_size) },
            _ => {
                let out = unsafe { self.alloc(new) };
                if !out.is_null() {
                    unsafe {
                        ptr::copy_nonoverlapping(p, out, layout.size().min(new_size));
                        self.dealloc(p, layout);
                    }
                }
                out
            }
        }
    }
}

/// The scenario's allocator, where there is one thread; the tests give
/// each test an instance of its own and need no `Sync`.
#[cfg(all(
    feature = "fast-alloc",
    target_family = "wasm",
    not(target_feature = "atomics")
))]
mod global {
    use super::SizeClasses;

    // SAFETY: one thread (the `cfg` above), and `SizeClasses` never calls
    // back into itself.
    unsafe impl<A: Sync> Sync for SizeClasses<A> {}

    #[global_allocator]
    static ALLOCATOR: SizeClasses<std::alloc::System> = SizeClasses::new(std::alloc::System);
}

#[cfg(test)]
mod tests {
    use std::alloc::System;
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// The system allocator, keeping the layout of every block it handed
    /// out: a free must name that same layout (the system allocator itself
    /// would not notice), and a block must be freed once.
    #[derive(Default)]
    struct Counted {
        live: Mutex<HashMap<usize, Layout>>,
        allocs: AtomicUsize,
        frees: AtomicUsize,
    }

    impl Counted {
        fn live(&self) -> usize {
            self.live.lock().unwrap().len()
        }
    }

    unsafe impl GlobalAlloc for Counted {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            self.allocs.fetch_add(1, Ordering::Relaxed);
            let p = unsafe { System.alloc(layout) };
            self.live.lock().unwrap().insert(p as usize, layout);
            p
        }
        unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
            self.frees.fetch_add(1, Ordering::Relaxed);
            let allocated = self.live.lock().unwrap().remove(&(p as usize));
            assert_eq!(
                allocated,
                Some(layout),
                "freed with another layout, or twice"
            );
            unsafe { System.dealloc(p, layout) }
        }
    }

    impl<A> SizeClasses<A> {
        /// Blocks on all lists.
        fn kept_blocks(&self) -> usize {
            unsafe { (*self.kept.get()).iter().map(|&k| k as usize).sum() }
        }
    }

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn a_freed_small_block_is_reused_by_its_class_without_the_inner_allocator() {
        let a = SizeClasses::new(Counted::default());
        unsafe {
            let p = a.alloc(layout(30, 1));
            a.dealloc(p, layout(30, 1));
            // 25..=32 bytes share a class; the list is last in, first out.
            let q = a.alloc(layout(25, 8));
            assert_eq!(p, q);
            let r = a.alloc(layout(30, 1));
            assert_ne!(r, q);
            assert_eq!(a.inner.allocs.load(Ordering::Relaxed), 2);
            // Another class does not take this one's blocks.
            a.dealloc(q, layout(25, 8));
            let s = a.alloc(layout(40, 8));
            assert_ne!(s, q);
            assert_eq!(a.inner.allocs.load(Ordering::Relaxed), 3);
            assert_eq!(a.inner.frees.load(Ordering::Relaxed), 0);
            // The inner allocator made every small block as its class's
            // block: 32 and 40 bytes, aligned to 8.
            for (b, size) in [(r, 32), (s, 40)] {
                assert_eq!(a.inner.live.lock().unwrap()[&(b as usize)], layout(size, 8));
            }
        }
    }

    #[test]
    fn a_class_keeps_at_most_its_share_and_hands_the_rest_back() {
        // 512 divides the share; 24 does not; 1 byte is the smallest class.
        for (size, align) in [(512, 8), (24, 8), (1, 1)] {
            let a = SizeClasses::new(Counted::default());
            let l = layout(size, align);
            let block = size.div_ceil(GRANULE) * GRANULE;
            let keep = KEPT_PER_CLASS.div_ceil(block);
            unsafe {
                let blocks: Vec<_> = (0..keep + 10).map(|_| a.alloc(l)).collect();
                for &p in &blocks {
                    a.dealloc(p, l);
                }
                assert_eq!(a.inner.frees.load(Ordering::Relaxed), 10, "{l:?}");
                assert_eq!(a.kept_blocks(), keep, "{l:?}");
                // What was kept is reused, and counted out as it goes.
                let again: Vec<_> = (0..keep).map(|_| a.alloc(l)).collect();
                assert_eq!(a.inner.allocs.load(Ordering::Relaxed), keep + 10, "{l:?}");
                assert_eq!(a.kept_blocks(), 0, "{l:?}");
                for p in again {
                    a.dealloc(p, l);
                }
                assert_eq!(a.inner.frees.load(Ordering::Relaxed), 10, "{l:?}");
                assert_eq!(a.inner.live(), keep, "{l:?}");
            }
        }
    }

    #[test]
    fn large_and_overaligned_blocks_go_to_the_inner_allocator() {
        let a = SizeClasses::new(Counted::default());
        unsafe {
            for l in [layout(MAX_SMALL + 1, 8), layout(64, 16), layout(4096, 4096)] {
                let p = a.alloc(l);
                assert_eq!(p as usize % l.align(), 0);
                assert_eq!(a.inner.live.lock().unwrap()[&(p as usize)], l);
                a.dealloc(p, l);
            }
            assert_eq!(a.inner.allocs.load(Ordering::Relaxed), 3);
            assert_eq!(a.inner.frees.load(Ordering::Relaxed), 3);
            assert_eq!(a.kept_blocks(), 0);
        }
    }

    #[test]
    fn blocks_are_aligned_and_hold_their_bytes_new_or_reused() {
        let a = SizeClasses::new(Counted::default());
        unsafe {
            for round in 0..2 {
                // The second round gets the first round's freed blocks.
                let mut live = Vec::new();
                for size in 1..=MAX_SMALL {
                    let l = layout(size, 1 << (size % 4));
                    let p = a.alloc(l);
                    assert_eq!(p as usize % l.align(), 0, "{l:?}, round {round}");
                    ptr::write_bytes(p, size as u8, size);
                    live.push((p, l));
                }
                for &(p, l) in &live {
                    let bytes = std::slice::from_raw_parts(p, l.size());
                    assert!(bytes.iter().all(|&b| b == l.size() as u8), "{l:?}");
                }
                for (p, l) in live {
                    a.dealloc(p, l);
                }
            }
            assert_eq!(a.inner.allocs.load(Ordering::Relaxed), MAX_SMALL);
        }
    }

    #[test]
    fn realloc_keeps_the_bytes_across_classes_and_the_block_within_one() {
        let a = SizeClasses::new(Counted::default());
        unsafe {
            let l = layout(10, 1);
            let p = a.alloc(l);
            ptr::copy_nonoverlapping(b"0123456789".as_ptr(), p, 10);
            // 10 and 16 bytes are one class: nothing moves, and all 16 are ours.
            assert_eq!(a.realloc(p, l, 16), p);
            ptr::write_bytes(p.add(10), b'x', 6);
            // Up a class, to a large block and back down; each time the
            // whole new size is written, and the old block is let go.
            let mut at = (p, 16);
            for size in [17, 100, 2000, 3000, 5] {
                let q = a.realloc(at.0, layout(at.1, 1), size);
                assert_eq!(std::slice::from_raw_parts(q, 5), b"01234", "to {size}");
                ptr::write_bytes(q.add(5), b'y', size - 5);
                at = (q, size);
            }
            a.dealloc(at.0, layout(at.1, 1));
            // Nothing leaked: what the inner allocator still holds is on
            // the lists.
            assert_eq!(a.inner.live(), a.kept_blocks());
        }
    }
}
