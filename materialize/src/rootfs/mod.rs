//! The files apk-tools and apko generate in a root filesystem, without running package code:
//! the installed database, the apk configuration, accounts, busybox applet links, and the
//! blueprint's `paths` mutations.

pub mod accounts;
pub mod busybox;
pub mod generate;
pub mod installed;
pub mod installed_read;
pub mod paths;
