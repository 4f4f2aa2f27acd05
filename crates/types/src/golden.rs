//! Golden tests: the canonical encodings and hashes of transactions, blocks, certificates,
//! receipts and the genesis.
//! A change here is a change of the wire and disk format: bump the domain tags' versions.

use crate::block::{receipts_root, tx_root};
use crate::encoding::{Bytes, Signature, decode, encode};
use crate::tx::{cluster_id, code_hash, contract_id};
use crate::*;

fn sample_kinds() -> Vec<TxKind> {
    vec![
        TxKind::Transfer {
            to: AccountId([2; 32]),
            amount: 5,
        },
        TxKind::UploadCode {
            code: Bytes(vec![0, 0x61, 0x73, 0x6d]),
        },
        TxKind::Instantiate {
            code_hash: CodeHash([3; 32]),
            cluster: ClusterId([4; 32]),
            salt: Bytes(vec![9]),
            args: Bytes(b"{}".to_vec()),
            gas_limit: 1000,
        },
        TxKind::Command {
            contract: ContractId([5; 32]),
            payload: Bytes(vec![1, 2, 3]),
            gas_limit: 7,
        },
        TxKind::CreateCluster {
            workers: vec![WorkerId([6; 32])],
        },
        TxKind::AddClusterWorker {
            cluster: ClusterId([4; 32]),
            worker: WorkerId([7; 32]),
        },
        TxKind::RegisterWorker {
            worker: WorkerId([6; 32]),
            ecdh_public: Hash32([8; 32]),
            attestation: Attestation {
                provider: "dev".into(),
                report: Bytes(vec![0xaa]),
            },
        },
        TxKind::ProvisionKey {
            cluster: ClusterId([4; 32]),
            epoch: 3,
            cluster_public: Hash32([7; 32]),
            keys: vec![(WorkerId([6; 32]), Bytes(vec![0xbb; 2]))],
        },
        TxKind::PublishContractKey {
            contract: ContractId([3; 32]),
            public_key: Hash32([8; 32]),
        },
        TxKind::RemoveClusterWorker {
            cluster: ClusterId([6; 32]),
            worker: WorkerId([4; 32]),
        },
        TxKind::SetWorkerEndpoint {
            worker: WorkerId([4; 32]),
            endpoint: "http://w".into(),
        },
        TxKind::PublishContractKeys {
            keys: vec![
                (ContractId([3; 32]), Hash32([8; 32])),
                (ContractId([5; 32]), Hash32([9; 32])),
            ],
        },
        TxKind::SetClusterDeployers {
            cluster: ClusterId([4; 32]),
            deployers: Deployers::Accounts(vec![AccountId([2; 32])]),
        },
        TxKind::Reattest {
            worker: WorkerId([6; 32]),
            attestation: Attestation {
                provider: "dev".into(),
                report: Bytes(vec![0xcc]),
            },
        },
    ]
}

fn sample_tx(kind: TxKind) -> SignedTransaction {
    SignedTransaction {
        tx: Transaction {
            chain: Hash32([0xc1; 32]),
            signer: AccountId([1; 32]),
            nonce: 3,
            fee: 10,
            kind,
        },
        signature: Signature([0xcc; 64]),
    }
}

