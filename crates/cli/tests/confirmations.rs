//! Replicas that diverge are caught: two `fat worker` processes in one cluster, one of them
//! misconfigured with less memory per call than the other. A command that fits both is
//! confirmed by both; one that fits only one is refused under `--confirmations 2`, naming
//! both workers, while a single confirmation believes whichever answers first.

mod common;

use common::{Dev, free_addrs, start_worker, worker_ids};

#[test]
fn a_diverging_replica_is_refused_under_two_confirmations() {
    let dev = Dev::start("confirmations", &[]);
    let home = dev.dir.path().to_path_buf();
    let apis = free_addrs(2);
    let _good = start_worker(&home, &dev.url, &home.join("good"), &apis[0], &[]);
    let _small = start_worker(
        &home,
        &dev.url,
        &home.join("small"),
        &apis[1],
        &["--max-memory-mib", "2"],
    );
    let ids = worker_ids(&apis);
    let cluster = dev.create_cluster(&ids);
    let probe = dev.deploy_to(
        fat_test_programs::PROBE,
        &cluster,
        &["--args", r#""hello""#],
    );

    // What fits both: both confirm it.
    let out = dev
        .fat(&[
            "command",
            &probe,
            "output",
            "1000",
            "--confirmations",
            "2",
            "--json",
        ])
        .json();
    assert_eq!(out["output"], "x".repeat(1000), "{out}");
    assert_eq!(out["confirmed_by"], serde_json::json!(ids), "{out}");

    // 3 MB of output fits the 64 MiB of the first worker, not the 2 MiB of the second.
    let refused = dev.fat(&[
        "command",
        &probe,
        "output",
        "3000000",
        "--confirmations",
        "2",
    ]);
    refused.refused("disagree on the status");
    assert!(
        refused.stderr.contains(&ids[0]) && refused.stderr.contains(&ids[1]),
        "both workers are named: {refused:?}"
    );
    // One confirmation believes the first member, which ran it.
    let out = dev
        .fat(&["command", &probe, "output", "3000000", "--json"])
        .json();
    assert_eq!(out["confirmed_by"], serde_json::json!([ids[0]]), "{out:?}");

    // More confirmations than members: refused, saying how many came.
    dev.fat(&["command", &probe, "get", r#""k""#, "--confirmations", "3"])
        .refused("only 2 of the 3 confirmations");
}
