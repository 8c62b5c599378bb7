//! COM objects (placeholder: being written).
