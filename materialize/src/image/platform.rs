//! Images picked by platform: `mount` and `diff` take the image of one architecture, named
//! `ARCH[/VARIANT]` as OCI image indexes spell it (`amd64`, `arm/v7`), and refuse to choose
//! among several images of that platform, so that none is silently read in place of another.
//! Every platform so named is Linux: an image of another OS is named `OS/ARCH[/VARIANT]`
//! (`windows/amd64`), which no `--arch` matches.

use std::path::Path;

use super::named::split_named;
use super::{ImageReadError, ImageView};

impl ImageView {
    /// The image as errors name one that is not read yet: its digest and its whole
    /// platform, `sha256:… (linux/arm/v7)`.
    pub fn labelled(&self) -> String {
        let variant = self.variant.as_deref().unwrap_or_default();
        let parts = [self.os.as_str(), self.arch.as_str(), variant];
        let platform = parts.iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>();
        match platform.as_slice() {
            [] => self.digest.clone(),
            parts => format!("{} ({})", self.digest, parts.join("/")),
        }
    }

    /// The image's platform as one name, `ARCH[/VARIANT]` (`amd64`, `arm/v7`) for a Linux
    /// image (or one that names no OS), `OS/ARCH[/VARIANT]` for another (`windows/amd64`);
    /// empty for a bare layer.
    pub fn platform(&self) -> String {
        let name = platform_name(&self.arch, self.variant.as_deref());
        if self.os.is_empty() || self.os == "linux" || self.arch.is_empty() {
            name
        } else {
            format!("{}/{name}", self.os)
        }
    }
}

/// Operating systems images are made for besides Linux (Go's names, as OCI uses them).
const OTHER_SYSTEMS: [&str; 14] = [
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "illumos",
    "ios",
    "js",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
];

/// `arch`, with `/variant` after it when there is one.
pub fn platform_name(arch: &str, variant: Option<&str>) -> String {
    match variant {
        Some(variant) if !variant.is_empty() => format!("{arch}/{variant}"),
        _ => arch.to_string(),
    }
}

/// Whether the platform named `have` (`ARCH[/VARIANT]`) is one that `wanted` asks for: the
/// same architecture, and the same variant unless either leaves it out (an `arm` image that
/// names no variant may be any; `arm` asked for takes any variant).
pub fn platform_matches(wanted: &str, have: &str) -> bool {
    let (wanted_arch, wanted_variant) = split(wanted);
    let (arch, variant) = split(have);
    wanted_arch == arch
        && (wanted_variant.is_none() || variant.is_none() || wanted_variant == variant)
}

/// The first of `views` whose platform is `wanted`; else, for an architecture whose
/// variants are levels (see [`level`]), the first of the highest level up to the one asked
/// for, as a CPU of that level runs it (`amd64/v4` takes `amd64/v3`, `arm/v8` takes
/// `arm/v7`, or an `arm` that names no variant, which runtimes take for `v7`); else the
/// first that matches it (see [`platform_matches`]): an `arm` that names no variant.
pub fn position_of(views: &[ImageView], wanted: &str) -> Option<usize> {
    let exact = views.iter().position(|v| v.platform() == wanted);
    exact
        .or_else(|| below(views, wanted))
        .or_else(|| views.iter().position(|v| platform_matches(wanted, &v.platform())))
}

/// The level of the variant of `platform` (`ARCH/vN`) for the architectures whose variants
/// are levels, each running what the ones below it run: amd64 (`v1` to `v4`) and 32-bit arm
/// (`v5` to `v8`). `None` for any other platform or variant.
fn level(platform: &str) -> Option<(&str, u32)> {
    let (arch, variant) = split(platform);
    if !matches!(arch, "amd64" | "arm") {
        return None;
    }
    let level = variant?.strip_prefix('v')?.parse().ok()?;
    Some((arch, level))
}

/// The level an image of `platform` runs at: its variant's (see [`level`]), or for one that
/// names no variant the level runtimes take it for (amd64's `v1`, arm's `v7`).
fn level_of_image(platform: &str) -> Option<(&str, u32)> {
    match split(platform) {
        ("amd64", None) => Some(("amd64", 1)),
        ("arm", None) => Some(("arm", 7)),
        _ => level(platform),
    }
}

