//! What validators send each other on our channel, beside the engine's own messages.

use borsh::{BorshDeserialize, BorshSerialize};
use fat_types::encoding::{decode, encode};
use fat_types::{Block, DecodeError, Hash32};

use crate::application::Proposal;

/// The first byte of every message: the version of this encoding.
const VERSION: u8 = 1;

/// A message on our channel.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Wire {
    /// A block the leader of a view proposes (or a copy a peer asked for).
    Proposal(Proposal),
    /// Asks for the proposal with this hash.
    Want(Hash32),
    /// The sender's last final height, announced now and then.
    Tip(u64),
    /// Asks for the final block at this height.
    WantFinal(u64),
    /// A final block with its certificate.
    Final(Block),
    /// Encoded transactions clients submitted to the sender.
    Txs(Vec<Vec<u8>>),
}

impl Wire {
    /// The bytes sent.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = vec![VERSION];
        bytes.extend_from_slice(&encode(self));
        bytes
    }

    /// Read a message; refuses another version and anything that does not decode whole.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        match bytes.split_first() {
            Some((&VERSION, rest)) => decode("consensus message", rest),
            _ => Err(DecodeError {
                what: "consensus message",
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("not version {VERSION} of the consensus messages"),
                ),
            }),
        }
    }
}
