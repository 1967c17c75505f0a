//! Endpoint parsing: any string gives an endpoint or a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtx_emul::Endpoint;

fuzz_target!(|s: &str| {
    if let Ok(e) = Endpoint::parse(s) {
        assert_eq!(e.as_str(), s);
        assert!(s.starts_with(e.scheme()));
        if let Ok(hp) = e.host_port() {
            let _ = hp.port;
        }
    }
});
