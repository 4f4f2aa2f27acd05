//! The paths of both APIs: route templates (OpenAPI's and axum's `{name}` syntax), the
//! tables of routes each server serves, and functions that fill them in.

/// The chain node's API.
pub mod chain {
    use fat_types::{AccountId, ClusterId, CodeHash, ContractId, TxId, WorkerId};

    /// `GET`: the chain's status.
    pub const STATUS: &str = "/v1/status";
    /// `GET`: the chain's parameters.
    pub const PARAMS: &str = "/v1/params";
    /// `GET`: the chain's genesis configuration (its hash is block 0's parent).
    pub const GENESIS: &str = "/v1/genesis";
    /// `POST`: submit an encoded signed transaction.
    pub const TXS: &str = "/v1/txs";
    /// `GET`: a committed transaction.
    pub const TX: &str = "/v1/txs/{id}";
    /// `GET`: a block by height (or `latest`).
    pub const BLOCK: &str = "/v1/blocks/{height}";
    /// `GET`: a block's receipts.
    pub const BLOCK_RECEIPTS: &str = "/v1/blocks/{height}/receipts";
    /// `GET`: committed blocks as Server-Sent Events.
    pub const STREAM_BLOCKS: &str = "/v1/stream/blocks";
    /// `GET`: an account.
    pub const ACCOUNT: &str = "/v1/accounts/{id}";
    /// `GET`: what the chain knows of some code.
    pub const CODE: &str = "/v1/codes/{hash}";
    /// `GET`: the code itself.
    pub const CODE_WASM: &str = "/v1/codes/{hash}/wasm";
    /// `GET`: a contract.
    pub const CONTRACT: &str = "/v1/contracts/{id}";
    /// `GET`: every cluster.
    pub const CLUSTERS: &str = "/v1/clusters";
    /// `GET`: a cluster.
    pub const CLUSTER: &str = "/v1/clusters/{id}";
    /// `GET`: a worker's registration.
    pub const WORKER: &str = "/v1/workers/{id}";
    /// `GET`: a cluster key provisioned to a worker.
    pub const PROVISION: &str = "/v1/provisions/{worker}/{cluster}";
    /// `GET`: the validator set and which validators signed the last certificates.
    pub const VALIDATORS: &str = "/v1/validators";
    /// `GET`: the contracts instantiated in a cluster.
    pub const CLUSTER_CONTRACTS: &str = "/v1/clusters/{id}/contracts";

    /// Every route the chain serves, as (method, path template).
    pub const ROUTES: &[(&str, &str)] = &[
        ("GET", STATUS),
        ("GET", PARAMS),
        ("GET", GENESIS),
        ("POST", TXS),
        ("GET", TX),
        ("GET", BLOCK),
        ("GET", BLOCK_RECEIPTS),
        ("GET", STREAM_BLOCKS),
        ("GET", ACCOUNT),
        ("GET", CODE),
        ("GET", CODE_WASM),
        ("GET", CONTRACT),
        ("GET", CLUSTER),
        ("GET", WORKER),
        ("GET", PROVISION),
        ("GET", VALIDATORS),
        ("GET", CLUSTERS),
        ("GET", CLUSTER_CONTRACTS),
    ];

    /// `POST /v1/txs`, holding the answer until the transaction commits when `wait`.
    pub fn submit(wait: bool) -> String {
        if wait {
            format!("{TXS}?wait=true")
        } else {
            TXS.to_string()
        }
    }

    /// [`TX`] of `id`.
    pub fn tx(id: &TxId) -> String {
        format!("{TXS}/{id}")
    }

    /// [`BLOCK`] at `height`.
    pub fn block(height: u64) -> String {
        format!("/v1/blocks/{height}")
    }

    /// [`BLOCK_RECEIPTS`] at `height`.
    pub fn block_receipts(height: u64) -> String {
        format!("/v1/blocks/{height}/receipts")
    }

    /// [`STREAM_BLOCKS`] from `from`, with each block's receipts when `receipts`.
    pub fn stream_blocks(from: u64, receipts: bool) -> String {
        format!("{STREAM_BLOCKS}?from={from}&receipts={receipts}")
    }

