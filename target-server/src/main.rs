//! `wasm-slo-target`: serves the target routes on a loopback address until Ctrl-C.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use wasm_slo_target::{ServerOptions, TargetServer};

/// Local HTTP target with known behaviour, for wasm-slo demos and tests.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Loopback address to listen on (127.0.0.0/8 or [::1]).
    #[arg(long, default_value = "127.0.0.1:8080", value_parser = parse_loopback)]
    listen: SocketAddr,
    /// Serve HTTPS with a self-signed certificate generated at start.
    #[arg(long)]
    tls: bool,
    /// With --tls, write the certificate's PEM here so clients can trust it.
    #[arg(long, requires = "tls")]
    cert_out: Option<PathBuf>,
}

/// Rejecting here makes clap report the error and exit with status 2.
fn parse_loopback(value: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = value.parse().map_err(|err| format!("{err}"))?;
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(format!(
            "{addr} is not a loopback address; wasm-slo-target only serves 127.0.0.0/8 or ::1"
        ))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let server = TargetServer::start(args.listen, ServerOptions { tls: args.tls }).await?;
    if let (Some(path), Some(pem)) = (&args.cert_out, server.ca_pem()) {
        std::fs::write(path, pem).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("listening on {}", server.base_url());
    println!("faults on {}", server.fault_base_url());
    std::io::stdout().flush()?;
    tokio::signal::ctrl_c().await?;
    server.shutdown();
    Ok(())
}
