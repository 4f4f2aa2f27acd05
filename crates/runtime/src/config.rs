//! Limits and settings of the runtime.

use std::time::Duration;

/// Limits on everything a contract call can grow. Every breach ends the call with
/// [`crate::CallError::LimitExceeded`] naming the limit; the host and other contracts go on.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest linear memory, in bytes.
    pub memory_bytes: usize,
    /// Largest table, in elements.
    pub table_elements: usize,
    /// Most core instances a component may create.
    pub instances: usize,
    /// Most tables a component may create.
    pub tables: usize,
    /// Most linear memories a component may create.
    pub memories: usize,
    /// Wasm stack, in bytes (deeper recursion traps).
    pub stack_bytes: usize,
    /// Largest code accepted, in bytes.
    pub code_bytes: usize,
    /// Largest method arguments, in bytes.
    pub input_bytes: usize,
    /// Largest result, in bytes.
    pub output_bytes: usize,
    /// Log bytes per call (lines through the log interface plus stdout and stderr).
    pub log_bytes: usize,
    /// Largest storage key, in bytes.
    pub storage_key_bytes: usize,
    /// Largest storage value, in bytes.
    pub storage_value_bytes: usize,
    /// Most storage entries one contract may hold.
    pub storage_entries: u64,
    /// Most bytes one call writes to storage and (in a command) to the cache, keys and values
    /// added up, overwrites counted again.
    pub write_bytes: usize,
    /// Most cache writes and removals one command makes.
    pub cache_ops: usize,
    /// Most events per command.
    pub events: usize,
    /// Largest event payload, in bytes.
    pub event_bytes: usize,
    /// Largest cache value, in bytes.
    pub cache_value_bytes: usize,
    /// Most resources the host holds for one call at once (WASI streams, pollables, HTTP
    /// header maps, requests, ...): each takes host memory that the call's linear memory
    /// limit does not count.
    pub host_resources: usize,
    /// Largest header map a call builds (`wasi:http` fields), in bytes of the host's
    /// representation: with [`Limits::host_resources`], what a call's header maps may hold.
    pub http_field_bytes: usize,
    /// Wall-clock deadline of a query or a job.
    pub query_deadline: Duration,
    /// Fuel of a query or job, on top of its deadline; `None` meters queries by their
    /// deadline only (about 5 % faster on tight loops; see the runtime benchmark's
    /// `render_deadline_only_ratio`).
    pub query_fuel: Option<u64>,
    /// The wall-clock deadline of a query once it spawns a job (it coordinates work that
    /// may take longer than a plain query); the operator's budget for long work.
    pub coordinated_deadline: Duration,
    /// Most jobs of one query in flight at once.
    pub jobs_in_flight: usize,
    /// Most jobs one query spawns in all.
    pub jobs: usize,
    /// Most bytes of job input one query sends, added up.
    pub job_input_bytes: usize,
    /// Most bytes of job output one query receives, added up.
    pub job_output_bytes: usize,
    /// Most time one query's jobs may run, added up over jobs (and replicas).
    pub job_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            table_elements: 20_000,
            instances: 50,
            tables: 20,
            memories: 4,
            stack_bytes: 512 << 10,
            code_bytes: 8 << 20,
            input_bytes: 1 << 20,
            output_bytes: 4 << 20,
            log_bytes: 64 << 10,
            storage_key_bytes: 1024,
            storage_value_bytes: 256 << 10,
            storage_entries: 1_000_000,
            write_bytes: 16 << 20,
            cache_ops: 1024,
            events: 256,
            event_bytes: 16 << 10,
            cache_value_bytes: 1 << 20,
            host_resources: 1024,
            http_field_bytes: 32 << 10,
            query_deadline: Duration::from_secs(10),
            query_fuel: Some(50_000_000_000),
            coordinated_deadline: Duration::from_secs(120),
            jobs_in_flight: 32,
            jobs: 4096,
            job_input_bytes: 64 << 20,
            job_output_bytes: 128 << 20,
            job_time: Duration::from_secs(600),
        }
    }
}

/// Limits on outbound HTTP from queries and jobs.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Time to connect (TCP and TLS).
    pub connect_timeout: Duration,
    /// Time from sending the request to the first byte of the response.
    pub first_byte_timeout: Duration,
    /// Largest response body, in bytes.
    pub max_response_bytes: u64,
    /// Most requests in flight at once within one call; a request is in flight until its
    /// response body is dropped.
    pub max_concurrent: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            first_byte_timeout: Duration::from_secs(10),
            max_response_bytes: 4 << 20,
            max_concurrent: 8,
        }
    }
}

/// Which destinations outbound HTTP may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpPolicy {
    /// Allow loopback, private, link-local and other non-public addresses. Off by default:
    /// operators turn it on only for development (`fat dev --allow-local-http`) and tests.
    pub allow_non_public: bool,
}

impl HttpPolicy {
    /// The policy that also allows non-public addresses (loopback, private networks).
    pub fn allow_local() -> Self {
        Self {
            allow_non_public: true,
        }
    }
}

/// Settings of a [`crate::Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Limits of every call.
    pub limits: Limits,
    /// Outbound HTTP limits.
    pub http_limits: HttpLimits,
    /// Outbound HTTP destinations.
    pub http_policy: HttpPolicy,
    /// Instance slots kept by the pooling allocator, per engine.
    pub pool_instances: u32,
    /// How often the deadline clock ticks for queries metered by their deadline alone
    /// (`Limits::query_fuel: None`); a call with fuel checks its deadline every million units.
    pub epoch_tick: Duration,
    /// Compiled codes kept in memory at most; the least recently used goes first (it is
    /// compiled again from its bytes when next needed).
    pub code_cache_entries: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            http_limits: HttpLimits::default(),
            http_policy: HttpPolicy::default(),
            pool_instances: 128,
            epoch_tick: Duration::from_millis(5),
            code_cache_entries: 64,
        }
    }
}
