//! How a transport names its slab entries to the runtime: peering ids and timer keys
//! carry the entry's slab key and a generation, so that an id or a timer of a slot that
//! was freed and reused is recognised as stale instead of reaching the new entry.

use crate::pattern::ConnId;

/// Generations are 30 bits: they share a timer key with a 2-bit kind and a 32-bit key.
const GENERATION_MASK: u32 = 0x3fff_ffff;

/// Hands out generations, one per new slab entry.
#[derive(Debug)]
pub struct Generations(u32);

impl Generations {
    /// A counter whose first generation is 2 (0 is never handed out: a fresh
    /// connecter's timer generation means "no timer").
    pub fn new() -> Self {
        Generations(1)
    }

    /// The next generation.
    pub fn advance(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(1) & GENERATION_MASK;
        if self.0 == 0 {
            self.0 = 1;
        }
        self.0
    }
}

impl Default for Generations {
    fn default() -> Self {
        Generations::new()
    }
}

/// A transport timer key: a kind (0 to 3), the generation of the slab entry it is
/// for and the slab key.
pub fn timer_key(kind: u64, generation: u32, key: usize) -> u64 {
    (kind << 62) | (u64::from(generation & GENERATION_MASK) << 32) | (key as u64 & 0xffff_ffff)
}

/// The parts of a [`timer_key`]: kind, generation, slab key.
pub fn split_timer_key(k: u64) -> (u64, u32, usize) {
    (
        k >> 62,
        ((k >> 32) & u64::from(GENERATION_MASK)) as u32,
        (k & 0xffff_ffff) as usize,
    )
}

/// A peering's [`ConnId`] from its slab key and generation.
pub fn conn_id(generation: u32, key: usize) -> ConnId {
    (u64::from(generation) << 32) | key as u64
}

/// The parts of a [`conn_id`]: generation, slab key.
pub fn split_conn_id(id: ConnId) -> (u32, usize) {
    ((id >> 32) as u32, (id & 0xffff_ffff) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_ids_round_trip() {
        let k = timer_key(3, 0x3fff_fffe, 0xdead_beef);
        assert_eq!(split_timer_key(k), (3, 0x3fff_fffe, 0xdead_beef));
        assert_eq!(split_conn_id(conn_id(7, 42)), (7, 42));
    }

    #[test]
    fn generations_skip_zero_when_they_wrap() {
        let mut g = Generations(GENERATION_MASK - 1);
        assert_eq!(g.advance(), GENERATION_MASK);
        assert_eq!(g.advance(), 1);
    }
}