/// The first image of `views` of the highest level up to `wanted`'s, of its architecture
/// (see [`level_of_image`]).
fn below(views: &[ImageView], wanted: &str) -> Option<usize> {
    let (arch, asked) = level(wanted)?;
    let levels = views.iter().enumerate().filter_map(|(i, view)| {
        let platform = view.platform();
        let (of, level) = level_of_image(&platform)?;
        (of == arch && level <= asked).then_some((level, i))
    });
    // The highest level; of several images of it, the first.
    levels.max_by(|(a, i), (b, j)| a.cmp(b).then(j.cmp(i))).map(|(_, i)| i)
}

/// The platform `--arch NAME` asks for: an architecture flatroot knows, in either spelling
/// (`armv7` and `arm/v7` give `arm/v7`, `aarch64` gives `arm64`), with a variant after it
/// (`x86_64/v2` gives `amd64/v2`), `armvN` for `arm/vN`, or any other Linux platform name as
/// images carry it (`arm64/v8`, `arm/v5`, `arm`), with `linux/` before it or not.
///
/// # Errors
/// A message saying why `NAME` is none of these: a platform of another OS than Linux
/// (`windows/amd64`), or not a platform name.
pub fn platform_of_name(name: &str) -> Result<String, String> {
    let unknown = || format!("--arch {name:?}: unknown architecture");
    // `linux/arm64`, as `docker --platform` spells it: every image read here is Linux.
    let bare = name.strip_prefix("linux/").unwrap_or(name);
    let (arch, variant) = split(bare);
    if is_other_os(bare) {
        return Err(format!("--arch {name:?}: flatroot reads Linux images only, not {arch}"));
    }
    if bare == "linux" {
        return Err(unknown());
    }
    if let Some(known) = crate::blueprint::Arch::from_name(bare) {
        return Ok(known.oci_name());
    }
    let word = |w: &str| {
        !w.is_empty()
            && w.len() <= 32
            && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    if !word(arch) || !variant.is_none_or(word) {
        return Err(unknown());
    }
    // An apk spelling with a variant after it (`x86_64/v2`), and `armv6` as `armv7` is.
    let oci_arch = crate::blueprint::Arch::from_name(arch).map(|a| a.oci_name());
    match (oci_arch, variant) {
        (Some(oci), Some(variant)) if !oci.contains('/') => Ok(format!("{oci}/{variant}")),
        (Some(_), Some(_)) => Err(unknown()),
        _ => match arch.strip_prefix("armv").filter(|n| n.parse::<u8>().is_ok()) {
            Some(version) if variant.is_none() => Ok(format!("arm/v{version}")),
            _ => Ok(bare.to_string()),
        },
    }
}

/// Whether `platform` (as [`ImageView::platform`] names it, or as `--arch` is given) is of
/// another OS than Linux: its first part names one (`windows/amd64`, `darwin`).
pub fn is_other_os(platform: &str) -> bool {
    OTHER_SYSTEMS.contains(&split(platform).0)
}

/// The first of `views` that is a Linux image (or names no OS, or is a bare layer): what a
/// command reads when no platform is asked for and the host's is not there.
pub fn first_linux(views: &[ImageView]) -> Option<usize> {
    views.iter().position(|v| v.os.is_empty() || v.os == "linux")
}

/// The platforms of `views`, each once, in order, as messages list them.
pub fn platforms_of(views: &[ImageView]) -> String {
    let mut platforms: Vec<String> = Vec::new();
    // An image of no stated platform (a bare layer, a config without one) adds no name.
    let named = views.iter().map(ImageView::platform).filter(|p| !p.is_empty());
    super::push_new(&mut platforms, named);
    if platforms.is_empty() { "none".to_string() } else { platforms.join(", ") }
}

/// Splits `ARCH[/VARIANT]`.
fn split(platform: &str) -> (&str, Option<&str>) {
    match platform.split_once('/') {
        Some((arch, variant)) => (arch, Some(variant)),
        None => (platform, None),
    }
}

/// Checks that `views[chosen]`, the image a command picked from what the argument `arg`
/// names for the platform `asked` (or, when none was, for its own platform), is the only
/// image of that platform, so that none is read in place of another the user meant: the
/// only one of exactly that platform, or when none is, the only one that matches it (see
/// [`platform_matches`]: an `arm` image without a variant may be `arm/v7`, and `arm` asked
/// for is any variant). A bare layer is what there is.
///
/// # Errors
/// [`ImageReadError::Ambiguous`], naming what tells the images apart: their names when
/// each has one of its own, else their digests.
pub fn only_one_of_its_platform(
    views: &[ImageView],
    chosen: usize,
    asked: Option<&str>,
    arg: &Path,
) -> Result<(), ImageReadError> {
    let Some(own) = views.get(chosen).map(ImageView::platform) else {
        return Ok(());
    };
    let wanted = asked.map_or(own.clone(), str::to_string);
    let images = || views.iter().filter(|v| !v.arch.is_empty());
    let exact = images().any(|v| v.platform() == wanted);
    // A level up to the one asked for was taken: the images of that level are the choices,
    // an `arm` naming no variant among the `arm/v7` ones.
    let by_level = match (level(&wanted), level_of_image(&own)) {
        (Some((arch, asked)), Some((of, at))) if !exact && of == arch && at <= asked => {
            Some((of.to_string(), at))
        }
        _ => None,
    };
    let mut same: Vec<&ImageView> = Vec::new();
    for view in images() {
        let platform = view.platform();
        let alike = if exact {
            platform == wanted
        } else if let Some((arch, at)) = &by_level {
            level_of_image(&platform) == Some((arch.as_str(), *at))
        } else {
            platform_matches(&wanted, &platform)
        };
        if alike && !same.iter().any(|s| s.digest == view.digest) {
            same.push(view);
        }
    }
    if same.len() < 2 {
        return Ok(());
    }

    let firsts: Vec<Option<&String>> = same.iter().map(|v| v.names.first()).collect();
    let named_apart = firsts.iter().enumerate().all(|(i, name)| {
        name.is_some() && !firsts[..i].contains(name) && !firsts[i + 1..].contains(name)
    });
    // Each named with its platform when those differ (`arm` asked for, `arm/v6` and `arm/v7`
    // found), so that the message says which is which.
    let platforms_differ = same.iter().any(|v| v.platform() != same[0].platform());
    let label = |choice: String, view: &ImageView| {
        if platforms_differ { format!("{choice} ({})", view.platform()) } else { choice }
    };
    let (by, choices) = if named_apart {
        let names = firsts.iter().zip(&same).filter_map(|(n, v)| Some(label((*n)?.clone(), v)));
        ("NAME", names.collect())
    } else {
        ("DIGEST", same.iter().map(|v| label(v.digest.clone(), v)).collect())
    };
    // A registry reference picks a manifest as `REF@DIGEST`; a path, as `PATH:DIGEST`.
    let reference = !arg.exists()
        && split_named(arg).is_none()
        && arg.to_str().is_some_and(crate::registry::Reference::looks_like);
    Err(ImageReadError::Ambiguous {
        path: split_named(arg).map_or_else(|| arg.to_path_buf(), |(path, _)| path),
        platform: by_level.map_or(wanted, |(arch, at)| format!("{arch}/v{at}")),
        separator: if reference { '@' } else { ':' },
        by,
        choices,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use super::*;

    fn view(arch: &str, variant: Option<&str>, digest: &str, names: &[&str]) -> ImageView {
        ImageView {
            os: String::new(),
            arch: arch.to_string(),
            variant: variant.map(str::to_string),
            digest: digest.to_string(),
            contents: super::super::Contents::Read(super::super::Read {
                config: serde_json::Value::Null,
                layers: super::super::layers::Layers::none(),
            }),
            annotations: Default::default(),
            names: names.iter().map(|n| n.to_string()).collect(),
            indexes: Vec::new(),
        }
    }

    #[test]
    fn a_variant_is_matched_when_both_sides_name_one() {
        assert!(platform_matches("arm/v7", "arm/v7"));
        assert!(!platform_matches("arm/v7", "arm/v6"));
        assert!(platform_matches("arm", "arm/v6"));
        assert!(platform_matches("arm/v7", "arm"));
        assert!(!platform_matches("arm64", "arm"));
        assert!(!platform_matches("amd64", ""));
        assert_eq!(platform_name("arm", Some("v7")), "arm/v7");
        assert_eq!(platform_name("amd64", Some("")), "amd64");
    }

    #[test]
    fn arch_names_flatroot_knows_and_oci_platform_names_are_platforms() {
        let of = |name| platform_of_name(name).ok();
        assert_eq!(of("armv7").as_deref(), Some("arm/v7"));
        assert_eq!(of("armv6").as_deref(), Some("arm/v6"));
        assert_eq!(of("armv5").as_deref(), Some("arm/v5"));
        assert_eq!(of("aarch64").as_deref(), Some("arm64"));
        assert_eq!(of("aarch64/v8").as_deref(), Some("arm64/v8"));
        assert_eq!(of("x86_64/v2").as_deref(), Some("amd64/v2"));
        assert_eq!(of("linux/x86_64/v3").as_deref(), Some("amd64/v3"));
        assert_eq!(of("arm64/v8").as_deref(), Some("arm64/v8"));
        assert_eq!(of("arm/v5").as_deref(), Some("arm/v5"));
        assert_eq!(of("arm").as_deref(), Some("arm"));
        assert_eq!(of("linux/arm64").as_deref(), Some("arm64"));
        let bad =
            ["", "ARM64", "arm/", "/v7", "arm/v7/x", "x86 64", "amd64\n", "armv7/v7", "linux"];
        for bad in bad {
            let error = platform_of_name(bad).unwrap_err();
            assert_eq!(error, format!("--arch {bad:?}: unknown architecture"));
        }
        for other in ["windows/amd64", "windows", "darwin/arm64"] {
            let error = platform_of_name(other).unwrap_err();
            assert!(error.contains("flatroot reads Linux images only, not "), "{error}");
        }
    }

    #[test]
    fn images_of_another_os_are_named_with_it_and_match_no_linux_platform() {
        let mut windows = view("amd64", None, "sha256:w", &[]);
        windows.os = "windows".to_string();
        let mut linux = view("amd64", None, "sha256:l", &[]);
        linux.os = "linux".to_string();
        assert_eq!(windows.platform(), "windows/amd64");
        assert_eq!(linux.platform(), "amd64");
        let views = [windows, linux];
        assert_eq!(position_of(&views, "amd64"), Some(1));
        assert_eq!(first_linux(&views), Some(1));
        assert_eq!(first_linux(&views[..1]), None);
        assert_eq!(platforms_of(&views), "windows/amd64, amd64");
        assert!(only_one_of_its_platform(&views, 1, Some("amd64"), Path::new("L")).is_ok());
    }

    #[test]
    fn the_exact_platform_is_picked_before_one_without_a_variant() {
        let views = [
            view("arm", None, "sha256:a", &[]),
            view("arm", Some("v6"), "sha256:b", &[]),
            view("arm", Some("v7"), "sha256:c", &[]),
        ];
        assert_eq!(position_of(&views, "arm/v7"), Some(2));
        assert_eq!(position_of(&views, "arm"), Some(0));
        assert_eq!(position_of(&views[1..], "arm/v7"), Some(1));
        assert_eq!(position_of(&views[1..2], "arm/v5"), None);
        assert_eq!(position_of(&views, "arm64"), None);
    }

    #[test]
    fn a_level_below_the_one_asked_for_is_taken_before_one_without_a_variant() {
        let views = [
            view("amd64", None, "sha256:1", &[]),
            view("amd64", Some("v2"), "sha256:2", &[]),
            view("amd64", Some("v3"), "sha256:3", &[]),
            view("amd64", Some("v3"), "sha256:4", &[]),
            view("arm", Some("v6"), "sha256:6", &[]),
            view("arm", Some("v7"), "sha256:7", &[]),
        ];
        assert_eq!(position_of(&views, "amd64/v4"), Some(2), "the first v3");
        assert_eq!(position_of(&views, "amd64/v3"), Some(2));
        assert_eq!(position_of(&views, "amd64/v2"), Some(1));
        assert_eq!(position_of(&views[..1], "amd64/v4"), Some(0), "no variant: any level");
        assert_eq!(position_of(&views, "arm/v8"), Some(5));
        assert_eq!(position_of(&views, "arm/v7"), Some(5));
        assert_eq!(position_of(&views[4..], "arm/v5"), None, "no level below v5 there");
        assert_eq!(position_of(&views, "arm64/v9"), None, "arm64's variants are no levels");
        let path = Path::new("L");
        // An arm image naming no variant and an `arm/v7` are both of level 7: asked for a
        // level above, neither is taken for the other.
        let two =
            [view("arm", None, "sha256:n", &["nov"]), view("arm", Some("v7"), "sha256:7", &["v7"])];
        assert_eq!(position_of(&two, "arm/v8"), Some(0));
        let error = only_one_of_its_platform(&two, 0, Some("arm/v8"), path).unwrap_err();
        let want = "L holds 2 images for arm/v7: pick one as L:NAME (nov (arm), v7 (arm/v7))";
        assert_eq!(error.to_string(), want);
        assert!(only_one_of_its_platform(&two, 1, Some("arm/v7"), path).is_ok(), "exact");
        // An arm image naming no variant is v7 to a runtime: above v6, and any when no
        // image of a level up to the one asked for is there.
        let (v6, bare) =
            (view("arm", Some("v6"), "sha256:a", &[]), view("arm", None, "sha256:b", &[]));
        let arms = [v6, bare];
        assert_eq!(position_of(&arms, "arm/v8"), Some(1));
        assert_eq!(position_of(&arms, "arm/v7"), Some(1));
        assert_eq!(position_of(&arms, "arm/v6"), Some(0));
        assert_eq!(position_of(&arms[1..], "arm/v5"), Some(0));

        // The choices are the images of the level taken: two of v3, one of v7.
        let error = only_one_of_its_platform(&views, 2, Some("amd64/v4"), path).unwrap_err();
        let want = "L holds 2 images for amd64/v3: pick one as L:DIGEST (sha256:3, sha256:4)";
        assert_eq!(error.to_string(), want);
        assert!(only_one_of_its_platform(&views, 5, Some("arm/v8"), path).is_ok());
        assert!(only_one_of_its_platform(&views, 1, Some("amd64/v2"), path).is_ok());
    }

    #[test]
    fn the_picked_image_must_be_the_only_one_of_its_platform() {
        let path = Path::new("L");
        let check = |views: &[ImageView], chosen| {
            only_one_of_its_platform(views, chosen, None, path).map_err(|e| e.to_string())
        };
        let amd = || view("amd64", None, "sha256:a", &["one"]);

        // One per platform, or one image listed twice: nothing to choose.
        let arm = view("arm64", None, "sha256:b", &["two"]);
        assert_eq!(check(&[amd(), arm], 0), Ok(()));
        assert_eq!(check(&[amd(), view("amd64", None, "sha256:a", &["uno"])], 0), Ok(()));

        // Variants are platforms of their own; an image without one may be either, unless
        // one is exactly what was asked for.
        let v6 = || view("arm", Some("v6"), "sha256:c", &["six"]);
        let v7 = || view("arm", Some("v7"), "sha256:d", &["seven"]);
        let bare_arm = || view("arm", None, "sha256:e", &["any"]);
        assert_eq!(check(&[v6(), v7()], 1), Ok(()));
        assert_eq!(check(&[v6(), v7(), bare_arm()], 1), Ok(()));
        assert_eq!(check(&[v6(), v7(), bare_arm()], 2), Ok(()));
        let other_arm = view("arm", None, "sha256:g", &["other"]);
        let asked = |views: &[ImageView], chosen, platform| {
            only_one_of_its_platform(views, chosen, Some(platform), path).map_err(|e| e.to_string())
        };
        assert_eq!(asked(&[bare_arm(), v7()], 1, "arm/v7"), Ok(()));
        let want = "L holds 2 images for arm/v7: pick one as L:NAME (any, other)";
        assert_eq!(asked(&[bare_arm(), other_arm], 0, "arm/v7").unwrap_err(), want);

        // What was asked for is what must be unique: an image without a variant is the only
        // `arm/v6` beside a `v7`, while `arm` asked for is either.
        let plain = || view("arm", None, "sha256:p", &["plain"]);
        assert_eq!(asked(&[plain(), v7()], 0, "arm/v6"), Ok(()));
        let want = "L holds 2 images for arm: pick one as L:NAME (six (arm/v6), seven (arm/v7))";
        assert_eq!(asked(&[v6(), v7()], 0, "arm").unwrap_err(), want);

        // Names that do not tell them apart give way to digests.
        let unnamed = view("amd64", None, "sha256:e", &[]);
        let want = "L holds 2 images for amd64: pick one as L:DIGEST (sha256:a, sha256:e)";
        assert_eq!(check(&[amd(), unnamed], 0).unwrap_err(), want);
        let also_one = view("amd64", None, "sha256:f", &["one"]);
        let want = "L holds 2 images for amd64: pick one as L:DIGEST (sha256:a, sha256:f)";
        assert_eq!(check(&[amd(), also_one], 0).unwrap_err(), want);
    }

    #[test]
    fn a_registry_reference_is_told_to_pick_by_digest_and_long_lists_are_cut() {
        let many: Vec<ImageView> =
            (0..12).map(|i| view("amd64", None, &format!("sha256:{i:x}"), &[])).collect();
        let reference = Path::new("127.0.0.1:5000/many:v1");
        let error = only_one_of_its_platform(&many, 0, None, reference).unwrap_err();
        let want = "127.0.0.1:5000/many:v1 holds 12 images for amd64: pick one as \
                    127.0.0.1:5000/many:v1@DIGEST (sha256:0, sha256:1, sha256:2, sha256:3, \
                    sha256:4, sha256:5, sha256:6, sha256:7, sha256:8, sha256:9 and 2 more)";
        assert_eq!(error.to_string(), want);
    }
}
