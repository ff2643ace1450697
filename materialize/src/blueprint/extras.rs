//! The parts of a blueprint flatroot parses but does not act on.
//!
//! They are typed so that a misspelt key inside them is still an error, and so that a build
//! that starts acting on one has its data ready. A blueprint that sets any of them gets a
//! [`Warning`](super::Warning).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::types::{Entrypoint, nullable};

/// `contents.baseimage`: apko's `BaseImageDescriptor`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseImage {
    /// `image`: path of the base image's OCI layout.
    #[serde(default)]
    pub image: Option<String>,
    /// `apkindex`: directory of `<arch>/APKINDEX` files listing the base image's packages.
    #[serde(default)]
    pub apkindex: Option<String>,
}

/// `layering`: apko's `Layering`. Not acted on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layering {
    /// `strategy`: apko knows `origin`.
    #[serde(default)]
    pub strategy: Option<String>,
    /// `budget`: the number of layers apko may add.
    #[serde(default)]
    pub budget: Option<i64>,
}

/// One entry of `options`: apko's (deprecated) `BuildOption`, a patch applied on request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildOption {
    /// `contents`: packages to add and remove.
    #[serde(default, deserialize_with = "nullable")]
    pub contents: ContentsOption,
    /// `accounts`: a different `run-as`.
    #[serde(default, deserialize_with = "nullable")]
    pub accounts: AccountsOption,
    /// `environment`: variables to add or replace.
    #[serde(default, deserialize_with = "nullable")]
    pub environment: BTreeMap<String, String>,
    /// `entrypoint`: a replacement entrypoint.
    #[serde(default, deserialize_with = "nullable")]
    pub entrypoint: Entrypoint,
}

/// `options.<name>.contents`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentsOption {
    /// `packages`: the change to the package list.
    #[serde(default, deserialize_with = "nullable")]
    pub packages: ListOption,
}

/// `options.<name>.contents.packages`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListOption {
    /// `add`: entries to append.
    #[serde(default, deserialize_with = "nullable")]
    pub add: Vec<String>,
    /// `remove`: entries to drop.
    #[serde(default, deserialize_with = "nullable")]
    pub remove: Vec<String>,
}

/// `options.<name>.accounts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AccountsOption {
    /// `run-as`: the replacement user.
    #[serde(default)]
    pub run_as: Option<String>,
}