    /// [`STREAM_BLOCKS`] from `from`, with receipts or without, in `encoding`.
    pub fn stream_blocks_in(
        from: u64,
        receipts: bool,
        encoding: crate::chain::StreamEncoding,
    ) -> String {
        format!(
            "{STREAM_BLOCKS}?from={from}&receipts={receipts}&encoding={}",
            encoding.as_str()
        )
    }

    /// [`ACCOUNT`] of `id`.
    pub fn account(id: &AccountId) -> String {
        format!("/v1/accounts/{id}")
    }

    /// [`CODE`] of `hash`.
    pub fn code(hash: &CodeHash) -> String {
        format!("/v1/codes/{hash}")
    }

    /// [`CODE_WASM`] of `hash`.
    pub fn code_wasm(hash: &CodeHash) -> String {
        format!("/v1/codes/{hash}/wasm")
    }

    /// [`CONTRACT`] of `id`.
    pub fn contract(id: &ContractId) -> String {
        format!("/v1/contracts/{id}")
    }

    /// [`CLUSTER`] of `id`.
    pub fn cluster(id: &ClusterId) -> String {
        format!("/v1/clusters/{id}")
    }

    /// [`CLUSTER_CONTRACTS`] of `id`.
    pub fn cluster_contracts(id: &ClusterId) -> String {
        format!("/v1/clusters/{id}/contracts")
    }

    /// [`WORKER`] of `id`.
    pub fn worker(id: &WorkerId) -> String {
        format!("/v1/workers/{id}")
    }

    /// [`PROVISION`] of `cluster` to `worker`.
    pub fn provision(worker: &WorkerId, cluster: &ClusterId) -> String {
        format!("/v1/provisions/{worker}/{cluster}")
    }
}

/// A worker's API.
pub mod worker {
    use fat_types::{ClusterId, ContractId, TxId};

    /// `GET`: the worker's status.
    pub const STATUS: &str = "/v1/status";
    /// `GET`: a contract the worker runs.
    pub const CONTRACT: &str = "/v1/contracts/{id}";
    /// `POST`: a query (sealed envelope, session message, or plaintext JSON where allowed).
    pub const QUERY: &str = "/v1/contracts/{id}/query";
    /// `GET`: a contract's log lines, or a stream of them.
    pub const LOGS: &str = "/v1/contracts/{id}/logs";
    /// `GET`: the receipt the worker signed for a transaction (`?height=`: its block).
    pub const RECEIPT: &str = "/v1/receipts/{tx}";
    /// `POST`: a job from another worker of the cluster (an envelope sealed to this worker).
    pub const JOBS: &str = "/v1/jobs";
    /// `GET`: the progress of a query's jobs, as Server-Sent Events.
    pub const PROGRESS: &str = "/v1/progress/{id}";
    /// `GET`: the state roots of the worker's contracts at a height, signed.
    pub const ROOTS: &str = "/v1/roots";
    /// `POST`: a contract's state for a worker joining its cluster (an envelope sealed to
    /// this worker).
    pub const SNAPSHOTS: &str = "/v1/snapshots";
    /// `GET`: the key of a cluster's current epoch as this member derives it, signed.
    pub const CLUSTER_KEY: &str = "/v1/clusters/{id}/key";
    /// `GET`: a contract's key as a member of its cluster derives it, signed.
    pub const CONTRACT_KEY: &str = "/v1/contracts/{id}/key";

    /// Every route a worker serves, as (method, path template).
    pub const ROUTES: &[(&str, &str)] = &[
        ("GET", STATUS),
        ("GET", CONTRACT),
        ("POST", QUERY),
        ("GET", LOGS),
        ("GET", RECEIPT),
        ("POST", JOBS),
        ("GET", PROGRESS),
        ("GET", ROOTS),
        ("POST", SNAPSHOTS),
        ("GET", CLUSTER_KEY),
        ("GET", CONTRACT_KEY),
    ];

    /// [`CLUSTER_KEY`] of `id`.
    pub fn cluster_key(id: &ClusterId) -> String {
        format!("/v1/clusters/{id}/key")
    }

    /// [`CONTRACT_KEY`] of `id`.
    pub fn contract_key(id: &ContractId) -> String {
        format!("/v1/contracts/{id}/key")
    }

