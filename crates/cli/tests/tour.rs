//! The README's five-minute tour and the tutorial, run as a new user would: every `$ ` line
//! of their `console` blocks runs in one shell, in order, against a real `fat dev`; where a
//! block shows output, the command must print exactly that. The tutorial's `rust` blocks are
//! its contract's `src/lib.rs`; it runs against a local fake price API and bot API.
//!
//! Two adjustments, both for the test's sake: `fat dev` lines start the node the test already
//! runs (on a free port, `FAT_RPC` pointing at it, `--allow-local-http` for the fakes), and
//! each project's `target` links to one shared directory so the SDK is compiled once per
//! machine rather than once per run.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use common::{Dev, TempDir};

/// One `$ ` command of a doc and the output shown under it.
#[derive(Debug)]
struct Step {
    command: String,
    output: Vec<String>,
}

fn read_doc(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path)).unwrap()
}

/// The steps of the doc's ```console blocks.
fn steps(doc: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut in_console = false;
    for line in doc.lines() {
        if let Some(info) = line.strip_prefix("```") {
            in_console = !in_console && info.trim() == "console";
            continue;
        }
        if !in_console {
            continue;
        }
        match line.strip_prefix("$ ") {
            Some(command) => steps.push(Step {
                command: command.into(),
                output: Vec::new(),
            }),
            None => steps.last_mut().unwrap().output.push(line.into()),
        }
    }
    steps
}

/// The doc's ```rust blocks, concatenated.
fn rust_code(doc: &str) -> String {
    let mut code = String::new();
    let mut in_rust = false;
    for line in doc.lines() {
        if let Some(info) = line.strip_prefix("```") {
            in_rust = !in_rust && info.trim() == "rust";
            continue;
        }
        if in_rust {
            code.push_str(line);
            code.push('\n');
        }
    }
    code
}

/// The shared target directory the docs' projects build into.
fn shared_target() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_fat"));
    bin.parent().unwrap().parent().unwrap().join("fat-new")
}

/// Run the doc's steps in one shell in `dir`; `lib_rs`, when given, replaces `src/lib.rs`
/// before the first `fat build`.
fn run_doc(doc: &str, dir: &Path, dev: &Dev, lib_rs: Option<&str>, env: &[(&str, String)]) {
    let steps = steps(doc);
    assert!(
        steps.iter().any(|s| s.command.starts_with("fat ")),
        "no fat commands"
    );
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_fat")).parent().unwrap();
    let mut script = String::from("set -e\n");
    let mut built = false;
    for (i, step) in steps.iter().enumerate() {
        script.push_str(&format!("echo '@@@ {i}'\n"));
        if step.command.starts_with("fat dev") {
            continue;
        }
        if step.command.starts_with("fat build")
            && !built
            && let Some(code) = lib_rs
        {
            script.push_str(&format!("cat > src/lib.rs <<'FAT_EOF'\n{code}FAT_EOF\n"));
            built = true;
        }
        script.push_str(&step.command);
        script.push('\n');
        if let Some(name) = step.command.strip_prefix("fat new ") {
            let name = name.split_whitespace().next().unwrap();
            script.push_str(&format!("ln -s \"$FAT_TEST_TARGET\" {name}/target\n"));
        }
    }
    script.push_str(&format!("echo '@@@ {}'\n", steps.len()));
    std::fs::create_dir_all(shared_target()).unwrap();
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(&script)
        .current_dir(dir)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("FAT_RPC", &dev.url)
        .env("FAT_HOME", dir.join(".fat-home"))
        .env("FAT_TEST_TARGET", shared_target())
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("FAT_SDK");
    for (key, value) in env {
        command.env(key, value);
    }
    let out = common::run(&mut command);
    assert_eq!(
        out.code, 0,
        "a doc command failed:\n{out:#?}\nscript:\n{script}"
    );
    // Check each step's output where the doc shows one.
    let mut sections = out.stdout.split("@@@ ").skip(1);
    for step in &steps {
        let section = sections.next().unwrap();
        let printed: Vec<&str> = section.lines().skip(1).collect();
        if !step.output.is_empty() {
            assert_eq!(
                printed, step.output,
                "`{}` printed something else than the doc shows",
                step.command
            );
        }
    }
}

