//! Probe: a test scenario the end-to-end tests drive, one flow per runner
//! feature (select flows with `--flow`).
//!
//! | flow      | does                                                              |
//! |-----------|-------------------------------------------------------------------|
//! | `fast`    | `GET {BASE_URL}/ok` named `fast`; check `fast 200`                 |
//! | `slow`    | `GET {BASE_URL}/slow` named `slow`                                 |
//! | `flaky`   | `GET {BASE_URL}/flaky` named `flaky`                               |
//! | `metrics` | counter `probe_items` += 2 {kind=a}, gauge `probe_gauge` = iteration, rate `probe_rate` (even iteration), trend `probe_trend` 5.0, time trend `probe_latency` 7 ms |
//! | `batch`   | `http::batch` of 3 × `GET /ok` named `batch`                       |
//! | `fail`    | returns `Err("deliberate failure")`                               |
//! | `panic`   | panics (traps) when `iteration() == 0`, then succeeds             |
//! | `sleep`   | sleeps `PROBE_SLEEP_MS` (default 100 ms), then `GET /ok` named `after-sleep` |
//! | `env`     | check `env passed`: `PROBE_ENV` is `yes`                          |
//! | `abort`   | `GET /ok` named `before-abort`; aborts the test on iteration 2    |
//! | `endpoints` | per entry `NAME=PATH` of `PROBE_ENDPOINTS` (`;`-separated), `GET {BASE_URL}{PATH}` named `NAME` |
//! | `headers` | through the SDK (headers kept in the runner, WIT 0.1.3): `GET /bytes/3`, check `headers one` (`Content-Type`, read case-insensitively, is `application/octet-stream`; `content-length` among `headers()` equals the body's length); a `batch` of `GET /bytes/5`, a request with the invalid method `BAD METHOD` and `GET /bytes/7`, check `headers batch` (the same for the first and last, the middle one failed); two `GET`s whose first response is read only after the second was sent, check `headers held` |
//! | `packed` | the raw WIT 0.1.1 calls the SDK no longer makes: `send-packed` of `GET /bytes/4` and `batch-packed` of `/bytes/6` and `/bytes/8`, checks `packed one` and `packed batch` (each header block holds the body's `content-length`) |
//!
//! Defaults: 1 VU, 1 iteration, the host of `BASE_URL` allowed, no thresholds
//! unless `-e PROBE_THRESHOLD=...` adds one on `http_req_duration`. `setup` returns `{"started": true}`;
//! `init_vu` fails with `init refused` when `PROBE_FAIL_INIT=yes` (and logs a
//! warning if the setup data did not arrive).

use std::time::Duration;

use wasm_slo_sdk::metrics::{Counter, Gauge, Rate, Trend};
use wasm_slo_sdk::prelude::*;
use wasm_slo_sdk::serde_json;

/// Where the test server listens unless `-e BASE_URL=...` says otherwise.
const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";

/// The probe VU: just the server's client.
struct Probe {
    server: Client,
}

impl Scenario for Probe {
    fn describe() -> Description {
        let description = Description::new("probe")
            .allow_url(&env_or("BASE_URL", DEFAULT_BASE_URL))
            .flow("fast", 3)
            .flow("slow", 2)
            .flow("flaky", 1)
            .flow("metrics", 1)
            .flow("batch", 1)
            .flow("fail", 1)
            .flow("panic", 1)
            .flow("sleep", 1)
            .flow("env", 1)
            .flow("abort", 1)
            .flow("endpoints", 1)
            .flow("headers", 1)
            .flow("packed", 1)
            .vus(1)
            .iterations(1);
        match env("PROBE_THRESHOLD") {
            Some(condition) => description.threshold("http_req_duration", &[&condition]),
            None => description,
        }
    }

    fn setup() -> Result<Vec<u8>> {
        Ok(serde_json::to_vec(&json!({ "started": true }))?)
    }

    fn init_vu(setup: &SetupData) -> Result<Self> {
        if env("PROBE_FAIL_INIT").as_deref() == Some("yes") {
            return fail("init refused");
        }
        // Logged rather than failed, so tests of other features never trip on it.
        let arrived = setup
            .json::<serde_json::Value>()
            .is_ok_and(|data| data["started"] == true);
        if !arrived {
            log::warn!(
                "setup data did not arrive: {:?}",
                String::from_utf8_lossy(setup.bytes())
            );
        }
        Ok(Self {
            server: Client::new(env_or("BASE_URL", DEFAULT_BASE_URL)),
        })
    }

