//! The contract world's imports, each behaving by mode.

use wasmtime::Result;

use super::HostState;
use super::bindings::fat::contract::{cache, crypto, env, events, jobs, log, storage, types};
use crate::call::{Event, LogLevel, LogLine, Mode};
use crate::error::Limit;
use crate::gas::{self, cost};
use crate::jobs::JobRequest;

type Error = types::Error;

fn not_allowed(what: &str, mode: Mode) -> Error {
    Error::NotAllowed(format!("{what} is not allowed in a {mode}"))
}

impl types::Host for HostState {}

impl storage::Host for HostState {
    fn get(&mut self, key: Vec<u8>) -> Result<Option<Vec<u8>>> {
        if key.len() > self.limits.storage_key_bytes {
            return Err(self.breach(Limit::StorageKeySize));
        }
        self.charge(cost(gas::STORAGE_READ, key.len(), gas::BYTE))?;
        let value = self.overlay.get(&key)?;
        self.charge(cost(0, value.as_ref().map_or(0, Vec::len), gas::BYTE))?;
        Ok(value)
    }

    fn set(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<Result<(), Error>> {
        if self.mode != Mode::Command {
            return Ok(Err(not_allowed("writing storage", self.mode)));
        }
        if key.len() > self.limits.storage_key_bytes {
            return Err(self.breach(Limit::StorageKeySize));
        }
        if value.len() > self.limits.storage_value_bytes {
            return Err(self.breach(Limit::StorageValueSize));
        }
        let bytes = key.len() + value.len();
        self.count_written(bytes)?;
        self.charge(cost(
            gas::STORAGE_WRITE,
            bytes,
            gas::BYTE + gas::STORAGE_WRITE_BYTE,
        ))?;
        let entries = self.overlay.set(key, value)?;
        if entries > self.limits.storage_entries {
            return Err(self.breach(Limit::StorageEntries));
        }
        Ok(Ok(()))
    }

    fn remove(&mut self, key: Vec<u8>) -> Result<Result<(), Error>> {
        if self.mode != Mode::Command {
            return Ok(Err(not_allowed("writing storage", self.mode)));
        }
        if key.len() > self.limits.storage_key_bytes {
            return Err(self.breach(Limit::StorageKeySize));
        }
        // A removal is a change every replica keeps until the block commits, like a write.
        self.count_written(key.len())?;
        self.charge(cost(gas::STORAGE_WRITE, key.len(), gas::BYTE))?;
        self.overlay.remove(key)?;
        Ok(Ok(()))
    }

    fn scan(
        &mut self,
        prefix: Vec<u8>,
        mut after: Option<Vec<u8>>,
        limit: u32,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        // A page is capped in entries and in bytes, so that one call cannot ask the host for
        // the whole store at once: it is read in small runs until either cap is reached.
        let limit = (limit as usize).min(SCAN_ENTRIES);
        self.charge(cost(gas::STORAGE_READ, prefix.len(), gas::BYTE))?;
        let mut page: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut bytes = 0;
        while page.len() < limit && bytes < SCAN_BYTES {
            let want = (limit - page.len()).min(SCAN_RUN);
            let run = self.overlay.scan(&prefix, after.as_deref(), want)?;
            let last = run.len() < want;
            for (key, value) in run {
                let size = key.len() + value.len();
                self.charge(cost(gas::STORAGE_READ, size, gas::BYTE))?;
                bytes += size;
                page.push((key, value));
            }
            if last {
                break;
            }
            after = page.last().map(|(key, _)| key.clone());
        }
        Ok(page)
    }
}

/// Most entries of one page of `storage.scan`.
const SCAN_ENTRIES: usize = 1000;
/// A page of `storage.scan` ends once it holds this many bytes (at least one entry).
const SCAN_BYTES: usize = 4 << 20;
/// Entries read from the store at a time while a page is filled.
const SCAN_RUN: usize = 16;

impl cache::Host for HostState {
    fn get(&mut self, key: Vec<u8>) -> Result<Option<Vec<u8>>> {
        // The key was copied out of the guest whatever follows: it is paid for first.
        self.charge(cost(0, key.len(), gas::BYTE))?;
        if self.mode == Mode::Command {
            return Ok(None);
        }
        let value = self.cache.get(&self.contract, &key, self.now_ms);
        self.charge(cost(0, value.as_ref().map_or(0, Vec::len), gas::BYTE))?;
        Ok(value)
    }

    fn set(&mut self, key: Vec<u8>, value: Vec<u8>, ttl_ms: u64) -> Result<Result<(), Error>> {
        // The arguments were copied out of the guest whatever follows: paid for first, so
        // that a refused entry is not a free copy.
        let bytes = key.len() + value.len();
        self.charge(cost(0, bytes, gas::BYTE))?;
        if bytes > self.limits.cache_value_bytes {
            return Ok(Err(Error::LimitExceeded(format!(
                "cache entries are limited to {} bytes",
                self.limits.cache_value_bytes
            ))));
        }
        self.count_written(bytes)?;
        self.charge(cost(0, bytes, gas::CACHE_WRITE_BYTE))?;
        let expires_at_ms = self.now_ms.saturating_add(ttl_ms);
        if self.mode == Mode::Command {
            self.count_cache_op()?;
            self.cache_ops.push(crate::cache::CacheOp::Set {
                key,
                value,
                expires_at_ms,
            });
            return Ok(Ok(()));
        }
        if !self
            .cache
            .set(&self.contract, key, value, expires_at_ms, self.now_ms)
        {
            return Ok(Err(Error::LimitExceeded(
                "the worker's cache is full".into(),
            )));
        }
        Ok(Ok(()))
    }

