//! The `#[contract]` expansion, driven natively through the trait it implements (no host).

use fat_sdk::__private::Contract;
use fat_sdk::prelude::*;

mod with_everything {
    use super::*;

    #[contract]
    #[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
    pub struct Notes {
        pub notes: Vec<String>,
        pub owner: String,
    }

    #[contract]
    impl Notes {
        #[init]
        pub fn new(owner: String) -> Result<Self, String> {
            if owner.is_empty() {
                return Err("owner must not be empty".into());
            }
            Ok(Self {
                notes: Vec::new(),
                owner,
            })
        }

        #[command]
        pub fn add(&mut self, text: String, times: Option<usize>) -> usize {
            for _ in 0..times.unwrap_or(1) {
                self.notes.push(text.clone());
            }
            self.notes.len()
        }

        #[command]
        pub fn clear(&mut self) {
            self.notes.clear();
        }

        #[query]
        pub fn list(&self, limit: Option<usize>) -> fat_sdk::Result<Vec<String>> {
            Ok(self
                .notes
                .iter()
                .take(limit.unwrap_or(usize::MAX))
                .cloned()
                .collect())
        }

        #[job]
        pub fn shout(&self, input: &[u8]) -> Vec<u8> {
            input.to_ascii_uppercase()
        }

        #[job]
        pub fn refuse(&self, _input: Vec<u8>) -> Result<Vec<u8>, String> {
            Err("refused".into())
        }

        /// Not exported.
        pub fn count(&self) -> usize {
            self.notes.len()
        }
    }
}

mod minimal {
    use super::*;

    #[contract]
    #[derive(Serialize, Deserialize, Default, Debug)]
    pub struct Empty {}

    #[contract]
    impl Empty {
        #[query]
        pub fn ping(&self) -> &'static str {
            "pong"
        }
    }
}

use minimal::Empty;
use with_everything::Notes;

#[test]
fn init_decodes_named_arguments_and_reports_errors() {
    let notes = Notes::init(r#"{"owner": "alice"}"#).unwrap();
    assert_eq!(notes.owner, "alice");
    assert_eq!(
        Notes::init(r#"{"owner": ""}"#).unwrap_err(),
        "owner must not be empty"
    );
    assert_eq!(
        Notes::init("").unwrap_err(),
        "invalid arguments for 'new': missing field `owner`"
    );
}

#[test]
fn commands_take_optional_parameters_and_return_json() {
    let mut notes = Notes::init(r#"{"owner": "a"}"#).unwrap();
    assert_eq!(notes.command("add", r#"{"text": "hi"}"#).unwrap(), "1");
    assert_eq!(
        notes
            .command("add", r#"{"text": "yo", "times": 2}"#)
            .unwrap(),
        "3"
    );
    assert_eq!(notes.count(), 3);
    assert_eq!(
        notes.query("list", r#"{"limit": 2}"#).unwrap(),
        r#"["hi","yo"]"#
    );
    assert_eq!(notes.command("clear", "null").unwrap(), "null");
    assert_eq!(notes.query("list", "").unwrap(), "[]");
}

#[test]
fn bad_arguments_and_unknown_methods_are_errors() {
    let mut notes = Notes::default();
    assert_eq!(
        notes.command("add", r#"{"text": 5}"#).unwrap_err(),
        "invalid arguments for 'add': field `text`: invalid type: integer `5`, expected a string"
    );
    assert_eq!(
        notes.command("clear", r#"{"all": true}"#).unwrap_err(),
        "invalid arguments for 'clear': unknown field `all`, this method takes no parameters"
    );
    assert_eq!(
        notes.command("list", "").unwrap_err(),
        "unknown command 'list'"
    );
    assert_eq!(notes.query("add", "").unwrap_err(), "unknown query 'add'");
    assert_eq!(notes.job("nope", vec![]).unwrap_err(), "unknown job 'nope'");
}

#[test]
fn jobs_take_and_return_bytes() {
    let notes = Notes::default();
    assert_eq!(notes.job("shout", b"hey".to_vec()).unwrap(), b"HEY");
    assert_eq!(notes.job("refuse", vec![]).unwrap_err(), "refused");
}

#[test]
fn a_contract_without_init_or_jobs_gets_defaults() {
    let empty = Empty::init("{}").unwrap();
    assert!(
        Empty::init(r#"{"x": 1}"#)
            .unwrap_err()
            .starts_with("invalid arguments for 'init': unknown field `x`")
    );
    assert_eq!(empty.query("ping", "").unwrap(), r#""pong""#);
    assert_eq!(
        empty.job("render", vec![]).unwrap_err(),
        "this contract has no job 'render'"
    );
}

#[test]
fn the_state_is_plain_json() {
    let notes = Notes {
        notes: vec!["a".into()],
        owner: "o".into(),
    };
    let bytes = fat_sdk::__private::encode_state(&notes).unwrap();
    assert_eq!(bytes, br#"{"notes":["a"],"owner":"o"}"#);
    assert_eq!(
        fat_sdk::__private::decode_state::<Notes>(&bytes).unwrap(),
        notes
    );
    assert_eq!(fat_sdk::STATE_KEY, b"\0fat/state");
}
