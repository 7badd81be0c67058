//! Error values without backtraces, whatever `RUST_BACKTRACE` says.
//!
//! With `RUST_BACKTRACE=1` in the environment (common on developers'
//! machines and CI runners), every `wasmtime::Error` and `anyhow::Error`
//! made captures a backtrace: a walk of the stack through libgcc's unwinder.
//! The runner makes one per VU stopped in think time at the end of a run
//! (wasmtime's error for the dropped fiber) and one per guest trap, and
//! never shows them: errors are printed with `{:#}`, the causes without the
//! trace. At 50,000 VUs in think time that was 0.2-0.3 s of CPU at the end
//! of each run (README, "Error backtraces"). `RUST_LIB_BACKTRACE=0`
//! turns the capture off for error values only; panics still print their
//! backtrace as `RUST_BACKTRACE` asks.

use std::ffi::OsStr;

/// Sets `RUST_LIB_BACKTRACE=0` unless the user set it.
///
/// # Safety
///
/// Changes the process's environment: call it first thing in `main`, while
/// no other thread runs that could read the environment.
pub unsafe fn quiet_error_backtraces() {
    if let Some(value) = lib_backtrace(std::env::var_os("RUST_LIB_BACKTRACE").as_deref()) {
        // SAFETY: the caller runs this before any other thread starts.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", value) };
    }
}

/// What `RUST_LIB_BACKTRACE` should be set to, given its current value:
/// `0` when unset; a value the user gave, even an empty one, stays.
fn lib_backtrace(current: Option<&OsStr>) -> Option<&'static str> {
    match current {
        None => Some("0"),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::backtrace::BacktraceStatus;
    use std::process::Command;

    const CHILD: &str = "cli::backtraces::tests::child_reports_whether_errors_capture";

    #[test]
    fn only_an_unset_variable_is_set() {
        assert_eq!(lib_backtrace(None), Some("0"));
        for given in ["1", "full", "0", ""] {
            assert_eq!(lib_backtrace(Some(OsStr::new(given))), None, "{given:?}");
        }
    }

    /// Run by the test below in a process of its own, with the environment
    /// it sets: prints whether an error value captured a backtrace.
    #[test]
    #[ignore = "run in a child process by errors_capture_no_backtrace_once_quieted"]
    fn child_reports_whether_errors_capture() {
        let error = anyhow::anyhow!("a guest trapped");
        let captured = error.backtrace().status() == BacktraceStatus::Captured;
        println!("captured={captured}");
    }

    fn child_captures(lib: Option<&str>) -> bool {
        let mut child = Command::new(std::env::current_exe().unwrap());
        child
            .args([
                "--exact",
                CHILD,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("RUST_BACKTRACE", "1")
            .env_remove("RUST_LIB_BACKTRACE");
        if let Some(value) = lib {
            child.env("RUST_LIB_BACKTRACE", value);
        }
        let out = child.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        match (
            stdout.contains("captured=true"),
            stdout.contains("captured=false"),
        ) {
            (true, false) => true,
            (false, true) => false,
            _ => panic!("the child test did not report: {stdout}"),
        }
    }

    /// The premise, on this toolchain: with `RUST_BACKTRACE=1` an error
    /// value captures a backtrace, and the value this module sets stops it.
    #[test]
    fn errors_capture_no_backtrace_once_quieted() {
        assert!(child_captures(None), "RUST_BACKTRACE=1 alone captures");
        let value = lib_backtrace(None).unwrap();
        assert!(!child_captures(Some(value)), "RUST_LIB_BACKTRACE={value}");
    }
}
