//! Flags that contradict each other or cannot take effect, refused before
//! anything runs, each with what to do instead. (Combinations the layers
//! resolve on their own, such as `--duration` over a module's iterations,
//! are not conflicts: the later layer wins.)

use std::time::Duration;

use super::HttpSettings;
use super::options::OptionsLayer;
use crate::exit::bad_input;

/// Checks the command line's own layer, and values no layer may hold.
pub fn check(
    cli: &OptionsLayer,
    merged: &OptionsLayer,
    scenario_filter: &[String],
    http: &HttpSettings,
) -> anyhow::Result<()> {
    if cli.stages.is_some() && (cli.duration.is_some() || cli.iterations.is_some()) {
        return Err(bad_input(
            "--stage cannot be combined with --duration or --iterations: the stages set the \
             length of the run; drop one of them",
        ));
    }
    if cli.max_duration.is_some() {
        if cli.stages.is_some() {
            return Err(bad_input(
                "--max-duration does not apply to --stage: the stages set the length of the run",
            ));
        }
        if cli.duration.is_some() && cli.iterations.is_none() {
            return Err(bad_input(
                "--max-duration limits iteration-based runs, but --duration without --iterations \
                 runs for exactly that long; drop --max-duration (or add --iterations)",
            ));
        }
    }
    let reshaped = cli.duration.is_some() || cli.iterations.is_some() || cli.stages.is_some();
    if reshaped && !scenario_filter.is_empty() {
        return Err(bad_input(
            "--scenario picks among the declared scenarios, but --duration, --iterations and \
             --stage replace them with one scenario; drop one of them",
        ));
    }
    if merged.max_duration == Some(Duration::ZERO) {
        return Err(bad_input("max_duration must be above 0s"));
    }
    if http.default_timeout.is_zero() {
        return Err(bad_input(
            "--http-timeout must be above 0s (every request would time out at once)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(timeout: Duration) -> HttpSettings {
        HttpSettings {
            default_timeout: timeout,
            insecure_skip_tls_verify: false,
            ca_files: vec![],
        }
    }

    fn err(cli: OptionsLayer, scenarios: &[&str], timeout: Duration) -> String {
        let filter: Vec<String> = scenarios.iter().map(|s| s.to_string()).collect();
        let e = check(&cli, &cli, &filter, &http(timeout)).unwrap_err();
        assert!(crate::exit::is_bad_input(&e));
        e.to_string()
    }

    #[test]
    fn contradictions_are_named() {
        let secs = |s| Some(Duration::from_secs(s));
        let stage = Some(vec![super::super::options::StageConfig {
            duration: Duration::from_secs(1),
            target: 1,
        }]);
        let ok = Duration::from_secs(60);
        let e = err(
            OptionsLayer {
                stages: stage.clone(),
                iterations: Some(3),
                ..Default::default()
            },
            &[],
            ok,
        );
        assert!(e.starts_with("--stage cannot be combined"), "{e}");
        let e = err(
            OptionsLayer {
                stages: stage,
                max_duration: secs(5),
                ..Default::default()
            },
            &[],
            ok,
        );
        assert!(
            e.starts_with("--max-duration does not apply to --stage"),
            "{e}"
        );
        let e = err(
            OptionsLayer {
                duration: secs(5),
                max_duration: secs(5),
                ..Default::default()
            },
            &[],
            ok,
        );
        assert!(e.contains("drop --max-duration"), "{e}");
        let e = err(
            OptionsLayer {
                iterations: Some(5),
                ..Default::default()
            },
            &["spike"],
            ok,
        );
        assert!(e.starts_with("--scenario picks among"), "{e}");
        let e = err(
            OptionsLayer {
                max_duration: secs(0),
                ..Default::default()
            },
            &[],
            ok,
        );
        assert_eq!(e, "max_duration must be above 0s");
        let e = err(OptionsLayer::default(), &[], Duration::ZERO);
        assert!(e.starts_with("--http-timeout must be above 0s"), "{e}");

        // Iterations capped by a duration, and a cap with iterations, are fine.
        let fine = OptionsLayer {
            iterations: Some(5),
            duration: secs(5),
            max_duration: secs(9),
            ..Default::default()
        };
        check(&fine, &fine, &[], &http(ok)).unwrap();
    }
}
