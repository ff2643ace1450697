//! A SHA-256 of a stream computed on a thread of its own, so that the thread producing the
//! stream does not wait for it.
//!
//! The layer encoder's own thread serializes the tar and writes the blob; the DiffID (over
//! the tar) and the blob digest are each a sequential pass over a gigabyte or so that no
//! other thread can share. Done on the encoder's thread, they are what a layer of reused
//! segments waits for; on threads of their own they overlap with the rest.

use std::sync::mpsc;
use std::thread::JoinHandle;

use flatroot_vfs::SharedBuffer;
use sha2::{Digest as _, Sha256};

/// How many pieces may wait for the hashing thread; the producer blocks beyond that, so
/// memory stays bounded by the pieces' sizes.
const QUEUE: usize = 8;

/// A piece of the stream, in order.
enum Piece {
    Shared(SharedBuffer),
    Owned(Vec<u8>),
}

impl AsRef<[u8]> for Piece {
    fn as_ref(&self) -> &[u8] {
        match self {
            Piece::Shared(bytes) => (**bytes).as_ref(),
            Piece::Owned(bytes) => bytes,
        }
    }
}

/// A SHA-256 fed in order and finished once: on its own thread, or inline when no thread
/// could be started (the digest is the same).
pub(crate) struct StreamHash(Way);

enum Way {
    Inline(Sha256),
    Thread { send: mpsc::SyncSender<Piece>, thread: JoinHandle<[u8; 32]> },
}

impl StreamHash {
    /// A hash on a thread named `name`, or inline when `threaded` is false or the thread
    /// cannot be started.
    pub(crate) fn new(name: &str, threaded: bool) -> StreamHash {
        if !threaded {
            return StreamHash(Way::Inline(Sha256::new()));
        }
        let (send, receive) = mpsc::sync_channel::<Piece>(QUEUE);
        let spawned = std::thread::Builder::new().name(name.to_string()).spawn(move || {
            let mut hash = Sha256::new();
            for piece in receive {
                hash.update(piece.as_ref());
            }
            <[u8; 32]>::from(hash.finalize())
        });
        match spawned {
            Ok(thread) => StreamHash(Way::Thread { send, thread }),
            Err(error) => {
                tracing::debug!(%error, name, "hashing on the encoder's thread");
                StreamHash(Way::Inline(Sha256::new()))
            }
        }
    }

    /// Appends a copy of `bytes` (for the small pieces: headers, trailers).
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            Way::Inline(hash) => hash.update(bytes),
            Way::Thread { .. } => self.send(Piece::Owned(bytes.to_vec())),
        }
    }

    /// Appends `bytes`, which the caller is done with.
    pub(crate) fn update_owned(&mut self, bytes: Vec<u8>) {
        match &mut self.0 {
            Way::Inline(hash) => hash.update(&bytes),
            Way::Thread { .. } => self.send(Piece::Owned(bytes)),
        }
    }

    /// Appends `bytes`, shared with whoever else still reads them.
    pub(crate) fn update_shared(&mut self, bytes: &SharedBuffer) {
        match &mut self.0 {
            Way::Inline(hash) => hash.update((**bytes).as_ref()),
            Way::Thread { .. } => self.send(Piece::Shared(bytes.clone())),
        }
    }

    fn send(&mut self, piece: Piece) {
        let Way::Thread { send, .. } = &self.0 else { return };
        // The thread only ends when the sender is dropped, or by a panic in sha2; then the
        // piece is lost and `finish` reports it.
        let _ = send.send(piece);
    }

    /// The digest of everything appended, or `None` when the hashing thread was lost.
    pub(crate) fn finish(self) -> Option<[u8; 32]> {
        match self.0 {
            Way::Inline(hash) => Some(hash.finalize().into()),
            Way::Thread { send, thread } => {
                drop(send);
                thread.join().ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ways_give_the_digest_of_the_pieces_in_order() {
        let pieces: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; usize::from(i) * 1000]).collect();
        let expected: [u8; 32] = Sha256::digest(pieces.concat()).into();
        for threaded in [false, true] {
            let mut hash = StreamHash::new("test-hash", threaded);
            for (i, piece) in pieces.iter().enumerate() {
                match i % 3 {
                    0 => hash.update(piece),
                    1 => hash.update_owned(piece.clone()),
                    _ => hash.update_shared(&(std::sync::Arc::new(piece.clone()) as SharedBuffer)),
                }
            }
            assert_eq!(hash.finish(), Some(expected), "threaded: {threaded}");
        }
    }
}
