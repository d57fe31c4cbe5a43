//! End-to-end tests: the built binary on real PostgreSQL logs.
//!
//! One test binary, so it compiles once. `util` runs pgconn; `figures`
//! checks the committed fixtures against the figures their workload
//! produced; `behaviour` covers options, exit status and bad input;
//! `compressed` reads gzip, bzip2, xz and zstd, whole and damaged;
//! `live` runs the workload on a fresh server when one is installed;
//! `stream` drives pgconn through a pipe that stays open; `docs` keeps
//! the man page and README honest. Hostile input: `faults`
//! (malformed structure, I/O faults), `properties` (chunking invariance),
//! `attack` (memory bounds under floods of names and sessions),
//! `hostile` (names with escapes from a real server). `envelopes`: the
//! fixtures inside the records of container runtimes, journald and cloud
//! log services. `notes`: what a report could not give, why, and the
//! fix, on real logs with lines taken out. `order`: several files in
//! log-time order, newest-first logs. `fail2ban`: the contrib filter and
//! jail under the real fail2ban. `progress`: the progress line on a
//! terminal (tmux). `zones`: `--tz`, the zone text output shows times in.

mod util;

mod analysis;
mod attack;
mod behaviour;
mod completions;
mod compressed;
mod dashboard;
mod docs;
mod envelopes;
mod fail2ban;
mod faults;
mod figures;
mod fuzz_regressions;
mod hostile;
mod live;
mod notes;
mod openmetrics;
mod order;
mod prefixes;
mod progress;
mod properties;
mod recipes;
mod semantics;
mod stream;
mod threads;
mod zones;
