//! A worker keeps its attestation fresh: on a chain whose policy lets a report age 4 s, a
//! `fat worker` process sends a fresh report (`Reattest`) once its registered one is past
//! half that age, and the chain records when it accepted it.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{TempDir, free_ports, http, start_validator, start_worker};

#[test]
fn a_worker_process_reattests_before_its_report_goes_stale() {
    let net = TempDir::new("reattest-net");
    let ports = free_ports(3);
    let (p2p, rpc, api) = (
        format!("127.0.0.1:{}", ports[0]),
        format!("127.0.0.1:{}", ports[1]),
        format!("127.0.0.1:{}", ports[2]),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_fat"))
        .args(["genesis", "new", "--validators", "1", "--dev-accounts"])
        .args(["--attestation-max-age", "4", "--snp-min-tcb", "3,0,8,115"])
        .args(["--p2p", &p2p, "--out"])
        .arg(net.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut chain = start_validator(net.path(), &net.path().join("data"), 0, &rpc);
    let (_, params) = http(&rpc, "GET", "/v1/params", b"").unwrap();
    assert_eq!(params["attestation"]["max_age_secs"], 4, "{params}");
    assert_eq!(
        params["attestation"]["snp_min_tcb"],
        serde_json::json!({"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}),
        "{params}"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_fat"))
        .args([
            "genesis",
            "new",
            "--validators",
            "1",
            "--snp-min-tcb",
            "3,0,300,1",
        ])
        .arg("--out")
        .arg(net.path().join("other"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("snp \"300\" is not a number from 0 to 255"),
        "{stderr}"
    );

    let home = TempDir::new("reattest-home");
    let worker = start_worker(
        home.path(),
        &format!("http://{rpc}"),
        &home.path().join("worker"),
        &api,
        &[],
    );
    let (_, status) = http(&api, "GET", "/v1/status", b"").unwrap();
    let id = status["worker"].as_str().unwrap().to_string();
    let attested_at = || {
        let (code, info) = http(&rpc, "GET", &format!("/v1/workers/{id}"), b"").unwrap();
        assert_eq!(code, 200, "{info}");
        info["attested_at"].as_u64().unwrap()
    };
    let registered = attested_at();
    let start = Instant::now();
    let mut latest = registered;
    while latest == registered && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(200));
        latest = attested_at();
    }
    assert!(
        latest > registered + 1,
        "no fresh report past half the age: accepted at {registered}, then {latest}"
    );
    drop(worker);
    let _ = chain.kill();
    let _ = chain.wait();
}
