//! The files apk-tools and apko generate in a root filesystem, without running package code:
//! the installed database, the apk configuration, accounts, busybox applet links, the
//! blueprint's CA certificates, its `paths` mutations and its `os-release`.

pub mod accounts;
pub mod busybox;
pub mod certificates;
pub mod generate;
pub mod installed;
pub mod installed_read;
pub mod jks;
pub mod os_release;
pub mod paths;
