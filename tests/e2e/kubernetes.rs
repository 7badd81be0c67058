//! The Kubernetes deployment (`deploy/`): kubectl is not available here,
//! so the manifests are parsed and the fields that make a distributed test
//! work are checked, and the Jobs' own shell commands are run on this
//! machine, one process per index, then the merge, against a local server.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use yaml_rust2::{Yaml, YamlLoader};

use crate::util::*;

fn deploy() -> PathBuf {
    workspace().join("deploy/kubernetes")
}

fn yaml(name: &str) -> Yaml {
    let path = deploy().join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(docs.len(), 1, "{name}: one document");
    docs.remove(0)
}

fn str_of<'a>(y: &'a Yaml, what: &str) -> &'a str {
    y.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {y:?}"))
}

fn int_of(y: &Yaml, what: &str) -> i64 {
    y.as_i64()
        .unwrap_or_else(|| panic!("{what} is not a number: {y:?}"))
}

fn list<'a>(y: &'a Yaml, what: &str) -> &'a [Yaml] {
    y.as_vec()
        .unwrap_or_else(|| panic!("{what} is not a list: {y:?}"))
}

/// `run.env`: the Jobs' parameters.
fn run_env() -> BTreeMap<String, String> {
    std::fs::read_to_string(deploy().join("run.env"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=VALUE");
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// The pod template's only container.
fn container(job: &Yaml) -> &Yaml {
    let containers = list(&job["spec"]["template"]["spec"]["containers"], "containers");
    assert_eq!(containers.len(), 1);
    &containers[0]
}

/// The container's `sh -c` script.
fn script(job: &Yaml) -> String {
    let c = container(job);
    let command: Vec<&str> = list(&c["command"], "command")
        .iter()
        .map(|y| str_of(y, "command"))
        .collect();
    assert_eq!(command, ["/bin/sh", "-c"]);
    str_of(&list(&c["args"], "args")[0], "args").to_owned()
}

/// The volume mounted at `path`, and whether read-only.
fn mounted<'a>(job: &'a Yaml, path: &str) -> (&'a Yaml, bool) {
    let c = container(job);
    let mount = list(&c["volumeMounts"], "volumeMounts")
        .iter()
        .find(|m| m["mountPath"].as_str() == Some(path))
        .unwrap_or_else(|| panic!("nothing mounted at {path}"));
    let name = str_of(&mount["name"], "mount name");
    let volume = list(&job["spec"]["template"]["spec"]["volumes"], "volumes")
        .iter()
        .find(|v| v["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no volume {name}"));
    (volume, mount["readOnly"].as_bool() == Some(true))
}

#[test]
fn manifests_declare_an_indexed_job_of_segments_and_a_merge() {
    let kustomization = yaml("kustomization.yaml");
    let resources: Vec<&str> = list(&kustomization["resources"], "resources")
        .iter()
        .map(|r| str_of(r, "resource"))
        .collect();
    assert_eq!(
        resources,
        ["results-pvc.yaml", "run-job.yaml", "merge-job.yaml"]
    );
    let generators = list(&kustomization["configMapGenerator"], "configMapGenerator");
    let generator = |name: &str| {
        generators
            .iter()
            .find(|g| g["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no ConfigMap {name}"))
    };
    let files: Vec<&str> = list(&generator("wasm-slo-scenario")["files"], "files")
        .iter()
        .map(|f| str_of(f, "file"))
        .collect();
    assert_eq!(files, ["scenario.wasm", "slo.toml"]);
    assert_eq!(
        list(&generator("wasm-slo-run")["envs"], "envs")[0].as_str(),
        Some("run.env")
    );
    let image = str_of(
        &list(&kustomization["images"], "images")[0]["name"],
        "image",
    );

    let pvc = yaml("results-pvc.yaml");
    assert_eq!(pvc["kind"].as_str(), Some("PersistentVolumeClaim"));
    let access: Vec<&str> = list(&pvc["spec"]["accessModes"], "accessModes")
        .iter()
        .map(|a| str_of(a, "accessMode"))
        .collect();
    assert_eq!(
        access,
        ["ReadWriteMany"],
        "pods on several nodes write results"
    );
    let claim = str_of(&pvc["metadata"]["name"], "PVC name");

    let env = run_env();
    let segments: i64 = env["SEGMENTS"].parse().unwrap();
    for key in [
        "START_AT",
        "RUN_ID",
        "BASE_URL",
        "RUN_ARGS",
        "MERGE_ARGS",
        "MERGE_WAIT_SECONDS",
    ] {
        assert!(env.contains_key(key), "run.env lacks {key}");
    }

    let run = yaml("run-job.yaml");
    let merge = yaml("merge-job.yaml");
    for job in [&run, &merge] {
        assert_eq!(job["apiVersion"].as_str(), Some("batch/v1"));
        assert_eq!(job["kind"].as_str(), Some("Job"));
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"].as_str(), Some("Never"));
        assert_eq!(str_of(&container(job)["image"], "image"), image);
        let env_from = list(&container(job)["envFrom"], "envFrom");
        assert_eq!(
            env_from[0]["configMapRef"]["name"].as_str(),
            Some("wasm-slo-run")
        );
        let (results, read_only) = mounted(job, "/results");
        assert_eq!(
            results["persistentVolumeClaim"]["claimName"].as_str(),
            Some(claim)
        );
        assert!(!read_only);
    }

    let spec = &run["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    for field in ["completions", "parallelism", "maxFailedIndexes"] {
        assert_eq!(int_of(&spec[field], field), segments, "{field} vs SEGMENTS");
    }
    assert_eq!(
        int_of(&spec["backoffLimitPerIndex"], "backoffLimitPerIndex"),
        0
    );
    let (scenario, read_only) = mounted(&run, "/scenario");
    assert_eq!(
        scenario["configMap"]["name"].as_str(),
        Some("wasm-slo-scenario")
    );
    assert!(read_only);
    let run_script = script(&run);
    for needle in [
        "part=$((JOB_COMPLETION_INDEX + 1))",
        "exec wasm-slo run /scenario/scenario.wasm",
        "--slo /scenario/slo.toml",
        "--segment \"${part}/${SEGMENTS}\"",
        "--start-at \"${START_AT}\"",
        "--out \"json=/results/${RUN_ID}/part-${part}.json\"",
    ] {
        assert!(run_script.contains(needle), "run-job.yaml lacks {needle}");
    }

    assert_eq!(int_of(&merge["spec"]["backoffLimit"], "backoffLimit"), 0);
    let merge_script = script(&merge);
    for needle in [
        "-lt \"${SEGMENTS}\"",
        "exec wasm-slo merge \"$dir\"/part-*.json",
        "--out \"json=${dir}/total.json\"",
    ] {
        assert!(
            merge_script.contains(needle),
            "merge-job.yaml lacks {needle}"
        );
    }

    let containerfile = std::fs::read_to_string(workspace().join("deploy/Containerfile")).unwrap();
    let stages = containerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .count();
    assert_eq!(stages, 2, "a build stage and a runtime stage");
    assert!(containerfile.contains("cargo build --release --locked -p wasm-slo"));
    assert!(
        containerfile.contains("/usr/local/bin/"),
        "wasm-slo on the PATH"
    );
    assert!(containerfile.contains("USER 10001"));
    let user = int_of(
        &run["spec"]["template"]["spec"]["securityContext"]["runAsUser"],
        "user",
    );
    assert_eq!(user, 10001);
}

/// Replaces the pods' mount points with local directories.
fn localised(script: &str, scenario: &Path, results: &Path) -> String {
    script
        .replace("/scenario/", &format!("{}/", scenario.display()))
        .replace("/results/", &format!("{}/", results.display()))
}

#[test]
fn the_jobs_commands_run_a_distributed_test_here() {
    let probe = guest("probe");
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let (scenario, results) = (dir.path().join("scenario"), dir.path().join("results"));
    std::fs::create_dir_all(&scenario).unwrap();
    std::fs::create_dir_all(&results).unwrap();
    std::fs::copy(&probe, scenario.join("scenario.wasm")).unwrap();
    std::fs::copy(deploy().join("slo.toml"), scenario.join("slo.toml")).unwrap();

    let mut env = run_env();
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 2;
    env.insert("START_AT".into(), start.to_string());
    env.insert("RUN_ID".into(), "local".into());
    env.insert("BASE_URL".into(), srv.base_url());
    env.insert(
        "RUN_ARGS".into(),
        "--flow fast --vus 4 --iterations 10 -q".into(),
    );
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_wasm-slo"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let sh = |script: &str, index: Option<i64>| {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(localised(script, &scenario, &results))
            .envs(&env)
            .env("PATH", &path)
            .env("WASM_SLO_CACHE_DIR", target_dir().join("e2e-compile-cache"));
        if let Some(i) = index {
            cmd.env("JOB_COMPLETION_INDEX", i.to_string());
        }
        cmd
    };

    let segments: i64 = env["SEGMENTS"].parse().unwrap();
    let run_script = script(&yaml("run-job.yaml"));
    let pods: Vec<_> = (0..segments)
        .map(|i| sh(&run_script, Some(i)).spawn().unwrap())
        .collect();
    for pod in pods {
        let out = pod.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let out = sh(&script(&yaml("merge-job.yaml")), None).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("merged {segments} results file(s)")),
        "{stdout}"
    );
    let total = Results::read(&results.join("local/total.json")).unwrap();
    assert_eq!(value(&total, "http_reqs", &[], "count"), 10.0);
    assert_eq!(srv.stats().total, 10);
    assert_eq!(total.outcome.verdict, "pass");
}
