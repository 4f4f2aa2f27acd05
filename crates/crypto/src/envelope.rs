//! Envelopes: what clients, workers and the chain send each other encrypted.
//!
//! A sender seals a plaintext to a recipient's x25519 public key (a worker's ECDH key for
//! queries, a contract's key for commands and init args):
//!
//! 1. a fresh ephemeral x25519 key and ECDH with the recipient's key;
//! 2. HKDF-SHA256 over the shared secret (never used as a key itself), with the salt
//!    [`ENVELOPE_KDF_LABEL`] ‖ ephemeral public ‖ recipient public and an `info` that repeats
//!    both public keys and adds the direction and the contract id: one key per direction;
//! 3. XChaCha20-Poly1305 with a random 192-bit nonce, whose associated data is the borsh
//!    encoding of the [`EnvelopeHeader`]: contract id, direction, sender, both public keys,
//!    nonce and timestamp;
//! 4. the sender's ed25519 account key signs H([`ENVELOPE_TAG`], header ‖ ciphertext).
//!
//! The opener checks the signature, the recipient, contract and direction it expects, the
//! timestamp's freshness, the AEAD, and finally that the nonce is new ([`ReplayGuard`]). The
//! answer to a request goes back under the [`Direction::Response`] key of the same session
//! ([`Session`]), which only the requester and the recipient can derive.
//!
//! A session outlives its first message: [`SessionMessage`]s carry further requests and
//! responses under the same session keys, with no signature. Only the requester (who made
//! the ephemeral key and signed the first envelope) and the recipient can derive those keys,
//! so a message that decrypts comes from one of them, and the direction's own key tells
//! which. This spares each further query a key exchange and two signatures.
//!
//! A request's nonce is numbered (a counter, then random bytes: [`message_nonce`]), so its
//! recipient refuses replays with a small window per session ([`SessionWindow`]) instead of
//! remembering every nonce. A reply binds its request's nonce into its associated data and
//! takes a nonce the replier never used before ([`ReplyNonces`]). A session message's
//! associated data is the header and a tag ([`SESSION_MESSAGE_TAG`]), an envelope's the
//! header alone, so neither opens as the other.
//!
//! A sender may also seal many envelopes under one session ([`Session::start`], then
//! [`Session::seal_envelope`]): each is still signed and has its own random nonce, and a
//! recipient that keeps its key agreements ([`Agreements`]) opens all of them for one x25519.
//! The client seals its commands to a contract this way.
//!
//! Time is always an argument (milliseconds since the Unix epoch): nothing here reads a clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use borsh::{BorshDeserialize, BorshSerialize};
use fat_types::encoding::{decode, encode, tagged_hash};
use fat_types::{AccountId, Bytes, ContractId, Signature};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::aead::XChaCha;
use crate::{Keypair, verify};

mod agreements;
mod error;
mod keys;
mod replay;
mod window;

pub use agreements::Agreements;
pub use error::EnvelopeError;
pub(crate) use keys::os_random;
pub use keys::{EcdhPublic, EcdhSecret, SealRandomness};
pub use replay::ReplayGuard;
pub use window::{SESSION_WINDOW, SessionWindow, message_counter, message_nonce};

/// The HKDF label of envelope keys; starts both the salt and the `info`.
pub const ENVELOPE_KDF_LABEL: &[u8] = b"fat/envelope/kdf/v1";
/// The domain tag of the hash an envelope's sender signs.
pub const ENVELOPE_TAG: &str = "fat/envelope/v1";
/// What follows the header in a session message's associated data: a session message never
/// opens as an envelope, nor an envelope (its signature cut off) as a session message.
pub const SESSION_MESSAGE_TAG: &[u8] = b"fat/envelope/session-message/v1";
/// What follows the header in a session reply's associated data, then the request's nonce:
/// a reply opens only as the answer of the request it answers.
pub const SESSION_REPLY_TAG: &[u8] = b"fat/envelope/session-reply/v2";
/// The length of an envelope nonce in bytes (XChaCha20-Poly1305: 192 bits).
pub const NONCE_LEN: usize = 24;

pub(crate) type Result<T> = crate::Result<T, EnvelopeError>;

