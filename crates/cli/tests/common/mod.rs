//! Helpers the CLI tests share: run the real `fat` binary, start `fat dev`, golden files.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// Ports handed out by this test process come from 10000..32000, below Linux's ephemeral
/// range (32768 and up): a port the system picked for `127.0.0.1:0` can be taken, between
/// our choosing it and the child binding it, by any outgoing connection on the machine
/// (four validators dialling each other make many). Each process starts at its own offset
/// and never hands out the same port twice.
const PORT_LOW: u32 = 10_000;
const PORT_SPAN: u32 = 22_000;
static NEXT_PORT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A free loopback port, distinct from every other this process handed out.
pub fn free_port() -> u16 {
    static BASE: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        std::process::id().wrapping_mul(7_919).wrapping_add(nanos)
    });
    for _ in 0..PORT_SPAN {
        let n = NEXT_PORT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = (PORT_LOW + base.wrapping_add(n) % PORT_SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!(
        "no free loopback port in {PORT_LOW}..{}",
        PORT_LOW + PORT_SPAN
    );
}

/// `n` distinct free loopback ports.
pub fn free_ports(n: usize) -> Vec<u16> {
    (0..n).map(|_| free_port()).collect()
}

/// `n` distinct free loopback addresses, `127.0.0.1:PORT`.
pub fn free_addrs(n: usize) -> Vec<String> {
    free_ports(n)
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect()
}

/// The id each worker whose API is at an address of `apis` reports in `GET /v1/status`.
pub fn worker_ids(apis: &[String]) -> Vec<String> {
    apis.iter()
        .map(|api| {
            let (_, status) = http(api, "GET", "/v1/status", b"").unwrap();
            status["worker"]
                .as_str()
                .unwrap_or_else(|| panic!("no worker id from {api}: {status}"))
                .to_string()
        })
        .collect()
}

/// The URL a `fat` node prints on its first stdout line, `ready <url>`.
pub fn read_ready(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .unwrap();
    line.trim()
        .strip_prefix("ready ")
        .unwrap_or_else(|| panic!("expected `ready <url>`, got {line:?}"))
        .to_string()
}

/// Fresh data directories, shared with the other crates' tests.
#[allow(unused_imports)]
pub use fat_devnet::testing::{TempDir, temp_dir};

/// The `fat` binary with a clean environment: no FAT_RPC, FAT_SDK; FAT_HOME in `home`.
pub fn fat(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fat"));
    command
        .env_remove("FAT_RPC")
        .env_remove("FAT_SDK")
        .env("FAT_HOME", home)
        .stdin(Stdio::null());
    command
}

/// What a finished `fat` printed.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Assert success and return stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "fat failed: {self:#?}");
        &self.stdout
    }

    /// Assert success and parse stdout as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("not JSON ({e}): {self:#?}"))
    }

    /// Assert a refusal: a non-zero exit, nothing on stdout, `error: ...` containing `what`
    /// on stderr and no panic or backtrace.
    pub fn refused(&self, what: &str) {
        assert_ne!(self.code, 0, "expected a refusal: {self:#?}");
        assert!(self.stdout.is_empty(), "stdout of a refusal: {self:#?}");
        assert!(self.stderr.contains(what), "expected {what:?}: {self:#?}");
        assert!(!self.stderr.contains("panicked"), "{self:#?}");
        assert!(!self.stderr.contains("RUST_BACKTRACE"), "{self:#?}");
    }
}

/// Run `command` to its end.
pub fn run(command: &mut Command) -> Out {
    let output = command.output().unwrap();
    Out {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Run `fat ARGS` with FAT_HOME in `home`.
pub fn fat_run(home: &Path, args: &[&str]) -> Out {
    run(fat(home).args(args))
}

/// A `fat dev` process; interrupted (SIGINT) on drop.
pub struct Dev {
    child: Option<Child>,
    pub url: String,
    pub dir: TempDir,
}

impl Dev {
    /// Start `fat dev --workers 1` with `extra` flags; wait for `ready <url>`.
    pub fn start(name: &str, extra: &[&str]) -> Self {
        Self::start_workers(name, 1, extra)
    }

    /// Start `fat dev --workers N` with `extra` flags; wait for `ready <url>`.
    pub fn start_workers(name: &str, workers: usize, extra: &[&str]) -> Self {
        let dir = TempDir::new(name);
        let rpc = format!("127.0.0.1:{}", free_port());
        let (child, url) = spawn_dev(dir.path(), &rpc, workers, extra);
        Self {
            child: Some(child),
            url,
            dir,
        }
    }

    /// Kill the whole `fat dev` process with SIGKILL: no chance to flush or stop cleanly.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL fat dev");
            child.wait().unwrap();
        }
    }

    /// Start `fat dev --workers N` again, on the same data directory and address.
    pub fn restart(&mut self, workers: usize, extra: &[&str]) {
        assert!(self.child.is_none(), "fat dev still runs");
        let rpc = self.url.strip_prefix("http://").unwrap().to_string();
        let (child, url) = spawn_dev(self.dir.path(), &rpc, workers, extra);
        assert_eq!(url, self.url);
        self.child = Some(child);
    }

    /// Run `fat ARGS --rpc URL` against this node.
    pub fn fat(&self, args: &[&str]) -> Out {
        run(fat(self.dir.path()).args(args).args(["--rpc", &self.url]))
    }

    /// `fat deploy WASM --cluster CLUSTER --json` with `extra` flags: the contract's id.
    pub fn deploy_to(&self, wasm: &str, cluster: &str, extra: &[&str]) -> String {
        let mut args = vec!["deploy", wasm, "--cluster", cluster, "--json"];
        args.extend_from_slice(extra);
        let deployed = self.fat(&args).json();
        deployed["contract"].as_str().unwrap().to_string()
    }

    /// `fat cluster create --workers ...` as alice; the new cluster's id once the dev
    /// gatekeeper has provisioned it.
    pub fn create_cluster(&self, workers: &[String]) -> String {
        let created = self
            .fat(&[
                "cluster",
                "create",
                "--workers",
                &workers.join(","),
                "--json",
            ])
            .json();
        let cluster = created["cluster"].as_str().unwrap().to_string();
        wait_provisioned(self.url.strip_prefix("http://").unwrap(), &cluster);
        cluster
    }
}

