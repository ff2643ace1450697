//! The files apk-tools and apko generate in a root filesystem, without running package code:
//! the installed database, the apk configuration, accounts, busybox applet links, the
//! blueprint's CA certificates and its `paths` mutations.

pub mod accounts;
pub mod busybox;
pub mod certificates;
pub mod generate;
pub mod installed;
pub mod installed_read;
pub mod jks;
pub mod paths;
