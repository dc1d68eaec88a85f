//! Helpers shared by the dogfood and end-to-end suites.
