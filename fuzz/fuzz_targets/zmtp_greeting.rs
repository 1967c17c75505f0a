//! The ZMTP greeting decoder: any 64 bytes give a greeting or a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtx_emul::zmtp::greeting::{GREETING_LEN, Greeting};

fuzz_target!(|data: &[u8]| {
    let _ = Greeting::check_prefix(data);
    if let Some(raw) = data.get(..GREETING_LEN) {
        let mut g = [0u8; GREETING_LEN];
        g.copy_from_slice(raw);
        if let Ok(greeting) = Greeting::decode(&g) {
            // What decodes re-encodes to something that decodes the same.
            assert_eq!(
                Greeting::decode(&greeting.encode())
                    .ok()
                    .map(|x| x.mechanism),
                Some(greeting.mechanism)
            );
        }
    }
});
