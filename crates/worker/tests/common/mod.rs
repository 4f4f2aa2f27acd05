//! An in-process dev chain and workers on loopback ports, for tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use fat_chain::Node;
use fat_crypto::envelope::{
    Direction, EcdhPublic, Envelope, ReplayGuard, SealRandomness, Session, SessionMessage, seal,
};
use fat_crypto::{Keypair, dev_keypair};
use fat_devnet::bootstrap::{create_dev_cluster, dev_worker_key, submit, wait_for_cluster_key};
use fat_devnet::{Devnet, Shutdown};
use fat_runtime::{HttpPolicy, RuntimeConfig};
use fat_types::tx::{code_hash, contract_id};
use fat_types::{
    AccountId, Bytes, ClusterId, CommandPayload, ContractId, Hash32, Transaction, TxId, TxKind,
};
use fat_worker::{Worker, WorkerConfig};
use serde_json::{Value, json};

/// The chain's API, typed; [`RawChain`] adds reads of any path as JSON, for tests.
pub use fat_proto::ChainApi as ChainClient;

/// What the tests read from the chain by path, as JSON, and submit without typing the answer.
pub trait RawChain {
    /// GET `path` and parse the JSON answer.
    fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> impl std::future::Future<Output = fat_proto::Result<T>>;

    /// Submit `tx` and wait until it is committed; the node's answer as JSON.
    fn submit_wait(
        &self,
        tx: &fat_types::SignedTransaction,
    ) -> impl std::future::Future<Output = fat_proto::Result<Value>>;

    /// Open the Server-Sent Events stream at `path`.
    fn events(
        &self,
        path: &str,
    ) -> impl std::future::Future<Output = fat_proto::Result<fat_proto::EventStream>>;
}

impl RawChain for ChainClient {
    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> fat_proto::Result<T> {
        self.http().get_json(path).await
    }

    async fn submit_wait(&self, tx: &fat_types::SignedTransaction) -> fat_proto::Result<Value> {
        let answer = self.submit(tx, true).await?;
        Ok(serde_json::to_value(answer).expect("an answer serializes"))
    }

    async fn events(&self, path: &str) -> fat_proto::Result<fat_proto::EventStream> {
        self.http().events(path).await
    }
}

/// A block header at `height` for store tests (no chain behind it).
pub fn header(height: u64) -> fat_types::BlockHeader {
    fat_types::BlockHeader {
        height,
        parent: Hash32([height as u8; 32]),
        timestamp_ms: 1000 + height,
        tx_root: Hash32::default(),
        receipts_root: Hash32::default(),
        state_root: Hash32::default(),
    }
}

/// The seal of the store tests' stores.
pub fn store_seal() -> fat_worker::StoreSeal {
    fat_worker::StoreSeal::from_bytes([9; 32])
}

/// The store tests' record of contract `id`, in cluster `[2; 32]`, holding `entries`.
pub fn record(id: ContractId, entries: u64) -> fat_worker::store::ContractRecord {
    fat_worker::store::ContractRecord {
        info: fat_types::ContractInfo {
            id,
            code_hash: fat_types::CodeHash([1; 32]),
            cluster: ClusterId([2; 32]),
            deployer: AccountId([3; 32]),
            height: 1,
            key_epoch: 0,
            public_key: None,
        },
        state_root: Hash32::default(),
        entries,
        logs: 0,
        synced_through: 0,
    }
}

