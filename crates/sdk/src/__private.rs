//! What the `#[contract]` macro expands to calls; not a public API.

use std::fmt::Display;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub use crate::bindings::exports::fat::contract::entry::Guest as EntryGuest;
pub use crate::bindings::exports::fat::contract::job::Guest as JobGuest;
pub use serde;

/// A contract state type with its methods, as the macro implements it.
pub trait Contract: Serialize + DeserializeOwned + Default {
    /// Build the state from the constructor's arguments.
    fn init(args: &str) -> Result<Self, String>;
    /// Run command `method`.
    fn command(&mut self, method: &str, args: &str) -> Result<String, String>;
    /// Run query `method`.
    fn query(&self, method: &str, args: &str) -> Result<String, String>;
    /// Run job `name`.
    fn job(&self, name: &str, input: Vec<u8>) -> Result<Vec<u8>, String>;
}

/// The arguments of one call: a JSON object whose fields are the parameters.
#[derive(Debug)]
pub struct Args {
    method: &'static str,
    fields: Map<String, Value>,
}

impl Args {
    /// Parse `args` for `method`, whose parameters are `params`. Empty text and `null` are
    /// an empty object; anything but an object, and unknown fields, are refused.
    pub fn parse(method: &'static str, args: &str, params: &[&str]) -> Result<Self, String> {
        let invalid = |message: String| format!("invalid arguments for '{method}': {message}");
        let value = if args.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(args).map_err(|e| invalid(e.to_string()))?
        };
        let fields = match value {
            Value::Null => Map::new(),
            Value::Object(fields) => fields,
            other => {
                return Err(invalid(format!(
                    "expected a JSON object of named parameters, found {}",
                    kind(&other)
                )));
            }
        };
        if let Some(unknown) = fields.keys().find(|key| !params.contains(&key.as_str())) {
            let expected = if params.is_empty() {
                "this method takes no parameters".to_owned()
            } else {
                format!(
                    "expected {}",
                    params
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            return Err(invalid(format!("unknown field `{unknown}`, {expected}")));
        }
        Ok(Self { method, fields })
    }

    /// Take parameter `name`; a missing field counts as `null`, which only types like
    /// `Option` accept.
    pub fn take<T: DeserializeOwned>(&mut self, name: &str) -> Result<T, String> {
        let method = self.method;
        match self.fields.remove(name) {
            Some(value) => serde_json::from_value(value)
                .map_err(|e| format!("invalid arguments for '{method}': field `{name}`: {e}")),
            None => serde_json::from_value(Value::Null)
                .map_err(|_| format!("invalid arguments for '{method}': missing field `{name}`")),
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A method's plain return value as the call's JSON output.
pub fn output<T: Serialize>(method: &str, value: T) -> Result<String, String> {
    serde_json::to_string(&value)
        .map_err(|e| format!("cannot encode the result of '{method}': {e}"))
}

/// A method's `Result` as the call's JSON output or error string.
pub fn output_result<T: Serialize, E: Display>(
    method: &str,
    result: Result<T, E>,
) -> Result<String, String> {
    output(method, result.map_err(|e| e.to_string())?)
}

/// A constructor's plain return value.
pub fn init_value<S>(state: S) -> Result<S, String> {
    Ok(state)
}

/// A constructor's `Result`.
pub fn init_result<S, E: Display>(result: Result<S, E>) -> Result<S, String> {
    result.map_err(|e| e.to_string())
}

/// A job's plain return value.
pub fn job_value(bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    Ok(bytes)
}

/// A job's `Result`.
pub fn job_result<E: Display>(result: Result<Vec<u8>, E>) -> Result<Vec<u8>, String> {
    result.map_err(|e| e.to_string())
}

/// The error for a method name the contract does not have.
pub fn unknown(kind: &str, method: &str) -> String {
    format!("unknown {kind} '{method}'")
}

/// The error of `job.run` for a contract that declares no job.
pub fn no_job(name: &str) -> String {
    format!("this contract has no job '{name}'")
}

/// Decode a stored state.
pub fn decode_state<S: DeserializeOwned>(bytes: &[u8]) -> Result<S, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("cannot decode the contract state: {e}"))
}

/// Encode a state for storage.
pub fn encode_state<S: Serialize>(state: &S) -> Result<Vec<u8>, String> {
    serde_json::to_vec(state).map_err(|e| format!("cannot encode the contract state: {e}"))
}

fn load<S: Contract>() -> Result<(S, Option<Vec<u8>>), String> {
    match crate::storage::get(crate::STATE_KEY) {
        Some(bytes) => Ok((decode_state(&bytes)?, Some(bytes))),
        None => Ok((S::default(), None)),
    }
}

fn save<S: Contract>(state: &S, before: Option<&[u8]>) -> Result<(), String> {
    let bytes = encode_state(state)?;
    if before == Some(bytes.as_slice()) {
        return Ok(());
    }
    crate::storage::set(crate::STATE_KEY, &bytes)
        .map_err(|e| format!("cannot save the contract state: {e}"))
}

fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            crate::log::write(
                crate::log::Level::Error,
                &format!("contract panicked: {info}"),
            );
        }));
    });
}

/// The `init` export: build the state and save it.
pub fn run_init<S: Contract>(args: &str) -> Result<String, String> {
    install_panic_hook();
    let state = S::init(args)?;
    save(&state, None)?;
    Ok("null".to_owned())
}

/// The `command` export: load, run, save on success.
pub fn run_command<S: Contract>(method: &str, args: &str) -> Result<String, String> {
    install_panic_hook();
    let (mut state, before) = load::<S>()?;
    let output = state.command(method, args)?;
    save(&state, before.as_deref())?;
    Ok(output)
}

