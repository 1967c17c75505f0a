//! The sans-IO layer stays sans-IO, checked two ways:
//!
//! - the crate without its `runtime` feature depends on no I/O crate (`cargo tree`),
//!   and `scripts/test` builds it that way, so the patterns, sessions and codecs
//!   compile with no libzmq, mio, libc or sockets at all;
//! - the sans-IO modules name no clock, thread, socket, file or process, whatever the
//!   path they would take (`use std::{net}` included): identifiers are checked, not
//!   strings.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

/// Crates that do I/O, read a clock or make randomness: none may be below the sans-IO
/// build.
const IO_CRATES: [&str; 9] = [
    "zmq",
    "zmq-sys",
    "zeromq-src",
    "mio",
    "libc",
    "socket2",
    "rand",
    "getrandom",
    "quinn-udp",
];

#[test]
fn without_the_runtime_no_io_crate_is_a_dependency() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--locked", "-e", "normal", "--prefix", "none"])
        .args([
            "--format",
            "{p}",
            "--no-default-features",
            "--manifest-path",
        ])
        .arg(&manifest)
        .args(["-p", "vtx-emul"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"vtx-emul"), "{tree}");
    for c in IO_CRATES {
        assert!(
            !crates.contains(&c),
            "`{c}` is a dependency of vtx-emul without its runtime:\n{tree}"
        );
    }
    // And with it, they are: the check looks at the right tree.
    let with = Command::new(env!("CARGO"))
        .args(["tree", "--locked", "-e", "normal", "--prefix", "none"])
        .args(["--format", "{p}", "--manifest-path"])
        .arg(&manifest)
        .args(["-p", "vtx-emul"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&with.stdout).contains("mio "));
}

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
}

/// The code's identifiers, with comments, strings and `#[cfg(test)]` tails removed.
fn identifiers(text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = code.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if in_str {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        if c == '/' && chars.peek() == Some(&'/') {
            for c in chars.by_ref() {
                if c == '\n' {
                    break;
                }
            }
            continue;
        }
        if c == '"' {
            in_str = true;
            continue;
        }
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            if c == ':' && chars.peek() == Some(&':') {
                chars.next();
                out.push("::".into());
            }
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

#[test]
fn the_sans_io_modules_name_no_clock_thread_socket_or_file() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for module in ["pattern", "session", "zmtp"] {
        sources(&src.join(module), &mut files);
    }
    for file in ["msg.rs", "options.rs", "socket_type.rs", "timer.rs"] {
        let path = src.join(file);
        files.push((
            path.display().to_string(),
            std::fs::read_to_string(&path).unwrap(),
        ));
    }
    assert!(files.len() >= 14, "sans-IO sources found: {}", files.len());
    let forbidden = [
        "net",
        "fs",
        "thread",
        "process",
        "SystemTime",
        "UdpSocket",
        "TcpStream",
        "TcpListener",
        "mio",
        "zmq",
        "zmq_sys",
        "libc",
        "socket2",
        "rand",
        "thread_rng",
    ];
    for (path, text) in &files {
        let ids = identifiers(text);
        for f in forbidden {
            assert!(
                !ids.iter().any(|i| i == f),
                "{path}: `{f}` in the sans-IO layer"
            );
        }
        // Time comes in as an argument: `Instant` may be named, never read.
        assert!(
            !ids.windows(3)
                .any(|w| w[0] == "Instant" && w[1] == "::" && w[2] == "now"),
            "{path}: reads the clock"
        );
    }
    let root = std::fs::read_to_string(src.join("pattern/mod.rs")).unwrap();
    assert!(root.contains("#![forbid(unsafe_code)]"));
}

/// The checker itself sees through the path forms a grep would miss.
#[test]
fn the_identifier_check_sees_every_path_form() {
    for sneaky in [
        "use std::{net};",
        "use std::{io, net::UdpSocket};",
        "let s = std :: net :: TcpStream::connect(a);",
        "let t = std::time::Instant::now();",
    ] {
        let ids = identifiers(sneaky);
        let caught = ids
            .iter()
            .any(|i| ["net", "TcpStream", "UdpSocket"].contains(&i.as_str()))
            || ids.windows(3).any(|w| w[0] == "Instant" && w[2] == "now");
        assert!(caught, "{sneaky}");
    }
    assert!(
        !identifiers("// std::net in a comment\nlet s = \"net\";").contains(&"net".to_string())
    );
}