    /// [`CONTRACT`] of `id`.
    pub fn contract(id: &ContractId) -> String {
        format!("/v1/contracts/{id}")
    }

    /// [`ROOTS`] at `height` (the worker's head when `None`).
    pub fn roots(height: Option<u64>) -> String {
        match height {
            Some(h) => format!("/v1/roots?height={h}"),
            None => ROOTS.to_owned(),
        }
    }

    /// [`QUERY`] of `id`.
    pub fn query(id: &ContractId) -> String {
        format!("/v1/contracts/{id}/query")
    }

    /// [`LOGS`] of `id`: up to `limit` lines from `from`.
    pub fn logs(id: &ContractId, from: u64, limit: usize) -> String {
        format!("/v1/contracts/{id}/logs?from={from}&limit={limit}")
    }

    /// [`LOGS`] of `id` from `from` on, as a stream.
    pub fn follow_logs(id: &ContractId, from: u64) -> String {
        format!("/v1/contracts/{id}/logs?from={from}&follow=true")
    }

    /// [`RECEIPT`] of `tx`, in the block at `height`.
    pub fn receipt(tx: &TxId, height: u64) -> String {
        format!("/v1/receipts/{tx}?height={height}")
    }
}

/// What a `fat dev` node serves besides the chain: its workers, each under a prefix.
pub mod dev {
    /// `GET`: the dev cluster and its workers' prefixes.
    pub const WORKERS: &str = "/workers";

    /// The prefix worker `index`'s API is served under.
    pub fn worker_prefix(index: usize) -> String {
        format!("{WORKERS}/{index}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fat_types::{ContractId, TxId};

    /// Each filled-in path matches its template, with `{name}` standing for one segment.
    fn matches(template: &str, path: &str) -> bool {
        let path = path.split('?').next().unwrap_or_default();
        let (t, p): (Vec<_>, Vec<_>) = (template.split('/').collect(), path.split('/').collect());
        t.len() == p.len()
            && t.iter()
                .zip(&p)
                .all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p)
    }

    #[test]
    fn filled_paths_match_their_templates() {
        let id = ContractId([1; 32]);
        let tx = TxId([2; 32]);
        let cases = [
            (chain::TX, chain::tx(&tx)),
            (chain::TXS, chain::submit(true)),
            (chain::BLOCK, chain::block(7)),
            (chain::BLOCK_RECEIPTS, chain::block_receipts(7)),
            (chain::STREAM_BLOCKS, chain::stream_blocks(1, true)),
            (
                chain::ACCOUNT,
                chain::account(&fat_types::AccountId([3; 32])),
            ),
            (chain::CODE, chain::code(&fat_types::CodeHash([4; 32]))),
            (
                chain::CODE_WASM,
                chain::code_wasm(&fat_types::CodeHash([4; 32])),
            ),
            (chain::CONTRACT, chain::contract(&id)),
            (
                chain::CLUSTER,
                chain::cluster(&fat_types::ClusterId([5; 32])),
            ),
            (chain::WORKER, chain::worker(&fat_types::WorkerId([6; 32]))),
            (
                chain::PROVISION,
                chain::provision(
                    &fat_types::WorkerId([6; 32]),
                    &fat_types::ClusterId([5; 32]),
                ),
            ),
            (worker::CONTRACT, worker::contract(&id)),
            (worker::QUERY, worker::query(&id)),
            (worker::LOGS, worker::logs(&id, 0, 10)),
            (worker::LOGS, worker::follow_logs(&id, 0)),
            (worker::RECEIPT, worker::receipt(&tx, 9)),
        ];
        for (template, path) in cases {
            assert!(matches(template, &path), "{path} does not fill {template}");
        }
        assert_eq!(chain::submit(false), "/v1/txs");
        assert_eq!(dev::worker_prefix(2), "/workers/2");
    }

    #[test]
    fn every_template_is_in_its_route_table_once() {
        for table in [chain::ROUTES, worker::ROUTES] {
            let mut seen = std::collections::HashSet::new();
            for route in table {
                assert!(seen.insert(route), "{route:?} twice");
            }
        }
    }
}
