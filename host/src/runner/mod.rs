//! The whole chain.
