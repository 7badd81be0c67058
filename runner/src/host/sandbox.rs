//! The plan's sandbox settings put into effect once the plan is resolved:
//! the network gate learns the allowed hosts, and the control instance
//! (setup, teardown) gets the plan's CPU and wall-clock limits.

use super::RunShared;
use crate::plan::SandboxPlan;
use crate::wasm::instance::ScenarioInstance;

/// Applies `sandbox` to the run and to its control instance.
pub fn apply(sandbox: &SandboxPlan, shared: &RunShared, control: &mut ScenarioInstance) {
    shared.http.hosts.settle(sandbox.allowed_hosts.clone());
    control.set_cpu_limit(sandbox.iteration_cpu_limit);
    control.set_lifecycle_timeouts(sandbox.setup_timeout, sandbox.teardown_timeout);
    if sandbox.allowed_hosts.is_empty() {
        eprintln!(
            "warning: no host is allowed (the module declares no allowed_hosts and no \
             --allow-host was given), so every request will fail with forbidden-host; \
             allow the target with e.g. --allow-host 127.0.0.1:8080"
        );
    }
}
