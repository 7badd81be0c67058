//! `--out junit=results.xml`: the verdict as JUnit XML for CI test
//! reporters: one test case per objective (failures carry the measured value
//! and the bound), plus one for the run's outcome when it failed for another
//! reason (abort, baseline regression, runtime error).

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use super::json::Results;
use super::outputs::RenderOptions;
use crate::slo::{Level, ThresholdResult};

/// Renders the JUnit document.
pub fn render(results: &Results, options: &RenderOptions) -> anyhow::Result<String> {
    let failed = |t: &ThresholdResult| {
        t.verdict == Level::Fail || (options.strict && t.verdict == Level::Warn)
    };
    let objective_failures = results.thresholds.iter().filter(|t| failed(t)).count();
    let outcome_case = outcome_failure(results, objective_failures);
    let tests = results.thresholds.len() + 1;
    let failures = objective_failures + usize::from(outcome_case.is_some());
    let suite_name = format!("wasm-slo {}", results.module.name);
    let time = format!("{:.3}", results.duration_s);

    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let counts = [
        ("tests", tests.to_string()),
        ("failures", failures.to_string()),
        ("errors", "0".to_string()),
        ("time", time.clone()),
    ];
    let mut suites = BytesStart::new("testsuites");
    suites.push_attribute(("name", "wasm-slo"));
    for (k, v) in &counts {
        suites.push_attribute((*k, v.as_str()));
    }
    w.write_event(Event::Start(suites))?;
    let mut suite = BytesStart::new("testsuite");
    suite.push_attribute(("name", suite_name.as_str()));
    for (k, v) in &counts {
        suite.push_attribute((*k, v.as_str()));
    }
    suite.push_attribute(("timestamp", results.started_at.as_str()));
    w.write_event(Event::Start(suite))?;

    w.write_event(Event::Start(BytesStart::new("properties")))?;
    for (name, value) in [
        ("module", results.module.path.as_str()),
        ("module.sha256", results.module.sha256.as_str()),
        ("wit", results.module.wit.as_str()),
        ("verdict", results.outcome.verdict.as_str()),
    ] {
        let mut p = BytesStart::new("property");
        p.push_attribute(("name", name));
        p.push_attribute(("value", value));
        w.write_event(Event::Empty(p))?;
    }
    w.write_event(Event::End(BytesEnd::new("properties")))?;

    for t in &results.thresholds {
        let name = match &t.phase {
            Some(phase) => format!("{} {} [phase {phase}]", t.selector, t.expression),
            None => format!("{} {}", t.selector, t.expression),
        };
        let class = format!("slo.{}", source_name(t));
        let measured = results.threshold_measured(t);
        let bound = results.threshold_bound(t);
        let detail = format!(
            "{} {}: measured {}={measured}, bound {bound} ({})",
            t.selector,
            t.expression,
            t.aggregation,
            t.verdict.label()
        );
        let mut case = BytesStart::new("testcase");
        case.push_attribute(("name", name.as_str()));
        case.push_attribute(("classname", class.as_str()));
        case.push_attribute(("time", "0"));
        w.write_event(Event::Start(case))?;
        if failed(t) {
            let message = format!("measured {}={measured}, bound {bound}", t.aggregation);
            let mut f = BytesStart::new("failure");
            f.push_attribute(("message", message.as_str()));
            f.push_attribute(("type", t.verdict.label()));
            w.write_event(Event::Start(f))?;
            w.write_event(Event::Text(BytesText::new(&detail)))?;
            w.write_event(Event::End(BytesEnd::new("failure")))?;
        } else if t.verdict == Level::Warn {
            w.write_event(Event::Start(BytesStart::new("system-out")))?;
            w.write_event(Event::Text(BytesText::new(&detail)))?;
            w.write_event(Event::End(BytesEnd::new("system-out")))?;
        }
        w.write_event(Event::End(BytesEnd::new("testcase")))?;
    }

    let mut case = BytesStart::new("testcase");
    case.push_attribute(("name", "outcome"));
    case.push_attribute(("classname", "run"));
    case.push_attribute(("time", time.as_str()));
    w.write_event(Event::Start(case))?;
    let summary = format!(
        "verdict {}, exit code {}{}",
        results.outcome.verdict,
        results.outcome.exit_code,
        results
            .outcome
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    );
    if let Some(message) = &outcome_case {
        let mut f = BytesStart::new("failure");
        f.push_attribute(("message", message.as_str()));
        f.push_attribute(("type", results.outcome.verdict.as_str()));
        w.write_event(Event::Start(f))?;
        w.write_event(Event::Text(BytesText::new(&summary)))?;
        w.write_event(Event::End(BytesEnd::new("failure")))?;
    } else {
        w.write_event(Event::Start(BytesStart::new("system-out")))?;
        w.write_event(Event::Text(BytesText::new(&summary)))?;
        w.write_event(Event::End(BytesEnd::new("system-out")))?;
    }
    w.write_event(Event::End(BytesEnd::new("testcase")))?;

    w.write_event(Event::End(BytesEnd::new("testsuite")))?;
    w.write_event(Event::End(BytesEnd::new("testsuites")))?;
    let mut xml = String::from_utf8(w.into_inner())?;
    xml.push('\n');
    Ok(xml)
}

/// Why the run itself failed, when no objective's failure explains it.
fn outcome_failure(results: &Results, objective_failures: usize) -> Option<String> {
    let o = &results.outcome;
    match o.verdict.as_str() {
        "pass" => None,
        "fail" if objective_failures > 0 && o.reason.is_none() => None,
        _ => Some(
            o.reason
                .clone()
                .unwrap_or_else(|| format!("the run ended with verdict {}", o.verdict)),
        ),
    }
}

fn source_name(t: &ThresholdResult) -> &'static str {
    if t.phase.is_some() {
        return "phase";
    }
    match t.source {
        crate::plan::Source::Module => "module",
        crate::plan::Source::Config => "config",
        crate::plan::Source::SloFile => "slo-file",
    }
}
