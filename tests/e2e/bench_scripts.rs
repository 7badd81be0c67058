//! The benchmark scripts' shared helpers (`bench/lib.sh`,
//! `bench/callgrind.sh`), sourced by bash as the scripts do, with scratch
//! directories standing in for the repository and for sysfs.

use std::path::Path;
use std::process::Command;

use crate::util::workspace;

/// Runs `script` in bash after sourcing `bench/<lib>`, with `root` (the
/// repository, as the scripts set it) when given; (success, stdout, stderr).
fn sourced(lib: &str, script: &str, root: Option<&Path>) -> (bool, String, String) {
    let lib = workspace().join("bench").join(lib);
    let mut bash = Command::new("bash");
    bash.arg("-c")
        .arg(format!(r#". "{}"; {script}"#, lib.display()));
    if let Some(root) = root {
        bash.env("root", root);
    }
    let out = bash.output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn a_bench_run_never_overwrites_an_earlier_results_file() {
    let root = tempfile::tempdir().unwrap();
    // Three runs of the same day, each writing where `results_file` says.
    let (ok, out, err) = sourced(
        "lib.sh",
        r#"for run in 1 2 3; do f=$(results_file peers-2026-11-26); echo "$f"; echo "run $run" > "$f"; done"#,
        Some(root.path()),
    );
    assert!(ok, "{err}");
    let results = root.path().join("bench/results");
    let names: Vec<String> = out
        .lines()
        .map(|l| {
            l.strip_prefix(&format!("{}/", results.display()))
                .unwrap_or(l)
                .to_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "peers-2026-11-26.md",
            "peers-2026-11-26-2.md",
            "peers-2026-11-26-3.md"
        ]
    );
    for (name, run) in names.iter().zip(1..) {
        let text = std::fs::read_to_string(results.join(name)).unwrap();
        assert_eq!(text, format!("run {run}\n"), "{name} was overwritten");
    }
}

/// A sysfs cache directory as the kernel lays it out for one CPU.
fn fake_caches(levels: &[(&str, &str, &str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (i, (level, kind, size, ways)) in levels.iter().enumerate() {
        let idx = dir.path().join(format!("index{i}"));
        std::fs::create_dir(&idx).unwrap();
        for (file, text) in [
            ("level", *level),
            ("type", *kind),
            ("size", *size),
            ("ways_of_associativity", *ways),
            ("coherency_line_size", "64"),
        ] {
            std::fs::write(idx.join(file), format!("{text}\n")).unwrap();
        }
    }
    dir
}

#[test]
fn the_cache_model_takes_the_cores_own_l1s_and_l2_not_the_shared_l3() {
    let caches = fake_caches(&[
        ("1", "Data", "48K", "12"),
        ("1", "Instruction", "32K", "8"),
        ("2", "Unified", "2M", "16"),
        ("3", "Unified", "307200K", "20"),
    ]);
    let (ok, out, err) = sourced(
        "callgrind.sh",
        &format!("cache_model {}", caches.path().display()),
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "--cache-sim=yes --I1=32768,8,64 --D1=49152,12,64 --LL=2097152,16,64"
    );
}

#[test]
fn a_cache_model_without_an_l2_is_refused_with_what_was_found() {
    let caches = fake_caches(&[("1", "Data", "32K", "8"), ("1", "Instruction", "32K", "8")]);
    let (ok, out, err) = sourced(
        "callgrind.sh",
        &format!("cache_model {}", caches.path().display()),
        None,
    );
    assert!(!ok, "{out}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("L2 none") && err.contains("D1 32768,8,64"),
        "{err}"
    );
}

#[test]
fn per_request_figures_are_the_difference_between_two_runs() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    // As callgrind writes them: a header naming the events, and a summary.
    let events = "events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\n";
    let short = write(
        "short.cg",
        &format!(
            "version: 1\ncmd: x\n{events}fl=a\n1 2\nsummary: 1000000 0 0 5000 300 200 10 40 50\n"
        ),
    );
    let long = write(
        "long.cg",
        &format!(
            "version: 1\ncmd: x\n{events}fl=a\n1 2\nsummary: 4000000 0 0 9500 1300 700 20 100 230\n"
        ),
    );
    // wrk's L1i misses: one fewer in the longer run, which is no misses.
    let few1 = write(
        "f1.cg",
        &format!("{events}summary: 100000 0 0 1000 0 0 0 0 0\n"),
    );
    let few2 = write(
        "f2.cg",
        &format!("{events}summary: 200000 0 0 999 0 0 0 0 0\n"),
    );
    let plain1 = write("p1.cg", "events: Ir\nsummary: 1000000\n");
    let plain2 = write("p2.cg", "events: Ir\nsummary: 3500000\n");
    let (ok, out, err) = sourced(
        "callgrind.sh",
        &format!(
            "per_request {short} 100 {long} 200; per_request {few1} 100 {few2} 1100; \
         per_request {plain1} 100 {plain2} 200; per_request {short} 100 {long} 100"
        ),
        None,
    );
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    // (4e6 - 1e6) / 100 instructions; I1 45; D1 (1300+700-300-200)/100;
    // LL (20+100+230-10-40-50)/100.
    assert_eq!(
        lines,
        [
            "30000 45.0 15.0 2.5",
            "100 0.0 0.0 0.0",
            "25000 - - -",
            "n/a n/a n/a n/a"
        ]
    );
}

#[test]
fn sampled_addresses_become_the_ones_the_debug_info_knows() {
    // readelf's program headers as `exec_bias` reads them (a PIE whose
    // code segment sits 0x1000 above its file offset), shadowed by a
    // function of the same name.
    let headers = "  LOAD           0x000000 0x0000000000000000 0x0000000000000000 0x553c0c 0x553c0c R   0x1000\n\
                   \x20 LOAD           0x553c40 0x0000000000554c40 0x0000000000554c40 0xec8080 0xec8080 R E 0x1000\n\
                   \x20 LOAD           0x141bcc0 0x000000000141dcc0 0x000000000141dcc0 0x0934d8 0x094340 RW  0x1000\n";
    // As `perf script --show-mmap-events -F ip,dso` prints them: the
    // binary's code mapped at 0x564350780000 from file offset 0x553000,
    // samples in it, in another library and in the kernel.
    let script = "\
PERF_RECORD_MMAP2 1681/1681: [0x7f2ea2feb000(0x26000) @ 0x1000 fe:00 325843 0]: r-xp /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
PERF_RECORD_MMAP2 1681/1681: [0x564350780000(0xec9000) @ 0x553000 fe:00 5324866 1830283365]: r-xp /opt/w s/wasm-slo
     5643507a6837 (/opt/w s/wasm-slo)
     7f2ea2ffef02 (/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2)
     5643507a6837 (/opt/w s/wasm-slo)
 ffffffff8226dbf9 ([kernel.kallsyms])
     564350780000 (/opt/w s/wasm-slo)
";
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("script.txt");
    std::fs::write(&input, script).unwrap();
    let (ok, out, err) = sourced(
        "perf.sh",
        &format!(
            "readelf() {{ printf '%s' '{headers}'; }}; bias=$(exec_bias any) && echo \"$bias\" && \
             binary_addresses '/opt/w s/wasm-slo' \"$bias\" < '{}' | sort",
            input.display()
        ),
        None,
    );
    assert!(ok, "{err}");
    // 0x5643507a6837 - 0x564350780000 + 0x553000 + 0x1000 = 0x57a837.
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["4096", "554000 1", "57a837 2"]
    );

    let (ok, _, err) = sourced(
        "perf.sh",
        "readelf() { echo '  LOAD 0x0 0x0 0x0 0x10 0x10 R 0x1000'; }; exec_bias /bin/x",
        None,
    );
    assert!(!ok);
    assert!(
        err.contains("no executable LOAD segment in /bin/x"),
        "{err}"
    );
}

#[test]
fn samples_go_to_the_innermost_crate_outside_std() {
    let dir = tempfile::tempdir().unwrap();
    let counts = dir.path().join("counts.txt");
    std::fs::write(
        &counts,
        "3010 2\n3020 1\n3030 3\n3040 4\n3050 1\n3060 5\n3070 1\n3080 1\n3090 2\n",
    )
    .unwrap();
    let reg = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f";
    // As `addr2line -i -f -C -a` prints them: the address, then function
    // and place for each frame, innermost first.
    let chains = format!(
        "0x0000000000003010\n\
         fetch_or\n/rustc/59807616e/library/core/src/sync/atomic.rs:3269\n\
         wake\n{reg}/tokio-1.48.0/src/sync/task/atomic_waker.rs:304\n\
         send\n/work/main/runner/src/host/http.rs:138\n\
         0x0000000000003020\n\
         memcpy\n/rustc/59807616e/library/core/src/ptr/mod.rs:805 (discriminator 2)\n\
         0x0000000000003030\n\
         <hyper::proto::h1::role::Client as hyper::proto::h1::Http1Transaction>::parse\n??:0\n\
         0x0000000000003040\n\
         wasm_slo::host::http::boxed_send\n/work/main/runner/src/host/http.rs:?\n\
         0x0000000000003050\n\
         _rjem_malloc\n??:0\n\
         0x0000000000003060\n\
         tokio_util::sync::cancellation_token::tree_node::is_cancelled\n??:0\n\
         0x0000000000003070\n\
         <f64 as zmij::private::Sealed>::format\n??:0\n\
         0x0000000000003080\n\
         <&hyper::body::incoming::Incoming as core::fmt::Debug>::fmt\n??:0\n\
         0x0000000000003090\n\
         oha::client::Client::work_http1\noha.3bc7d0af123e6c75-cgu.03\n"
    );
    let input = dir.path().join("chains.txt");
    std::fs::write(&input, chains).unwrap();
    let (ok, out, err) = sourced(
        "perf.sh",
        &format!(
            "crate_shares '{}' 32 < '{}'",
            counts.display(),
            input.display()
        ),
        None,
    );
    assert!(ok, "{err}");
    // Ties in samples are listed by name; percentages are of all 32.
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "tokio-util 5 15.6",
            "hyper 4 12.5",
            "wasm-slo 4 12.5",
            "oha 2 6.2",
            "tokio 2 6.2",
            "? 1 3.1",
            "std 1 3.1",
            "zmij 1 3.1"
        ]
    );
}