/// What an envelope carries; each direction has its own key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub enum Direction {
    /// A query from a client to a worker.
    Request,
    /// A worker's answer to a request, under the request's session.
    Response,
    /// A command's payload, sealed to the contract's key.
    Command,
    /// A contract's instantiation arguments, sealed to the cluster's key.
    InitArgs,
    /// A cluster key a gatekeeper provisions, sealed to a worker's key; the envelope's
    /// `contract` field then holds the cluster id.
    ClusterKey,
    /// A job one worker of a cluster sends another, signed by the sender's identity key.
    Job,
    /// A request for a contract's state, from a worker joining the contract's cluster to a
    /// member, signed by the joiner's identity key.
    Snapshot,
}

/// How many directions there are: one key each per session, indexed by tag. A new direction
/// takes the next tag and raises this count; the assertion below checks the last one.
const DIRECTIONS: usize = 7;
const _: () = assert!(Direction::Snapshot.tag() as usize == DIRECTIONS - 1);

impl Direction {
    const fn tag(self) -> u8 {
        match self {
            Self::Request => 0,
            Self::Response => 1,
            Self::Command => 2,
            Self::InitArgs => 3,
            Self::ClusterKey => 4,
            Self::Job => 5,
            Self::Snapshot => 6,
        }
    }
}

/// Everything about an envelope except its ciphertext and signature: the AEAD's associated
/// data is this header's borsh encoding.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct EnvelopeHeader {
    /// The contract the plaintext is for.
    pub contract: ContractId,
    /// What the plaintext is.
    pub direction: Direction,
    /// Who signed the envelope (an account's ed25519 key, a worker's identity for responses).
    pub sender: AccountId,
    /// The recipient's x25519 key (for a response, the key the request was sealed to).
    pub recipient: EcdhPublic,
    /// The requester's ephemeral x25519 key: with `recipient`, names the session.
    pub ephemeral: EcdhPublic,
    /// The AEAD nonce; also the replay guard's key, with the sender.
    pub nonce: [u8; NONCE_LEN],
    /// When the sender sealed it, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

/// A sealed, signed envelope. Its canonical encoding is borsh: header, ciphertext (a `u32`
/// length, then the bytes and the 16-byte tag), signature (64 bytes).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Envelope {
    /// The header, authenticated by the AEAD and the signature.
    pub header: EnvelopeHeader,
    /// The XChaCha20-Poly1305 ciphertext with its tag.
    pub ciphertext: Bytes,
    /// The sender's ed25519 signature of [`Envelope::signing_hash`].
    pub signature: Signature,
}

impl Envelope {
    /// The canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decode canonical bytes (trailing bytes are an error).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode("envelope", bytes).map_err(|e| EnvelopeError::Decode(e.to_string()))
    }

    /// What the sender signs: H([`ENVELOPE_TAG`], header ‖ ciphertext).
    pub fn signing_hash(header: &EnvelopeHeader, ciphertext: &Bytes) -> fat_types::Hash32 {
        tagged_hash(ENVELOPE_TAG, &(header, ciphertext))
    }

    fn check_signature(&self) -> Result<()> {
        let hash = Self::signing_hash(&self.header, &self.ciphertext);
        verify(&self.header.sender, hash.as_bytes(), &self.signature)
            .map_err(|_| EnvelopeError::BadSignature(self.header.sender))
    }
}

/// A further message of a session: the header (with the session's keys and a fresh nonce)
/// and the ciphertext, no signature. Canonical encoding: borsh, header then ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SessionMessage {
    /// The header, authenticated by the AEAD; `sender` names the session's requester.
    pub header: EnvelopeHeader,
    /// The XChaCha20-Poly1305 ciphertext with its tag.
    pub ciphertext: Bytes,
}

impl SessionMessage {
    /// The canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decode canonical bytes (trailing bytes are an error).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode("session message", bytes).map_err(|e| EnvelopeError::Decode(e.to_string()))
    }
}

/// What a ciphertext is, bound into its associated data after the header: an envelope
/// (the header alone), a session message, or the reply to the request of the given nonce.
#[derive(Clone, Copy)]
enum Framing<'a> {
    Envelope,
    Message,
    Reply(&'a [u8; NONCE_LEN]),
}

impl Framing<'_> {
    fn associated_data(self, header: &EnvelopeHeader) -> Vec<u8> {
        let mut data = encode(header);
        match self {
            Framing::Envelope => {}
            Framing::Message => data.extend_from_slice(SESSION_MESSAGE_TAG),
            Framing::Reply(request) => {
                data.extend_from_slice(SESSION_REPLY_TAG);
                data.extend_from_slice(request);
            }
        }
        data
    }
}

