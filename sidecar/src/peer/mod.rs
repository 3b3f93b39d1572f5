//! Peer link.
