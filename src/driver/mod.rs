//! The driver image's entry points and runtime symbols (Windows targets only).

mod entry;
mod runtime;