/// Per kind: the canonical encoding of the unsigned transaction after the common prefix
/// (signer `01..`, nonce 3, fee 10), and its id.
const GOLDEN_KINDS: [(&str, &str); 14] = [
    (
        "0002020202020202020202020202020202020202020202020202020202020202020500000000000000",
        "d9aaac14ca88e9ce82a7457b3dd0f04124c2d96b2ac53636638f05c6165948a9",
    ),
    (
        "01040000000061736d",
        "33d70eb96eacc17f8e0818ae9cd93fdcd44cae9f40303323252d89f148b5a645",
    ),
    (
        "02030303030303030303030303030303030303030303030303030303030303030304040404040404040404040404040404040404040404040404040404040404040100000009020000007b7de803000000000000",
        "41f926e24c9d8d068f5c80fe9e5b5f6c8850ff167ea8743f74b9621e09b1cb06",
    ),
    (
        "030505050505050505050505050505050505050505050505050505050505050505030000000102030700000000000000",
        "70edd10a7ac23daa8161ab51cd516af517f272640cf3dc99cc4991483b22e9e3",
    ),
    (
        "04010000000606060606060606060606060606060606060606060606060606060606060606",
        "a01f1e3d3d8d659dbd8e583eaae74af6608dadcaed160b73a8d22791ff110e7d",
    ),
    (
        "0504040404040404040404040404040404040404040404040404040404040404040707070707070707070707070707070707070707070707070707070707070707",
        "d51b91032cb11a5968fe07a3135382a0c778218da203864a9e3da435ba0874a2",
    ),
    (
        "06060606060606060606060606060606060606060606060606060606060606060608080808080808080808080808080808080808080808080808080808080808080300000064657601000000aa",
        "413421cab30adc61ae666b33066c991c34e7383be9a93bb5757860e946403aff",
    ),
    (
        "07040404040404040404040404040404040404040404040404040404040404040403000000070707070707070707070707070707070707070707070707070707070707070701000000060606060606060606060606060606060606060606060606060606060606060602000000bbbb",
        "0800ad14668c8449e92456a3ca6574eed2aeb3c7f73b435f4b5b388f4fe69bd2",
    ),
    (
        "0803030303030303030303030303030303030303030303030303030303030303030808080808080808080808080808080808080808080808080808080808080808",
        "701afea94ebd52302eaf77c97ed5e9f906e48c8580243a307a75e5d648596437",
    ),
    (
        "0906060606060606060606060606060606060606060606060606060606060606060404040404040404040404040404040404040404040404040404040404040404",
        "3d2452240ca029f27949d9508c5bb500629d3be70a21fd17e9e75b7cb6c66af0",
    ),
    (
        "0a040404040404040404040404040404040404040404040404040404040404040408000000687474703a2f2f77",
        "e26e6cabfa0b87d85f5b69e2d8c10faa7e7e86cb67a50829495149cdabdd56ed",
    ),
    (
        "0b020000000303030303030303030303030303030303030303030303030303030303030303080808080808080808080808080808080808080808080808080808080808080805050505050505050505050505050505050505050505050505050505050505050909090909090909090909090909090909090909090909090909090909090909",
        "9638b38be0db318ac948dd68371df74aaa8b33e4a141b7536a44c076b6ed792f",
    ),
    (
        "0c040404040404040404040404040404040404040404040404040404040404040402010000000202020202020202020202020202020202020202020202020202020202020202",
        "8696a4922e9109633ec8b75b89e8e4a5cb0d4081fbbaa8ef139f015148b63d74",
    ),
    (
        "0d06060606060606060606060606060606060606060606060606060606060606060300000064657601000000cc",
        "00d00b318f39d953a3569a8b088f8d422b5dd394236e15518606bfd645eeec99",
    ),
];

#[test]
fn transaction_encodings_are_pinned() {
    let prefix = format!(
        "{}{}{}{}",
        "c1".repeat(32),
        "01".repeat(32),
        "0300000000000000",
        "0a00000000000000"
    );
    let mut mismatches = Vec::new();
    for (kind, (body, id)) in sample_kinds().into_iter().zip(GOLDEN_KINDS) {
        let signed = sample_tx(kind);
        let bytes = encode(&signed.tx);
        let hex = hex::encode(&bytes);
        assert!(hex.starts_with(&prefix), "common prefix of {hex}");
        let body_hex = &hex[prefix.len()..];
        println!("GOLDEN (\"{body_hex}\", \"{}\"),", signed.id());
        if body_hex != body || signed.id().to_string() != id {
            mismatches.push(format!("{:?}", signed.tx.kind));
        }
        let full = encode(&signed);
        assert_eq!(full, [bytes.clone(), vec![0xcc; 64]].concat());
        let params = ChainParams {
            byte_fee: 3,
            ..ChainParams::default()
        };
        assert_eq!(
            params.min_fee_of(&signed.tx),
            params.min_fee_of_kind(&signed.tx.kind, full.len() as u64),
            "the fee is priced on the signed size"
        );
        let least = params.min_fee_of(&signed.tx);
        let low = crate::Transaction {
            fee: 0,
            ..signed.tx.clone()
        };
        assert_eq!(params.priced(low).fee, least, "a lower fee is raised");
        let high = crate::Transaction {
            fee: least + 1,
            ..signed.tx.clone()
        };
        assert_eq!(params.priced(high).fee, least + 1, "a higher fee is kept");
        assert_eq!(decode::<SignedTransaction>("tx", &full).unwrap(), signed);
    }
    assert!(mismatches.is_empty(), "encodings changed: {mismatches:?}");
}

