//! Corrupt local state: a garbage or truncated database, a garbage or missing `keys.sealed`,
//! state ciphertexts swapped between two keys or two contracts. Each is refused with an error
//! that says what is wrong, and the bad file is left as it was: nothing is silently replaced.
//! And what the worker writes is readable by its user only.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{header, record};

use fat_crypto::ClusterKey;
use fat_runtime::{StateChanges, StateStore};
use fat_types::{ClusterId, ContractId};
use fat_worker::store::{BlockChanges, DB_FILE};
use fat_worker::{KEYS_FILE, Keyring, Store, Worker, WorkerConfig, WorkerError};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

/// The store's state table, as the store lays it out: contract id ‖ key -> nonce ‖ ciphertext.
const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");

const CLUSTER: ClusterId = ClusterId([2; 32]);
const A: ContractId = ContractId([7; 32]);
const B: ContractId = ContractId([8; 32]);

/// A fresh directory for one test.
fn dir(name: &str) -> PathBuf {
    common::temp_dir(&format!("corrupt-{name}"))
}

fn keyring() -> Arc<Keyring> {
    let keyring = Arc::new(Keyring::default());
    keyring.add_cluster(CLUSTER, ClusterKey::from_bytes(0, [5; 32]));
    keyring
}

/// A store in `dir` holding block 1: contract A with `x` = "ax", `y` = "ay"; contract B
/// with `x` = "bx". Durable, and closed.
fn populate(dir: &Path) {
    let store = Store::open(dir, keyring(), common::store_seal()).unwrap();
    store.start(&header(0)).unwrap();
    let mut changes = BlockChanges::default();
    let a: StateChanges = [
        (b"x".to_vec(), Some(b"ax".to_vec())),
        (b"y".to_vec(), Some(b"ay".to_vec())),
    ]
    .into_iter()
    .collect();
    let b: StateChanges = [(b"x".to_vec(), Some(b"bx".to_vec()))]
        .into_iter()
        .collect();
    changes.writes.insert(A, a);
    changes.writes.insert(B, b);
    changes.contracts.insert(A, record(A, 2));
    changes.contracts.insert(B, record(B, 1));
    store.commit(&header(1), changes, true).unwrap();
}

/// Commit block 2 on the store in `dir`: contract A's `x` = "ax2", its record `a`. Durable,
/// and closed.
fn commit_block_2(dir: &Path, a: fat_worker::store::ContractRecord) {
    let store = Store::open(dir, keyring(), common::store_seal()).unwrap();
    let mut changes = BlockChanges::default();
    let writes: StateChanges = [(b"x".to_vec(), Some(b"ax2".to_vec()))]
        .into_iter()
        .collect();
    changes.writes.insert(A, writes);
    changes.contracts.insert(A, a);
    store.commit(&header(2), changes, true).unwrap();
}

fn state_key(contract: &ContractId, key: &[u8]) -> Vec<u8> {
    let mut k = contract.as_bytes().to_vec();
    k.extend_from_slice(key);
    k
}

/// Write (or, with `None`, remove) the stored value of a state entry, behind the store's back.
fn put(dir: &Path, key: &[u8], value: Option<&[u8]>) {
    let db = redb::Database::open(dir.join(DB_FILE)).unwrap();
    let wtx = db.begin_write().unwrap();
    {
        let mut table = wtx.open_table(STATE).unwrap();
        match value {
            Some(v) => table.insert(key, v).unwrap(),
            None => table.remove(key).unwrap(),
        };
    }
    wtx.commit().unwrap();
}

/// Swap the stored values of two state entries, behind the store's back.
fn swap(dir: &Path, one: &[u8], other: &[u8]) {
    let db = redb::Database::open(dir.join(DB_FILE)).unwrap();
    let wtx = db.begin_write().unwrap();
    {
        let mut table = wtx.open_table(STATE).unwrap();
        let first = table.get(one).unwrap().unwrap().value().to_vec();
        let second = table.get(other).unwrap().unwrap().value().to_vec();
        table.insert(one, second.as_slice()).unwrap();
        table.insert(other, first.as_slice()).unwrap();
    }
    wtx.commit().unwrap();
}

