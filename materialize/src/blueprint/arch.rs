//! CPU architectures a blueprint may name, in both the apk and the OCI spelling.
//!
//! apko accepts either spelling in `archs` (see apko `pkg/build/types/types.go`,
//! `ParseArchitecture`): `amd64` and `x86_64` are the same machine. flatroot keeps one value per
//! machine and hands out each spelling where it is needed: the apk name selects the repository
//! subdirectory and the `A:` field of index records; the OCI platform goes into the image index.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// One CPU architecture an image is built for.
///
/// Parsed from the apk name (`x86_64`, `aarch64`, `armhf`, …) or from apko's OCI-style name
/// (`amd64`, `arm64`, `arm/v6`, …); both give the same value. An unknown name is an error that
/// names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    /// 32-bit x86: apk `x86`, OCI `386`.
    X86,
    /// 64-bit x86: apk `x86_64`, OCI `amd64`. The default when a blueprint names none.
    X86_64,
    /// 64-bit ARM: apk `aarch64`, OCI `arm64`.
    Aarch64,
    /// 32-bit ARMv6 hard-float: apk `armhf`, OCI `arm` variant `v6`.
    Armhf,
    /// 32-bit ARMv7: apk `armv7`, OCI `arm` variant `v7`.
    Armv7,
    /// 64-bit little-endian POWER: `ppc64le` in both spellings.
    Ppc64le,
    /// IBM Z: `s390x` in both spellings.
    S390x,
    /// 64-bit RISC-V: `riscv64` in both spellings.
    Riscv64,
    /// 64-bit LoongArch: apk `loongarch64`, OCI `loong64`.
    Loongarch64,
}

/// The OCI image-index platform of an architecture (`os` is always `linux`).
///
/// Field values follow the OCI image spec's use of Go's `GOARCH` names, with the ARM revision
/// in `variant` (image-spec `image-index.md`, "platform").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    /// `platform.architecture`: `amd64`, `arm64`, `arm`, `386`, …
    pub architecture: &'static str,
    /// `platform.variant`: `v6` or `v7` for 32-bit ARM, `None` otherwise.
    pub variant: Option<&'static str>,
}

impl Arch {
    /// Every architecture flatroot knows, in declaration order.
    pub const ALL: [Arch; 9] = [
        Arch::X86,
        Arch::X86_64,
        Arch::Aarch64,
        Arch::Armhf,
        Arch::Armv7,
        Arch::Ppc64le,
        Arch::S390x,
        Arch::Riscv64,
        Arch::Loongarch64,
    ];

    /// What apko builds for when neither the blueprint nor `--arch` names an architecture
    /// (apko's `types.AllArchs`), and what `--arch all` names: every one but LoongArch.
    pub const APKO_ALL: [Arch; 8] = [
        Arch::X86,
        Arch::X86_64,
        Arch::Aarch64,
        Arch::Armhf,
        Arch::Armv7,
        Arch::Ppc64le,
        Arch::Riscv64,
        Arch::S390x,
    ];

    /// The names [`Arch::from_name`] accepts, for messages: each apk name, with its OCI name
    /// after a slash where the two differ.
    pub const NAMES: &str = "x86/386, x86_64/amd64, aarch64/arm64, armhf/arm/v6, \
                             armv7/arm/v7, ppc64le, s390x, riscv64, loongarch64/loong64";

    /// The architecture of the machine flatroot runs on (`--arch host`, as in apko); `None`
    /// on a machine of none of them.
    pub fn host() -> Option<Arch> {
        match std::env::consts::ARCH {
            "powerpc64" if cfg!(target_endian = "little") => Some(Arch::Ppc64le),
            // Rust's `arm` targets that Alpine builds for are ARMv7 hard-float ones.
            "arm" => Some(Arch::Armv7),
            other => Arch::from_name(other),
        }
    }

