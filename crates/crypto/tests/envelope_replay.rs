//! Envelopes: freshness and replays.

use fat_crypto::envelope::{self, EcdhPublic, EnvelopeHeader, Opened, SealRandomness};
use fat_crypto::{Direction, EcdhSecret, Envelope, EnvelopeError, ReplayGuard, dev_keypair};
use fat_types::ContractId;

const NOW: u64 = 1_750_000_000_000;
const WINDOW: u64 = 60_000;
const CONTRACT: ContractId = ContractId([5; 32]);

fn worker() -> EcdhSecret {
    EcdhSecret::from_bytes([0x42; 32])
}

fn guard() -> ReplayGuard {
    ReplayGuard::new(WINDOW, 1024)
}

fn sealed(direction: Direction, seed: u8) -> (Envelope, envelope::Session) {
    let randomness = SealRandomness {
        ephemeral: [seed; 32],
        nonce: [seed.wrapping_add(1); 24],
    };
    let (recipient, alice) = (worker().public(), dev_keypair("alice"));
    envelope::seal(
        &alice, &recipient, CONTRACT, direction, b"hi", NOW, randomness,
    )
    .unwrap()
}

fn open(
    env: &Envelope,
    direction: Direction,
    guard: &mut ReplayGuard,
) -> Result<Opened, EnvelopeError> {
    envelope::open(env, &worker(), &CONTRACT, direction, guard, NOW)
}

#[test]
fn replayed_envelopes_are_refused() {
    let (env, _) = sealed(Direction::Request, 1);
    let mut guard = guard();
    open(&env, Direction::Request, &mut guard).unwrap();
    assert_eq!(
        open(&env, Direction::Request, &mut guard).unwrap_err(),
        EnvelopeError::Replayed
    );
    // Another nonce from the same sender is fine.
    let (fresh, _) = sealed(Direction::Request, 7);
    open(&fresh, Direction::Request, &mut guard).unwrap();
    assert_eq!(guard.len(), 2);
}

#[test]
fn expired_and_future_envelopes_are_refused() {
    let (env, _) = sealed(Direction::Request, 1);
    let late = envelope::open(
        &env,
        &worker(),
        &CONTRACT,
        Direction::Request,
        &mut guard(),
        NOW + WINDOW + 1,
    );
    assert_eq!(
        late.unwrap_err(),
        EnvelopeError::Expired {
            timestamp_ms: NOW,
            now_ms: NOW + WINDOW + 1
        }
    );
    let early = envelope::open(
        &env,
        &worker(),
        &CONTRACT,
        Direction::Request,
        &mut guard(),
        NOW - WINDOW - 1,
    );
    assert!(matches!(
        early.unwrap_err(),
        EnvelopeError::FromFuture { .. }
    ));
    // At the edge of the window it still opens.
    let edge = envelope::open(
        &env,
        &worker(),
        &CONTRACT,
        Direction::Request,
        &mut guard(),
        NOW + WINDOW,
    );
    assert!(edge.is_ok());
}

/// A header from `sender` in session `session`, with `nonce`, sealed at `at`.
fn header(sender: &str, session: u8, nonce: u32, at: u64) -> EnvelopeHeader {
    let mut bytes = [0u8; 24];
    bytes[..4].copy_from_slice(&nonce.to_le_bytes());
    EnvelopeHeader {
        contract: CONTRACT,
        direction: Direction::Request,
        sender: dev_keypair(sender).account_id(),
        recipient: worker().public(),
        ephemeral: EcdhPublic([session; 32]),
        nonce: bytes,
        timestamp_ms: at,
    }
}

#[test]
fn replay_guard_memory_is_bounded() {
    let mut guard = ReplayGuard::new(WINDOW, 3);
    for i in 0..3 {
        guard.admit(&header("alice", 1, i, NOW), NOW).unwrap();
    }
    assert_eq!(
        guard.admit(&header("alice", 1, 9, NOW), NOW),
        Err(EnvelopeError::ReplayGuardFull)
    );
    // Once the window has moved past them, old nonces are forgotten and room is made.
    let later = NOW + WINDOW + 1;
    guard.admit(&header("alice", 1, 9, later), later).unwrap();
    assert_eq!(guard.len(), 1);
    // A clock going backwards does not revive what was forgotten.
    assert!(matches!(
        guard.admit(&header("alice", 1, 0, NOW), NOW),
        Err(EnvelopeError::Expired { .. })
    ));
    // Nonces are per sender: another sender may use the same bytes.
    guard.admit(&header("bob", 1, 9, later), later).unwrap();
}

