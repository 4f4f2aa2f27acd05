//! Opening the envelopes transactions carry, deterministically: every worker of a cluster
//! reaches the same verdict from the same block.

use fat_crypto::envelope::{
    self, Agreements, Direction, EcdhSecret, Envelope, ReplayGuard, Session,
};
use fat_crypto::{ClusterKey, EnvelopeError};
use fat_proto::windows::ENVELOPE_WINDOW_MS;
use fat_types::{AccountId, Bytes, ClusterId, ContractId, Hash32};

/// Open an envelope of a transaction: sealed to `secret`, for `contract` and `direction`,
/// by the transaction's signer (whose transaction signature, checked by the chain, covers
/// the envelope), fresh at the block's time. The key agreement comes from `agreements` when
/// the sender's session was seen before.
pub(crate) fn tx_envelope(
    envelope: &Envelope,
    secret: &EcdhSecret,
    agreements: &Agreements,
    contract: &ContractId,
    direction: Direction,
    signer: &AccountId,
    block_ms: u64,
) -> Result<(Vec<u8>, Session), EnvelopeError> {
    if envelope.header.sender != *signer {
        return Err(EnvelopeError::WrongSender {
            expected: *signer,
            found: envelope.header.sender,
        });
    }
    let mut guard = ReplayGuard::once(ENVELOPE_WINDOW_MS);
    let opened = envelope::open_carried_with(
        envelope, secret, contract, direction, &mut guard, block_ms, agreements,
    )?;
    Ok((opened.plaintext, opened.session))
}

/// Open a cluster key provisioned to this worker: sealed to its ECDH key by the gatekeeper
/// that signed the transaction, and matching the cluster key the chain publishes. The error
/// says why it was refused (it never holds key material).
pub(crate) fn cluster_key(
    ecdh: &EcdhSecret,
    cluster: &ClusterId,
    epoch: u32,
    cluster_public: &Hash32,
    sealed: &Bytes,
    gatekeeper: &AccountId,
) -> Result<ClusterKey, String> {
    let refused = |why: String| format!("cluster key of {cluster} refused: {why}");
    let envelope = Envelope::from_bytes(&sealed.0).map_err(|e| refused(e.to_string()))?;
    if envelope.header.sender != *gatekeeper {
        return Err(refused("not sealed by the provisioning gatekeeper".into()));
    }
    // The chain ordered it: freshness is the envelope's own time, so replaying the chain
    // later opens it the same way.
    let mut guard = ReplayGuard::once(ENVELOPE_WINDOW_MS);
    let opened = envelope::open(
        &envelope,
        ecdh,
        &ContractId(cluster.0),
        Direction::ClusterKey,
        &mut guard,
        envelope.header.timestamp_ms,
    )
    .map_err(|e| refused(e.to_string()))?;
    let bytes: [u8; 32] = opened
        .plaintext
        .try_into()
        .map_err(|_| refused("not 32 bytes".into()))?;
    let key = ClusterKey::from_bytes(epoch, bytes);
    if key.ecdh_public().0 != cluster_public.0 {
        return Err(refused(
            "it does not match the cluster's published key".into(),
        ));
    }
    Ok(key)
}
