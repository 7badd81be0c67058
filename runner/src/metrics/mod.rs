//! Measurements: recorded per worker thread without locks
//! ([`recorder`]), merged into the aggregate ([`store`]) and the time series ([`timeline`])
//! at every interval.

pub mod catalog;
pub mod data;
pub mod key_memo;
pub mod recorder;
pub mod store;
pub mod tags;
pub mod timeline;
