//! The port driver model.
