//! What the integration tests share (`mod common;` in each test crate that needs it).
//!
//! Each test crate uses only part of it: what one leaves unused is not dead.
#![allow(dead_code)]

pub mod builds;
pub mod file_time;