#[test]
fn block_and_receipt_encodings_are_pinned() {
    let txs = vec![sample_tx(TxKind::Transfer {
        to: AccountId([2; 32]),
        amount: 5,
    })];
    let receipts = vec![
        ChainReceipt {
            tx: txs[0].id(),
            fee: 10,
            outcome: Outcome::Ok,
        },
        ChainReceipt {
            tx: TxId([9; 32]),
            fee: 1,
            outcome: Outcome::Failed(TxRejection::StaleNonce {
                expected: 4,
                got: 3,
            }),
        },
    ];
    let header = BlockHeader {
        height: 7,
        parent: Hash32([0x11; 32]),
        timestamp_ms: 1_767_225_600_000,
        tx_root: tx_root(&txs),
        receipts_root: receipts_root(&receipts),
        state_root: Hash32([0x22; 32]),
    };
    let certificate = Certificate::Ed25519 {
        round: 9,
        signatures: vec![(0, Signature([0x44; 64])), (2, Signature([0x55; 64]))],
    };
    let block = Block {
        header: header.clone(),
        certificate: certificate.clone(),
        txs,
    };
    let golden = [
        (
            "tx_root",
            header.tx_root.to_string(),
            "7784758c369b917daea7c7fc462b24d8e91bb4557739f4106bbfb0e756027d04",
        ),
        (
            "receipts_root",
            header.receipts_root.to_string(),
            "e005a10767acf438f0a38b4de82df2f7830f095dc507da2a8f2ce4fc4a4b8d8f",
        ),
        (
            "header",
            hex::encode(encode(&header)),
            "0700000000000000111111111111111111111111111111111111111111111111111111111111111100a8da769b0100007784758c369b917daea7c7fc462b24d8e91bb4557739f4106bbfb0e756027d04e005a10767acf438f0a38b4de82df2f7830f095dc507da2a8f2ce4fc4a4b8d8f2222222222222222222222222222222222222222222222222222222222222222",
        ),
        (
            "block hash",
            block.hash().to_string(),
            "e35100cc03e1d9635777bfdd4441320c609294ee1ddc846fd04b2d8ac9331ca8",
        ),
        (
            "certificate",
            hex::encode(encode(&certificate)),
            "0109000000000000000200000000000000444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444440200000055555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555",
        ),
        (
            "simplex certificate",
            hex::encode(encode(&Certificate::Simplex {
                view: 300,
                parent_view: 298,
                signatures: vec![(1, Signature([0x66; 64]))],
                descendants: vec![header.clone()],
            })),
            "022c010000000000002a01000000000000010000000100000066666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666666010000000700000000000000111111111111111111111111111111111111111111111111111111111111111100a8da769b0100007784758c369b917daea7c7fc462b24d8e91bb4557739f4106bbfb0e756027d04e005a10767acf438f0a38b4de82df2f7830f095dc507da2a8f2ce4fc4a4b8d8f2222222222222222222222222222222222222222222222222222222222222222",
        ),
        (
            "genesis certificate",
            hex::encode(encode(&Certificate::Genesis)),
            "00",
        ),
        (
            "finalize message",
            finalize_message(9, &block.hash()).to_string(),
            "1cc4f576a3c7b1bcbb0447c8777127b6c3b4b1af08cf8fa73e787b6213ded12c",
        ),
        (
            "receipts",
            hex::encode(encode(&receipts)),
            "02000000d9aaac14ca88e9ce82a7457b3dd0f04124c2d96b2ac53636638f05c6165948a90a000000000000000009090909090909090909090909090909090909090909090909090909090909090100000000000000040404000000000000000300000000000000",
        ),
    ];
    let mut mismatches = Vec::new();
    for (what, actual, expected) in golden {
        println!("GOLDEN {what} {actual}");
        if actual != expected {
            mismatches.push(what);
        }
    }
    assert!(mismatches.is_empty(), "changed: {mismatches:?}");
    assert_eq!(decode::<Block>("block", &encode(&block)).unwrap(), block);
    let block_bytes = encode(&block);
    let header_bytes = encode(&header);
    let certificate_bytes = encode(&certificate);
    assert_eq!(
        &block_bytes[..header_bytes.len() + certificate_bytes.len()],
        [header_bytes, certificate_bytes].concat().as_slice(),
        "a block is its header, its certificate, then its transactions"
    );
}

