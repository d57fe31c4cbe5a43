//! End-to-end tests: the built binary on real PostgreSQL logs.
//!
//! One test binary, so it compiles once. `util` runs pgconn; `figures`
//! checks the committed fixtures against the figures their workload
//! produced; `behaviour` covers options, exit status and bad input;
//! `live` runs the workload on a fresh server when one is installed;
//! `stream` drives pgconn through a pipe that stays open; `docs` keeps
//! the man page and README honest.

mod util;

mod analysis;
mod behaviour;
mod dashboard;
mod docs;
mod figures;
mod live;
mod stream;
