//! Health-check user: seed 003's Locust `HealthCheckUser`, translated.
//!
//! Each iteration calls `GET {BASE_URL}/health`, checks that it answers 200
//! with `{"status":"ok"}`, then thinks for 0.5-1.5 s. Defaults: 5 VUs for 10 s,
//! p95 under 200 ms, under 1 % failed requests, over 99 % passed checks.
//!
//! ```text
//! cargo build --release --target wasm32-wasip2 -p health
//! wasm-slo run target/wasm32-wasip2/release/health.wasm -e BASE_URL=http://127.0.0.1:8080
//! ```

use std::time::Duration;

use wasm_slo_sdk::prelude::*;
use wasm_slo_sdk::serde_json;

/// Where the service listens unless `-e BASE_URL=...` says otherwise.
const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";

/// One health-checking VU.
struct HealthCheckUser {
    health_url: String,
}

impl Scenario for HealthCheckUser {
    fn describe() -> Description {
        Description::new("health")
            // The sandbox lets requests reach only allowed hosts: the service
            // this run is pointed at.
            .allow_url(&env_or("BASE_URL", DEFAULT_BASE_URL))
            .flow("health", 1)
            .vus(5)
            .duration("10s")
            .threshold("http_req_duration", &["p(95)<200ms"])
            .threshold("http_req_failed", &["rate<0.01"])
            .threshold("checks", &["rate>0.99"])
    }

    fn init_vu(_setup: &SetupData) -> Result<Self> {
        let base = Client::new(env_or("BASE_URL", DEFAULT_BASE_URL));
        Ok(Self {
            health_url: base.url("/health"),
        })
    }

    fn run(&mut self, flow: &str) -> Result<()> {
        if flow != "health" {
            return Err(Error::unknown_flow(flow));
        }
        let res = http::get(&self.health_url).name("GET /health").send();
        check_status(&res, 200, "status is 200");
        check_response(&res, "body says ok", |r| {
            r.json::<serde_json::Value>()
                .is_ok_and(|body| body["status"] == "ok")
        });
        think(Duration::from_millis(500), Duration::from_millis(1500));
        Ok(())
    }
}

wasm_slo_sdk::export_scenario!(HealthCheckUser);