/// The `query` export: load and run; never writes.
pub fn run_query<S: Contract>(method: &str, args: &str) -> Result<String, String> {
    install_panic_hook();
    let (state, _) = load::<S>()?;
    state.query(method, args)
}

/// The `job.run` export: load and run; never writes.
pub fn run_job<S: Contract>(name: &str, input: Vec<u8>) -> Result<Vec<u8>, String> {
    install_panic_hook();
    let (state, _) = load::<S>()?;
    state.job(name, input)
}

/// Export the contract world's entry points for state type `$state` (a `Contract`).
///
/// Only on wasm: natively the exports' names (`fat:contract/...#init`) cannot be linked into a
/// shared library, and nothing would call them.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_contract {
    ($state:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            struct __FatExports;

            impl $crate::__private::EntryGuest for __FatExports {
                fn init(
                    args: ::std::string::String,
                ) -> ::core::result::Result<::std::string::String, ::std::string::String> {
                    $crate::__private::run_init::<$state>(&args)
                }
                fn command(
                    method: ::std::string::String,
                    args: ::std::string::String,
                ) -> ::core::result::Result<::std::string::String, ::std::string::String> {
                    $crate::__private::run_command::<$state>(&method, &args)
                }
                fn query(
                    method: ::std::string::String,
                    args: ::std::string::String,
                ) -> ::core::result::Result<::std::string::String, ::std::string::String> {
                    $crate::__private::run_query::<$state>(&method, &args)
                }
            }

            impl $crate::__private::JobGuest for __FatExports {
                fn run(
                    name: ::std::string::String,
                    input: ::std::vec::Vec<u8>,
                ) -> ::core::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
                    $crate::__private::run_job::<$state>(&name, input)
                }
            }

    $crate::bindings::export!(__FatExports with_types_in $crate::bindings);
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str, params: &[&str]) -> Result<Args, String> {
        Args::parse("m", args, params)
    }

    #[test]
    fn empty_null_and_empty_object_are_no_arguments() {
        for args in ["", "  ", "null", "{}", " {} "] {
            let args = parse(args, &[]).unwrap();
            assert!(args.fields.is_empty());
        }
    }

    #[test]
    fn named_fields_become_parameters() {
        let mut args = parse(r#"{"by": 5, "who": "alice"}"#, &["by", "who"]).unwrap();
        assert_eq!(args.take::<u64>("by").unwrap(), 5);
        assert_eq!(args.take::<String>("who").unwrap(), "alice");
    }

    #[test]
    fn option_parameters_may_be_omitted_or_null() {
        let mut args = parse(r#"{"b": null}"#, &["a", "b"]).unwrap();
        assert_eq!(args.take::<Option<u64>>("a").unwrap(), None);
        assert_eq!(args.take::<Option<u64>>("b").unwrap(), None);
        let mut args = parse("", &["a"]).unwrap();
        assert_eq!(args.take::<Option<u64>>("a").unwrap(), None);
    }

    #[test]
    fn a_missing_required_parameter_is_named() {
        let mut args = parse("{}", &["by"]).unwrap();
        assert_eq!(
            args.take::<u64>("by").unwrap_err(),
            "invalid arguments for 'm': missing field `by`"
        );
    }

    #[test]
    fn a_badly_typed_parameter_is_named() {
        let mut args = parse(r#"{"by": "x"}"#, &["by"]).unwrap();
        let err = args.take::<u64>("by").unwrap_err();
        assert!(
            err.starts_with("invalid arguments for 'm': field `by`: invalid type: string \"x\""),
            "{err}"
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = parse(r#"{"bye": 1}"#, &["by"]).unwrap_err();
        assert_eq!(
            err,
            "invalid arguments for 'm': unknown field `bye`, expected `by`"
        );
        let err = parse(r#"{"x": 1}"#, &[]).unwrap_err();
        assert_eq!(
            err,
            "invalid arguments for 'm': unknown field `x`, this method takes no parameters"
        );
    }

    #[test]
    fn non_objects_and_bad_json_are_refused() {
        let err = parse("[1]", &["by"]).unwrap_err();
        assert_eq!(
            err,
            "invalid arguments for 'm': expected a JSON object of named parameters, found an array"
        );
        let err = parse("{", &[]).unwrap_err();
        assert!(
            err.starts_with("invalid arguments for 'm': EOF while parsing"),
            "{err}"
        );
    }

    #[test]
    fn outputs_are_json_and_errors_their_display() {
        assert_eq!(output("m", 7u64).unwrap(), "7");
        assert_eq!(output("m", ()).unwrap(), "null");
        assert_eq!(
            output_result::<u64, &str>("m", Err("overflow")).unwrap_err(),
            "overflow"
        );
        assert_eq!(
            output_result::<_, String>("m", Ok(vec![1, 2])).unwrap(),
            "[1,2]"
        );
        assert_eq!(init_result::<u8, &str>(Err("no")).unwrap_err(), "no");
        assert_eq!(job_result::<&str>(Ok(vec![1])).unwrap(), vec![1]);
    }

    #[test]
    fn error_messages_name_the_method() {
        assert_eq!(unknown("command", "nope"), "unknown command 'nope'");
        assert_eq!(no_job("tile"), "this contract has no job 'tile'");
    }

    #[test]
    fn state_round_trips_and_bad_state_is_reported() {
        let bytes = encode_state(&vec![1u8, 2]).unwrap();
        assert_eq!(decode_state::<Vec<u8>>(&bytes).unwrap(), vec![1, 2]);
        assert!(
            decode_state::<Vec<u8>>(b"{")
                .unwrap_err()
                .starts_with("cannot decode the contract state")
        );
    }
}