/// A sender flooding fresh nonces stops at its quota while another sender is still admitted;
/// one session stops at its own, smaller quota while the same sender's other sessions pass.
#[test]
fn quotas_keep_one_sender_or_session_from_filling_the_guard() {
    let mut guard = ReplayGuard::new(WINDOW, 100).with_quotas(10, 4);
    // Alice floods, a fresh session for each nonce (as fresh sealed queries do).
    for i in 0..10 {
        guard.admit(&header("alice", i as u8, i, NOW), NOW).unwrap();
    }
    let alice = dev_keypair("alice").account_id();
    assert_eq!(
        guard.admit(&header("alice", 200, 10, NOW), NOW),
        Err(EnvelopeError::SenderOverQuota {
            sender: alice,
            quota: 10
        })
    );
    // A replay is still called a replay, not a quota.
    assert_eq!(
        guard.admit(&header("alice", 0, 0, NOW), NOW),
        Err(EnvelopeError::Replayed)
    );
    // Bob is admitted while alice is held; one session of his stops at four.
    for i in 0..4 {
        guard.admit(&header("bob", 100, i, NOW), NOW).unwrap();
    }
    assert_eq!(
        guard.admit(&header("bob", 100, 4, NOW), NOW),
        Err(EnvelopeError::SessionOverQuota { quota: 4 })
    );
    guard.admit(&header("bob", 101, 4, NOW), NOW).unwrap();
    assert_eq!(guard.len(), 15);
    // When the window moves past her nonces, alice is admitted again and her counts go.
    let later = NOW + WINDOW + 1;
    guard
        .admit(&header("alice", 200, 10, later), later)
        .unwrap();
    assert_eq!(guard.len(), 1);
    assert_eq!(guard.holders(), (1, 1));
}

/// However many senders and sessions come and go, the guard holds at most its capacity of
/// nonces, and its quota counts no more holders than nonces.
#[test]
fn the_quota_counts_stay_within_the_capacity() {
    let mut guard = ReplayGuard::new(WINDOW, 64).with_quotas(8, 2);
    let names: Vec<String> = (0..40).map(|i| format!("sender-{i}")).collect();
    let mut refused = 0;
    for round in 0..3u64 {
        let at = NOW + round * (WINDOW + 1);
        for (i, name) in names.iter().enumerate() {
            for n in 0..4 {
                let session = (i as u32 * 4 + n) as u8;
                if guard.admit(&header(name, session, n, at), at).is_err() {
                    refused += 1;
                }
            }
            assert!(guard.len() <= 64);
            let (senders, sessions) = guard.holders();
            assert!(senders <= guard.len() && sessions <= guard.len());
        }
    }
    assert!(refused > 0, "the flood reached the capacity");
}

/// Nonces fall into buckets by their timestamps: every replay is still found, whichever
/// bucket its original went to and however many buckets are held.
#[test]
fn every_replay_is_found_across_the_guards_buckets() {
    let mut guard = ReplayGuard::new(WINDOW, 10_000);
    let sent: Vec<EnvelopeHeader> = (0..2_000u32)
        .map(|i| {
            let name = ["alice", "bob", "carol"][i as usize % 3];
            header(name, (i % 7) as u8, i, NOW + u64::from(i) * 17)
        })
        .collect();
    let last = NOW + 2_000 * 17;
    for h in &sent {
        guard.admit(h, h.timestamp_ms).unwrap();
    }
    for h in &sent {
        assert_eq!(guard.admit(h, last), Err(EnvelopeError::Replayed), "{h:?}");
    }
    assert_eq!(guard.len(), sent.len());
}

/// A bucket outlives its oldest nonce by up to a tenth of a second, but that nonce's replay
/// is refused as soon as the window has passed it: as expired, never admitted. (`NOW` is a
/// whole number of tenths of a second, so both nonces share a bucket.)
#[test]
fn a_replay_past_the_window_is_refused_while_its_bucket_is_still_held() {
    let mut guard = ReplayGuard::new(WINDOW, 16);
    let first = header("alice", 1, 1, NOW);
    let second = header("alice", 1, 2, NOW + 50);
    guard.admit(&first, NOW).unwrap();
    guard.admit(&second, NOW + 50).unwrap();
    let later = NOW + WINDOW + 1;
    assert!(matches!(
        guard.admit(&first, later),
        Err(EnvelopeError::Expired { .. })
    ));
    assert_eq!(
        guard.admit(&second, later),
        Err(EnvelopeError::Replayed),
        "the bucket is held while its latest nonce is in the window"
    );
    assert_eq!(guard.len(), 2, "both nonces are still held");
    let after = NOW + 50 + WINDOW + 1;
    guard.admit(&header("bob", 2, 1, after), after).unwrap();
    assert_eq!(guard.len(), 1);
}
