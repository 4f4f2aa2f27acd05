//! The command line without a network: `--help` pinned by golden files, and every refusal
//! that needs no node prints a clear message and exits non-zero.

mod common;

use common::{TempDir, fat_run, golden};

#[test]
fn help_is_pinned() {
    let home = TempDir::new("help");
    let commands: &[&[&str]] = &[
        &[],
        &["dev"],
        &["chain"],
        &["worker"],
        &["gatekeeper"],
        &["new"],
        &["build"],
        &["deploy"],
        &["command"],
        &["query"],
        &["logs"],
        &["status"],
        &["account"],
        &["account", "new"],
        &["account", "list"],
        &["account", "show"],
        &["transfer"],
        &["cluster"],
        &["cluster", "create"],
        &["cluster", "add-worker"],
        &["cluster", "remove-worker"],
        &["cluster", "list"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let out = fat_run(home.path(), &args);
        let name = if command.is_empty() {
            "help.txt".to_string()
        } else {
            format!("help-{}.txt", command.join("-"))
        };
        golden(&name, out.ok());
    }
}

#[test]
fn no_node_says_what_to_do() {
    let home = TempDir::new("no-node");
    let rpc = format!("http://127.0.0.1:{}", common::free_port());
    let id = "00".repeat(32);
    for args in [
        vec!["status"],
        vec!["query", &id, "get"],
        vec!["command", &id, "increment"],
        vec!["logs", &id],
    ] {
        let mut args = args.clone();
        args.extend(["--rpc", &rpc]);
        let out = fat_run(home.path(), &args);
        out.refused(&format!(
            "error: no node at {rpc}: start one with 'fat dev'"
        ));
        assert_eq!(out.code, 1);

        args.push("--json");
        let out = fat_run(home.path(), &args);
        assert_eq!(out.code, 1);
        assert!(out.stdout.is_empty());
        let error: serde_json::Value = serde_json::from_str(&out.stderr).unwrap();
        assert_eq!(error["error"]["code"], "no_node", "{out:?}");
        assert_eq!(
            error["error"]["message"],
            format!("no node at {rpc}: start one with 'fat dev'")
        );
    }
    // The default URL and FAT_RPC.
    let out = common::run(
        common::fat(home.path())
            .args(["status"])
            .env("FAT_RPC", &rpc),
    );
    out.refused(&format!("no node at {rpc}"));
}

#[test]
fn refusals_without_a_node() {
    let home = TempDir::new("refusals");
    let h = home.path();
    let id = "ab".repeat(32);
    fat_run(h, &["query", "xyz", "get"]).refused("'xyz' is not a contract id");
    fat_run(h, &["command", &id, "increment", "{by: 2}"]).refused("the arguments are not JSON");
    fat_run(h, &["command", &id, "increment", "--as", "dave"]).refused(
        "unknown account 'dave': use a dev account (alice, bob, charlie) or create it with \
         `fat account new dave`",
    );
    fat_run(h, &["status", "--rpc", "localhost"]).refused("is not a node URL");
    fat_run(h, &["deploy", "missing.wasm"]).refused("cannot read missing.wasm");
    let text = h.join("text.wasm");
    std::fs::write(&text, "hello").unwrap();
    fat_run(h, &["deploy", text.to_str().unwrap()]).refused("is not a WebAssembly file");
    let core = h.join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    fat_run(h, &["deploy", core.to_str().unwrap()])
        .refused("is a core WebAssembly module, not a component");
    let copy_bomb = h.join("copy-bomb.wasm");
    std::fs::write(&copy_bomb, fat_test_programs::copy_bomb()).unwrap();
    fat_run(h, &["deploy", copy_bomb.to_str().unwrap()])
        .refused("which it provides itself: a call between two of its own core instances");
    fat_run(h, &["deploy", core.to_str().unwrap(), "--cluster", "nope"])
        .refused("'nope' is not a cluster id");
    fat_run(h, &["build", h.to_str().unwrap()]).refused("no Cargo.toml at");
    fat_run(h, &["dev", "--workers", "0"]).refused("--workers must be at least 1");
    fat_run(h, &["dev", "--workers", "2", "--clusters", "3"])
        .refused("--clusters must be between 1 and --workers (2), not 3");
    fat_run(h, &["gatekeeper"]).refused("only the dev gatekeeper can run here");

    // `fat new`.
    let project = h.join("p1");
    fat_run(h, &["new", project.to_str().unwrap()]).ok();
    fat_run(h, &["new", project.to_str().unwrap()]).refused("exists already");
    fat_run(h, &["new", h.join("1bad").to_str().unwrap()]).refused("cannot name a package");
    fat_run(
        h,
        &["new", h.join("p2").to_str().unwrap(), "--sdk", "/nowhere"],
    )
    .refused("cannot find the fat SDK");
    let out = fat_run(h, &["new", "p3", "--template", "nope"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("invalid value 'nope'"), "{out:?}");

    // Accounts.
    fat_run(h, &["account", "new", "alice"]).refused("'alice' is a dev account already");
    fat_run(h, &["account", "new", "a/b"]).refused("is not an account name");
    fat_run(h, &["account", "show", "dave"]).refused("or give an account id (64 hex digits)");
    fat_run(h, &["transfer", "dave", "5"]).refused("unknown account 'dave'");
    let out = fat_run(h, &["transfer", "bob", "-5"]);
    assert_eq!(out.code, 2, "a negative amount is a usage error: {out:?}");
    let out = fat_run(h, &["transfer", "bob", "many"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("invalid value 'many'"), "{out:?}");
}

#[test]
fn accounts() {
    let home = TempDir::new("accounts");
    let h = home.path();
    let list = fat_run(h, &["account", "list", "--json"]).json();
    golden("account-list.json", &common::normalized(&list));
    let made = fat_run(h, &["account", "new", "dave", "--json"]).json();
    assert_eq!(made["name"], "dave");
    fat_run(h, &["account", "new", "dave"]).refused("account 'dave' exists already");
    let list = fat_run(h, &["--json", "account", "list"]).json();
    assert_eq!(list["accounts"][3]["name"], "dave");
    assert_eq!(list["accounts"][3]["account"], made["account"]);
    assert_eq!(list["accounts"][3]["kind"], "local");
    let human = fat_run(h, &["account", "list"]);
    assert!(human.ok().starts_with("alice "), "{human:?}");
    // A made account signs: without a node the error is about the node, not the account.
    fat_run(
        h,
        &["status", "--as", "dave", "--rpc", "http://127.0.0.1:1"],
    )
    .refused("no node at");
}

#[test]
fn new_writes_a_standalone_project() {
    let home = TempDir::new("new");
    let h = home.path();
    for template in ["counter", "http-bot", "render"] {
        let dir = h.join(format!("my-{template}"));
        let out = fat_run(
            h,
            &[
                "new",
                dir.to_str().unwrap(),
                "--template",
                template,
                "--json",
            ],
        );
        let value = out.json();
        assert_eq!(value["template"], template);
        golden(&format!("new-{template}.json"), &common::normalized(&value));
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("\n[workspace]\n"), "{manifest}");
        assert!(manifest.contains("fat-sdk = { path = \""), "{manifest}");
        assert!(dir.join("src/lib.rs").is_file());
        assert!(dir.join("Cargo.lock").is_file());
    }
    assert!(h.join("my-render/src/kernel.rs").is_file());
    // The native renderer comes along, using the library under the project's name.
    let native = std::fs::read_to_string(h.join("my-render/src/bin/render-native.rs")).unwrap();
    assert!(native.contains("use my_render::kernel"), "{native}");
}
