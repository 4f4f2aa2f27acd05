//! The client subcommands against a real `fat dev`: `deploy`, `command`, `query`, `logs`,
//! `status` in human and `--json` form (the JSON pinned by golden files), and the refusals
//! that need a node.

mod common;

use std::io::BufRead;

use common::{Dev, golden, normalized};

#[test]
fn deploy_command_query_logs_status() {
    let dev = Dev::start("network", &[]);
    let counter = fat_test_programs::COUNTER;

    // deploy: human, then JSON (a second instance by salt).
    let out = dev.fat(&["deploy", counter]);
    let first = out.ok().trim().to_string();
    assert_eq!(first.len(), 64, "{out:?}");
    assert!(out.stderr.contains("uploading code"), "{out:?}");
    assert!(
        out.stderr.contains("waiting for the workers to run init"),
        "{out:?}"
    );
    // A dev network says it protects nothing, once.
    let warning = format!(
        "warning: {} is a dev network: its workers use software attestation and protect nothing\n",
        dev.url
    );
    assert!(out.stderr.starts_with(&warning), "{out:?}");
    assert_eq!(out.stderr.matches("is a dev network").count(), 1, "{out:?}");
    let deployed = dev.fat(&[
        "deploy",
        counter,
        "--args",
        r#"{"start": 40}"#,
        "--salt",
        "two",
        "--json",
    ]);
    // On stderr even with --json, so stdout stays one JSON document.
    assert_eq!(deployed.stderr, warning, "{deployed:?}");
    let deployed = deployed.json();
    golden("deploy.json", &normalized(&deployed));
    let second = deployed["contract"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    let again = dev.fat(&["deploy", counter, "--salt", "three"]);
    assert!(again.stderr.contains("already on chain"), "{again:?}");

    // command, query.
    let out = dev.fat(&["command", &first, "increment", r#"{"by": 2}"#]);
    assert_eq!(out.ok(), "2\n");
    assert!(out.stderr.contains("ok in block"), "{out:?}");
    let result = dev.fat(&["command", &second, "increment", "--json"]);
    assert_eq!(result.stderr, warning, "{result:?}");
    let result = result.json();
    assert_eq!(result["output"], 41);
    assert_eq!(result["status"], "ok");
    golden("command.json", &normalized(&result));
    let pending = dev
        .fat(&["--json", "command", &second, "increment", "--no-wait"])
        .json();
    assert_eq!(pending["status"], "pending");
    golden("command-no-wait.json", &normalized(&pending));
    let out = dev.fat(&["query", &first, "get"]);
    assert_eq!(out.ok(), "2\n");
    assert_eq!(out.stderr, warning, "{out:?}");
    // The no-wait command commits soon after.
    let mut value = serde_json::Value::Null;
    for _ in 0..100 {
        value = dev.fat(&["query", &second, "get", "--json"]).json();
        if value["output"] == 42 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(value["output"], 42);
    golden("query.json", &normalized(&value));
    // --as bob queries as bob; a command as bob is signed by bob.
    assert_eq!(
        dev.fat(&["query", &first, "get", "--as", "bob"]).ok(),
        "2\n"
    );
    assert_eq!(
        dev.fat(&["command", &first, "increment", "--as", "bob"])
            .ok(),
        "3\n"
    );

    // logs and events from the probe contract.
    let probe = dev
        .fat(&["deploy", fat_test_programs::PROBE, "--json"])
        .json();
    let probe = probe["contract"].as_str().unwrap().to_string();
    let emitted = dev.fat(&["command", &probe, "emit", "2", "--json"]).json();
    assert_eq!(emitted["events"].as_array().unwrap().len(), 2, "{emitted}");
    golden("command-events.json", &normalized(&emitted));
    dev.fat(&["command", &probe, "log", "2"]).ok();
    let logs = dev.fat(&["logs", &probe, "--json"]).json();
    assert_eq!(logs["logs"].as_array().unwrap().len(), 2, "{logs}");
    golden("logs.json", &normalized(&logs));
    let human = dev.fat(&["logs", &probe]);
    assert_eq!(human.ok().lines().count(), 2);
    assert_eq!(human.stderr, warning, "{human:?}");
    assert!(human.stdout.contains("INFO line 0 ---"), "{human:?}");

    // logs --follow: the lines so far, then new ones as blocks apply.
    let mut follow = common::fat(dev.dir.path())
        .args(["logs", &probe, "--follow", "--json", "--rpc", &dev.url])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(follow.stdout.take().unwrap()).lines();
    for expected in ["line 0 ", "line 1 "] {
        let line: serde_json::Value =
            serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        assert!(
            line["message"].as_str().unwrap().starts_with(expected),
            "{line}"
        );
    }
    dev.fat(&["command", &probe, "log", "1"]).ok();
    let line: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert!(
        line["message"].as_str().unwrap().starts_with("line 0 "),
        "{line}"
    );
    assert_eq!(line["seq"], 2, "{line}");
    let _ = std::process::Command::new("kill")
        .args(["-INT", &follow.id().to_string()])
        .status();
    assert!(
        follow.wait().unwrap().success(),
        "fat logs --follow exits cleanly on Ctrl-C"
    );

    // status.
    let status = dev.fat(&["status", "--json"]).json();
    assert_eq!(status["workers"].as_array().unwrap().len(), 1);
    golden("status.json", &normalized(&status));
    let human = dev.fat(&["status"]);
    assert!(human.ok().contains("worker 0 "), "{human:?}");
    assert_eq!(human.stderr, warning, "{human:?}");

    // Refusals a node is needed for.
    let unknown = "cd".repeat(32);
    dev.fat(&["query", &unknown, "get"]).refused("check the id");
    dev.fat(&["query", &first, "nope"])
        .refused("the call failed");
    let out = dev.fat(&[
        "command",
        &first,
        "increment",
        &format!(r#"{{"by": {}}}"#, u64::MAX),
    ]);
    out.refused("increment failed in contract");
    out.refused("overflow");
    let out = dev.fat(&[
        "command",
        &first,
        "increment",
        "--json",
        &format!(r#"{{"by": {}}}"#, u64::MAX),
    ]);
    // The warning, then the error as one line of JSON.
    let last = out.stderr.lines().last().unwrap_or_default();
    let error: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(error["error"]["code"], "failed", "{out:?}");
    dev.fat(&[
        "deploy",
        counter,
        "--args",
        r#"{"start": "x"}"#,
        "--salt",
        "bad",
    ])
    .refused("init failed in contract");
    dev.fat(&["deploy", counter, "--salt", "two"]).refused("");
    dev.fat(&["deploy", counter, "--cluster", &unknown])
        .refused(&format!("cluster {unknown} not found"));
    dev.fat(&["command", &unknown, "increment"])
        .refused(&format!("contract {unknown} not found"));

    // The chain's genesis is pinned on first use; another chain at the same URL is refused
    // until its entry is removed.
    let file = dev.dir.path().join("known_chains.json");
    let known: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(known[&dev.url], status["genesis"], "{known}");
    let other = serde_json::json!({ dev.url.as_str(): "ab".repeat(32) });
    std::fs::write(&file, other.to_string()).unwrap();
    let out = dev.fat(&["status"]);
    out.refused(&format!(
        "the chain at {} is not the one this machine knows",
        dev.url
    ));
    out.refused(&format!(
        "remove the \"{}\" entry from {}",
        dev.url,
        file.display()
    ));
    let out = dev.fat(&["status", "--json"]);
    let error: serde_json::Value = serde_json::from_str(out.stderr.trim()).unwrap();
    assert_eq!(error["error"]["code"], "chain_changed", "{out:?}");
    std::fs::write(&file, "{}").unwrap();
    dev.fat(&["status"]).ok();
}
