//! The jsonlog parser on arbitrary bytes, in two reads.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pgconn::fuzz::parse(data, "jsonlog");
});