#[test]
fn readme_tour() {
    let readme = read_doc("README.md");
    let dev = Dev::start("tour", &[]);
    let dir = TempDir::new("tour-user");
    run_doc(&readme, dir.path(), &dev, None, &[]);
}

/// A request a fake service received: method, path, body.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// A one-route-fits-all HTTP/1.1 service on loopback answering `answer` as JSON.
fn fake_service(answer: &'static str) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut length = 0;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let mut parts = request_line.split_whitespace();
            let method = parts.next().unwrap_or_default().to_string();
            let path = parts.next().unwrap_or_default().to_string();
            log.lock()
                .unwrap()
                .push((method, path, String::from_utf8_lossy(&body).into()));
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, seen)
}

#[test]
fn tutorial() {
    let tutorial = read_doc("docs/tutorial.md");
    let code = rust_code(&tutorial);
    let lines = code.lines().filter(|l| !l.trim().is_empty()).count();
    assert!(lines < 100, "the tutorial's contract has {lines} lines");

    let (price_url, _) = fake_service(r#"{"USD": 64123.5}"#);
    let (bot_url, bot) = fake_service(r#"{"ok": true}"#);
    let dev = Dev::start("tutorial", &["--allow-local-http"]);
    let dir = TempDir::new("tutorial-user");
    run_doc(
        &tutorial,
        dir.path(),
        &dev,
        Some(&code),
        &[
            (
                "PRICE_URL",
                format!("{price_url}/data/price?fsym=BTC&tsyms=USD"),
            ),
            ("BOT_URL", bot_url),
            ("TOKEN", "123:secret".into()),
            ("CHAT_ID", "7".into()),
        ],
    );
    let posts = bot.lock().unwrap().clone();
    assert_eq!(posts.len(), 1, "{posts:?}");
    let (method, path, body) = &posts[0];
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("POST", "/bot123:secret/sendMessage")
    );
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"chat_id": 7, "text": "BTC price: $64123.5"})
    );
}

#[test]
fn docs_parse() {
    let readme = steps(&read_doc("README.md"));
    assert_eq!(readme[0].command, "fat new my-counter --template counter");
    assert!(readme.iter().any(|s| s.command.starts_with("fat query")));
    let tutorial = steps(&read_doc("docs/tutorial.md"));
    assert_eq!(tutorial[0].command, "fat dev");
    assert!(
        tutorial
            .iter()
            .any(|s| s.command == "fat query $BOT report")
    );
}

/// Write a standalone crate `name` in `dir` with `lib_rs`, building into the shared target.
fn project(dir: &Path, name: &str, crate_type: &str, lib_rs: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.join("src")).unwrap();
    std::fs::write(
        path.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
             [lib]\ncrate-type = [{crate_type}]\n\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(path.join("src/lib.rs"), lib_rs).unwrap();
    std::os::unix::fs::symlink(shared_target(), path.join("target")).unwrap();
    path
}

#[test]
fn build_json_and_refusals() {
    let dir = TempDir::new("build");
    let h = dir.path();
    std::fs::create_dir_all(shared_target()).unwrap();
    let fat = |args: &[&str]| {
        common::run(
            common::fat(h)
                .args(args)
                .current_dir(h)
                .env_remove("CARGO_TARGET_DIR"),
        )
    };
    fat(&["new", "json-counter"]).ok();
    std::os::unix::fs::symlink(shared_target(), h.join("json-counter/target")).unwrap();
    let built = fat(&["build", "json-counter", "--json"]).json();
    assert!(
        built["wasm"]
            .as_str()
            .unwrap()
            .ends_with("json_counter.wasm"),
        "{built}"
    );
    common::golden("build.json", &common::normalized(&built));

    let plain = project(h, "not-a-contract", "\"cdylib\"", "pub fn f() {}\n");
    fat(&["build", plain.to_str().unwrap()]).refused("does not export the contract world");
    let rlib = project(h, "only-rlib", "\"rlib\"", "pub fn f() {}\n");
    fat(&["build", rlib.to_str().unwrap()]).refused("the build made no .wasm");
    let broken = project(h, "broken", "\"cdylib\"", "pub fn f() -> u8 { \"no\" }\n");
    let out = fat(&["build", broken.to_str().unwrap(), "--json"]);
    out.refused("cargo build failed");
    assert!(
        out.stderr.contains("mismatched types"),
        "cargo's own errors show: {out:?}"
    );
}
