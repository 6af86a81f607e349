//! Support code for end-to-end tests.
