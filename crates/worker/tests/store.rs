//! The disk store: blocks commit atomically with their header, snapshots keep seeing the block
//! they were taken at, the store knows up to which block its commits are durable, and state
//! roots match the runtime's definition.

mod common;

use common::{header, record};
use fat_runtime::{StateChanges, StateStore, state_root, state_root_keyed};
use fat_types::{ClusterId, ContractId, TxId};
use std::sync::Arc;

use fat_crypto::ClusterKey;
use fat_worker::store::BlockChanges;
use fat_worker::{Keyring, Store, WorkerError};

/// The state-root key of contract `c` of the tests' cluster key.
fn root_key(c: &ContractId) -> [u8; 32] {
    ClusterKey::from_bytes(0, [5; 32]).contract(c).state_root()
}

fn block(contract: ContractId, writes: &[(&[u8], Option<&[u8]>)], entries: u64) -> BlockChanges {
    let mut changes = BlockChanges::default();
    let writes: StateChanges = writes
        .iter()
        .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
        .collect();
    changes.writes.insert(contract, writes);
    changes
        .contracts
        .insert(contract, record(contract, entries));
    changes
}

#[test]
fn snapshots_are_isolated_and_commits_carry_the_height() {
    let dir = std::env::temp_dir().join(format!("fat-worker-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let c = ContractId([7; 32]);
    let keyring = Arc::new(Keyring::default());
    keyring.add_cluster(ClusterId([2; 32]), ClusterKey::from_bytes(0, [5; 32]));
    {
        let store = Store::open(&dir, keyring.clone(), common::store_seal()).unwrap();
        assert_eq!(store.start(&header(0)).unwrap(), header(0));
        let one: &[u8] = b"1";
        store
            .commit(
                &header(1),
                block(c, &[(b"a", Some(one)), (b"k", Some(one))], 2),
                true,
            )
            .unwrap();
        assert_eq!(store.durable_height(), 1);
        let before = store.snapshot().unwrap();
        // Queries share one snapshot until a write commits.
        let shared = store.shared_snapshot().unwrap();
        assert!(Arc::ptr_eq(&shared, &store.shared_snapshot().unwrap()));
        assert_eq!(shared.get(&c, b"k").unwrap(), Some(b"1".to_vec()));
        let two: &[u8] = b"2";
        store
            .commit(
                &header(2),
                block(c, &[(b"k", Some(two)), (b"a", None)], 1),
                false,
            )
            .unwrap();
        // Visible at once, durable not yet.
        assert_eq!(store.durable_height(), 1);
        assert_eq!(before.head().unwrap().height, 1);
        assert_eq!(before.get(&c, b"k").unwrap(), Some(b"1".to_vec()));
        assert_eq!(before.entry_count(&c).unwrap(), 2);
        assert_eq!(before.scan(&c, b"", None, 10).unwrap().len(), 2);
        assert_eq!(
            before.scan(&c, b"", Some(b"a"), 10).unwrap(),
            vec![(b"k".to_vec(), b"1".to_vec())]
        );
        let after = store.snapshot().unwrap();
        assert_eq!(after.head().unwrap().height, 2);
        // The write retired the shared snapshot: the next one sees it, and whoever held the
        // old one still reads block 1.
        let shared_after = store.shared_snapshot().unwrap();
        assert!(!Arc::ptr_eq(&shared, &shared_after));
        assert_eq!(shared_after.head().unwrap().height, 2);
        assert_eq!(shared_after.get(&c, b"k").unwrap(), Some(b"2".to_vec()));
        assert_eq!(shared.get(&c, b"k").unwrap(), Some(b"1".to_vec()));
        assert_eq!(after.get(&c, b"k").unwrap(), Some(b"2".to_vec()));
        assert_eq!(after.get(&c, b"a").unwrap(), None);
        assert_eq!(after.entry_count(&c).unwrap(), 1);
        let record = after.contract(&c).unwrap().unwrap();
        assert_eq!(
            record.state_root,
            state_root_keyed(&c, root_key(&c), [(&b"k"[..], &b"2"[..])])
        );
        // Keyed: not the root anyone could compute from a guess of the state.
        assert_ne!(record.state_root, state_root(&c, [(&b"k"[..], &b"2"[..])]));
        assert!(after.receipt(&TxId([0; 32]), 2).unwrap().is_none());
        // The second commit was not durable; a flush makes it so (a write, too).
        store.flush().unwrap();
        assert_eq!(store.durable_height(), 2);
        assert!(!Arc::ptr_eq(
            &shared_after,
            &store.shared_snapshot().unwrap()
        ));
    }
    // Reopened: the same head, and a store of another chain is refused.
    let store = Store::open(&dir, keyring.clone(), common::store_seal()).unwrap();
    assert_eq!(
        store.durable_height(),
        2,
        "what a store opens with is durable"
    );
    assert_eq!(store.start(&header(0)).unwrap(), header(2));
    let mut other = header(0);
    other.timestamp_ms = 1;
    let refused = store.start(&other).unwrap_err();
    assert!(
        matches!(
            &refused,
            WorkerError::ForeignChain { found, expected }
                if *found == header(0).hash() && *expected == other.hash()
        ),
        "{refused}"
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn state_values_are_encrypted_on_disk() {
    let dir = std::env::temp_dir().join(format!("fat-worker-at-rest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let c = ContractId([7; 32]);
    let secret: &[u8] = b"the-stored-plaintext-4f1c9a";
    let keyring = Arc::new(Keyring::default());
    keyring.add_cluster(ClusterId([2; 32]), ClusterKey::from_bytes(0, [5; 32]));
    {
        let store = Store::open(&dir, keyring.clone(), common::store_seal()).unwrap();
        store.start(&header(0)).unwrap();
        store
            .commit(&header(1), block(c, &[(b"k", Some(secret))], 1), true)
            .unwrap();
        let snapshot = store.snapshot().unwrap();
        assert_eq!(snapshot.get(&c, b"k").unwrap(), Some(secret.to_vec()));
        let record = snapshot.contract(&c).unwrap().unwrap();
        assert_eq!(
            record.state_root,
            state_root_keyed(&c, root_key(&c), [(&b"k"[..], secret)])
        );
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        if bytes.windows(secret.len()).any(|w| w == secret) {
            found.push(path);
        }
    }
    assert!(found.is_empty(), "plaintext found in {found:?}");

    // Another cluster key cannot read it, and says so.
    let wrong = Arc::new(Keyring::default());
    wrong.add_cluster(ClusterId([2; 32]), ClusterKey::from_bytes(0, [6; 32]));
    let store = Store::open(&dir, wrong, common::store_seal()).unwrap();
    let err = store
        .snapshot()
        .unwrap()
        .get(&c, b"k")
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not decrypt"), "{err}");
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_incremental_state_root_matches_one_computed_from_scratch() {
    let dir = std::env::temp_dir().join(format!("fat-worker-roots-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let c = ContractId([7; 32]);
    let keyring = Arc::new(Keyring::default());
    keyring.add_cluster(ClusterId([2; 32]), ClusterKey::from_bytes(0, [5; 32]));
    let store = Store::open(&dir, keyring, common::store_seal()).unwrap();
    store.start(&header(0)).unwrap();
    let mut x: u64 = 7;
    for height in 1..=30u64 {
        let mut writes: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        for _ in 0..8 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = format!("k{}", (x >> 33) % 20).into_bytes();
            let v = (!(x >> 13).is_multiple_of(3)).then(|| format!("v{}", x >> 40).into_bytes());
            writes.push((k, v));
        }
        let refs: Vec<(&[u8], Option<&[u8]>)> = writes
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_deref()))
            .collect();
        let snapshot = store.snapshot().unwrap();
        let entries = snapshot.entry_count(&c).unwrap();
        drop(snapshot);
        store
            .commit(&header(height), block(c, &refs, entries), height % 7 == 0)
            .unwrap();
        let snapshot = store.snapshot().unwrap();
        let all = snapshot.scan(&c, b"", None, 1000).unwrap();
        let expected = state_root_keyed(
            &c,
            root_key(&c),
            all.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
        );
        assert_eq!(snapshot.contract(&c).unwrap().unwrap().state_root, expected);
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn roots_are_kept_per_block_and_a_received_state_installs_only_if_it_hashes_to_its_root() {
    let dir = common::temp_dir("store-install");
    let (c, d) = (ContractId([7; 32]), ContractId([8; 32]));
    let cluster = ClusterId([2; 32]);
    let keyring = Arc::new(Keyring::default());
    keyring.add_cluster(cluster, ClusterKey::from_bytes(0, [5; 32]));
    let store = Store::open(&dir, keyring, common::store_seal()).unwrap();
    store.start(&header(0)).unwrap();
    let one: &[u8] = b"1";
    store
        .commit(&header(1), block(c, &[(b"a", Some(one))], 1), true)
        .unwrap();
    let r1 = store
        .snapshot()
        .unwrap()
        .contract(&c)
        .unwrap()
        .unwrap()
        .state_root;
    store
        .commit(&header(3), block(c, &[(b"a", None)], 0), true)
        .unwrap();
    let r3 = store
        .snapshot()
        .unwrap()
        .contract(&c)
        .unwrap()
        .unwrap()
        .state_root;
    assert_ne!(r1, r3);
    let snapshot = store.snapshot().unwrap();
    let at = |h| snapshot.root_at(&c, h).unwrap();
    assert_eq!(
        [at(0), at(1), at(2), at(3), at(9)],
        [None, Some(r1), Some(r1), Some(r3), Some(r3)]
    );

    // A contract received from another member, as of block 7.
    let entries = vec![
        (b"a".to_vec(), b"1".to_vec()),
        (b"b".to_vec(), b"2".to_vec()),
    ];
    let root = store.root_of_entries(&record(d, 0).info, &entries).unwrap();
    let received = |root, entries: Vec<(Vec<u8>, Vec<u8>)>| fat_worker::store::Received {
        record: fat_worker::ContractRecord {
            state_root: root,
            ..record(d, 0)
        },
        height: 7,
        entries,
    };
    let mut changed = entries.clone();
    changed[1].1 = b"3".to_vec();
    match store.install(received(root, changed)) {
        Err(WorkerError::Snapshot(why)) => assert!(why.contains("hash to"), "{why}"),
        other => panic!("a changed value installed: {other:?}"),
    }
    let mut reordered = entries.clone();
    reordered.reverse();
    match store.install(received(root, reordered)) {
        Err(WorkerError::Snapshot(why)) => assert!(why.contains("key order"), "{why}"),
        other => panic!("entries out of order installed: {other:?}"),
    }
    assert!(store.snapshot().unwrap().contract(&d).unwrap().is_none());
    store.install(received(root, entries.clone())).unwrap();
    let snapshot = store.snapshot().unwrap();
    let installed = snapshot.contract(&d).unwrap().unwrap();
    assert_eq!(
        (
            installed.synced_through,
            installed.entries,
            installed.state_root
        ),
        (7, 2, root)
    );
    assert_eq!(snapshot.get(&d, b"b").unwrap(), Some(b"2".to_vec()));
    assert_eq!(snapshot.entries(&d).unwrap(), entries);
    assert_eq!(snapshot.root_at(&d, 6).unwrap(), None);
    assert_eq!(snapshot.root_at(&d, 7).unwrap(), Some(root));
    match store.install(received(root, entries)) {
        Err(WorkerError::Snapshot(why)) => assert!(why.contains("already here"), "{why}"),
        other => panic!("installed twice: {other:?}"),
    }
}