#[test]
fn genesis_encoding_is_pinned() {
    let genesis = Genesis {
        chain_id: "test".into(),
        timestamp_ms: 1_767_225_600_000,
        validators: vec![AccountId([1; 32]), AccountId([2; 32])],
        // Every parameter spelled out: the golden pins the encoding, not the defaults.
        params: ChainParams {
            max_tx_bytes: 4 << 20,
            max_block_txs: 10_000,
            base_fee: 1,
            byte_fee: 0,
            gas_fee: 1,
            max_tx_gas: 1_000_000_000,
            max_block_gas: 10_000_000_000,
            attestation: AttestationPolicy::default(),
            key_fee: 10,
            cluster_admins: vec![AccountId([5; 32])],
        },
        accounts: vec![(AccountId([3; 32]), 100)],
        gatekeepers: vec![AccountId([4; 32])],
    };
    let golden = [
        (
            "genesis",
            hex::encode(encode(&genesis)),
            "040000007465737400a8da769b010000020000000101010101010101010101010101010101010101010101010101010101010101020202020202020202020202020202020202020202020202020202020202020200004000000000001027000001000000000000000000000000000000010000000000000000ca9a3b0000000000e40b54020000000000000000000000000000000000000000000000000a000000000000000100000005050505050505050505050505050505050505050505050505050505050505050100000003030303030303030303030303030303030303030303030303030303030303036400000000000000010000000404040404040404040404040404040404040404040404040404040404040404",
        ),
        (
            "config hash",
            genesis.config_hash().to_string(),
            "2200d581289a5d9d026fda11766d04ac508accf623a5cd8c4d8abd8e571a41e6",
        ),
    ];
    let mut mismatches = Vec::new();
    for (what, actual, expected) in golden {
        println!("GOLDEN {what} {actual}");
        if actual != expected {
            mismatches.push(what);
        }
    }
    assert!(mismatches.is_empty(), "changed: {mismatches:?}");
    let json = serde_json::to_string(&genesis).unwrap();
    assert_eq!(serde_json::from_str::<Genesis>(&json).unwrap(), genesis);
}

#[test]
fn derived_ids_are_pinned() {
    let deployer = AccountId([1; 32]);
    let golden = [
        (
            "code hash",
            code_hash(b"\0asm").to_string(),
            "003e6ee85b30b92152036efd974c9a3907c65635ec190c05a089b180a57dc03a",
        ),
        (
            "contract id",
            contract_id(&deployer, &CodeHash([3; 32]), &ClusterId([4; 32]), b"salt").to_string(),
            "bb8ca6a546e0d2fe6251be92df7e8639a08ecc0cd3b22014ecb2cd2f4a4627b2",
        ),
        (
            "cluster id",
            cluster_id(&deployer, 3).to_string(),
            "db068e352dd1b1c2e0df04abbc14187d4f91521389d8c952e48fdd5435f79bd3",
        ),
    ];
    let mut mismatches = Vec::new();
    for (what, actual, expected) in golden {
        println!("GOLDEN {what} {actual}");
        if actual != expected {
            mismatches.push(what);
        }
    }
    assert!(mismatches.is_empty(), "changed: {mismatches:?}");
}

#[test]
fn json_forms_are_hex_and_round_trip() {
    let signed = sample_tx(TxKind::Command {
        contract: ContractId([5; 32]),
        payload: Bytes(vec![1, 2, 3]),
        gas_limit: 7,
    });
    let json = serde_json::to_string(&signed).unwrap();
    assert!(json.contains("\"payload\":\"010203\""), "{json}");
    assert!(
        json.contains(&format!("\"contract\":\"{}\"", "05".repeat(32))),
        "{json}"
    );
    assert_eq!(
        serde_json::from_str::<SignedTransaction>(&json).unwrap(),
        signed
    );
    let rejection = serde_json::to_value(TxRejection::StaleNonce {
        expected: 4,
        got: 3,
    })
    .unwrap();
    assert_eq!(
        rejection,
        serde_json::json!({"code": "stale_nonce", "expected": 4, "got": 3})
    );
    let rejection = serde_json::to_value(TxRejection::UnknownContract {
        contract: ContractId([5; 32]),
    })
    .unwrap();
    assert_eq!(rejection["code"], "unknown_contract");
    let certificate = Certificate::Ed25519 {
        round: 3,
        signatures: vec![(1, Signature([0xab; 64]))],
    };
    let json = serde_json::to_value(&certificate).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"scheme": "ed25519", "round": 3, "signatures": [[1, "ab".repeat(64)]]})
    );
    assert_eq!(
        serde_json::from_value::<Certificate>(json).unwrap(),
        certificate
    );
    assert_eq!(
        serde_json::to_value(Certificate::Genesis).unwrap(),
        serde_json::json!({"scheme": "genesis"})
    );
}
