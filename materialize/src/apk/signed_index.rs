//! Placeholder: written in the apk-formats branch.
