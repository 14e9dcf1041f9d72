//! The trace reader on arbitrary bytes: never a panic; what is accepted builds the reports'
//! model.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    reports::trace::exercise(data);
});