    fn remove(&mut self, key: Vec<u8>) -> Result<Result<(), Error>> {
        self.charge(cost(0, key.len(), gas::BYTE))?;
        if self.mode == Mode::Command {
            // Held until the block commits: counted like a write.
            self.count_written(key.len())?;
            self.count_cache_op()?;
            self.cache_ops.push(crate::cache::CacheOp::Remove { key });
        } else {
            self.cache.remove(&self.contract, &key);
        }
        Ok(Ok(()))
    }
}

impl env::Host for HostState {
    fn execution_mode(&mut self) -> Result<types::Mode> {
        Ok(match self.mode {
            Mode::Command => types::Mode::Command,
            Mode::Query => types::Mode::Query,
            Mode::Job => types::Mode::Job,
        })
    }

    fn caller(&mut self) -> Result<Vec<u8>> {
        Ok(self.caller.0.to_vec())
    }

    fn contract_id(&mut self) -> Result<Vec<u8>> {
        Ok(self.contract.0.to_vec())
    }

    fn block(&mut self) -> Result<env::BlockInfo> {
        Ok(env::BlockInfo {
            number: self.block.number,
            timestamp_ms: self.block.timestamp_ms,
            hash: self.block.hash.0.to_vec(),
        })
    }

    fn worker_public_key(&mut self) -> Result<Vec<u8>> {
        // Workers of a cluster differ, so a command must not see which one runs it.
        if self.mode == Mode::Command {
            return Ok(Vec::new());
        }
        Ok(self.worker_key.to_vec())
    }
}

impl events::Host for HostState {
    fn emit(&mut self, topic: String, data: Vec<u8>) -> Result<Result<(), Error>> {
        self.charge(cost(0, topic.len() + data.len(), gas::BYTE))?;
        if self.mode != Mode::Command {
            return Ok(Err(not_allowed("emitting events", self.mode)));
        }
        if self.events.len() >= self.limits.events
            || topic.len() + data.len() > self.limits.event_bytes
        {
            return Err(self.breach(Limit::Events));
        }
        self.events.push(Event { topic, data });
        Ok(Ok(()))
    }
}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) -> Result<()> {
        self.charge_log(message.len())?;
        self.charge(cost(0, message.len(), gas::BYTE))?;
        let level = match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        self.logs.push(LogLine { level, message });
        Ok(())
    }
}

impl crypto::Host for HostState {
    fn contract_public_key(&mut self, scheme: crypto::SignatureScheme) -> Result<Vec<u8>> {
        self.charge(gas::DERIVE)?;
        Ok(self.keys.public_key(scheme))
    }

    fn derive_key(&mut self, salt: Vec<u8>) -> Result<Vec<u8>> {
        self.charge(cost(gas::DERIVE, salt.len(), gas::BYTE))?;
        Ok(self.keys.derive(&salt).to_vec())
    }

    fn sign(&mut self, scheme: crypto::SignatureScheme, message: Vec<u8>) -> Result<Vec<u8>> {
        self.charge(cost(gas::SIGN, message.len(), gas::BYTE + gas::SIGN_BYTE))?;
        Ok(self.keys.sign(scheme, &message))
    }

    fn verify(
        &mut self,
        scheme: crypto::SignatureScheme,
        public_key: Vec<u8>,
        message: Vec<u8>,
        signature: Vec<u8>,
    ) -> Result<bool> {
        let bytes = public_key.len() + message.len() + signature.len();
        self.charge(cost(gas::VERIFY, bytes, gas::BYTE + gas::VERIFY_BYTE))?;
        Ok(super::crypto::verify(
            scheme,
            &public_key,
            &message,
            &signature,
        ))
    }

    fn hash(&mut self, algorithm: crypto::HashAlgorithm, data: Vec<u8>) -> Result<Vec<u8>> {
        self.charge(cost(0, data.len(), gas::BYTE + gas::HASH_BYTE))?;
        Ok(super::crypto::hash(algorithm, &data))
    }
}

impl jobs::Host for HostState {
    fn spawn(
        &mut self,
        name: String,
        input: Vec<u8>,
        options: jobs::JobOptions,
    ) -> Result<Result<u32, Error>> {
        self.charge(cost(0, name.len() + input.len(), gas::BYTE))?;
        if self.mode != Mode::Query {
            return Ok(Err(not_allowed("spawning jobs", self.mode)));
        }
        let job = JobRequest {
            name,
            input,
            replicas: options.replicas,
        };
        match self.jobs.spawn(&self.limits, job) {
            Ok(Ok(handle)) => Ok(Ok(handle)),
            Ok(Err(message)) => Ok(Err(Error::InvalidInput(message))),
            Err(limit) => Err(self.breach(limit)),
        }
    }

    async fn wait_next(&mut self) -> Result<Option<(u32, std::result::Result<Vec<u8>, String>)>> {
        let limits = self.limits.clone();
        match self.jobs.next(&limits).await {
            Ok(next) => Ok(next),
            Err(limit) => Err(self.breach(limit)),
        }
    }

    fn plan(&mut self, jobs: u32) -> Result<()> {
        if self.mode == Mode::Query {
            self.jobs.plan(jobs);
        }
        Ok(())
    }

    fn max_in_flight(&mut self) -> Result<u32> {
        Ok(u32::try_from(self.limits.jobs_in_flight).unwrap_or(u32::MAX))
    }
}
