//! The hostile-contract suite: one contract per attack (an instance of the probe each),
//! run through a worker beside a neighbour contract (the counter). Every attack is stopped
//! by a limit its error names; the neighbour's queries are answered while each attack runs
//! and its commands commit after; an attacking command pays for the gas it used (all it
//! asked for, when gas stopped it) and the fee for the gas it asked.

mod common;

use std::time::Duration;

use common::{Chain, ChainClient, RunningWorker, command_with_gas, temp_dir};
use fat_crypto::dev_keypair;
use fat_types::ContractId;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// How an attack reaches the worker.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Via {
    /// A command asking for the chain's largest gas (`max_tx_gas`).
    Command,
    /// A query.
    Query,
}

/// One attack: the probe method and its argument, and the limit that must stop it (`None`:
/// the attack is made harmless rather than stopped, and must finish). A `long` attack runs
/// for a second or more, and the neighbour must be answered before it ends.
struct Attack {
    name: &'static str,
    via: Via,
    method: &'static str,
    args: &'static str,
    limit: Option<&'static str>,
    long: bool,
}

const ATTACKS: &[Attack] = &[
    Attack {
        name: "endless loop, largest gas allowed",
        via: Via::Command,
        method: "loop",
        args: "",
        limit: Some("gas"),
        long: true,
    },
    Attack {
        name: "hash bomb (a mebibyte hashed over and over)",
        via: Via::Command,
        method: "hash-bomb",
        args: "1000000",
        limit: Some("gas"),
        long: false,
    },
    Attack {
        name: "sign bomb",
        via: Via::Command,
        method: "sign-bomb",
        args: "1000000",
        limit: Some("gas"),
        long: false,
    },
    Attack {
        name: "randomness bomb (a mebibyte drawn over and over)",
        via: Via::Command,
        method: "random-bomb",
        args: "1000000",
        limit: Some("gas"),
        long: false,
    },
    Attack {
        name: "host resource bomb (header maps kept until the call ends)",
        via: Via::Command,
        method: "resource-bomb",
        args: "1000000",
        limit: Some("host-resources"),
        long: false,
    },
    Attack {
        name: "storage bomb (256 KiB values under fresh keys)",
        via: Via::Command,
        method: "write-bomb",
        args: "100000",
        limit: Some("write-bytes"),
        long: false,
    },
    Attack {
        name: "cache bomb",
        via: Via::Command,
        method: "cache-bomb",
        args: "1000000",
        limit: Some("cache-ops"),
        long: false,
    },
    Attack {
        name: "memory bomb in a command",
        via: Via::Command,
        method: "alloc",
        args: "",
        limit: Some("memory"),
        long: false,
    },
    Attack {
        name: "sleep an hour in a command (its clock stands still: ready at once)",
        via: Via::Command,
        method: "sleep",
        args: "3600000",
        limit: None,
        long: false,
    },
    Attack {
        name: "endless loop in a query",
        via: Via::Query,
        method: "loop",
        args: "",
        limit: Some("deadline"),
        long: true,
    },
    Attack {
        name: "memory bomb in a query",
        via: Via::Query,
        method: "alloc",
        args: "",
        limit: Some("memory"),
        long: false,
    },
    Attack {
        name: "job bomb (more jobs than a query may spawn)",
        via: Via::Query,
        method: "spawn",
        args: "100000 16",
        limit: Some("jobs"),
        long: false,
    },
];

/// What an attack ended with: its error (or output) and, for a command, the gas its receipt
/// says it used and the fee and gas it asked for.
#[derive(Debug)]
struct Ended {
    error: Option<String>,
    output: Value,
    paid: Option<(u64, u64, u64)>,
}

/// Send `method` as a command asking for `gas`, wait until the worker applied it, and read
/// the receipt and the chain's fee.
async fn command(
    started: oneshot::Sender<()>,
    client: &ChainClient,
    w: &RunningWorker,
    contract: ContractId,
    method: &str,
    args: &str,
    gas: u64,
) -> Ended {
    let (answer, asked_fee) =
        command_with_gas(client, &dev_keypair("bob"), contract, method, args, gas).await;
    let _ = started.send(());
    let id = answer.id;
    let height = answer.height.unwrap();
    w.wait_for(height).await;
    let body = w.get(&fat_proto::paths::worker::receipt(&id, height)).await;
    let status = &body["receipt"]["status"];
    let committed = client.tx(&id).await.unwrap();
    let fee = committed.receipt.fee;
    Ended {
        error: status["error"].as_str().map(str::to_owned),
        output: body["receipt"]["output"].clone(),
        paid: Some((
            body["receipt"]["gas_used"].as_u64().unwrap(),
            fee,
            asked_fee,
        )),
    }
}