/// Spawn `fat dev --workers N` on `rpc` with its data in `home/dev`; the child and its URL
/// once ready.
fn spawn_dev(home: &Path, rpc: &str, workers: usize, extra: &[&str]) -> (Child, String) {
    let mut child = fat(home)
        .args([
            "dev",
            "--workers",
            &workers.to_string(),
            "--block-time",
            "0",
        ])
        .args(["--rpc", rpc])
        .arg("--data-dir")
        .arg(home.join("dev"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = read_ready(&mut child);
    (child, url)
}

impl Drop for Dev {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        for _ in 0..100 {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Compare `actual` with `tests/golden/NAME`; `FAT_BLESS=1` rewrites the file instead.
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("FAT_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no golden file {}: run with FAT_BLESS=1 to create it",
            path.display()
        )
    });
    assert_eq!(
        expected,
        actual,
        "{} changed: if intended, rerun with FAT_BLESS=1",
        path.display()
    );
}

/// A JSON output with what varies from run to run replaced: 64-hex ids by `<hex>`, and the
/// numbers under `block`, `height`, `elapsed_ms`, `timestamp_ms`, `seq`, `size`, `index` by
/// `<n>`; pretty-printed.
pub fn normalized(value: &Value) -> String {
    fn walk(key: &str, value: &Value) -> Value {
        match value {
            Value::String(s) if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) => {
                Value::String("<hex>".into())
            }
            Value::String(s) if ["path", "wasm", "sdk", "url", "rpc"].contains(&key) => {
                Value::String(format!("<{key}>"))
            }
            Value::Number(_)
                if [
                    "block",
                    "height",
                    "elapsed_ms",
                    "timestamp_ms",
                    "seq",
                    "size",
                    "index",
                    "round",
                    "last_signed",
                ]
                .contains(&key) =>
            {
                Value::String("<n>".into())
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| walk(key, v)).collect()),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), walk(k, v))).collect())
            }
            other => other.clone(),
        }
    }
    format!(
        "{}\n",
        serde_json::to_string_pretty(&walk("", value)).unwrap()
    )
}

/// The worker path of the receipt of what `fat command --json` printed (`out`): its
/// transaction, in its block.
pub fn receipt_path(out: &Value) -> String {
    let tx = out["tx"].as_str().expect("a transaction id").parse();
    let block = out["block"].as_u64().expect("a block");
    fat_proto::paths::worker::receipt(&tx.expect("a transaction id"), block)
}

/// A minimal HTTP/1.1 client: one request per connection, loopback only.
pub fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, Value)> {
    let mut stream = TcpStream::connect(addr)?;
    // Longer than a node holds a `wait=true` submission (30 s): its answer, not a timeout.
    stream.set_read_timeout(Some(Duration::from_secs(45)))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    let value = serde_json::from_str(body).unwrap_or(Value::Null);
    Ok((status, value))
}

/// Start `fat chain` as validator `i` of the network `fat genesis new` wrote to `net`, its
/// data in `data/v{i}`, serving RPC on `rpc`, producing blocks as transactions come; wait
/// for `ready`.
pub fn start_validator(net: &Path, data: &Path, i: usize, rpc: &str) -> Child {
    spawn_ready(
        Command::new(env!("CARGO_BIN_EXE_fat"))
            .arg("chain")
            .arg("--genesis")
            .arg(net.join("genesis.json"))
            .arg("--key")
            .arg(net.join(format!("validator-{i}.key")))
            .arg("--data-dir")
            .arg(data.join(format!("v{i}")))
            .args(["--rpc", rpc, "--block-time", "0"])
            .env("RUST_LOG", "warn"),
        rpc,
    )
}