/// The nonces of a recipient's session replies: BLAKE3 keyed by a random key of this
/// recipient's run, of a counter. They never repeat within a run (the counter) nor across
/// runs (the key), whatever requests arrive: a replayed request, one admitted twice, or one
/// replayed after a restart is answered under a nonce of its own, never one its first answer
/// took.
pub struct ReplyNonces {
    key: Zeroizing<[u8; 32]>,
    next: AtomicU64,
}

impl ReplyNonces {
    /// A new run's nonces, keyed from the operating system's randomness.
    pub fn new() -> Result<Self> {
        let mut key = Zeroizing::new([0u8; 32]);
        os_random(key.as_mut_slice())?;
        Ok(Self {
            key,
            next: AtomicU64::new(0),
        })
    }

    /// Nonces under a given key, for reproducible tests (the golden reply). A key must never
    /// serve two runs: the second would repeat the first's nonces.
    #[doc(hidden)]
    pub fn from_key(key: [u8; 32]) -> Self {
        Self {
            key: Zeroizing::new(key),
            next: AtomicU64::new(0),
        }
    }

    /// The next nonce.
    pub fn next(&self) -> [u8; NONCE_LEN] {
        let counter = self.next.fetch_add(1, Ordering::Relaxed);
        let digest = blake3::keyed_hash(&self.key, &counter.to_le_bytes());
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&digest.as_bytes()[..NONCE_LEN]);
        nonce
    }
}

impl std::fmt::Debug for ReplyNonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyNonces").finish_non_exhaustive()
    }
}

/// Both ends of one sealed message: derives the key of any direction of its session.
#[derive(Clone)]
pub struct Session {
    contract: ContractId,
    recipient: EcdhPublic,
    ephemeral: EcdhPublic,
    /// HKDF's pseudorandom key, extracted from the shared secret; wiped when dropped.
    prk: Zeroizing<[u8; 32]>,
    /// What every clone shares (a worker keeps a session and clones it for each further
    /// query; a client clones it for each query it sends).
    shared: Arc<SessionShared>,
}

/// The part of a [`Session`] its clones share.
#[derive(Default)]
struct SessionShared {
    /// Each direction's key, derived the first time it is used.
    keys: [OnceLock<XChaCha>; DIRECTIONS],
    /// The counter of the next message [`Session::seal_message`] seals.
    next_message: AtomicU64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("contract", &self.contract)
            .field("ephemeral", &self.ephemeral)
            .finish_non_exhaustive()
    }
}

impl Session {
    fn new(
        contract: ContractId,
        recipient: EcdhPublic,
        ephemeral: EcdhPublic,
        shared: &[u8],
    ) -> Self {
        let mut salt = ENVELOPE_KDF_LABEL.to_vec();
        salt.extend_from_slice(&ephemeral.0);
        salt.extend_from_slice(&recipient.0);
        let (prk, _) = Hkdf::<Sha256>::extract(Some(&salt), shared);
        Self {
            contract,
            recipient,
            ephemeral,
            prk: Zeroizing::new(prk.into()),
            shared: Arc::default(),
        }
    }

    fn cipher(&self, direction: Direction) -> &XChaCha {
        self.shared.keys[usize::from(direction.tag())].get_or_init(|| self.derive(direction))
    }

