//! Fan-out: a query spreads named jobs of its own contract over the workers of its cluster,
//! itself included, and collects their results.
//!
//! ```ignore
//! // In a #[query]: render every tile on the cluster, in input order.
//! let tiles: Vec<Vec<u8>> = jobs::map("tile", inputs)?;
//! ```
//!
//! A job is a `#[job]` method of the same contract: it reads the same state snapshot as the
//! query, may use the network and the clock, and returns bytes. The worker chooses where each
//! job runs, retries it elsewhere when a worker fails or straggles, and can run it on two
//! workers to compare their results ([`Options::replicas`]). A query has limits on jobs in
//! flight, jobs in all, bytes in and out and total job time; passing one ends the query with
//! that limit named. Spawning is refused in a command and in a job.

use crate::bindings::fat::contract::jobs as host;
use crate::{Error, Result};

/// How a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// On how many different workers the job runs: 1, or 2 to compare the results byte for
    /// byte (a mismatch is the job's error and names both workers).
    pub replicas: u8,
}

impl Default for Options {
    fn default() -> Self {
        Self { replicas: 1 }
    }
}

/// A job in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(pub u32);

/// Start job `name` on `input`.
pub fn spawn(name: &str, input: &[u8], options: Options) -> Result<Handle> {
    let options = host::JobOptions {
        replicas: options.replicas,
    };
    Ok(Handle(host::spawn(name, input, options)?))
}

/// Wait for the next job to end: its handle and its output or error; `None` when no job is
/// in flight.
pub fn next() -> Option<(Handle, std::result::Result<Vec<u8>, String>)> {
    host::wait_next().map(|(handle, result)| (Handle(handle), result))
}

/// Say how many jobs the query will spawn in all, for a client following its progress
/// ([`map`] and its kin say it themselves).
pub fn plan(total: usize) {
    host::plan(u32::try_from(total).unwrap_or(u32::MAX));
}

/// How many jobs may be in flight at once.
pub fn max_in_flight() -> usize {
    host::max_in_flight() as usize
}

/// Run job `name` once per input, on the cluster, and return every result in input order.
/// At most [`max_in_flight`] jobs run at once; the next starts as soon as one ends. Results
/// of other jobs of the query that end meanwhile are dropped.
pub fn map_results<I, B>(
    name: &str,
    inputs: I,
    options: Options,
) -> Result<Vec<std::result::Result<Vec<u8>, String>>>
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    let inputs: Vec<B> = inputs.into_iter().collect();
    plan(inputs.len());
    let window = max_in_flight().max(1);
    let mut inputs = inputs.into_iter().enumerate();
    let mut results: Vec<Option<std::result::Result<Vec<u8>, String>>> = Vec::new();
    // Handles are unique within the call, and other jobs of the query may be in flight too.
    let mut slots = std::collections::BTreeMap::new();
    loop {
        while slots.len() < window {
            let Some((index, input)) = inputs.next() else {
                break;
            };
            let handle = spawn(name, input.as_ref(), options)?;
            slots.insert(handle, index);
            results.push(None);
        }
        if slots.is_empty() {
            break;
        }
        let Some((handle, result)) = next() else {
            break;
        };
        if let Some(index) = slots.remove(&handle) {
            results[index] = Some(result);
        }
    }
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("the job never ended".into())))
        .collect())
}

/// [`map_results`] with one replica, failing with the first job error (in input order).
pub fn map<I, B>(name: &str, inputs: I) -> Result<Vec<Vec<u8>>>
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    collect(name, map_results(name, inputs, Options::default())?)
}

/// [`map`] with `options` (for instance two replicas compared byte for byte).
pub fn map_with<I, B>(name: &str, inputs: I, options: Options) -> Result<Vec<Vec<u8>>>
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    collect(name, map_results(name, inputs, options)?)
}

fn collect(name: &str, results: Vec<std::result::Result<Vec<u8>, String>>) -> Result<Vec<Vec<u8>>> {
    results
        .into_iter()
        .enumerate()
        .map(|(index, result)| {
            result.map_err(|message| Error::Job {
                name: name.to_owned(),
                index,
                message,
            })
        })
        .collect()
}
