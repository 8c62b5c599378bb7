//! Platform services (placeholder: being written).
