//! Time windows that two parties must agree on, defined once so they cannot drift apart.

use std::time::Duration;

/// How far (milliseconds, either way) an envelope's timestamp may be from the opener's time.
/// Workers apply it to queries and to the envelopes carried by transactions (at the block's
/// time); clients apply the same window to the answers they open ([`ANSWER_WINDOW_MS`]).
pub const ENVELOPE_WINDOW_MS: u64 = 5 * 60 * 1000;

/// How far an answer's timestamp may be from the client's clock: the envelope window, so an
/// answer a worker may send is one the client accepts.
pub const ANSWER_WINDOW_MS: u64 = ENVELOPE_WINDOW_MS;

/// How long a worker keeps a query session for further queries after its first.
pub const SESSION_TTL_MS: u64 = 10 * 60 * 1000;

/// How long a client sends further queries in a session before it opens a new one: half the
/// worker's [`SESSION_TTL_MS`], so a reused session is one the worker still keeps.
pub const SESSION_REUSE_MS: u64 = SESSION_TTL_MS / 2;

/// How long the chain holds a `POST /v1/txs?wait=true` open for the transaction to commit.
pub const COMMIT_WAIT: Duration = Duration::from_secs(30);

/// How long a client waits for something the network does on its own (a worker reaching a
/// block, a gatekeeper publishing a key): longer than [`COMMIT_WAIT`].
pub const CLIENT_WAIT: Duration = Duration::from_secs(60);

/// How long a server waits for a request's head, and keeps an idle connection open for the
/// next one ([`crate::server`]). Longer than a client keeps an idle connection
/// ([`crate::http::IDLE_FOR`]), so a client never reuses one the server is closing.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a server waits for a request's whole body once its handler starts reading it
/// (every route reads at once, as the head arrives): the largest
/// body a client sends (a 4 MiB upload) at about 70 KiB/s.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// How often a server sends a keep-alive comment on an event stream with nothing to say.
pub const STREAM_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long a reader of an event stream waits for any byte before it takes the connection
/// for dead (a half-open connection sends nothing, ever) and reconnects: four keep-alives.
pub const STREAM_IDLE: Duration = Duration::from_secs(60);

/// How long a client waits for a whole answer: the longest a server holds a request open
/// (a query that coordinates jobs, two minutes; a commit wait, [`COMMIT_WAIT`]) and more.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(180);

const _: () = assert!(crate::http::IDLE_FOR.as_secs() < HEADER_READ_TIMEOUT.as_secs());
const _: () = assert!(STREAM_KEEP_ALIVE.as_secs() * 4 <= STREAM_IDLE.as_secs());
const _: () = assert!(ANSWER_TIMEOUT.as_secs() > CLIENT_WAIT.as_secs());
const _: () = assert!(SESSION_REUSE_MS < SESSION_TTL_MS);
const _: () = assert!(ANSWER_WINDOW_MS <= ENVELOPE_WINDOW_MS);
const _: () = assert!(CLIENT_WAIT.as_secs() > COMMIT_WAIT.as_secs());
