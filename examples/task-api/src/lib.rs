//! Task-management user: seed 004's Locust `TaskManagementUser`, translated.
//!
//! ```python
//! class TaskManagementUser(HttpUser):
//!     wait_time = between(1, 3)
//!     def on_start(self): ...login, keep the token...
//!     @task(3) def list_tasks(self): ...
//!     @task(2) def get_task(self): ...
//!     @task(1) def create_task(self): ...
//! ```
//!
//! Each VU logs in as `user<vu id>` once ([`Scenario::init_vu`], Locust's
//! `on_start`), then runs the flows `list`, `get` and `create` weighted 3:2:1,
//! thinking 1-3 s after each iteration (`-e THINK=0` turns that off for fast
//! tests). Thresholds mirror the seed's latency table per endpoint type and
//! its "< 1 % errors" for peak load.
//!
//! ```text
//! cargo build --release --target wasm32-wasip2 -p task-api
//! wasm-slo run target/wasm32-wasip2/release/task_api.wasm -e BASE_URL=http://127.0.0.1:8080
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasm_slo_sdk::prelude::*;

/// Where the service listens unless `-e BASE_URL=...` says otherwise.
const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";

/// Ids the service has from the start.
const TASK_IDS: std::ops::RangeInclusive<u64> = 1..=20;

#[derive(Serialize)]
struct Credentials<'a> {
    username: &'a str,
    password: &'a str,
}

#[derive(Deserialize)]
struct LoginAnswer {
    token: String,
}

#[derive(Serialize)]
struct NewTask {
    title: String,
}

/// One logged-in VU.
struct TaskManagementUser {
    /// The API with this VU's bearer token on every request.
    api: Client,
    /// Whether to think between iterations (`THINK=0` disables it).
    think: bool,
}

impl Scenario for TaskManagementUser {
    fn describe() -> Description {
        Description::new("task-api")
            // The sandbox lets requests reach only allowed hosts: the service
            // this run is pointed at.
            .allow_url(&env_or("BASE_URL", DEFAULT_BASE_URL))
            .flow("list", 3)
            .flow("get", 2)
            .flow("create", 1)
            .vus(10)
            .duration("30s")
            // Seed 004, "Latency (Response Time)": p50 / p95 / p99 / max per
            // endpoint type.
            .threshold(
                "http_req_duration{name:\"POST /login\"}",
                &["p(50)<50ms", "p(95)<120ms", "p(99)<200ms", "max<500ms"],
            )
            .threshold(
                "http_req_duration{name:\"GET /api/tasks\"}",
                &["p(50)<150ms", "p(95)<400ms", "p(99)<1s", "max<3s"],
            )
            .threshold(
                "http_req_duration{name:\"GET /api/tasks/{id}\"}",
                &["p(50)<80ms", "p(95)<200ms", "p(99)<500ms", "max<1s"],
            )
            .threshold(
                "http_req_duration{name:\"POST /api/tasks\"}",
                &["p(50)<120ms", "p(95)<300ms", "p(99)<800ms", "max<2s"],
            )
            // "Peak Load: p95 < 500ms, < 1% errors".
            .threshold("http_req_duration", &["p(95)<500ms"])
            .threshold("http_req_failed", &["rate<0.01"])
            .threshold("checks", &["rate>0.99"])
    }

    fn init_vu(_setup: &SetupData) -> Result<Self> {
        let api = Client::new(env_or("BASE_URL", DEFAULT_BASE_URL));
        let username = format!("user{}", vu_id());
        let answer: LoginAnswer = api
            .post("/login")
            .name("POST /login")
            .json(&Credentials {
                username: &username,
                password: "secret",
            })
            .expect_status(200)
            .send()
            .map_err(Error::from)
            .and_then(Response::ensure_expected)
            .and_then(|res| res.json())
            .with_context(|| format!("logging in as {username}"))?;
        Ok(Self {
            api: api.bearer(answer.token),
            think: env("THINK").as_deref() != Some("0"),
        })
    }

    fn run(&mut self, flow: &str) -> Result<()> {
        match flow {
            "list" => {
                let res = self.api.get("/api/tasks").name("GET /api/tasks").send();
                check_status(&res, 200, "tasks listed");
            }
            "get" => {
                let id = random::range(TASK_IDS);
                let res = self
                    .api
                    .get(&format!("/api/tasks/{id}"))
                    .name("GET /api/tasks/{id}")
                    .send();
                check_status(&res, 200, "task found");
            }
            "create" => {
                let res = self
                    .api
                    .post("/api/tasks")
                    .name("POST /api/tasks")
                    .json(&NewTask {
                        title: format!("task from vu {}", vu_id()),
                    })
                    .expect_status(201)
                    .send();
                check_status(&res, 201, "task created");
            }
            other => return Err(Error::unknown_flow(other)),
        }
        if self.think {
            think(Duration::from_secs(1), Duration::from_secs(3));
        }
        Ok(())
    }
}

wasm_slo_sdk::export_scenario!(TaskManagementUser);
