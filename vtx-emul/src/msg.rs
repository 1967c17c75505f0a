//! A 0MQ message: one or more frames, kept as reference-counted [`Bytes`].

use bytes::Bytes;
use smallvec::SmallVec;

/// What each frame after the first costs against a message size limit besides its
/// bytes, so a message of a million empty frames is refused like a large one (a frame
/// costs its bookkeeping whatever its size), while a single-frame message is measured by
/// its bytes alone, as libzmq's `ZMQ_MAXMSGSIZE` measures it. Every decoder charges it:
/// ZMTP and NOM-2.
pub const FRAME_COST: u64 = 64;

/// A multipart 0MQ message.
///
/// Frames are [`Bytes`], so a frame decoded out of a receive buffer or handed over
/// from a libzmq message is shared, not copied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Msg {
    frames: SmallVec<[Bytes; 2]>,
}

impl Msg {
    /// An empty message (no frames). Not valid to send; used while assembling.
    pub fn new() -> Msg {
        Msg::default()
    }

    /// A single-frame message.
    pub fn single(frame: impl Into<Bytes>) -> Msg {
        let mut m = Msg::new();
        m.push(frame.into());
        m
    }

    /// A message made of the given frames.
    pub fn from_frames<I, F>(frames: I) -> Msg
    where
        I: IntoIterator<Item = F>,
        F: Into<Bytes>,
    {
        Msg {
            frames: frames.into_iter().map(Into::into).collect(),
        }
    }

    /// A copy whose frames own their bytes, for a message kept long (a reply cache):
    /// small frames share the buffer they were read into, which a kept one would pin.
    pub fn detached(&self) -> Msg {
        Msg {
            frames: self
                .frames
                .iter()
                .map(|f| Bytes::copy_from_slice(f))
                .collect(),
        }
    }

    /// Appends a frame.
    pub fn push(&mut self, frame: Bytes) {
        self.frames.push(frame);
    }

    /// Puts a frame in front of the others (a routing frame).
    pub fn push_front(&mut self, frame: Bytes) {
        self.frames.insert(0, frame);
    }

    /// Removes and returns the first frame.
    pub fn pop_front(&mut self) -> Option<Bytes> {
        if self.frames.is_empty() {
            None
        } else {
            Some(self.frames.remove(0))
        }
    }

    /// The frames, in order.
    pub fn frames(&self) -> &[Bytes] {
        &self.frames
    }

    /// The first frame, if any.
    pub fn first(&self) -> Option<&Bytes> {
        self.frames.first()
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when the message has no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Total payload bytes over all frames.
    pub fn byte_len(&self) -> usize {
        self.frames.iter().map(Bytes::len).sum()
    }

    /// What the message costs against a size limit: its bytes plus [`FRAME_COST`] per
    /// frame after the first.
    pub fn cost(&self) -> u64 {
        self.byte_len() as u64 + FRAME_COST * self.len().saturating_sub(1) as u64
    }

    /// Iterates the frames.
    pub fn iter(&self) -> std::slice::Iter<'_, Bytes> {
        self.frames.iter()
    }
}

impl IntoIterator for Msg {
    type Item = Bytes;
    type IntoIter = smallvec::IntoIter<[Bytes; 2]>;

    fn into_iter(self) -> Self::IntoIter {
        self.frames.into_iter()
    }
}

impl<'a> IntoIterator for &'a Msg {
    type Item = &'a Bytes;
    type IntoIter = std::slice::Iter<'a, Bytes>;

    fn into_iter(self) -> Self::IntoIter {
        self.frames.iter()
    }
}

impl FromIterator<Bytes> for Msg {
    fn from_iter<T: IntoIterator<Item = Bytes>>(iter: T) -> Msg {
        Msg {
            frames: iter.into_iter().collect(),
        }
    }
}