    fn derive(&self, direction: Direction) -> XChaCha {
        let mut info = ENVELOPE_KDF_LABEL.to_vec();
        info.push(direction.tag());
        info.extend_from_slice(&self.ephemeral.0);
        info.extend_from_slice(&self.recipient.0);
        info.extend_from_slice(self.contract.as_bytes());
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::from_prk(self.prk.as_slice())
            .expect("a SHA-256 output is a valid pseudorandom key")
            .expand(&info, &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        XChaCha::new(key)
    }

    fn header(
        &self,
        sender: AccountId,
        direction: Direction,
        timestamp_ms: u64,
        nonce: [u8; NONCE_LEN],
    ) -> EnvelopeHeader {
        EnvelopeHeader {
            contract: self.contract,
            direction,
            sender,
            recipient: self.recipient,
            ephemeral: self.ephemeral,
            nonce,
            timestamp_ms,
        }
    }

    /// Encrypt under the header's direction key, the header (and what `framing` adds) as
    /// associated data.
    fn encrypt(&self, header: &EnvelopeHeader, framing: Framing, plaintext: &[u8]) -> Bytes {
        Bytes(self.cipher(header.direction).seal(
            &header.nonce,
            &framing.associated_data(header),
            plaintext,
        ))
    }

    /// Check the header's freshness, decrypt, then record its nonce in `guard`.
    fn decrypt(
        &self,
        header: &EnvelopeHeader,
        framing: Framing,
        ciphertext: &Bytes,
        guard: &mut ReplayGuard,
        now_ms: u64,
    ) -> Result<Vec<u8>> {
        guard.check_time(header.timestamp_ms, now_ms)?;
        let plaintext = self
            .cipher(header.direction)
            .open(
                &header.nonce,
                &framing.associated_data(header),
                &ciphertext.0,
            )
            .map_err(|_| match framing {
                Framing::Reply(_) => EnvelopeError::NotTheReply,
                _ => EnvelopeError::Decrypt,
            })?;
        guard.admit(header, now_ms)?;
        Ok(plaintext)
    }

    fn seal(
        &self,
        sender: &Keypair,
        direction: Direction,
        plaintext: &[u8],
        timestamp_ms: u64,
        nonce: [u8; NONCE_LEN],
    ) -> Envelope {
        let header = self.header(sender.account_id(), direction, timestamp_ms, nonce);
        let ciphertext = self.encrypt(&header, Framing::Envelope, plaintext);
        let signature = sender.sign(Envelope::signing_hash(&header, &ciphertext).as_bytes());
        Envelope {
            header,
            ciphertext,
            signature,
        }
    }

    fn open(&self, envelope: &Envelope, guard: &mut ReplayGuard, now_ms: u64) -> Result<Vec<u8>> {
        self.decrypt(
            &envelope.header,
            Framing::Envelope,
            &envelope.ciphertext,
            guard,
            now_ms,
        )
    }

    /// The sender's side: a new session with `recipient` for `contract`, whose ephemeral
    /// secret is `ephemeral` (32 random bytes, [`SealRandomness::ephemeral`]; fixed only in
    /// tests). The ephemeral secret is used once, here, and not kept.
    pub fn start(
        recipient: &EcdhPublic,
        contract: ContractId,
        ephemeral: [u8; 32],
    ) -> Result<Self> {
        let ephemeral = EcdhSecret::from_bytes(ephemeral);
        let shared = ephemeral.shared(recipient)?;
        Ok(Self::new(contract, *recipient, ephemeral.public(), &shared))
    }

    /// Seal and sign one more envelope of this session in `direction`, under a fresh random
    /// nonce: as [`seal`] would, without a new key agreement. Whoever holds the session's
    /// keys reads every envelope sealed under it, so a sender keeps a session only as long
    /// as it would keep its own key (the client: one per contract, for minutes).
    pub fn seal_envelope(
        &self,
        sender: &Keypair,
        direction: Direction,
        plaintext: &[u8],
        timestamp_ms: u64,
    ) -> Result<Envelope> {
        let nonce = SealRandomness::generate()?.nonce;
        Ok(self.seal(sender, direction, plaintext, timestamp_ms, nonce))
    }

    /// The session's ephemeral key: with the recipient's key, it names the session.
    pub fn ephemeral(&self) -> EcdhPublic {
        self.ephemeral
    }

    /// The contract the session is bound to.
    pub fn contract(&self) -> ContractId {
        self.contract
    }

    /// Whether `other` is a clone of this very session (not merely one of the same keys,
    /// opened again).
    pub fn is_clone_of(&self, other: &Session) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Seal a further message of this session in `direction`, numbered: its nonce is the
    /// session's next counter (shared by every clone of this session) and 16 random bytes
    /// ([`message_nonce`]), so the recipient refuses a replay with a [`SessionWindow`].
    /// `requester` is the account that opened the session (the header names it).
    pub fn seal_message(
        &self,
        requester: AccountId,
        direction: Direction,
        plaintext: &[u8],
        timestamp_ms: u64,
    ) -> Result<SessionMessage> {
        let mut random = [0u8; NONCE_LEN - 8];
        os_random(&mut random)?;
        let counter = self.shared.next_message.fetch_add(1, Ordering::Relaxed);
        let nonce = message_nonce(counter, random);
        Ok(self.seal_message_with_nonce(requester, direction, plaintext, timestamp_ms, nonce))
    }

    /// [`Session::seal_message`] with a given nonce, for reproducible tests. A nonce must
    /// never be used twice under a key: that would expose both plaintexts.
    pub fn seal_message_with_nonce(
        &self,
        requester: AccountId,
        direction: Direction,
        plaintext: &[u8],
        timestamp_ms: u64,
        nonce: [u8; NONCE_LEN],
    ) -> SessionMessage {
        let header = self.header(requester, direction, timestamp_ms, nonce);
        let ciphertext = self.encrypt(&header, Framing::Message, plaintext);
        SessionMessage { header, ciphertext }
    }

    /// Seal the reply to a session message `request`: under the response key, with the next
    /// of `nonces` (never one used before under any key, whatever arrives) and the request's
    /// nonce bound in the associated data, so that the reply opens as the answer of this
    /// request and no other.
    pub fn seal_reply(
        &self,
        request: &SessionMessage,
        plaintext: &[u8],
        timestamp_ms: u64,
        nonces: &ReplyNonces,
    ) -> SessionMessage {
        let header = self.header(
            request.header.sender,
            Direction::Response,
            timestamp_ms,
            nonces.next(),
        );
        let ciphertext = self.encrypt(&header, Framing::Reply(&request.header.nonce), plaintext);
        SessionMessage { header, ciphertext }
    }

    /// Open the reply to `request` (see [`Session::seal_reply`]): a response of this session
    /// that decrypts with the request's nonce bound in ([`EnvelopeError::NotTheReply`] if
    /// not: another request's reply, or one changed on the way).
    pub fn open_reply(
        &self,
        reply: &SessionMessage,
        request: &SessionMessage,
        guard: &mut ReplayGuard,
        now_ms: u64,
    ) -> Result<Vec<u8>> {
        self.check_message(reply, &request.header.sender, Direction::Response)?;
        self.decrypt(
            &reply.header,
            Framing::Reply(&request.header.nonce),
            &reply.ciphertext,
            guard,
            now_ms,
        )
    }

    /// Open a further message of this session in `direction`, from `requester`'s session:
    /// checks the session, contract and direction, the timestamp's freshness, the AEAD,
    /// and that the nonce is new (which `guard` then records).
    pub fn open_message(
        &self,
        message: &SessionMessage,
        requester: &AccountId,
        direction: Direction,
        guard: &mut ReplayGuard,
        now_ms: u64,
    ) -> Result<Vec<u8>> {
        self.check_message(message, requester, direction)?;
        self.decrypt(
            &message.header,
            Framing::Message,
            &message.ciphertext,
            guard,
            now_ms,
        )
    }

    /// That `message` belongs to this session, from `requester`, for its contract, in
    /// `direction`.
    fn check_message(
        &self,
        message: &SessionMessage,
        requester: &AccountId,
        direction: Direction,
    ) -> Result<()> {
        let header = &message.header;
        if header.recipient != self.recipient || header.ephemeral != self.ephemeral {
            return Err(EnvelopeError::WrongSession);
        }
        if header.sender != *requester {
            return Err(EnvelopeError::WrongSender {
                expected: *requester,
                found: header.sender,
            });
        }
        expect_context(header, &self.contract, direction)
    }

    /// The worker's side: seal `plaintext` as the response of this session, signed by the
    /// worker's identity key, under a fresh random nonce.
    pub fn seal_response(
        &self,
        worker: &Keypair,
        plaintext: &[u8],
        timestamp_ms: u64,
    ) -> Result<Envelope> {
        let nonce = SealRandomness::generate()?.nonce;
        Ok(self.seal_response_with_nonce(worker, plaintext, timestamp_ms, nonce))
    }

    /// [`Session::seal_response`] with a given nonce, for reproducible tests. A nonce must
    /// never be used twice in a session: that would expose both plaintexts.
    pub fn seal_response_with_nonce(
        &self,
        worker: &Keypair,
        plaintext: &[u8],
        timestamp_ms: u64,
        nonce: [u8; NONCE_LEN],
    ) -> Envelope {
        self.seal(worker, Direction::Response, plaintext, timestamp_ms, nonce)
    }

    /// The requester's side: open the response of this session, which `worker` must have
    /// signed.
    pub fn open_response(
        &self,
        envelope: &Envelope,
        worker: &AccountId,
        guard: &mut ReplayGuard,
        now_ms: u64,
    ) -> Result<Vec<u8>> {
        envelope.check_signature()?;
        let header = &envelope.header;
        if header.sender != *worker {
            return Err(EnvelopeError::WrongSender {
                expected: *worker,
                found: header.sender,
            });
        }
        if header.recipient != self.recipient || header.ephemeral != self.ephemeral {
            return Err(EnvelopeError::WrongSession);
        }
        expect_context(header, &self.contract, Direction::Response)?;
        self.open(envelope, guard, now_ms)
    }
}

fn expect_context(
    header: &EnvelopeHeader,
    contract: &ContractId,
    direction: Direction,
) -> Result<()> {
    if header.contract != *contract {
        return Err(EnvelopeError::WrongContract {
            expected: *contract,
            found: header.contract,
        });
    }
    if header.direction != direction {
        return Err(EnvelopeError::WrongDirection {
            expected: direction,
            found: header.direction,
        });
    }
    Ok(())
}

/// Seal `plaintext` for `contract` to `recipient`, signed by `sender`. Returns the envelope
/// and the session, with which a requester opens the response.
pub fn seal(
    sender: &Keypair,
    recipient: &EcdhPublic,
    contract: ContractId,
    direction: Direction,
    plaintext: &[u8],
    timestamp_ms: u64,
    randomness: SealRandomness,
) -> Result<(Envelope, Session)> {
    let session = Session::start(recipient, contract, randomness.ephemeral)?;
    let envelope = session.seal(sender, direction, plaintext, timestamp_ms, randomness.nonce);
    Ok((envelope, session))
}

/// An opened envelope.
#[derive(Debug)]
pub struct Opened {
    /// Who signed it.
    pub sender: AccountId,
    /// When the sender sealed it.
    pub timestamp_ms: u64,
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// The session, to seal the response with.
    pub session: Session,
}

/// Open an envelope sealed to `recipient`'s public key for `contract` and `direction`.
///
/// Checks, in order: the signature, the recipient, the contract, the direction, the
/// timestamp's freshness, the AEAD, and that the nonce is new (which it then records).
pub fn open(
    envelope: &Envelope,
    recipient: &EcdhSecret,
    contract: &ContractId,
    direction: Direction,
    guard: &mut ReplayGuard,
    now_ms: u64,
) -> Result<Opened> {
    envelope.check_signature()?;
    open_carried(envelope, recipient, contract, direction, guard, now_ms)
}

/// [`open`] for an envelope carried by a signed transaction of its sender: the transaction's
/// signature already covers every byte of the envelope, so the envelope's own is not checked
/// again. The caller must check that the header's `sender` is the transaction's signer.
pub fn open_carried(
    envelope: &Envelope,
    recipient: &EcdhSecret,
    contract: &ContractId,
    direction: Direction,
    guard: &mut ReplayGuard,
    now_ms: u64,
) -> Result<Opened> {
    open_with(
        envelope, recipient, contract, direction, guard, now_ms, None,
    )
}

/// [`open_carried`], taking the key agreement from `agreements` when it was made before (and
/// keeping it there otherwise): the same result, without an x25519 for a session already
/// seen.
pub fn open_carried_with(
    envelope: &Envelope,
    recipient: &EcdhSecret,
    contract: &ContractId,
    direction: Direction,
    guard: &mut ReplayGuard,
    now_ms: u64,
    agreements: &Agreements,
) -> Result<Opened> {
    open_with(
        envelope,
        recipient,
        contract,
        direction,
        guard,
        now_ms,
        Some(agreements),
    )
}

fn open_with(
    envelope: &Envelope,
    recipient: &EcdhSecret,
    contract: &ContractId,
    direction: Direction,
    guard: &mut ReplayGuard,
    now_ms: u64,
    agreements: Option<&Agreements>,
) -> Result<Opened> {
    let header = &envelope.header;
    if header.recipient != recipient.public() {
        return Err(EnvelopeError::WrongRecipient);
    }
    expect_context(header, contract, direction)?;
    let session = match agreements {
        Some(agreements) => agreements.session(recipient, &header.ephemeral, contract)?,
        None => Session::new(
            *contract,
            header.recipient,
            header.ephemeral,
            &recipient.shared(&header.ephemeral)?,
        ),
    };
    let plaintext = session.open(envelope, guard, now_ms)?;
    Ok(Opened {
        sender: header.sender,
        timestamp_ms: header.timestamp_ms,
        plaintext,
        session,
    })
}
