//! Endpoint parsing: any string gives an endpoint or a typed error; reading its
//! addresses never asks a resolver (names are resolved before reaching a driver).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtx_emul::Endpoint;
use vtx_emul::endpoint::Host;

fuzz_target!(|s: &str| {
    if let Ok(e) = Endpoint::parse(s) {
        assert_eq!(e.as_str(), s);
        assert!(s.starts_with(e.scheme()));
        if let Ok(hp) = e.host_port() {
            let addrs = e.addrs(true);
            if matches!(hp.host, Host::Name(_)) {
                assert!(addrs.is_err(), "a name read without resolving it");
            } else {
                assert!(addrs.is_ok_and(|a| a.iter().all(|a| a.port() == hp.port)));
            }
        }
    }
});
