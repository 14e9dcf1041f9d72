//! The scenario parser and validator on arbitrary bytes: never a panic, never an unbounded
//! allocation; what is accepted resolves, is estimated, and reads back as itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sim_core::scenario::exercise(data);
});
