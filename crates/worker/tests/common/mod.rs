//! An in-process dev chain and workers on loopback ports, for tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fat_chain::{Consensus, Genesis, Node, NodeConfig, Sequencer, SystemClock};
use fat_crypto::{Keypair, dev_keypair};
use fat_runtime::{HttpPolicy, RuntimeConfig};
use fat_types::tx::{code_hash, contract_id};
use fat_types::{Bytes, ClusterId, CommandPayload, ContractId, TxId, TxKind};
use fat_worker::dev::{create_dev_cluster, dev_worker_key, submit};
use fat_worker::{ChainClient, Worker, WorkerConfig};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A fresh directory under the system's temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fat-worker-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// A dev chain node serving its API, producing a block whenever there is work.
pub struct Chain {
    pub node: Node,
    pub url: String,
    pub client: ChainClient,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Chain {
    pub async fn start(dir: &Path) -> Self {
        let config = NodeConfig {
            data_dir: dir.join("chain"),
            genesis: Genesis::dev(),
            mempool_limit: 100_000,
        };
        let key = dev_keypair(fat_chain::genesis::DEV_SEQUENCER);
        let node = Node::open(config, Some(key), Arc::new(SystemClock)).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, rx) = watch::channel(false);
        let server = tokio::spawn({
            let node = node.clone();
            let rx = rx.clone();
            async move {
                fat_chain::rpc::serve(node, listener, stopped(rx))
                    .await
                    .unwrap();
            }
        });
        let sequencer = Sequencer {
            block_time: Duration::ZERO,
        };
        let producer = tokio::spawn({
            let node = node.clone();
            async move {
                sequencer.run(node, stopped(rx)).await.unwrap();
            }
        });
        Self {
            client: ChainClient::new(&url).unwrap(),
            node,
            url,
            stop,
            tasks: vec![server, producer],
        }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }

    /// Register dev workers `0..n` and put them in one cluster.
    pub async fn dev_cluster(&self, n: usize) -> ClusterId {
        let ids: Vec<_> = (0..n).map(|i| Worker::id_of(&dev_worker_key(i))).collect();
        create_dev_cluster(&self.client, &ids).await.unwrap()
    }

    pub fn height(&self) -> u64 {
        self.node.tip().height
    }

    /// Upload `wasm` and instantiate it in `cluster` as alice; returns the contract id.
    pub async fn deploy(&self, wasm: &[u8], cluster: ClusterId, args: Value) -> ContractId {
        let alice = dev_keypair("alice");
        let hash = code_hash(wasm);
        submit(
            &self.client,
            &alice,
            TxKind::UploadCode {
                code: Bytes(wasm.to_vec()),
            },
        )
        .await
        .unwrap();
        let salt = Bytes(b"salt".to_vec());
        let args = if args.is_null() {
            String::new()
        } else {
            args.to_string()
        };
        let kind = TxKind::Instantiate {
            code_hash: hash,
            cluster,
            salt: salt.clone(),
            args: Bytes(args.into_bytes()),
            gas_limit: 10_000_000_000,
        };
        submit(&self.client, &alice, kind).await.unwrap();
        contract_id(&alice.account_id(), &hash, &cluster, &salt.0)
    }

    /// Send a command as `key`; returns its id and block height.
    pub async fn command(
        &self,
        key: &Keypair,
        contract: ContractId,
        method: &str,
        args: Value,
    ) -> (TxId, u64) {
        let args = if args.is_null() {
            String::new()
        } else {
            args.to_string()
        };
        let kind = TxKind::Command {
            contract,
            payload: Bytes(CommandPayload::new(method, args).encode()),
            gas_limit: 10_000_000_000,
        };
        let answer = submit(&self.client, key, kind).await.unwrap();
        let id: TxId = answer["id"].as_str().unwrap().parse().unwrap();
        (id, answer["height"].as_u64().unwrap())
    }
}

/// A worker following the chain and serving its API.
pub struct RunningWorker {
    pub worker: Worker,
    pub url: String,
    pub client: ChainClient,
    stop: watch::Sender<bool>,
    follow: JoinHandle<fat_worker::Result<()>>,
    server: JoinHandle<()>,
}

impl RunningWorker {
    pub async fn start(chain_url: &str, dir: &Path, index: usize) -> Self {
        Self::start_with(chain_url, dir, index, |_| {}).await
    }

    /// Start with a configuration `tune` adjusts.
    pub async fn start_with(
        chain_url: &str,
        dir: &Path,
        index: usize,
        tune: impl FnOnce(&mut WorkerConfig),
    ) -> Self {
        let mut config =
            WorkerConfig::new(dir.join(format!("worker-{index}")), dev_worker_key(index));
        config.runtime = RuntimeConfig {
            http_policy: HttpPolicy::allow_local(),
            pool_instances: 16,
            ..RuntimeConfig::default()
        };
        tune(&mut config);
        Self::serve(Worker::open(config).unwrap(), chain_url).await
    }

    /// Serve and follow with an already open worker (one stopped with [`Self::pause`]).
    pub async fn serve(worker: Worker, chain_url: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, rx) = watch::channel(false);
        let server = tokio::spawn({
            let worker = worker.clone();
            let rx = rx.clone();
            async move {
                fat_worker::api::serve(worker, listener, stopped(rx))
                    .await
                    .unwrap();
            }
        });
        let follow = tokio::spawn({
            let worker = worker.clone();
            let chain_url = chain_url.to_string();
            async move { worker.follow(&chain_url, stopped(rx)).await }
        });
        Self {
            client: ChainClient::new(&url).unwrap(),
            worker,
            url,
            stop,
            follow,
            server,
        }
    }

    /// Stop following and serving; panics if following failed.
    pub async fn stop(self) {
        self.pause().await;
    }

    /// Stop following and serving, keeping the worker (and its compiled code) open.
    pub async fn pause(self) -> Worker {
        self.worker.close_streams();
        let _ = self.stop.send(true);
        self.follow.await.unwrap().unwrap();
        let _ = self.server.await;
        self.worker
    }

    pub async fn wait_for(&self, height: u64) {
        assert!(
            self.worker
                .wait_for_height(height, Duration::from_secs(30))
                .await,
            "worker did not reach height {height}"
        );
    }

    /// Query over HTTP; returns the JSON answer.
    pub async fn query(&self, contract: ContractId, method: &str, args: Value) -> Value {
        let body = json!({"method": method, "args": args})
            .to_string()
            .into_bytes();
        self.client
            .post_json(
                &format!("/v1/contracts/{contract}/query"),
                "application/json",
                body,
            )
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Value {
        self.client.get_json(path).await.unwrap()
    }
}
