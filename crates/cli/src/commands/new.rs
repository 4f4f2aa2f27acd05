//! `fat new`: a contract project from a template, outside any workspace.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use serde_json::json;

use super::print_json;

/// The SDK of the checkout this binary was built from.
const BUILT_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk");

/// Create a contract project from a template.
///
/// Creates the project NAME (a directory) from a template. The project depends on the
/// fat SDK by path (`--sdk`, `$FAT_SDK`, or the checkout `fat` was built from) and builds with
/// `fat build`.
#[derive(Debug, Args)]
pub struct NewCommand {
    /// The project's directory; its last component names the package.
    name: PathBuf,
    /// What the contract starts as.
    #[arg(long, value_enum, default_value_t = Template::Counter)]
    template: Template,
    /// The fat SDK crate (`crates/sdk` of a fat checkout) [env: FAT_SDK] [default: the
    /// checkout this `fat` was built from].
    #[arg(long, value_name = "PATH")]
    sdk: Option<PathBuf>,
    /// Machine output: `{"path","package","template","sdk"}`.
    #[arg(long)]
    pub(super) json: bool,
}

/// The templates: the repository's examples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Template {
    /// A number that commands increase and queries read.
    Counter,
    /// A bot that reads a price API and posts to a Telegram-style bot API.
    HttpBot,
    /// A ray tracer rendered tile by tile.
    Render,
}

impl Template {
    fn name(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::HttpBot => "http-bot",
            Self::Render => "render",
        }
    }

    fn files(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Counter => &[(
                "src/lib.rs",
                include_str!("../../../../examples/counter/src/lib.rs"),
            )],
            Self::HttpBot => &[(
                "src/lib.rs",
                include_str!("../../../../examples/http-bot/src/lib.rs"),
            )],
            Self::Render => &[
                (
                    "src/lib.rs",
                    include_str!("../../../../examples/render/src/lib.rs"),
                ),
                (
                    "src/kernel.rs",
                    include_str!("../../../../examples/render/src/kernel.rs"),
                ),
                (
                    "src/bin/render-native.rs",
                    include_str!("../../../../examples/render/src/bin/render-native.rs"),
                ),
            ],
        }
    }
}

fn manifest(package: &str, template: Template, sdk: &Path) -> String {
    let sdk = sdk.display().to_string().replace('\\', "/");
    // The ray tracer also builds natively (its kernel and PNG encoder, for comparison); its
    // contract glue, SDK and base64 only for wasm.
    let (section, opt, extra) = match template {
        Template::Render => (
            "[dependencies]\npng = \"0.18\"\n\n[target.'cfg(target_arch = \"wasm32\")'.dependencies]",
            "3",
            "base64 = \"0.22\"\n",
        ),
        _ => ("[dependencies]", "\"s\"", ""),
    };
    format!(
        r#"[package]
name = "{package}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib", "rlib"]

{section}
# The fat SDK by path: a checkout of the fat repository (`fat new --sdk PATH` or $FAT_SDK
# chose it; by default, the checkout `fat` was built from). Moving the checkout means
# changing this path.
fat-sdk = {{ path = "{sdk}" }}
{extra}
# `fat build` builds in release mode for wasm32-wasip2: small, fast components.
[profile.release]
opt-level = {opt}
lto = true
codegen-units = 1
strip = true
panic = "abort"

# A contract is its own project, never a member of a workspace around it.
[workspace]
"#
    )
}

fn readme(package: &str, template: Template) -> String {
    format!(
        "# {package}\n\nA fat contract, from the `{}` template.\n\n```sh\nfat build\nfat deploy \
         target/wasm32-wasip2/release/{}.wasm\n```\n",
        template.name(),
        package.replace('-', "_")
    )
}

fn valid_package(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl NewCommand {
    /// Write the project.
    pub fn run(self, global_json: bool) -> anyhow::Result<()> {
        let package = self
            .name
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if !valid_package(&package) {
            bail!(
                "'{package}' cannot name a package: start with a letter, then letters, digits, \
                 '-' or '_'"
            );
        }
        if self.name.exists() {
            bail!(
                "{} exists already: pick a new name, or remove it first",
                self.name.display()
            );
        }
        let sdk = self
            .sdk
            .or_else(|| std::env::var_os("FAT_SDK").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(BUILT_SDK));
        let sdk = sdk
            .canonicalize()
            .ok()
            .filter(|p| p.join("Cargo.toml").is_file());
        let Some(sdk) = sdk else {
            bail!(
                "cannot find the fat SDK: pass --sdk PATH (or set FAT_SDK) to the crates/sdk \
                 directory of a fat checkout"
            );
        };
        let dir = &self.name;
        std::fs::create_dir_all(dir.join("src"))
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let mut files = vec![
            (
                "Cargo.toml".to_string(),
                manifest(&package, self.template, &sdk),
            ),
            ("README.md".into(), readme(&package, self.template)),
            (".gitignore".into(), "/target\n".into()),
        ];
        for (path, text) in self.template.files() {
            // The render template's native binary uses the library under its new name.
            let crate_name = package.replace('-', "_");
            let text = text.replace("use render::", &format!("use {crate_name}::"));
            files.push((path.to_string(), text));
        }
        for (path, text) in &files {
            let path = dir.join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        // Pin the same dependency versions the SDK is tested with.
        if let Some(lock) = sdk
            .parent()
            .and_then(Path::parent)
            .map(|r| r.join("Cargo.lock"))
            && lock.is_file()
        {
            let _ = std::fs::copy(&lock, dir.join("Cargo.lock"));
        }
        if global_json || self.json {
            return print_json(&json!({
                "path": dir,
                "package": package,
                "template": self.template.name(),
                "sdk": sdk,
            }));
        }
        println!(
            "created {} from the {} template",
            dir.display(),
            self.template.name()
        );
        println!("next: cd {} && fat build", dir.display());
        Ok(())
    }
}