/// The raw stored values of `keys`.
fn raw(dir: &Path, keys: &[&[u8]]) -> Vec<Vec<u8>> {
    let db = redb::Database::open(dir.join(DB_FILE)).unwrap();
    let rtx = db.begin_read().unwrap();
    let table = rtx.open_table(STATE).unwrap();
    keys.iter()
        .map(|k| table.get(*k).unwrap().unwrap().value().to_vec())
        .collect()
}

#[test]
fn a_garbage_or_truncated_database_is_refused_and_left_alone() {
    // Garbage where the database should be: the worker refuses to open, naming the file.
    let garbage_dir = dir("garbage-db");
    let db = garbage_dir.join(DB_FILE);
    let garbage = b"this is not a redb database, just bytes".repeat(100);
    std::fs::write(&db, &garbage).unwrap();
    let err = Store::open(&garbage_dir, keyring(), common::store_seal()).unwrap_err();
    assert!(
        matches!(&err, WorkerError::OpenStore { path, .. } if *path == db),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("cannot open the worker store"),
        "{err}"
    );
    // A worker there finds a store without its keys, and refuses before reading it.
    let err = Worker::open(WorkerConfig::new(&garbage_dir, None)).unwrap_err();
    assert!(
        matches!(&err, WorkerError::Keys(m) if m.contains("missing beside the store")),
        "{err:?}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        garbage,
        "the bad file was replaced"
    );

    // A real database cut in half.
    let truncated_dir = dir("truncated-db");
    populate(&truncated_dir);
    let db = truncated_dir.join(DB_FILE);
    let whole = std::fs::read(&db).unwrap();
    let half = whole[..whole.len() / 2].to_vec();
    std::fs::write(&db, &half).unwrap();
    let err = Store::open(&truncated_dir, keyring(), common::store_seal()).unwrap_err();
    assert!(
        matches!(&err, WorkerError::OpenStore { path, .. } if *path == db),
        "{err:?}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        half,
        "the bad file was replaced"
    );

    let _ = std::fs::remove_dir_all(&garbage_dir);
    let _ = std::fs::remove_dir_all(&truncated_dir);
}