/// A fresh directory under the system's temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    fat_devnet::testing::temp_dir(&format!("worker-{name}"))
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The public key the chain publishes at `path`, waiting for it to appear.
pub async fn public_key(client: &ChainClient, path: &str) -> EcdhPublic {
    for _ in 0..1000 {
        let value: Value = client.get_json(path).await.unwrap();
        if let Some(key) = value["public_key"]
            .as_str()
            .and_then(|k| k.parse::<Hash32>().ok())
        {
            return EcdhPublic(key.0);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no public key at {path}");
}

/// Upload `wasm` (unless the chain has it) and instantiate it in `cluster` as alice with
/// `salt` and the raw text `args`, sealed to the cluster's key; returns the contract id once
/// its key is published.
pub async fn deploy_via(
    client: &ChainClient,
    wasm: &[u8],
    cluster: ClusterId,
    salt: &[u8],
    args: &str,
) -> ContractId {
    let alice = dev_keypair("alice");
    let hash = code_hash(wasm);
    if client
        .get_json::<Value>(&format!("/v1/codes/{hash}"))
        .await
        .is_err()
    {
        let code = Bytes(wasm.to_vec());
        submit(client, &alice, TxKind::UploadCode { code })
            .await
            .unwrap();
    }
    let contract = contract_id(&alice.account_id(), &hash, &cluster, salt);
    let cluster_key = public_key(client, &format!("/v1/clusters/{cluster}")).await;
    let (sealed, _) = seal(
        &alice,
        &cluster_key,
        contract,
        Direction::InitArgs,
        args.as_bytes(),
        now_ms(),
        SealRandomness::generate().unwrap(),
    )
    .unwrap();
    let kind = TxKind::Instantiate {
        code_hash: hash,
        cluster,
        salt: Bytes(salt.to_vec()),
        args: Bytes(sealed.to_bytes()),
        gas_limit: 100_000_000,
    };
    submit(client, &alice, kind).await.unwrap();
    public_key(client, &format!("/v1/contracts/{contract}")).await;
    contract
}

/// A dev chain node serving its API, producing a block whenever there is work, with the dev
/// gatekeeper provisioning keys: a [`Devnet`] without workers of its own nor a dev cluster.
pub struct Chain {
    pub node: Node,
    pub url: String,
    pub client: ChainClient,
    pub dir: PathBuf,
    devnet: Devnet,
}

impl Chain {
    pub async fn start(dir: &Path) -> Self {
        Self::start_with_block_time(dir, Duration::ZERO).await
    }

    /// A chain whose sequencer leaves at least `block_time` between blocks.
    pub async fn start_with_block_time(dir: &Path, block_time: Duration) -> Self {
        let devnet = Devnet::builder(dir)
            .workers(0)
            .bootstrap(false)
            .block_time(block_time)
            .build()
            .await
            .unwrap();
        Self {
            client: devnet.chain(),
            node: devnet.node().clone(),
            url: devnet.url().to_string(),
            dir: dir.to_path_buf(),
            devnet,
        }
    }

    /// Stop the node, its sequencer and the gatekeeper; what did not stop cleanly is only
    /// reported (a test may leave a proxy holding a connection open).
    pub async fn stop(self) {
        if let Err(e) = self.devnet.stop().await {
            eprintln!("the chain stopped uncleanly: {e}");
        }
    }

    /// Register dev workers `0..n` (their stores under `dir/worker-{i}`) and put them in one
    /// cluster; returns once the gatekeeper has provisioned it.
    pub async fn dev_cluster(&self, n: usize) -> ClusterId {
        let workers: Vec<Worker> = (0..n)
            .map(|i| Worker::open(worker_config(&self.dir, i)).unwrap())
            .collect();
        let cluster = create_dev_cluster(&self.client, &workers).await.unwrap();
        wait_for_cluster_key(&self.client, &cluster, Duration::from_secs(30))
            .await
            .unwrap();
        cluster
    }

    /// The public key the registry publishes for a cluster or a contract (`path` is
    /// `/v1/clusters/{id}` or `/v1/contracts/{id}`), waiting for it to appear.
    pub async fn public_key(&self, path: &str) -> EcdhPublic {
        public_key(&self.client, path).await
    }

    pub fn height(&self) -> u64 {
        self.node.tip().height
    }

    /// Upload `wasm` and instantiate it in `cluster` as alice; returns the contract id.
    pub async fn deploy(&self, wasm: &[u8], cluster: ClusterId, args: Value) -> ContractId {
        let args = if args.is_null() {
            String::new()
        } else {
            args.to_string()
        };
        deploy_via(&self.client, wasm, cluster, b"salt", &args).await
    }

    /// Seal a command of `key`'s transaction of `nonce` to the contract's key.
    pub async fn seal_command(
        &self,
        key: &Keypair,
        nonce: u64,
        contract: ContractId,
        method: &str,
        args: &str,
    ) -> (Envelope, Session) {
        let contract_key = self.public_key(&format!("/v1/contracts/{contract}")).await;
        let payload = CommandPayload::new(method, args, nonce);
        seal(
            key,
            &contract_key,
            contract,
            Direction::Command,
            &payload.encode(),
            now_ms(),
            SealRandomness::generate().unwrap(),
        )
        .unwrap()
    }

    /// A signed command transaction (sealed) of `key`'s next nonce, and its session.
    pub async fn command_tx(
        &self,
        key: &Keypair,
        contract: ContractId,
        method: &str,
        args: Value,
    ) -> (fat_types::SignedTransaction, Session) {
        let args = if args.is_null() {
            String::new()
        } else {
            args.to_string()
        };
        let nonce = self.client.next_nonce(&key.account_id()).await.unwrap();
        let (envelope, session) = self.seal_command(key, nonce, contract, method, &args).await;
        (command_tx(key, nonce, contract, &envelope), session)
    }

    /// Send a command as `key`; returns its id and block height.
    pub async fn command(
        &self,
        key: &Keypair,
        contract: ContractId,
        method: &str,
        args: Value,
    ) -> (TxId, u64) {
        let (id, height, _) = self.command_session(key, contract, method, args).await;
        (id, height)
    }

    /// [`Chain::command`], also returning the session that opens the receipt's output.
    pub async fn command_session(
        &self,
        key: &Keypair,
        contract: ContractId,
        method: &str,
        args: Value,
    ) -> (TxId, u64, Session) {
        let (tx, session) = self.command_tx(key, contract, method, args).await;
        let answer = self.client.submit_wait(&tx).await.unwrap();
        assert_eq!(answer["status"], "committed", "{answer}");
        let id: TxId = answer["id"].as_str().unwrap().parse().unwrap();
        (id, answer["height"].as_u64().unwrap(), session)
    }
}

/// The dev chain's id (every test chain here runs the dev genesis).
pub fn dev_chain() -> fat_types::Hash32 {
    fat_chain::genesis::chain_id(&fat_chain::genesis::dev())
}

/// A command transaction of `signer` with `nonce` carrying `envelope`.
pub fn command_tx(
    signer: &Keypair,
    nonce: u64,
    contract: ContractId,
    envelope: &Envelope,
) -> fat_types::SignedTransaction {
    signer.sign_tx(Transaction {
        chain: dev_chain(),
        signer: signer.account_id(),
        nonce,
        fee: 1_000,
        kind: TxKind::Command {
            contract,
            payload: Bytes(envelope.to_bytes()),
            gas_limit: 100_000_000,
        },
    })
}

/// The configuration of dev worker `index` with its store under `dir/worker-{index}`.
pub fn worker_config(dir: &Path, index: usize) -> WorkerConfig {
    let mut config = WorkerConfig::new(
        dir.join(format!("worker-{index}")),
        Some(dev_worker_key(index)),
    );
    config.runtime = RuntimeConfig {
        http_policy: HttpPolicy::allow_local(),
        pool_instances: 16,
        ..RuntimeConfig::default()
    };
    config
}

/// Open the sealed output of a receipt (`GET /v1/receipts/{tx}?height=`) with the command's session.
pub fn open_output(receipt: &Value, session: &Session) -> Value {
    let sealed = receipt["receipt"]["sealed_output"]
        .as_str()
        .unwrap_or_else(|| panic!("no sealed output in {receipt}"));
    let message = SessionMessage::from_bytes(&hex::decode(sealed).unwrap()).unwrap();
    let mut guard = ReplayGuard::new(u64::MAX / 4, 16);
    let plain = session
        .open_message(
            &message,
            &message.header.sender,
            Direction::Response,
            &mut guard,
            message.header.timestamp_ms,
        )
        .unwrap();
    serde_json::from_slice(&plain)
        .unwrap_or_else(|_| Value::String(String::from_utf8(plain).unwrap()))
}

/// A worker following the chain and serving its API on its own loopback port.
pub struct RunningWorker {
    pub worker: Worker,
    pub url: String,
    pub client: ChainClient,
    /// The chain node it follows.
    chain: fat_proto::ChainApi,
    running: fat_devnet::RunningWorker,
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
        let mut config = worker_config(dir, index);
        tune(&mut config);
        Self::serve(Worker::open(config).unwrap(), chain_url).await
    }

    /// Serve and follow with an already open worker (one stopped with [`Self::pause`]).
    pub async fn serve(worker: Worker, chain_url: &str) -> Self {
        let running = fat_devnet::RunningWorker::start_on_loopback(
            worker.clone(),
            chain_url,
            &Shutdown::new(),
        )
        .await
        .unwrap();
        let url = running.url().expect("served on its own port").to_string();
        Self {
            client: ChainClient::new(&url).unwrap(),
            chain: fat_proto::ChainApi::new(chain_url).unwrap(),
            worker,
            url,
            running,
        }
    }

    /// Stop following and serving; panics if following failed.
    pub async fn stop(self) {
        self.pause().await;
    }

    /// Stop following and serving, keeping the worker (and its compiled code) open.
    pub async fn pause(self) -> Worker {
        self.running.pause().await.unwrap()
    }

    /// Stop following and serving, make every commit durable and close the worker.
    pub async fn stop_durably(self) {
        let worker = self.pause().await;
        worker.flush().await.unwrap();
    }

    /// Wait until worker `index`'s store in `dir` can be opened: tasks of a stopped worker
    /// (a commit on a blocking thread, an open connection) may hold it for a moment.
    pub async fn wait_until_released(dir: &Path, index: usize) {
        drop(
            fat_devnet::reopen_worker(|| worker_config(dir, index), Duration::from_secs(5))
                .await
                .unwrap_or_else(|e| panic!("worker {index}'s store stays held: {e}")),
        );
    }

    /// Start worker `index` again after [`RunningWorker::crash`]: tasks still finishing
    /// (a commit on a blocking thread, an open connection) may hold the store for a moment.
    pub async fn restart(chain_url: &str, dir: &Path, index: usize) -> Self {
        let worker =
            fat_devnet::reopen_worker(|| worker_config(dir, index), Duration::from_secs(5))
                .await
                .unwrap_or_else(|e| panic!("cannot reopen worker {index}: {e}"));
        Self::serve(worker, chain_url).await
    }

    /// Stop as a crash would: no flush of commits not yet durable.
    pub async fn crash(self) {
        self.running.crash().await;
        drop(self.worker);
    }

    pub async fn wait_for(&self, height: u64) {
        assert!(
            self.worker
                .wait_for_height(height, Duration::from_secs(30))
                .await,
            "worker did not reach height {height}"
        );
    }

    /// A sealed query as `caller` over HTTP: the envelope and its session.
    pub async fn seal_query(
        &self,
        caller: &Keypair,
        contract: ContractId,
        method: &str,
        args: Value,
    ) -> (Envelope, Session) {
        let body = json!({"method": method, "args": args}).to_string();
        seal(
            caller,
            &EcdhPublic(self.worker.ecdh_public().0),
            contract,
            Direction::Request,
            body.as_bytes(),
            now_ms(),
            SealRandomness::generate().unwrap(),
        )
        .unwrap()
    }

    /// Send a sealed query envelope; returns the raw HTTP status and body.
    pub async fn post_envelope(&self, contract: ContractId, envelope: &Envelope) -> (u16, Vec<u8>) {
        post_raw(
            &self.url,
            &format!("/v1/contracts/{contract}/query"),
            "application/octet-stream",
            envelope.to_bytes(),
        )
        .await
    }

    /// Query as `caller`, sealed; returns the opened JSON answer (or the plaintext error).
    pub async fn query_as(
        &self,
        caller: &Keypair,
        contract: ContractId,
        method: &str,
        args: Value,
    ) -> Value {
        let (envelope, session) = self.seal_query(caller, contract, method, args).await;
        let (status, body) = self.post_envelope(contract, &envelope).await;
        if status != 200 {
            let mut error: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            error["http_status"] = json!(status);
            return error;
        }
        let response = Envelope::from_bytes(&body).unwrap();
        let mut guard = ReplayGuard::new(300_000, 16);
        let plain = session
            .open_response(
                &response,
                &AccountId(self.worker.id().0),
                &mut guard,
                now_ms(),
            )
            .unwrap();
        serde_json::from_slice(&plain).unwrap()
    }

    /// Query as alice, sealed; returns the JSON answer.
    pub async fn query(&self, contract: ContractId, method: &str, args: Value) -> Value {
        self.query_as(&dev_keypair("alice"), contract, method, args)
            .await
    }

    pub async fn get(&self, path: &str) -> Value {
        self.client.get_json(path).await.unwrap()
    }

    /// The worker's signed receipt of `tx` (`GET /v1/receipts/{tx}?height=`), at the height
    /// the chain gives for it, as a client holding only the transaction id would ask.
    pub async fn receipt(&self, tx: &TxId) -> Value {
        let height = self.chain.tx(tx).await.unwrap().height;
        self.get(&fat_proto::paths::worker::receipt(tx, height))
            .await
    }
}

/// POST `body` to `base` + `path` over a plain connection; returns the status and the body.
pub async fn post_raw(base: &str, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    use http_body_util::{BodyExt, Full};
    let addr = base.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let request = hyper::Request::post(path)
        .header("host", addr)
        .header("content-type", content_type)
        .body(Full::new(bytes::Bytes::from(body)))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, bytes.to_vec())
}

