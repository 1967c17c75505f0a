//! The pattern layer stays sans-IO: no poller, no libzmq, no sockets, no clock, no threads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

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

#[test]
fn pattern_layer_does_no_io() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/pattern");
    let mut files = Vec::new();
    sources(&dir, &mut files);
    assert!(files.len() >= 5, "pattern sources found: {}", files.len());
    let forbidden = [
        "mio::",
        "zmq::",
        "zmq_sys",
        "std::net",
        "Instant::now",
        "SystemTime",
        "std::thread",
        "std::fs",
        "thread_rng",
        "rand::rng",
    ];
    for (path, text) in &files {
        // Unit tests at the end of a file may read the clock; the code above them may not.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for f in forbidden {
                assert!(
                    !line.contains(f),
                    "{path}: `{f}` in the sans-IO pattern layer: {line}"
                );
            }
        }
    }
    let root = std::fs::read_to_string(dir.join("mod.rs")).unwrap();
    assert!(root.contains("#![forbid(unsafe_code)]"));
}