#[test]
fn a_garbage_keys_file_is_refused_and_left_alone() {
    let dir = dir("garbage-keys");
    // A worker's first start seals its keys.
    let first = Worker::open(WorkerConfig::new(&dir, None)).unwrap();
    let id = first.id();
    drop(first);
    let path = dir.join(KEYS_FILE);
    let sealed = std::fs::read(&path).unwrap();

    // Garbage instead: refused, naming the file; no new identity is made in its place.
    let garbage = b"garbage, not a sealed key file".to_vec();
    std::fs::write(&path, &garbage).unwrap();
    let err = Worker::open(WorkerConfig::new(&dir, None)).unwrap_err();
    assert!(matches!(err, WorkerError::Keys(_)), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        garbage,
        "the bad file was replaced"
    );

    // The sealed file with one byte changed: refused too.
    let mut flipped = sealed.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    std::fs::write(&path, &flipped).unwrap();
    let err = Worker::open(WorkerConfig::new(&dir, None)).unwrap_err();
    assert!(matches!(err, WorkerError::Keys(_)), "{err:?}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        flipped,
        "the bad file was replaced"
    );

    // Missing beside the store: refused, and no new identity is made.
    std::fs::remove_file(&path).unwrap();
    let store_before = std::fs::read(dir.join(DB_FILE)).unwrap();
    let err = Worker::open(WorkerConfig::new(&dir, None)).unwrap_err();
    assert!(
        matches!(&err, WorkerError::Keys(m) if m.contains("refusing to make a new identity")),
        "{err:?}"
    );
    assert!(!path.exists(), "a new identity was made");
    assert_eq!(std::fs::read(dir.join(DB_FILE)).unwrap(), store_before);

    // Put back, the worker is who it was.
    std::fs::write(&path, &sealed).unwrap();
    assert_eq!(
        Worker::open(WorkerConfig::new(&dir, None)).unwrap().id(),
        id
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a worker keeps on disk is its user's alone: the data directory it creates, its
/// sealed keys and its store.
#[cfg(unix)]
#[test]
fn keys_and_store_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let parent = dir("modes");
    let data = parent.join("worker");
    drop(Worker::open(WorkerConfig::new(&data, None)).unwrap());
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join(KEYS_FILE)), 0o600);
    assert_eq!(mode(&data.join(DB_FILE)), 0o600);
    // A store left readable by others is tightened when opened.
    std::fs::set_permissions(data.join(DB_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(Worker::open(WorkerConfig::new(&data, None)).unwrap());
    assert_eq!(mode(&data.join(DB_FILE)), 0o600);
    let _ = std::fs::remove_dir_all(&parent);
}

#[test]
fn ciphertexts_swapped_between_keys_or_contracts_are_refused_and_left_alone() {
    let dir = dir("swapped");
    populate(&dir);
    let (ax, ay, bx) = (
        state_key(&A, b"x"),
        state_key(&A, b"y"),
        state_key(&B, b"x"),
    );
    {
        let store = Store::open(&dir, keyring(), common::store_seal()).unwrap();
        let snapshot = store.snapshot().unwrap();
        assert_eq!(snapshot.get(&A, b"x").unwrap(), Some(b"ax".to_vec()));
        assert_eq!(snapshot.get(&B, b"x").unwrap(), Some(b"bx".to_vec()));
    }

    // Two keys of one contract trade their values.
    swap(&dir, &ax, &ay);
    // Two contracts trade the values of the same key.
    swap(&dir, &ay, &bx);
    let swapped = raw(&dir, &[&ax, &ay, &bx]);

    let store = Store::open(&dir, keyring(), common::store_seal()).unwrap();
    let snapshot = store.snapshot().unwrap();
    for (contract, key) in [(A, &b"x"[..]), (A, b"y"), (B, b"x")] {
        let err = snapshot.get(&contract, key).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "a state value of {contract} does not decrypt (changed on disk, or another key)"
            )),
            "{contract} {key:?}: {err}"
        );
    }
    let err = snapshot.scan(&A, b"", None, 10).unwrap_err().to_string();
    assert!(err.contains("does not decrypt"), "{err}");
    drop(snapshot);
    drop(store);
    assert_eq!(
        raw(&dir, &[&ax, &ay, &bx]),
        swapped,
        "the swapped values were replaced"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Read (`None`) or overwrite (`Some`: a value, or `None` to delete) one entry of the store's
/// table `table`, behind its back; the entry before.
fn poke(dir: &Path, table: &str, key: &[u8], to: Option<Option<&[u8]>>) -> Option<Vec<u8>> {
    let db = redb::Database::open(dir.join(DB_FILE)).unwrap();
    let wtx = db.begin_write().unwrap();
    let before;
    {
        let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(table);
        let mut t = wtx.open_table(def).unwrap();
        before = t.get(key).unwrap().map(|v| v.value().to_vec());
        match to {
            Some(Some(value)) => drop(t.insert(key, value).unwrap()),
            Some(None) => drop(t.remove(key).unwrap()),
            None => {}
        }
    }
    wtx.commit().unwrap();
    before
}

/// The same for the store's meta table (keyed by name).
fn poke_meta(dir: &Path, key: &str, to: Option<Option<&[u8]>>) -> Option<Vec<u8>> {
    let db = redb::Database::open(dir.join(DB_FILE)).unwrap();
    let wtx = db.begin_write().unwrap();
    let before;
    {
        let def: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
        let mut t = wtx.open_table(def).unwrap();
        before = t.get(key).unwrap().map(|v| v.value().to_vec());
        match to {
            Some(Some(value)) => drop(t.insert(key, value).unwrap()),
            Some(None) => drop(t.remove(key).unwrap()),
            None => {}
        }
    }
    wtx.commit().unwrap();
    before
}

/// The operator edits a contract's record, puts back its record or state hash as they were
/// a block earlier, deletes or adds one, or moves the head back: the store refuses to open
/// and says why, and leaves the file as it is. Put back, it opens. A store opened with
/// another worker's seal is refused the same way.
#[test]
fn records_and_the_head_altered_or_rolled_back_on_disk_are_refused() {
    let dir = dir("sealed");
    populate(&dir);
    let (a, b) = (A.as_bytes().as_slice(), B.as_bytes().as_slice());
    let record_1 = poke(&dir, "contracts", a, None).unwrap();
    let hash_1 = poke(&dir, "state_hashes", a, None).unwrap();
    let head_1 = poke_meta(&dir, "head", None).unwrap();
    let mut next = record(A, 2);
    next.logs = 5;
    commit_block_2(&dir, next);
    let refused = |what: &str| {
        let err = Store::open(&dir, keyring(), common::store_seal()).unwrap_err();
        assert!(matches!(err, WorkerError::Corrupt(_)), "{what}: {err:?}");
        let text = err.to_string();
        assert!(text.contains("refusing to run on it"), "{what}: {text}");
        text
    };
    let record_2 = poke(&dir, "contracts", a, None).unwrap();
    assert_ne!(record_2, record_1);

    let mut edited = record_2.clone();
    *edited.last_mut().unwrap() ^= 1;
    poke(&dir, "contracts", a, Some(Some(&edited)));
    assert!(refused("an edited record").contains("rolled back"));
    poke(&dir, "contracts", a, Some(Some(&record_1)));
    refused("a record of the block before");
    poke(&dir, "contracts", a, Some(Some(&record_2)));
    let hash_2 = poke(&dir, "state_hashes", a, Some(Some(&hash_1))).unwrap();
    refused("a state hash of the block before");
    poke(&dir, "state_hashes", a, Some(Some(&hash_2)));
    let record_b = poke(&dir, "contracts", b, Some(None)).unwrap();
    refused("a record deleted");
    poke(&dir, "contracts", b, Some(Some(&record_b)));
    poke(&dir, "contracts", &[9; 32], Some(Some(&record_b)));
    refused("a record added");
    poke(&dir, "contracts", &[9; 32], Some(None));
    let head_2 = poke_meta(&dir, "head", Some(Some(&head_1))).unwrap();
    assert!(refused("the head moved back").contains("head or the records digest"));
    poke_meta(&dir, "head", Some(Some(&head_2)));
    let err = Store::open(&dir, keyring(), fat_worker::StoreSeal::from_bytes([1; 32])).unwrap_err();
    assert!(err.to_string().contains("another worker's"), "{err}");

    // Everything put back: the store opens at block 2.
    let store = Store::open(&dir, keyring(), common::store_seal()).unwrap();
    assert_eq!(store.snapshot().unwrap().head().unwrap().height, 2);
    let snapshot = store.snapshot().unwrap();
    assert_eq!(snapshot.get(&A, b"x").unwrap(), Some(b"ax2".to_vec()));
    assert_eq!(snapshot.contract(&A).unwrap().unwrap().logs, 5);
}

#[test]
fn a_state_value_put_back_altered_or_removed_on_disk_is_refused() {
    let dir = dir("state-rollback");
    populate(&dir);
    let ax = state_key(&A, b"x");
    let old = raw(&dir, &[&ax]).remove(0);
    commit_block_2(&dir, record(A, 2));
    Store::open(&dir, keyring(), common::store_seal())
        .unwrap()
        .check_state()
        .unwrap();
    let current = raw(&dir, &[&ax]).remove(0);
    let refused = |what: &str| {
        // The records and the head are intact: the store opens, its state does not pass.
        let store = Store::open(&dir, keyring(), common::store_seal()).unwrap();
        let err = store.check_state().unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, WorkerError::Corrupt(_)), "{what}: {err:?}");
        assert!(text.contains("refusing to run on it"), "{what}: {text}");
        assert!(text.contains(&A.to_string()), "{what}: {text}");
        text
    };
    // The value of block 1 put back (it decrypts: same contract, same key).
    put(&dir, &ax, Some(&old));
    assert!(refused("a value put back").contains("not to its sealed root"));
    // Removed; another key's value copied under a new key (it does not decrypt there).
    put(&dir, &ax, None);
    refused("a value removed");
    put(&dir, &ax, Some(&current));
    let ay = raw(&dir, &[&state_key(&A, b"y")]).remove(0);
    put(&dir, &state_key(&A, b"z"), Some(&ay));
    assert!(refused("a value added").contains("does not decrypt"));
    put(&dir, &state_key(&A, b"z"), None);

    // Everything put back: the state passes.
    put(&dir, &ax, Some(&current));
    let store = Store::open(&dir, keyring(), common::store_seal()).unwrap();
    store.check_state().unwrap();
    assert_eq!(
        store.snapshot().unwrap().get(&A, b"x").unwrap(),
        Some(b"ax2".to_vec())
    );

    // A state of several pages (the check reads 4,096 entries at a time, and opens and
    // hashes each page in parts on every core): two values of the third page swapped, or its
    // last entry removed, are refused too.
    let mut changes = BlockChanges::default();
    let writes: StateChanges = (0..9_000u32)
        .map(|i| {
            (
                format!("k{i:05}").into_bytes(),
                Some(i.to_le_bytes().to_vec()),
            )
        })
        .collect();
    changes.writes.insert(B, writes);
    changes.contracts.insert(B, record(B, 9_001));
    store.commit(&header(3), changes, true).unwrap();
    store.check_state().unwrap();
    drop(store);
    let (late, last) = (state_key(&B, b"k08990"), state_key(&B, b"k08999"));
    swap(&dir, &late, &last);
    let text = Store::open(&dir, keyring(), common::store_seal())
        .unwrap()
        .check_state()
        .unwrap_err()
        .to_string();
    assert!(text.contains("does not decrypt"), "{text}");
    swap(&dir, &late, &last);
    let value = raw(&dir, &[&last]).remove(0);
    put(&dir, &last, None);
    let store = Store::open(&dir, keyring(), common::store_seal()).unwrap();
    let text = store.check_state().unwrap_err().to_string();
    assert!(text.contains(&B.to_string()), "{text}");
    assert!(text.contains("not to its sealed root"), "{text}");
    drop(store);
    put(&dir, &last, Some(&value));
    Store::open(&dir, keyring(), common::store_seal())
        .unwrap()
        .check_state()
        .unwrap();
}

