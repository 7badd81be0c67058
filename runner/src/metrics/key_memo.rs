//! Series keys a VU remembers for the tag lists its samples repeat, so
//! that a repeated sample costs a few comparisons instead of building,
//! hashing and looking up its tag list again.
//!
//! The tag list of a request or a check is mostly fixed by the scenario and
//! the code that made it: a VU sends the same few named requests and runs
//! the same few checks over and over. The caller compares what varies (a
//! name, a status, the guest's own tags) with each remembered entry; a
//! miss builds the canonical key once ([`super::recorder::series_key`]).

/// Entries a memo holds before it replaces the oldest: more distinct lists
/// than this (a name per URL, say) miss, and fall back to building the key.
const MEMO_SIZE: usize = 16;

/// Up to [`MEMO_SIZE`] tag lists, each as the caller's own description `T`
/// of what varies, with its canonical key.
#[derive(Debug)]
pub struct KeyMemo<T> {
    entries: Vec<(T, Box<str>)>,
    /// Where the next new entry goes once the memo is full.
    next: usize,
}

impl<T> Default for KeyMemo<T> {
    fn default() -> Self {
        KeyMemo {
            entries: Vec::new(),
            next: 0,
        }
    }
}

impl<T> KeyMemo<T> {
    /// The key of the first entry `is` accepts, or of the entry `make`
    /// builds, which the memo then keeps.
    pub fn key(&mut self, is: impl Fn(&T) -> bool, make: impl FnOnce() -> (T, Box<str>)) -> &str {
        let i = match self.entries.iter().position(|(t, _)| is(t)) {
            Some(i) => i,
            None if self.entries.len() < MEMO_SIZE => {
                self.entries.push(made(make));
                self.entries.len() - 1
            }
            None => {
                let i = self.next;
                self.next = (i + 1) % MEMO_SIZE;
                self.entries[i] = made(make);
                i
            }
        };
        &self.entries[i].1
    }
}

/// Runs `make` out of line: what it builds a key from (tag lists, number
/// buffers) would otherwise sit in the frame of every caller's hit path.
#[cold]
#[inline(never)]
fn made<T>(make: impl FnOnce() -> (T, Box<str>)) -> (T, Box<str>) {
    make()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_are_found_and_misses_replace_the_oldest() {
        let mut memo = KeyMemo::default();
        let mut made = 0;
        let mut key = |n: u32| {
            memo.key(
                |&t| t == n,
                || {
                    made += 1;
                    (n, n.to_string().into_boxed_str())
                },
            )
            .to_owned()
        };
        for n in 0..MEMO_SIZE as u32 {
            assert_eq!(key(n), n.to_string());
        }
        // All remembered: no key is made again.
        for n in 0..MEMO_SIZE as u32 {
            assert_eq!(key(n), n.to_string());
        }
        // A new list replaces the oldest entry (0), then the next (1), and
        // the rest stay.
        assert_eq!(key(100), "100");
        assert_eq!(key(101), "101");
        assert_eq!(key(2), "2");
        assert_eq!(key(0), "0");
        assert_eq!(made, MEMO_SIZE + 3);
        assert_eq!(memo.entries.len(), MEMO_SIZE);
    }
}