    /// Parses an apk or OCI architecture name; `None` when the name is not one of them.
    ///
    /// Accepted: `x86`/`386`, `x86_64`/`amd64`, `aarch64`/`arm64`, `armhf`/`arm/v6`,
    /// `armv7`/`arm/v7`, `ppc64le`, `s390x`, `riscv64`, `loongarch64`/`loong64`. Matching is
    /// exact (case-sensitive), as in apko.
    pub fn from_name(name: &str) -> Option<Arch> {
        let arch = match name {
            "x86" | "386" => Arch::X86,
            "x86_64" | "amd64" => Arch::X86_64,
            "aarch64" | "arm64" => Arch::Aarch64,
            "armhf" | "arm/v6" => Arch::Armhf,
            "armv7" | "arm/v7" => Arch::Armv7,
            "ppc64le" => Arch::Ppc64le,
            "s390x" => Arch::S390x,
            "riscv64" => Arch::Riscv64,
            "loongarch64" | "loong64" => Arch::Loongarch64,
            _ => return None,
        };
        Some(arch)
    }

    /// The apk name: the repository subdirectory (`<repo>/<arch>/APKINDEX.tar.gz`) and the
    /// value of the index `A:` field.
    pub fn apk_name(self) -> &'static str {
        match self {
            Arch::X86 => "x86",
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::Armhf => "armhf",
            Arch::Armv7 => "armv7",
            Arch::Ppc64le => "ppc64le",
            Arch::S390x => "s390x",
            Arch::Riscv64 => "riscv64",
            Arch::Loongarch64 => "loongarch64",
        }
    }

    /// The OCI platform this architecture is published under.
    pub fn oci_platform(self) -> Platform {
        let (architecture, variant) = match self {
            Arch::X86 => ("386", None),
            Arch::X86_64 => ("amd64", None),
            Arch::Aarch64 => ("arm64", None),
            Arch::Armhf => ("arm", Some("v6")),
            Arch::Armv7 => ("arm", Some("v7")),
            Arch::Ppc64le => ("ppc64le", None),
            Arch::S390x => ("s390x", None),
            Arch::Riscv64 => ("riscv64", None),
            Arch::Loongarch64 => ("loong64", None),
        };
        Platform { architecture, variant }
    }

    /// The OCI platform as one name, `architecture[/variant]` (`amd64`, `arm/v7`): the
    /// order of these names is the order of an image index's manifests, as in apko.
    pub fn oci_name(self) -> String {
        let platform = self.oci_platform();
        match platform.variant {
            Some(variant) => format!("{}/{variant}", platform.architecture),
            None => platform.architecture.to_owned(),
        }
    }
}

impl Default for Arch {
    /// `x86_64`: what a blueprint with an empty `archs` list builds for.
    fn default() -> Arch {
        Arch::X86_64
    }
}

impl fmt::Display for Arch {
    /// Writes the apk name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.apk_name())
    }
}

impl<'de> Deserialize<'de> for Arch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Arch, D::Error> {
        deserializer.deserialize_any(ArchVisitor)
    }
}

struct ArchVisitor;

impl Visitor<'_> for ArchVisitor {
    type Value = Arch;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an architecture name such as x86_64, amd64, aarch64 or arm/v7")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Arch, E> {
        Arch::from_name(name).ok_or_else(|| E::custom(format!("unknown architecture `{name}`")))
    }

    // `- 386` is a YAML integer; apko reads it as the string "386".
    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Arch, E> {
        self.visit_str(&number.to_string())
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Arch, E> {
        self.visit_str(&number.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_architecture_is_named_in_the_list_of_names() {
        for arch in Arch::ALL {
            assert!(Arch::NAMES.contains(arch.apk_name()), "{arch}");
            assert!(Arch::NAMES.contains(&arch.oci_name()), "{arch}");
        }
    }

    #[test]
    fn the_host_is_the_machine_the_tests_run_on() {
        let expected = match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Aarch64),
            _ => return,
        };
        assert_eq!(Arch::host(), expected);
    }

    #[test]
    fn every_arch_round_trips_through_both_spellings() {
        for arch in Arch::ALL {
            assert_eq!(Arch::from_name(arch.apk_name()), Some(arch));
            let oci = arch.oci_name();
            assert_eq!(Arch::from_name(&oci), Some(arch), "{oci}");
        }
    }

    #[test]
    fn unknown_and_differently_cased_names_are_rejected() {
        assert_eq!(Arch::from_name("AMD64"), None);
        assert_eq!(Arch::from_name("arm"), None);
        assert_eq!(Arch::from_name("mips"), None);
        assert_eq!(Arch::from_name(""), None);
    }

    #[test]
    fn default_is_x86_64() {
        assert_eq!(Arch::default(), Arch::X86_64);
    }
}
