//! Checks, as in k6: named assertions that are recorded (the `checks` rate,
//! tagged with `check` = name) and never stop the iteration.
//!
//! ```no_run
//! use wasm_slo_sdk::{check, check_response, check_status, http};
//!
//! let res = http::get("http://127.0.0.1:8080/health").send();
//! check_status(&res, 200, "status is 200");
//! check_response(&res, "body says ok", |r| r.text().contains(r#""status":"ok""#));
//! check("no error", res.is_ok());
//! ```
//!
//! Set a threshold such as `checks: ["rate>0.99"]` to turn failed checks into
//! a failed run.

use crate::convert;
use crate::http::{HttpError, Response};
use crate::wit::wasm_slo::scenario::metrics as wit;

/// Records check `name` as passed or failed and returns `passed`.
pub fn check(name: &str, passed: bool) -> bool {
    wit::check(name, passed, &[])
}

/// Like [`check`], with extra tags on the sample.
pub fn check_with_tags(name: &str, passed: bool, tags: &[(&str, &str)]) -> bool {
    wit::check(name, passed, &convert::tags(tags))
}

/// Checks that a request got a response with `status`; a request without a
/// response fails the check.
pub fn check_status(response: &Result<Response, HttpError>, status: u16, name: &str) -> bool {
    check_response(response, name, |r| r.status() == status)
}

/// Checks a response with a predicate; a request without a response fails
/// the check without calling it.
pub fn check_response(
    response: &Result<Response, HttpError>,
    name: &str,
    predicate: impl FnOnce(&Response) -> bool,
) -> bool {
    let passed = match response {
        Ok(r) => predicate(r),
        Err(_) => false,
    };
    check(name, passed)
}