/// Spawn `command` with stdout piped (stderr inherited) and wait up to [`READY_WAIT`] for its
/// first line, which must be `ready http://{addr}`; the running child.
pub fn spawn_ready(command: &mut Command, addr: &str) -> Child {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start fat");
    wait_ready(child, &format!("ready http://{addr}"))
}

/// How long a process may take to print `ready`. A worker registers itself and its endpoint
/// before it is ready, two transactions each waited for until committed; on a loaded machine
/// (a test's four validators on two cores) that alone took 30 s once.
pub const READY_WAIT: Duration = Duration::from_secs(60);

/// Wait up to [`READY_WAIT`] for `child`'s first line of standard output (piped), which must
/// be `ready`; the child.
pub fn wait_ready(mut child: Child, ready: &str) -> Child {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(READY_WAIT)
        .unwrap_or_else(|_| panic!("the process did not print {ready:?} within {READY_WAIT:?}"));
    assert_eq!(line.trim(), ready);
    child
}

/// `fat gatekeeper --dev` following `chain` (a URL), its master key in `dir`, its log
/// dropped; waits for `ready`.
pub fn start_gatekeeper(home: &Path, chain: &str, dir: &Path) -> Child {
    let child = fat(home)
        .args(["gatekeeper", "--dev", "--chain", chain])
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start fat gatekeeper");
    wait_ready(child, "ready")
}

/// `tx` offering the least fee a chain with the default parameters (every chain these tests
/// start) asks of it.
pub fn least_fee(tx: fat_types::Transaction) -> fat_types::Transaction {
    fat_types::genesis::ChainParams::default().priced(fat_types::Transaction { fee: 0, ..tx })
}

/// The chain id (genesis block hash) of the node at `addr`, which its transactions carry.
pub fn chain_id(addr: &str) -> fat_types::Hash32 {
    let (status, body) = http(addr, "GET", "/v1/status", b"").expect("GET /v1/status");
    assert_eq!(status, 200, "{body}");
    body["genesis"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no genesis hash in {body}"))
}

/// A `fat worker` process, killed on drop.
pub struct WorkerProcess(pub Child);

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `fat worker --operator alice` following `chain`, its data in `data`, its API on `api`,
/// with `extra` flags, logging errors only.
fn worker_command(home: &Path, chain: &str, data: &Path, api: &str, extra: &[&str]) -> Command {
    let mut command = fat(home);
    command
        .args([
            "worker",
            "--chain",
            chain,
            "--operator",
            "alice",
            "--api",
            api,
        ])
        .arg("--data-dir")
        .arg(data)
        .args(extra)
        .env("RUST_LOG", "error");
    command
}

/// Start `fat worker --operator alice` following `chain`, its data in `data`, its API on
/// `api`, with `extra` flags; wait for `ready`.
pub fn start_worker(
    home: &Path,
    chain: &str,
    data: &Path,
    api: &str,
    extra: &[&str],
) -> WorkerProcess {
    let mut command = worker_command(home, chain, data, api, extra);
    WorkerProcess(spawn_ready(&mut command, api))
}

/// [`start_worker`] with the worker's log (info and up from the worker) written to `log`.
pub fn start_logged_worker(
    home: &Path,
    chain: &str,
    data: &Path,
    api: &str,
    extra: &[&str],
    log: &Path,
) -> WorkerProcess {
    let child = worker_command(home, chain, data, api, extra)
        .env("RUST_LOG", "error,fat_worker=info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start fat worker");
    WorkerProcess(wait_ready(child, &format!("ready http://{api}")))
}

/// Wait (at most 10 s) until a gatekeeper provisioned `cluster`, served by the node at
/// `chain_addr`; its entry then.
pub fn wait_provisioned(chain_addr: &str, cluster: &str) -> Value {
    for _ in 0..200 {
        let (_, info) = http(chain_addr, "GET", &format!("/v1/clusters/{cluster}"), b"").unwrap();
        if !info["public_key"].is_null() {
            return info;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the gatekeeper never provisioned {cluster}");
}

/// Wait (at most 10 s) until the node at `chain_addr` answers 200 at `path`: a client
/// returns once the node it asked committed its transaction, and another validator may
/// apply that block a moment later.
pub fn wait_known(chain_addr: &str, path: &str) {
    for _ in 0..200 {
        let (code, _) = http(chain_addr, "GET", path, b"").unwrap();
        if code == 200 {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{chain_addr} never answered 200 at {path}");
}

/// Wait (at most 10 s) until the worker API at `api` has applied block `height`.
pub fn wait_for_height(api: &str, height: u64) {
    for _ in 0..200 {
        let (_, status) = http(api, "GET", "/v1/status", b"").unwrap();
        if status["height"].as_u64() >= Some(height) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `replicas` entry of `cluster` in `fat status --json` output `status`.
pub fn replicas_of(status: &Value, cluster: &str) -> Value {
    status["replicas"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["cluster"] == cluster)
        .unwrap_or_else(|| panic!("no replicas of cluster {cluster} in {status}"))
        .clone()
}