/// A receipt of contract A at block 1, position `index`, with its transaction id.
fn receipt(index: u32) -> fat_types::ExecutionReceipt {
    fat_types::ExecutionReceipt {
        tx: fat_types::TxId([0x40 + index as u8; 32]),
        contract: A,
        height: 1,
        index,
        status: fat_types::ExecStatus::Ok,
        output: format!("{index}"),
        sealed_output: None,
        events: Vec::new(),
        gas_used: 1_000 + u64::from(index),
        state_root: fat_types::Hash32([0; 32]),
    }
}

/// Receipts are stored as borsh ‖ a MAC under the worker's seal (pinned here), keyed by
/// their block's height and their transaction id, and the worker signs them only when it
/// serves them: so one edited on disk, moved under another transaction or block, or cut
/// short is refused when read, with an error that says so, and reads again once put back.
#[test]
fn receipts_altered_moved_or_cut_on_disk_are_refused() {
    let dir = dir("receipts");
    let (one, two) = (receipt(0), receipt(1));
    let stored_root = {
        let store = Store::open(&dir, keyring(), common::store_seal()).unwrap();
        store.start(&header(0)).unwrap();
        let mut changes = BlockChanges::default();
        changes.contracts.insert(A, record(A, 0));
        changes.receipts = vec![one.clone(), two.clone()];
        let kept = store.commit(&header(1), changes, true).unwrap();
        assert_eq!(kept.len(), 2);
        // The receipt carries the contract's root after the block.
        let root = store
            .snapshot()
            .unwrap()
            .contract(&A)
            .unwrap()
            .unwrap()
            .state_root;
        assert_eq!(kept[0].state_root, root);
        // A receipt of another block than the one committed is refused, and nothing of
        // that block is kept: it would be stored where no one looks for it.
        let mut changes = BlockChanges::default();
        changes.contracts.insert(A, record(A, 0));
        changes.receipts = vec![receipt(2)];
        let err = store.commit(&header(2), changes, true).unwrap_err();
        assert!(
            matches!(&err, WorkerError::Corrupt(_))
                && err
                    .to_string()
                    .contains("is of block 1, committed with block 2"),
            "{err}"
        );
        assert_eq!(store.snapshot().unwrap().head().unwrap().height, 1);
        root
    };
    let one = fat_types::ExecutionReceipt {
        state_root: stored_root,
        ..one
    };
    let two = fat_types::ExecutionReceipt {
        state_root: stored_root,
        ..two
    };
    let read_at = |tx: &fat_types::TxId, height: u64| {
        let store = Store::open(&dir, keyring(), common::store_seal()).unwrap();
        store.snapshot().unwrap().receipt(tx, height)
    };
    let read = |tx: &fat_types::TxId| read_at(tx, 1);
    assert_eq!(read(&one.tx).unwrap(), Some(one.clone()));
    assert_eq!(read(&fat_types::TxId([1; 32])).unwrap(), None);
    // Asked for at another block, it is not there.
    assert_eq!(read_at(&one.tx, 2).unwrap(), None);
    assert_eq!(read_at(&one.tx, 0).unwrap(), None);

    // The stored form: keyed by the block's height (big-endian), then the transaction id;
    // the receipt's canonical encoding, then its 32-byte MAC.
    let key = |height: u64, tx: &fat_types::TxId| {
        let mut k = height.to_be_bytes().to_vec();
        k.extend_from_slice(tx.as_bytes());
        assert_eq!(k, fat_worker::store::receipt_key(height, tx));
        k
    };
    let (key_one, key_two) = (key(1, &one.tx), key(1, &two.tx));
    let stored = poke(&dir, "receipts", &key_one, None).unwrap();
    let encoded = fat_types::encoding::encode(&one);
    assert_eq!(&stored[..encoded.len()], encoded.as_slice());
    assert_eq!(stored.len(), encoded.len() + 32);
    assert_eq!(
        hex::encode(&stored[encoded.len()..]),
        "965baea231387d0fc3268d8dde69cb750ee75340dafe73e38396a84aa84286ca",
        "the receipt MAC of the tests' seal (a format change is deliberate)"
    );

    let refused = |tx: &fat_types::TxId, why: &str| {
        let err = read(tx).unwrap_err();
        assert!(
            matches!(&err, WorkerError::Corrupt(_)) && err.to_string().contains(why),
            "{err}"
        );
    };
    // One byte of the output changed.
    let mut edited = stored.clone();
    let at = encoded.len() - 30;
    edited[at] ^= 1;
    poke(&dir, "receipts", &key_one, Some(Some(&edited)));
    refused(&one.tx, "does not match its MAC");
    // The other transaction's receipt under this one's id.
    let other = poke(&dir, "receipts", &key_two, None).unwrap();
    poke(&dir, "receipts", &key_one, Some(Some(&other)));
    refused(&one.tx, "is stored as that of");
    // This one's receipt moved to another block.
    poke(&dir, "receipts", &key_one, Some(Some(&stored)));
    poke(&dir, "receipts", &key(7, &one.tx), Some(Some(&stored)));
    let err = read_at(&one.tx, 7).unwrap_err();
    assert!(
        matches!(&err, WorkerError::Corrupt(_)) && err.to_string().contains("at block 1"),
        "{err}"
    );
    poke(&dir, "receipts", &key(7, &one.tx), Some(None));
    // Cut short.
    poke(&dir, "receipts", &key_one, Some(Some(&stored[..20])));
    refused(&one.tx, "too short");
    // Put back, it reads again.
    poke(&dir, "receipts", &key_one, Some(Some(&stored)));
    assert_eq!(read(&one.tx).unwrap(), Some(one));
    assert_eq!(read(&two.tx).unwrap(), Some(two));

    // A store of an earlier format (signed receipts) is refused by name, and left alone.
    poke_meta(&dir, "format", Some(Some(b"fat-worker/6")));
    let err = Store::open(&dir, keyring(), common::store_seal()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("fat-worker/6") && message.contains("fat-worker/9"),
        "{message}"
    );
    assert_eq!(
        poke_meta(&dir, "format", None).as_deref(),
        Some(&b"fat-worker/6"[..])
    );
    // Its format removed, a started store is refused too, not taken for a new one.
    poke_meta(&dir, "format", Some(None));
    let err = Store::open(&dir, keyring(), common::store_seal()).unwrap_err();
    assert!(err.to_string().contains("no format"), "{err}");
    poke_meta(&dir, "format", Some(Some(b"fat-worker/9")));
    Store::open(&dir, keyring(), common::store_seal()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

fn log_line(seq: u64) -> fat_proto::worker::LogLine {
    fat_proto::worker::LogLine {
        seq,
        height: 1,
        index: seq as u32,
        tx: fat_types::TxId([seq as u8 + 1; 32]),
        level: "info".into(),
        message: format!("line {seq}"),
    }
}

/// Log lines are stored as borsh ‖ a MAC under the worker's seal over their key and bytes
/// (pinned here), and the contract's record (in the sealed records digest) counts them: a
/// line edited, moved to another place, cut short, or removed from the middle or the end
/// of the log is refused when read, and reads again once put back.
#[test]
fn log_lines_altered_moved_or_removed_on_disk_are_refused() {
    let dir = dir("logs");
    let lines: Vec<_> = (0..4).map(log_line).collect();
    {
        let store = Store::open(&dir, keyring(), common::store_seal()).unwrap();
        store.start(&header(0)).unwrap();
        let mut changes = BlockChanges::default();
        let mut a = record(A, 0);
        a.logs = 4;
        changes.contracts.insert(A, a);
        changes.logs = lines.iter().map(|line| (A, line.clone())).collect();
        store.commit(&header(1), changes, true).unwrap();
    }
    let read = |from: u64, limit: usize| {
        let store = Store::open(&dir, keyring(), common::store_seal()).unwrap();
        store.snapshot().unwrap().logs(&A, from, limit)
    };
    assert_eq!(read(0, 10).unwrap(), lines);
    assert_eq!(read(1, 2).unwrap(), lines[1..3]);

    let key = |seq: u64| {
        let mut key = A.as_bytes().to_vec();
        key.extend_from_slice(&seq.to_be_bytes());
        key
    };
    // The stored form: the line's canonical encoding, then its 32-byte MAC.
    let stored = poke(&dir, "logs", &key(1), None).unwrap();
    let encoded = fat_types::encoding::encode(&lines[1]);
    assert_eq!(&stored[..encoded.len()], encoded.as_slice());
    assert_eq!(
        hex::encode(&stored[encoded.len()..]),
        "9028402d1c76e5fb25f50e02974ec2fa7fc9b60617645976c2b87a81380fb8df",
        "the log MAC of the tests' seal (a format change is deliberate)"
    );
    let refused = |from: u64, why: &str| {
        let err = read(from, 10).unwrap_err();
        assert!(
            matches!(&err, WorkerError::Corrupt(_)) && err.to_string().contains(why),
            "{err}"
        );
    };
    // One byte of the message changed.
    let mut edited = stored.clone();
    edited[encoded.len() - 2] ^= 1;
    poke(&dir, "logs", &key(1), Some(Some(&edited)));
    refused(0, "does not match its MAC");
    // Line 2 in line 1's place.
    let two = poke(&dir, "logs", &key(2), None).unwrap();
    poke(&dir, "logs", &key(1), Some(Some(&two)));
    refused(0, "does not match its MAC");
    // Cut short.
    poke(&dir, "logs", &key(1), Some(Some(&stored[..20])));
    refused(0, "too short");
    // Removed from the middle.
    poke(&dir, "logs", &key(1), Some(None));
    refused(0, "log line 1 of contract");
    poke(&dir, "logs", &key(1), Some(Some(&stored)));
    assert_eq!(read(0, 10).unwrap(), lines);
    // Removed from the end: the record counts four.
    let last = poke(&dir, "logs", &key(3), Some(None)).unwrap();
    refused(0, "log line 3 of contract");
    refused(2, "log line 3 of contract");
    poke(&dir, "logs", &key(3), Some(Some(&last)));
    assert_eq!(read(0, 10).unwrap(), lines);
    let _ = std::fs::remove_dir_all(&dir);
}
