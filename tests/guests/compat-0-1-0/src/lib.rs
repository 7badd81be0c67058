//! Compat 0.1.0: a scenario built against `wasm-slo:scenario@0.1.0` as it
//! was released (`wit/` is a frozen copy of that contract: never edit it),
//! with wit-bindgen alone, no SDK. The end-to-end test runs it on the
//! current runner, which keeps the WIT's promise: a module built against
//! 0.1.x runs on every later 0.1 runner.
//!
//! Its flow `send` does `GET {BASE_URL}/ok` with `http.send` and checks
//! what 0.1.0 hands over: `compat status` (200, expected) and `compat
//! headers` (the headers as a list of pairs, `content-length` among them
//! and equal to the body's length). Flow `batch` sends two such requests
//! with `http.batch` and checks both the same way (`compat batch`).

wit_bindgen::generate!({
    path: "wit",
    world: "scenario-module",
});

use exports::wasm_slo::scenario::scenario::{Description, Flow, Guest};
use wasm_slo::scenario::{http, metrics, runtime};

// Only wasm has component exports, so on the host (the workspace's
// `cargo test`) nothing constructs it.
#[allow(dead_code)]
struct Compat;

fn get(path: &str) -> http::Request {
    let base = runtime::env("BASE_URL").unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
    http::Request {
        method: http::Method::Get,
        url: format!("{}{path}", base.trim_end_matches('/')),
        headers: Vec::new(),
        body: Vec::new(),
        name: Some(format!("compat {path}")),
        tags: Vec::new(),
        timeout: None,
        expected_statuses: Vec::new(),
        discard_body: false,
    }
}

/// Whether the response came whole, in 0.1.0's shape: headers as pairs.
fn whole(result: &Result<http::Response, http::HttpError>) -> (bool, bool) {
    match result {
        Ok(r) => {
            let length = r.body.len().to_string();
            let headers = r
                .headers
                .iter()
                .any(|(name, value)| name == "content-length" && *value == length);
            (r.status == 200 && r.expected, headers)
        }
        Err(_) => (false, false),
    }
}

impl Guest for Compat {
    fn describe() -> Description {
        Description {
            name: "compat-0-1-0".to_owned(),
            flows: vec![
                Flow {
                    name: "send".to_owned(),
                    weight: 1,
                },
                Flow {
                    name: "batch".to_owned(),
                    weight: 1,
                },
            ],
            options: "{}".to_owned(),
        }
    }

    fn setup() -> Result<Vec<u8>, String> {
        Ok(Vec::new())
    }

    fn init_vu(_setup_data: Vec<u8>) -> Result<(), String> {
        Ok(())
    }

    fn run(flow: String) -> Result<(), String> {
        match flow.as_str() {
            "send" => {
                let (status, headers) = whole(&http::send(&get("/ok")));
                metrics::check("compat status", status, &[]);
                metrics::check("compat headers", headers, &[]);
            }
            "batch" => {
                let results = http::batch(&[get("/ok"), get("/health")]);
                let all = results.len() == 2
                    && results.iter().all(|r| {
                        let (status, headers) = whole(r);
                        status && headers
                    });
                metrics::check("compat batch", all, &[]);
            }
            other => return Err(format!("unknown flow {other:?}")),
        }
        Ok(())
    }

    fn teardown(_setup_data: Vec<u8>) -> Result<(), String> {
        Ok(())
    }
}

// On other targets the export names are not valid symbols.
#[cfg(target_family = "wasm")]
export!(Compat);
