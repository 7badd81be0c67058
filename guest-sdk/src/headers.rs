//! A response's headers, which stay in the runner until the scenario reads
//! one (WIT 0.1.3 `send-bare`, `kept-headers`).
//!
//! Most scenarios check a status and a body and never look at a header;
//! handing every response's headers into wasm was the largest cost of a
//! small response that the guest did not ask for. The runner keeps the
//! headers of a VU's latest call until its next one. So that no response
//! loses its headers, the SDK fetches them, just before each call, for every
//! response of the previous call that the scenario still holds; responses
//! already dropped (the usual case) cost nothing.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock, Weak};

use crate::wit::wasm_slo::scenario::http as wit;

/// The headers of one response. Clones share them (and their parsing).
#[derive(Clone, Debug)]
pub(crate) struct Headers(Arc<Cell>);

#[derive(Debug)]
struct Cell {
    /// Where the runner keeps them: the request's index in its call.
    index: u32,
    /// `name: value` lines, as `packed-response` has them.
    block: OnceLock<String>,
    /// The owned pairs of `Response::headers`, built on first use.
    pairs: OnceLock<Vec<(String, String)>>,
}

thread_local! {
    /// The headers of the latest call's responses, by index.
    static LATEST: RefCell<Vec<Weak<Cell>>> = const { RefCell::new(Vec::new()) };
}

impl Headers {
    /// Headers already in the guest, as `kept-headers` hands them over.
    #[cfg(test)]
    pub(crate) fn packed(block: String) -> Self {
        Headers(Arc::new(Cell {
            index: 0,
            block: OnceLock::from(block),
            pairs: OnceLock::new(),
        }))
    }

    /// The headers of the response at `index` of the call just made, left
    /// in the runner; [`before_call`] ran before that call.
    pub(crate) fn kept(index: u32) -> Self {
        let cell = Arc::new(Cell {
            index,
            block: OnceLock::new(),
            pairs: OnceLock::new(),
        });
        LATEST.with_borrow_mut(|latest| latest.push(Arc::downgrade(&cell)));
        Headers(cell)
    }

    /// The packed block, fetched from the runner on first use.
    fn block(&self) -> &str {
        self.0.block.get_or_init(|| fetch(self.0.index))
    }

    /// Each header as `(name, value)`, in the order received.
    pub(crate) fn lines(&self) -> impl Iterator<Item = (&str, &str)> {
        self.block().lines().map(|line| {
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            (name, value.trim_start_matches(' '))
        })
    }

    pub(crate) fn pairs(&self) -> &[(String, String)] {
        self.0.pairs.get_or_init(|| {
            self.lines()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
    }
}

/// To be called before every `send-bare` or `batch-bare`: the previous
/// call's responses that are still alive take their headers from the
/// runner now, before it lets them go.
pub(crate) fn before_call() {
    take_alive(fetch);
}

/// [`before_call`] with the runner's `kept-headers` as `fetch`.
fn take_alive(mut fetch: impl FnMut(u32) -> String) {
    LATEST.with_borrow_mut(|latest| {
        // Draining keeps the list's storage for the next call's responses.
        for cell in latest.drain(..).filter_map(|w| w.upgrade()) {
            cell.block.get_or_init(|| fetch(cell.index));
        }
    });
}

/// The runner's kept headers at `index`; none only if the runner has no
/// response there, which the SDK never asks for.
fn fetch(index: u32) -> String {
    wit::kept_headers(index).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_headers_read_as_lines_and_pairs() {
        let h = Headers::packed("a: 1\nb: x: y\nc:\n".to_owned());
        let lines: Vec<_> = h.lines().collect();
        assert_eq!(lines, [("a", "1"), ("b", "x: y"), ("c", "")]);
        assert_eq!(h.pairs()[1], ("b".to_owned(), "x: y".to_owned()));
    }

    #[test]
    fn only_responses_still_held_fetch_their_headers_before_the_next_call() {
        take_alive(|_| unreachable!("nothing kept yet"));
        let first = Headers::kept(0);
        let dropped = Headers::kept(1);
        let cloned = Headers::kept(2).clone();
        drop(dropped);
        let mut asked = Vec::new();
        take_alive(|i| {
            asked.push(i);
            format!("x-index: {i}\n")
        });
        assert_eq!(asked, [0, 2]);
        assert_eq!(first.lines().collect::<Vec<_>>(), [("x-index", "0")]);
        assert_eq!(cloned.lines().collect::<Vec<_>>(), [("x-index", "2")]);

        // The next call's responses replace them: the earlier ones are not
        // asked for again.
        let next = Headers::kept(0);
        let mut asked = Vec::new();
        take_alive(|i| {
            asked.push(i);
            "x-next: 1\n".to_owned()
        });
        assert_eq!(asked, [0]);
        assert_eq!(next.lines().collect::<Vec<_>>(), [("x-next", "1")]);
        assert_eq!(first.lines().collect::<Vec<_>>(), [("x-index", "0")]);
    }

    #[test]
    fn headers_already_read_are_not_asked_for_again() {
        take_alive(|_| String::new());
        let h = Headers::kept(0);
        h.0.block.set("a: 1\n".to_owned()).unwrap();
        take_alive(|_| unreachable!("already in the guest"));
        assert_eq!(h.lines().collect::<Vec<_>>(), [("a", "1")]);
    }
}
