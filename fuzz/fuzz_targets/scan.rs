//! The needle scan, severity and message classifier on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pgconn::fuzz::scan(data);
});
