//! The test kit (feature `test-util`): what the tests of every VTX crate share, so that
//! each piece of setup is written once.
//!
//! - [`wait`]: waiting on a condition the test can observe, with a deadline
//!   ([`wait_until`], [`wait_for_count`]); never for a fixed time.
//! - [`process`]: children that are always reaped and whose output the test reads, a
//!   test body re-run in a process or network namespace of its own, system commands.
//! - [`addr`]: ports and addresses of endpoints.
//! - [`measure`]: the live heap ([`measure::CountingAlloc`]), RSS and descriptors of
//!   the test's process; [`scale`]: what a test of thousands of peerings needs.
//! - [`net`]: the in-memory world for sans-IO tests, Vockets wired by links with a
//!   virtual clock and seeded loss, duplication, reordering and delay.
//! - [`swarm`]: many ZMTP clients on plain sockets, for scale tests and benchmarks.
//! - [`unix`]: ZMTP over Unix sockets ([`unix_transport`]), to test the runtime and the
//!   manager end to end without a network transport.
//! - [`harness`]: the manager, sockets and pairs of each crate's end-to-end tests
//!   ([`vtx_harness!`](crate::vtx_harness)), and [`sockets`]: what those tests run on
//!   them ([`round_trip!`](crate::round_trip), [`req_rep!`](crate::req_rep),
//!   [`every_pair!`](crate::every_pair), [`send_in_order!`](crate::send_in_order),
//!   [`answer_all!`](crate::answer_all), [`publish_until!`](crate::publish_until),
//!   [`unsubscribe_holds!`](crate::unsubscribe_holds)).
//!
//! Nothing here is for production use, and nothing here skips a test: a missing tool or
//! privilege fails it, saying what to install or grant.

pub mod addr;
pub mod handshake;
pub mod harness;
pub mod measure;
pub mod net;
pub mod process;
pub mod scale;
pub mod sockets;
pub mod swarm;
pub mod unix;
pub mod wait;

pub use unix::{UnixNetwork, UnixTransport, unix_transport};
pub use wait::{wait_for_count, wait_until};
