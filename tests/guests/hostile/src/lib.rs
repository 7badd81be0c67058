//! Hostile: a scenario written by someone the runner must not trust. Each
//! flow tries one way to harm the machine, escape its limits or bring the
//! run down; the end-to-end tests run them beside a well-behaved flow and
//! check that the run finishes, the fault is counted and the rest is intact.
//!
//! | flow        | does                                                                        |
//! |-------------|-----------------------------------------------------------------------------|
//! | `normal`    | `GET {BASE_URL}/ok` named `normal`; check `normal 200`                       |
//! | `loop`      | spins forever in pure wasm (stopped by the CPU limit)                      |
//! | `busy-host` | spins forever calling the runner's clock (cheap host calls count too)      |
//! | `memory`    | allocates 1 MiB blocks until the memory limit stops it                     |
//! | `stack`     | recurses until the stack overflows                                         |
//! | `panic`     | panics with `hostile panic in iteration N`                                 |
//! | `forbidden` | `GET http://192.0.2.1:9/` (not an allowed host); checks it fails with `forbidden-host` and that nothing was measured as sent |
//! | `file`      | tries to read `/etc/passwd`, list and open `/` and `.`, write `/tmp`; checks each fails |
//! | `environ`   | checks the process environment is exactly the `-e` variables and there are no arguments |
//! | `socket`    | tries a TCP connection to `127.0.0.1:{SOCKET_PORT}`, a UDP bind and a DNS lookup; checks each fails |
//!
//! The host of `BASE_URL` is the only allowed host, unless `-e
//! HOSTILE_HOSTS=a,b` declares those patterns instead (empty: none). With
//! `-e HOSTILE_DESCRIBE=loop`, `describe()` itself never returns; `-e
//! HOSTILE_OPTION=KEY=JSON` adds that option to the description; `-e
//! HOSTILE_SETUP=sleep` and `-e HOSTILE_TEARDOWN=sleep` make `setup()` or
//! `teardown()` sleep for an hour.

use std::hint::black_box;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use wasm_slo_sdk::http::ErrorKind;
use wasm_slo_sdk::prelude::*;
use wasm_slo_sdk::runtime::env_vars;
use wasm_slo_sdk::serde_json;

/// Where the test server listens unless `-e BASE_URL=...` says otherwise.
const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";

/// A hostile VU: its client for the allowed server.
struct Hostile {
    server: Client,
}