/// Run `method` as a query.
async fn query(w: &RunningWorker, contract: ContractId, method: &str, args: &str) -> Ended {
    let answer = w.query(contract, method, json!(args)).await;
    Ended {
        error: answer["message"].as_str().map(str::to_owned),
        output: answer["output"].clone(),
        paid: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_attack_is_stopped_by_its_limit_and_the_neighbour_keeps_answering() {
    let dir = temp_dir("hostile-contracts");
    let chain = Chain::start(&dir).await;
    let cluster = chain.dev_cluster(1).await;
    // The defaults, but shorter query deadlines and a smaller job budget, so the suite does
    // not wait ten seconds for each query attack.
    let w = RunningWorker::start_with(&chain.url, &dir, 0, |c| {
        c.runtime.limits.query_deadline = Duration::from_secs(2);
        c.runtime.limits.coordinated_deadline = Duration::from_secs(4);
        c.runtime.limits.jobs = 16;
    })
    .await;
    let w = std::sync::Arc::new(w);
    let params = chain.client.params().await.unwrap();
    let neighbour = chain
        .deploy(
            &fat_test_programs::read(fat_test_programs::COUNTER),
            cluster,
            Value::Null,
        )
        .await;
    let probe = fat_test_programs::read(fat_test_programs::PROBE);
    let alice = dev_keypair("alice");
    let mut count = 0u64;

    for (i, attack) in ATTACKS.iter().enumerate() {
        let contract =
            common::deploy_via(&chain.client, &probe, cluster, &[i as u8], "hostile").await;
        w.wait_for(chain.height()).await;
        let (started, running_now) = oneshot::channel();
        let running = tokio::spawn({
            let (w, client, gas) = (w.clone(), chain.client.clone(), params.max_tx_gas);
            async move {
                match attack.via {
                    Via::Query => {
                        let _ = started.send(());
                        query(&w, contract, attack.method, attack.args).await
                    }
                    Via::Command => {
                        let (method, args) = (attack.method, attack.args);
                        command(started, &client, &w, contract, method, args, gas).await
                    }
                }
            }
        });

        // The neighbour answers while the attack runs (a command's once it is in a block),
        // and takes commands.
        running_now.await.unwrap();
        let answer = w.query(neighbour, "get", Value::Null).await;
        assert_eq!(answer["output"], count, "{}: {answer}", attack.name);
        if attack.long {
            assert!(
                !running.is_finished(),
                "{}: ended before the neighbour's query",
                attack.name
            );
        }
        chain
            .command(&alice, neighbour, "increment", Value::Null)
            .await;
        count += 1;

        let ended = running.await.unwrap();
        match attack.limit {
            Some(limit) => {
                let error = ended
                    .error
                    .as_deref()
                    .unwrap_or_else(|| panic!("{}: not stopped: {ended:?}", attack.name));
                assert_eq!(
                    error.strip_prefix("limit exceeded: "),
                    Some(limit),
                    "{}: stopped by something else",
                    attack.name
                );
            }
            None => assert!(ended.error.is_none(), "{}: failed: {ended:?}", attack.name),
        }
        if let Some((gas_used, fee, asked_fee)) = ended.paid {
            assert_eq!(fee, asked_fee, "{}: the fee for the gas asked", attack.name);
            assert!(
                fee >= params.min_fee(0, params.max_tx_gas),
                "{}: {fee}",
                attack.name
            );
            if attack.limit == Some("gas") {
                assert_eq!(gas_used, params.max_tx_gas, "{}", attack.name);
            } else {
                assert!(gas_used > 0, "{}: used nothing?", attack.name);
            }
        }
        println!("{}: {:?} {}", attack.name, ended.error, ended.output);
    }

    // Everything the neighbour was asked to do, it did.
    let (_, height) = chain
        .command(&alice, neighbour, "increment", Value::Null)
        .await;
    w.wait_for(height).await;
    let answer = w.query(neighbour, "get", Value::Null).await;
    assert_eq!(answer["output"], count + 1, "{answer}");

    std::sync::Arc::into_inner(w).unwrap().stop().await;
    chain.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
