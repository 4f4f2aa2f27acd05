//! Envelopes: freshness and replays.

use fat_crypto::envelope::{self, Opened, SealRandomness};
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

#[test]
fn replay_guard_memory_is_bounded() {
    let alice = dev_keypair("alice").account_id();
    let mut guard = ReplayGuard::new(WINDOW, 3);
    for i in 0..3u8 {
        guard.admit(&alice, &[i; 24], NOW, NOW).unwrap();
    }
    assert_eq!(
        guard.admit(&alice, &[9; 24], NOW, NOW),
        Err(EnvelopeError::ReplayGuardFull)
    );
    // Once the window has moved past them, old nonces are forgotten and room is made.
    let later = NOW + WINDOW + 1;
    guard.admit(&alice, &[9; 24], later, later).unwrap();
    assert_eq!(guard.len(), 1);
    // A clock going backwards does not revive what was forgotten.
    assert!(matches!(
        guard.admit(&alice, &[0; 24], NOW, NOW),
        Err(EnvelopeError::Expired { .. })
    ));
    // Nonces are per sender: another sender may use the same bytes.
    guard
        .admit(&dev_keypair("bob").account_id(), &[9; 24], later, later)
        .unwrap();
}