    fn run(&mut self, flow: &str) -> Result<()> {
        match flow {
            "fast" => {
                let res = self.server.get("/ok").name("fast").send();
                check_status(&res, 200, "fast 200");
            }
            "slow" => {
                let _ = self.server.get("/slow").name("slow").send();
            }
            "flaky" => {
                let _ = self.server.get("/flaky").name("flaky").send();
            }
            "metrics" => {
                let iteration = iteration();
                Counter::new("probe_items")
                    .with_tags(&[("kind", "a")])
                    .add(2.0);
                Gauge::new("probe_gauge").set(iteration as f64);
                Rate::new("probe_rate").add(iteration.is_multiple_of(2));
                Trend::new("probe_trend").add(5.0);
                Trend::new("probe_latency").add_duration(Duration::from_millis(7));
            }
            "batch" => {
                let requests = (0..3).map(|_| self.server.get("/ok").name("batch"));
                let results = http::batch(requests);
                if results.len() != 3 {
                    return fail(format!("batch returned {} results", results.len()));
                }
            }
            "fail" => return fail("deliberate failure"),
            "panic" => {
                if iteration() == 0 {
                    panic!("deliberate panic on iteration 0");
                }
            }
            "sleep" => {
                let ms = env("PROBE_SLEEP_MS")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(100);
                sleep(Duration::from_millis(ms));
                let _ = self.server.get("/ok").name("after-sleep").send();
            }
            "env" => {
                check("env passed", env("PROBE_ENV").as_deref() == Some("yes"));
            }
            "abort" => {
                // Let a few iterations complete first, so the results show
                // that what was measured before the abort is kept.
                let _ = self.server.get("/ok").name("before-abort").send();
                if iteration() == 2 {
                    wasm_slo_sdk::runtime::abort("deliberate abort");
                }
            }
            "endpoints" => {
                // `GET /api/tasks=/slow?ms=5;POST /bridge=/status/429`: the
                // path's query holds `=` too, so split at the first one.
                let list = env("PROBE_ENDPOINTS").unwrap_or_default();
                for entry in list.split(';').map(str::trim).filter(|e| !e.is_empty()) {
                    let Some((name, path)) = entry.split_once('=') else {
                        return fail(format!("PROBE_ENDPOINTS entry {entry:?} is not NAME=PATH"));
                    };
                    let _ = self.server.get(path.trim()).name(name.trim()).send();
                }
            }
            "headers" => {
                let one = self.server.get("/bytes/3").name("headers").send();
                check("headers one", one.as_ref().is_ok_and(headers_arrived));
                // The failed request in the middle gets no headers; the
                // one after it must still get its own.
                let three = http::batch([
                    self.server.get("/bytes/5"),
                    self.server.request("BAD METHOD", "/ok"),
                    self.server.get("/bytes/7"),
                ]);
                let batch_ok = matches!(
                    &three[..],
                    [Ok(a), Err(_), Ok(b)] if headers_arrived(a) && headers_arrived(b)
                );
                check("headers batch", batch_ok);
                // The runner keeps only the latest call's headers: the first
                // response, still held, takes its own before the second call.
                let first = self.server.get("/bytes/11").send();
                let second = self.server.get("/bytes/13").send();
                let _later = self.server.get("/ok").send();
                check(
                    "headers held",
                    first.as_ref().is_ok_and(headers_arrived)
                        && second.as_ref().is_ok_and(headers_arrived),
                );
            }
            "packed" => {
                use wasm_slo_sdk::wit::wasm_slo::scenario::http as wit;
                let base = env_or("BASE_URL", DEFAULT_BASE_URL);
                let request = |path: &str| wit::Request {
                    method: wit::Method::Get,
                    url: format!("{}{path}", base.trim_end_matches('/')),
                    headers: Vec::new(),
                    body: Vec::new(),
                    name: Some("packed".to_owned()),
                    tags: Vec::new(),
                    timeout: None,
                    expected_statuses: Vec::new(),
                    discard_body: false,
                };
                let holds_length = |r: &wit::PackedResponse| {
                    let line = format!("content-length: {}\n", r.body.len());
                    r.status == 200 && r.headers.contains(&line)
                };
                let one = wit::send_packed(&request("/bytes/4"));
                check("packed one", one.as_ref().is_ok_and(holds_length));
                let two = wit::batch_packed(&[request("/bytes/6"), request("/bytes/8")]);
                check(
                    "packed batch",
                    two.len() == 2 && two.iter().all(|r| r.as_ref().is_ok_and(holds_length)),
                );
            }
            other => return Err(Error::unknown_flow(other)),
        }
        Ok(())
    }
}

wasm_slo_sdk::export_scenario!(Probe);

/// Whether the response's headers came through whole: one read by name
/// (any case) and the full list agree with the body.
fn headers_arrived(response: &http::Response) -> bool {
    let length = response.body().len().to_string();
    let typed = response.header("Content-Type") == Some("application/octet-stream");
    let listed = response
        .headers()
        .iter()
        .any(|(name, value)| name == "content-length" && *value == length);
    typed && listed && response.header_all("CONTENT-LENGTH").count() == 1
}