/// The `p` quantile (0 to 1) of `values`, the nearest rank.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let i = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[i]
}

/// The median of figures, and the workspace's target directory (where benches and tests
/// keep their data), as every bench of the workspace has them.
#[allow(unused_imports)]
pub use fat_bench::{median, target_dir};

/// Send `method(args)` to `contract` as a sealed command of `key` asking for `gas`, with the
/// chain's minimum fee for it; returns once committed, with the fee it offered.
pub async fn command_with_gas(
    client: &ChainClient,
    key: &Keypair,
    contract: ContractId,
    method: &str,
    args: &str,
    gas: u64,
) -> (fat_proto::chain::SubmitAnswer, u64) {
    let nonce = client.next_nonce(&key.account_id()).await.unwrap();
    let contract_key = public_key(client, &format!("/v1/contracts/{contract}")).await;
    let params = client.params().await.unwrap();
    let payload = CommandPayload::new(method, args, nonce);
    let tx = command_tx_with_gas(key, contract, &contract_key, &payload, gas, &params);
    let fee = tx.tx.fee;
    let answer = client.submit_committed(&tx).await.unwrap();
    (answer, fee)
}

/// `key`'s command transaction carrying `payload` (of its nonce) sealed to the contract's
/// key, asking for `gas`, with the minimum fee for it under `params`.
pub fn command_tx_with_gas(
    key: &Keypair,
    contract: ContractId,
    contract_key: &EcdhPublic,
    payload: &CommandPayload,
    gas: u64,
    params: &fat_types::genesis::ChainParams,
) -> fat_types::SignedTransaction {
    let (envelope, _) = seal(
        key,
        contract_key,
        contract,
        Direction::Command,
        &payload.encode(),
        now_ms(),
        SealRandomness::generate().unwrap(),
    )
    .unwrap();
    let mut tx = command_tx(key, payload.tx_nonce, contract, &envelope).tx;
    if let TxKind::Command { gas_limit, .. } = &mut tx.kind {
        *gas_limit = gas;
    }
    key.sign_tx(params.priced(Transaction { fee: 0, ..tx }))
}