/// Never returns; `black_box` keeps the work from being optimised away.
fn spin() -> ! {
    let mut x = 0u64;
    loop {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

/// Recurses without end on the wasm call stack (no locals in linear memory,
/// so the engine's stack limit is what stops it).
fn recurse(depth: u64) -> u64 {
    // Never true; it only tells the compiler the recursion could end.
    if black_box(depth) == u64::MAX {
        return 0;
    }
    black_box(recurse(depth + 1)) + 1
}

impl Scenario for Hostile {
    fn describe() -> Description {
        if env("HOSTILE_DESCRIBE").as_deref() == Some("loop") {
            spin();
        }
        let description = match env("HOSTILE_HOSTS") {
            Some(list) => list
                .split(',')
                .filter(|p| !p.is_empty())
                .fold(Description::new("hostile"), Description::allow_host),
            None => Description::new("hostile").allow_url(&env_or("BASE_URL", DEFAULT_BASE_URL)),
        };
        let description = match env("HOSTILE_OPTION").and_then(|o| {
            let (key, json) = o.split_once('=')?;
            Some((
                key.to_owned(),
                serde_json::from_str::<serde_json::Value>(json).ok()?,
            ))
        }) {
            Some((key, value)) => description.option(key, value),
            None => description,
        };
        description
            .flow("normal", 1)
            .flow("loop", 1)
            .flow("burn", 1)
            .flow("chatty", 1)
            .flow("busy-host", 1)
            .flow("memory", 1)
            .flow("stack", 1)
            .flow("panic", 1)
            .flow("forbidden", 1)
            .flow("file", 1)
            .flow("environ", 1)
            .flow("socket", 1)
            .vus(1)
            .iterations(1)
    }

    fn setup() -> Result<Vec<u8>> {
        if env("HOSTILE_SETUP").as_deref() == Some("sleep") {
            sleep(Duration::from_secs(3600));
        }
        Ok(Vec::new())
    }

    fn teardown(_setup: &SetupData) -> Result<()> {
        if env("HOSTILE_TEARDOWN").as_deref() == Some("sleep") {
            sleep(Duration::from_secs(3600));
        }
        Ok(())
    }

    fn init_vu(_setup: &SetupData) -> Result<Self> {
        Ok(Self {
            server: Client::new(env_or("BASE_URL", DEFAULT_BASE_URL)),
        })
    }

    fn run(&mut self, flow: &str) -> Result<()> {
        match flow {
            "normal" => {
                let res = self.server.get("/ok").name("normal").send();
                check_status(&res, 200, "normal 200");
            }
            "loop" => spin(),
            "chatty" => {
                // A line of stderr in every iteration; the fourth panics.
                let n = iteration();
                eprintln!("chatty line of iteration {n}");
                if n == 3 {
                    panic!("chatty panic in iteration {n}");
                }
            }
            "burn" => {
                // About 20 ms of the guest's own CPU time, then done.
                let start = now();
                let mut x = 0u64;
                while now() - start < Duration::from_millis(20) {
                    for _ in 0..10_000 {
                        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                    }
                }
            }
            "busy-host" => loop {
                black_box(now());
            },
            "memory" => {
                let mut blocks: Vec<Vec<u8>> = Vec::new();
                loop {
                    blocks.push(black_box(vec![1u8; 1 << 20]));
                }
            }
            "stack" => {
                black_box(recurse(0));
            }
            "panic" => panic!("hostile panic in iteration {}", iteration()),
            "forbidden" => {
                let res = http::get("http://192.0.2.1:9/").name("forbidden").send();
                let refused = res
                    .as_ref()
                    .err()
                    .is_some_and(|e| e.kind() == ErrorKind::ForbiddenHost);
                check("sandbox: forbidden host refused", refused);
                let unsent = res
                    .as_ref()
                    .err()
                    .is_some_and(|e| e.timings().connecting.is_zero());
                check("sandbox: forbidden host never dialled", unsent);
            }
            "file" => {
                let read = std::fs::read("/etc/passwd");
                let listed = std::fs::read_dir("/");
                let cwd = std::fs::read_dir(".");
                let written = std::fs::write("/tmp/wasm-slo-hostile", b"x");
                let opened = std::fs::File::open(".");
                if read.is_ok()
                    || listed.is_ok()
                    || cwd.is_ok()
                    || written.is_ok()
                    || opened.is_ok()
                {
                    log::warn!(
                        "filesystem reachable: read {:?}, list / {:?}, list . {:?}, write {:?}, open . {:?}",
                        read.as_ref().map(Vec::len),
                        listed.is_ok(),
                        cwd.is_ok(),
                        written,
                        opened.is_ok()
                    );
                }
                check("sandbox: no file read", read.is_err());
                check("sandbox: no directory listed", listed.is_err());
                check("sandbox: no cwd listed", cwd.is_err());
                check("sandbox: no file written", written.is_err());
                check("sandbox: no directory opened", opened.is_err());
            }
            "environ" => {
                let mut process: Vec<(String, String)> = std::env::vars().collect();
                let mut given = env_vars();
                process.sort();
                given.sort();
                if process != given {
                    log::warn!("process env {process:?} is not the -e variables {given:?}");
                }
                check("sandbox: env is only the -e variables", process == given);
                check("sandbox: no HOME", std::env::var_os("HOME").is_none());
                check(
                    "sandbox: no arguments",
                    std::env::args_os().next().is_none(),
                );
            }
            "socket" => {
                let port = env_or("SOCKET_PORT", "9");
                let tcp = TcpStream::connect(format!("127.0.0.1:{port}"));
                let udp = UdpSocket::bind("127.0.0.1:0");
                let dns = "localhost:80".to_socket_addrs();
                if tcp.is_ok() || udp.is_ok() || dns.is_ok() {
                    log::warn!(
                        "network reachable: tcp {:?}, udp {:?}, dns {:?}",
                        tcp.is_ok(),
                        udp.is_ok(),
                        dns.is_ok()
                    );
                }
                check("sandbox: no TCP connection", tcp.is_err());
                check("sandbox: no UDP socket", udp.is_err());
                check("sandbox: no DNS lookup", dns.is_err());
            }
            other => return Err(Error::unknown_flow(other)),
        }
        Ok(())
    }
}

wasm_slo_sdk::export_scenario!(Hostile);
