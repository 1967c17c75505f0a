//! NOM-2 (docs/nom-2.md): the protocol of the `udp` transport, sans-IO.
//!
//! [`wire`] is the codec; [`engine`] holds every peering of a driver and is driven by
//! datagrams, transmits and time. Neither touches a socket or reads a clock.

mod cookie;
pub mod engine;
mod peering;
mod pool;
pub use peering::PieceError;
pub mod wire;

pub use engine::{Config, Engine, Event, Failure, LocalId, OutBatch, Owner, PeeringId};
