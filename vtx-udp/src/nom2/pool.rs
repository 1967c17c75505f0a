//! Reassembly buffers that come back when the application releases a message.
//!
//! A reassembled message goes to the application without a copy, so its buffer is
//! freed by the application's thread. Allocated in the driver's thread, a 64 KiB buffer
//! per message and freed in another, they made glibc's allocator return the top of the
//! driver's heap to the kernel again and again, and each new buffer faulted its pages
//! back in (page faults were 12 per 64 KiB message). Large messages therefore take
//! their buffer from a pool and return it there; what the pool keeps is bounded.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

/// Messages from this size on are reassembled in pooled buffers.
pub(crate) const POOL_MIN: usize = 16 * 1024;
/// Bytes of buffer capacity a pool keeps at most; a buffer returned beyond that is
/// freed.
pub(crate) const POOL_BYTES: usize = 2 * 1024 * 1024;

/// A pool of reassembly buffers, shared with the messages made from them.
#[derive(Clone, Debug, Default)]
pub(crate) struct BufPool(Arc<Mutex<Kept>>);

#[derive(Debug, Default)]
struct Kept {
    bufs: Vec<Vec<u8>>,
    bytes: usize,
}

impl BufPool {
    /// An empty buffer with room for `total` octets and at most an eighth more (so
    /// that what a partial message is charged stays close to its size).
    pub(crate) fn take(&self, total: usize) -> Vec<u8> {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(mut buf) = kept.bufs.pop() {
            kept.bytes -= buf.capacity();
            if (total..=total + total / 8).contains(&buf.capacity()) {
                buf.clear();
                return buf;
            }
            // Another size: the traffic changed; let it go.
        }
        drop(kept);
        Vec::with_capacity(total)
    }

    /// The message in `buf`, as `Bytes` whose last release returns `buf` here.
    pub(crate) fn wrap(&self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Pooled {
            buf,
            pool: self.clone(),
        })
    }

    fn give_back(&self, buf: Vec<u8>) {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.bytes + buf.capacity() <= POOL_BYTES {
            kept.bytes += buf.capacity();
            kept.bufs.push(buf);
        }
    }

    /// Bytes of capacity kept.
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).bytes
    }
}

struct Pooled {
    buf: Vec<u8>,
    pool: BufPool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_released_message_returns_its_buffer_for_the_next() {
        let pool = BufPool::default();
        let mut buf = pool.take(64 * 1024);
        buf.extend_from_slice(&[7; 64 * 1024]);
        let at = buf.as_ptr();
        let msg = pool.wrap(buf);
        let frame = msg.slice(10..20);
        drop(msg);
        assert_eq!(pool.kept(), 0, "a slice still holds it");
        assert_eq!(&frame[..], &[7; 10]);
        drop(frame);
        assert_eq!(pool.kept(), 64 * 1024);
        let again = pool.take(64 * 1024 - 100);
        assert_eq!(again.as_ptr(), at, "the same buffer");
        assert!(again.is_empty());
        assert_eq!(pool.kept(), 0);
    }

    #[test]
    fn the_pool_keeps_a_bounded_amount_and_no_far_larger_buffer() {
        let pool = BufPool::default();
        let held: Vec<Bytes> = (0..(POOL_BYTES / POOL_MIN) + 10)
            .map(|_| pool.wrap(pool.take(POOL_MIN)))
            .collect();
        drop(held);
        assert!(pool.kept() <= POOL_BYTES, "{}", pool.kept());
        // A buffer for 16 KiB is not handed out for 1 KiB: charges stay honest.
        let small = pool.take(1024);
        assert!(small.capacity() < 2048, "{}", small.capacity());
    }
}
