//! The image config, manifest and index, built with `oci-spec` and serialized canonically.
//!
//! Every blob comes back as `(bytes, Descriptor)`: the exact bytes to store and a descriptor
//! with their sha256 digest and size. Canonical means keys sorted and no insignificant
//! whitespace, so a digest is a function of the content alone (the value goes through
//! [`serde_json::Value`], whose maps are sorted, then out as compact text).
//!
//! [`image_blobs`] builds one platform's config and manifest from an [`ImageSpec`] and the
//! layer's [`LayerDigests`]; [`index_blob`] joins one or more of them into the index that
//! both the OCI layout and the docker-archive carry.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, DescriptorBuilder, HistoryBuilder, ImageConfigurationBuilder,
    ImageIndexBuilder, ImageManifestBuilder, MediaType, Os, PlatformBuilder, RootFsBuilder,
};
use serde::Serialize;

use super::compress::LayerDigests;
use super::digest::{DigestError, digest_of};

/// The annotation that names a manifest's tag inside an index (OCI image spec,
/// annotations.md: `org.opencontainers.image.ref.name`).
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// The value the history entry gives as `created_by`.
const CREATED_BY: &str = "flatroot";

/// What one platform's image says beyond its layer: the `config` section, the platform and
/// the creation time.
///
/// Empty lists and maps are left out of the config rather than written empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageSpec {
    /// The CPU architecture in Go's `GOARCH` spelling, as the config's `architecture` and the
    /// index's `platform.architecture` require (`amd64`, `arm64`, `arm`, `386`, ...); see
    /// [`ImageSpec::for_apk_arch`] for the mapping from APK architectures.
    pub arch: String,
    /// The CPU variant (`v6`, `v7`, `v8`), per the image spec's platform variants table.
    pub variant: Option<String>,
    /// `config.Entrypoint`: the command run when the container starts.
    pub entrypoint: Vec<String>,
    /// `config.Cmd`: the default arguments to the entrypoint.
    pub cmd: Vec<String>,
    /// `config.Env`: written as `NAME=value` entries in name order.
    pub env: BTreeMap<String, String>,
    /// `config.User`: a user name or UID, optionally with `:group`.
    pub user: Option<String>,
    /// `config.WorkingDir`: the process's working directory.
    pub work_dir: Option<String>,
    /// `config.StopSignal`: the signal that stops the container, such as `SIGTERM`.
    pub stop_signal: Option<String>,
    /// `config.Volumes`: paths a runtime should mount a volume on.
    pub volumes: BTreeSet<String>,
    /// `config.Labels`: free-form metadata.
    pub labels: BTreeMap<String, String>,
    /// The creation time in seconds since the Unix epoch (from `SOURCE_DATE_EPOCH` or the
    /// blueprint). Written as RFC 3339 UTC to the config's `created` and to the history
    /// entry; when `None` both leave `created` out (the image spec makes it optional), so
    /// the clock never enters the image.
    pub created: Option<i64>,
    /// The history entry's `comment`, if any. The one history entry always says
    /// `created_by: flatroot`.
    pub history_comment: Option<String>,
}

impl ImageSpec {
    /// A spec for an APK architecture (the `arch` of `/etc/apk/arch` and apko blueprints),
    /// with its OCI architecture and variant filled in and everything else empty.
    ///
    /// Mapping: `x86_64` → `amd64`, `aarch64` → `arm64` (no variant, as apko writes it),
    /// `armv7` → `arm`/`v7`, `armhf` → `arm`/`v6`, `x86` → `386`, `ppc64le`, `s390x` and
    /// `riscv64` unchanged, `loongarch64` → `loong64`, as [`crate::blueprint::Arch`] maps
    /// them. OCI spellings (`amd64`, `arm64`, `arm/v7`, ...) are accepted as-is.
    ///
    /// # Errors
    /// [`ImageError::UnknownArch`] for any other name.
    pub fn for_apk_arch(apk_arch: &str) -> Result<Self, ImageError> {
        let known = crate::blueprint::Arch::from_name(apk_arch);
        let platform = known
            .map(crate::blueprint::Arch::oci_platform)
            .ok_or_else(|| ImageError::UnknownArch { arch: apk_arch.to_owned() })?;
        Ok(Self {
            arch: platform.architecture.to_owned(),
            variant: platform.variant.map(str::to_owned),
            ..Self::default()
        })
    }
}

/// Why an image blob could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The architecture name is not one flatroot knows how to map.
    #[error("unknown architecture {arch:?}")]
    UnknownArch {
        /// The name as given.
        arch: String,
    },
    /// The creation time is outside the years 0000 to 9999 that RFC 3339 can write.
    #[error("creation time {seconds} is outside the years 0000-9999")]
    CreatedOutOfRange {
        /// The seconds since the epoch as given.
        seconds: i64,
    },
    /// `oci-spec` refused to build a structure.
    #[error("cannot build the image {what}")]
    Build {
        /// Which structure: `config`, `manifest`, `index` or a descriptor.
        what: &'static str,
        /// What `oci-spec` reported.
        #[source]
        source: oci_spec::OciSpecError,
    },
    /// Serializing a structure to JSON failed.
    #[error("cannot serialize the image {what}")]
    Json {
        /// Which structure: `config`, `manifest` or `index`.
        what: &'static str,
        /// What serde_json reported.
        #[source]
        source: serde_json::Error,
    },
    /// A digest could not be expressed as an OCI digest.
    #[error("cannot express the digest of the image {what}")]
    Digest {
        /// Which structure: `config`, `manifest` or `index`.
        what: &'static str,
        /// The refused digest.
        #[source]
        source: DigestError,
    },
}

/// One platform's config and manifest, ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageBlobs {
    /// The config blob and its descriptor (`application/vnd.oci.image.config.v1+json`).
    pub config: (Vec<u8>, Descriptor),
    /// The manifest blob and its descriptor (`application/vnd.oci.image.manifest.v1+json`),
    /// without platform or annotations; [`ImageBlobs::index_entry`] adds those.
    pub manifest: (Vec<u8>, Descriptor),
    /// The OCI architecture, as in the spec it was built from.
    pub arch: String,
    /// The CPU variant, as in the spec it was built from.
    pub variant: Option<String>,
}

impl ImageBlobs {
    /// The entry this image takes in an index, tagged `ref_name` if given (a tag such as
    /// `latest`, written as the `org.opencontainers.image.ref.name` annotation).
    pub fn index_entry(&self, ref_name: Option<&str>) -> IndexEntry {
        IndexEntry {
            manifest: self.manifest.1.clone(),
            arch: self.arch.clone(),
            variant: self.variant.clone(),
            ref_name: ref_name.map(str::to_owned),
        }
    }
}

/// One manifest as an index lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// The manifest's descriptor (media type, digest, size).
    pub manifest: Descriptor,
    /// The platform's OCI architecture, written to `platform.architecture`.
    pub arch: String,
    /// The platform's CPU variant, written to `platform.variant` when present.
    pub variant: Option<String>,
    /// The tag, written as the `org.opencontainers.image.ref.name` annotation when present.
    pub ref_name: Option<String>,
}

/// Builds one platform's config and manifest for a single-layer image.
///
/// `manifest_annotations` go on the manifest (left out when empty).
///
/// # Errors
/// [`ImageError::CreatedOutOfRange`] for a creation time RFC 3339 cannot write; the other
/// variants only if `oci-spec` or serde_json refuse a structure.
pub fn image_blobs(
    spec: &ImageSpec,
    layer: &LayerDigests,
    manifest_annotations: &BTreeMap<String, String>,
) -> Result<ImageBlobs, ImageError> {
    let config = config_blob(spec, layer)?;
    let manifest = manifest_blob(&config.1, layer, manifest_annotations)?;
    Ok(ImageBlobs { config, manifest, arch: spec.arch.clone(), variant: spec.variant.clone() })
}

/// The image config (OCI image spec, config.md) of a single-layer image, always `os: linux`.
///
/// # Errors
/// As [`image_blobs`].
pub fn config_blob(
    spec: &ImageSpec,
    layer: &LayerDigests,
) -> Result<(Vec<u8>, Descriptor), ImageError> {
    let created = spec.created.map(rfc3339).transpose()?;
    let build = |source| ImageError::Build { what: "config", source };

    let mut config = ConfigBuilder::default();
    if !spec.entrypoint.is_empty() {
        config = config.entrypoint(spec.entrypoint.clone());
    }
    if !spec.cmd.is_empty() {
        config = config.cmd(spec.cmd.clone());
    }
    if !spec.env.is_empty() {
        let env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        config = config.env(env);
    }
    if let Some(user) = &spec.user {
        config = config.user(user.clone());
    }
    if let Some(dir) = &spec.work_dir {
        config = config.working_dir(dir.clone());
    }
    if let Some(signal) = &spec.stop_signal {
        config = config.stop_signal(signal.clone());
    }
    if !spec.volumes.is_empty() {
        config = config.volumes(spec.volumes.iter().cloned().collect::<Vec<_>>());
    }
    if !spec.labels.is_empty() {
        config = config.labels(spec.labels.clone().into_iter().collect::<HashMap<_, _>>());
    }
    let config = config.build().map_err(build)?;

    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(vec![layer.diff_id.to_string()])
        .build()
        .map_err(build)?;

    let mut history = HistoryBuilder::default().created_by(CREATED_BY);
    if let Some(created) = &created {
        history = history.created(created.clone());
    }
    if let Some(comment) = &spec.history_comment {
        history = history.comment(comment.clone());
    }
    let history = history.build().map_err(build)?;

    let mut image = ImageConfigurationBuilder::default()
        .architecture(Arch::from(spec.arch.as_str()))
        .os(Os::Linux)
        .config(config)
        .rootfs(rootfs)
        .history(vec![history]);
    if let Some(variant) = &spec.variant {
        image = image.variant(variant.clone());
    }
    if let Some(created) = created {
        image = image.created(created);
    }
    let image = image.build().map_err(build)?;

    blob("config", MediaType::ImageConfig, &image)
}

/// The image manifest (OCI image spec, manifest.md) for one config and one layer, whose
/// descriptor takes the layer's media type (`...tar+gzip`, `...tar+zstd` or `...tar`).
///
/// # Errors
/// Only if `oci-spec` or serde_json refuse a structure.
pub fn manifest_blob(
    config: &Descriptor,
    layer: &LayerDigests,
    annotations: &BTreeMap<String, String>,
) -> Result<(Vec<u8>, Descriptor), ImageError> {
    let build = |source| ImageError::Build { what: "manifest", source };
    let layer = Descriptor::new(layer.media_type.clone(), layer.size, layer.digest.clone());

    let mut manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config.clone())
        .layers(vec![layer]);
    if !annotations.is_empty() {
        manifest = manifest.annotations(annotations.clone().into_iter().collect::<HashMap<_, _>>());
    }
    let manifest = manifest.build().map_err(build)?;

    blob("manifest", MediaType::ImageManifest, &manifest)
}

/// The image index (OCI image spec, image-index.md): one manifest descriptor per entry, in
/// the given order, each with its `platform` (os `linux`) and its tag annotation, and the
/// blueprint's `annotations` on the index itself (left out when empty).
///
/// This one index is the `index.json` of the OCI layout and of the docker-archive, so the
/// digest of its bytes is the image's digest in both.
///
/// # Errors
/// Only if `oci-spec` or serde_json refuse a structure.
pub fn index_blob(
    entries: &[IndexEntry],
    annotations: &BTreeMap<String, String>,
) -> Result<(Vec<u8>, Descriptor), ImageError> {
    let build = |source| ImageError::Build { what: "index", source };

    let mut manifests = Vec::with_capacity(entries.len());
    for entry in entries {
        let mut platform =
            PlatformBuilder::default().architecture(Arch::from(entry.arch.as_str())).os(Os::Linux);
        if let Some(variant) = &entry.variant {
            platform = platform.variant(variant.clone());
        }
        let platform = platform.build().map_err(build)?;

        let mut descriptor = DescriptorBuilder::default()
            .media_type(entry.manifest.media_type().clone())
            .digest(entry.manifest.digest().clone())
            .size(entry.manifest.size())
            .platform(platform);
        if let Some(tag) = &entry.ref_name {
            let tag = [(REF_NAME_ANNOTATION.to_owned(), tag.clone())].into_iter().collect();
            descriptor = descriptor.annotations::<HashMap<_, _>>(tag);
        }
        manifests.push(descriptor.build().map_err(build)?);
    }

    let mut index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests);
    if !annotations.is_empty() {
        index = index.annotations(annotations.clone().into_iter().collect::<HashMap<_, _>>());
    }
    let index = index.build().map_err(build)?;

    blob("index", MediaType::ImageIndex, &index)
}

/// Serializes `value` canonically: object keys in byte order, no whitespace between tokens.
///
/// # Errors
/// [`ImageError::Json`] when serde_json refuses the value.
pub fn canonical_json<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, ImageError> {
    // `serde_json::Value` keeps objects in a BTreeMap (the crate is built without
    // `preserve_order`), which sorts keys whatever order the struct or HashMap had.
    let value = serde_json::to_value(value).map_err(|source| ImageError::Json { what, source })?;
    serde_json::to_vec(&value).map_err(|source| ImageError::Json { what, source })
}

/// Serializes a structure canonically and describes the bytes.
fn blob<T: Serialize>(
    what: &'static str,
    media_type: MediaType,
    value: &T,
) -> Result<(Vec<u8>, Descriptor), ImageError> {
    let bytes = canonical_json(what, value)?;
    let digest = digest_of(&bytes).map_err(|source| ImageError::Digest { what, source })?;
    let descriptor = Descriptor::new(media_type, bytes.len() as u64, digest);
    Ok((bytes, descriptor))
}

/// The annotation that holds an image's creation time (RFC 3339), on manifests and indexes.
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";

/// Seconds since the epoch as RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SSZ`), as the image spec asks
/// for `created`.
///
/// # Errors
/// [`ImageError::CreatedOutOfRange`] outside the years 0000 to 9999.
pub fn rfc3339(seconds: i64) -> Result<String, ImageError> {
    // 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the years four digits can write.
    const FIRST: i64 = -62_167_219_200;
    const LAST: i64 = 253_402_300_799;
    if !(FIRST..=LAST).contains(&seconds) {
        return Err(ImageError::CreatedOutOfRange { seconds });
    }

    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_date(days);
    let (hour, minute, second) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
    Ok(format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z"))
}

/// The seconds since the epoch and the nanoseconds past them of an RFC 3339 time as image
/// configs give `created` (`2023-11-14T22:13:20Z`, with a fraction or an offset such as
/// `+02:00`; digits of the fraction past the ninth are dropped); `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<(i64, u32)> {
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = text.get(range)?;
        digits.bytes().all(|b| b.is_ascii_digit()).then(|| digits.parse().ok())?
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    let bytes = text.as_bytes();
    if bytes.len() < 20
        || !separators.iter().all(|&(at, c)| bytes[at] == c)
        || !matches!(bytes[10], b'T' | b't' | b' ')
    {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let days_in_month = match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    if !(1..=days_in_month).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }

    let mut rest = &text[19..];
    let mut nanos = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let first_nine = fraction[..digits].bytes().chain(std::iter::repeat(b'0')).take(9);
        nanos = first_nine.fold(0u32, |value, digit| value * 10 + u32::from(digit - b'0'));
        rest = &fraction[digits..];
    }
    let offset = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| -> Option<i64> {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i64::from((a - b'0') * 10 + b - b'0'))
            };
            let (hours, minutes) = (two(*h1, *h2)?, two(*m1, *m2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset, nanos))
}

/// The days from 1970-01-01 to the proleptic Gregorian date `year-month-day`: the inverse
/// of [`civil_date`], in the same eras of years that start on 1 March.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let march_month = (month + 9) % 12; // 0 = March ... 11 = February
    let day_of_year = (153 * march_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date `days` after 1970-01-01, counting in 400-year eras of
/// 146 097 days whose years start on 1 March (so the leap day falls at the end of a year).
fn civil_date(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468; // days from 0000-03-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_month = (5 * day_of_year + 2) / 153; // 0 = March ... 11 = February
    let day = day_of_year - (153 * march_month + 2) / 5 + 1;
    let month = if march_month < 10 { march_month + 3 } else { march_month - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::digest::digest_of;

    fn layer() -> LayerDigests {
        LayerDigests {
            diff_id: digest_of(b"tar").unwrap(),
            digest: digest_of(b"gz").unwrap(),
            size: 2,
            uncompressed_size: 3,
            media_type: MediaType::ImageLayerGzip,
        }
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400).unwrap(), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000).unwrap(), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(-1).unwrap(), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(253_402_300_799).unwrap(), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(-62_167_219_200).unwrap(), "0000-01-01T00:00:00Z");
        assert!(matches!(rfc3339(253_402_300_800), Err(ImageError::CreatedOutOfRange { .. })));
    }

    #[test]
    fn rfc3339_times_are_read_back_as_they_are_written_and_with_offsets() {
        for seconds in [0, 951_782_400, 1_700_000_000, -1, 253_402_300_799, -62_167_219_200] {
            assert_eq!(parse_rfc3339(&rfc3339(seconds).unwrap()), Some((seconds, 0)), "{seconds}");
        }
        let time = parse_rfc3339("2023-11-14T23:13:20.123456789+01:00");
        assert_eq!(time, Some((1_700_000_000, 123_456_789)));
        assert_eq!(parse_rfc3339("2023-11-14T21:13:20-01:00"), Some((1_700_000_000, 0)));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.5Z"), Some((1_700_000_000, 500_000_000)));
        let time = parse_rfc3339("2023-11-14T22:13:20.0000000019Z");
        assert_eq!(time, Some((1_700_000_000, 1)), "digits past the ninth are dropped");
        for bad in [
            "",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-02-29T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-11-14T24:00:00Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20+1:00",
            "２０２３-11-14T22:13:20Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn apk_arches_map_to_oci_platforms() {
        let arm = ImageSpec::for_apk_arch("armv7").unwrap();
        assert_eq!((arm.arch.as_str(), arm.variant.as_deref()), ("arm", Some("v7")));
        assert_eq!(ImageSpec::for_apk_arch("x86_64").unwrap().arch, "amd64");
        assert_eq!(ImageSpec::for_apk_arch("x86").unwrap().arch, "386");
        assert!(matches!(ImageSpec::for_apk_arch("vax"), Err(ImageError::UnknownArch { .. })));
    }

    #[test]
    fn config_carries_the_spec() {
        let mut spec = ImageSpec::for_apk_arch("aarch64").unwrap();
        spec.entrypoint = vec!["/bin/sh".into(), "-c".into()];
        spec.cmd = vec!["echo hi".into()];
        spec.env = [("PATH".into(), "/usr/bin".into()), ("A".into(), "1".into())].into();
        spec.user = Some("65532".into());
        spec.work_dir = Some("/home".into());
        spec.stop_signal = Some("SIGTERM".into());
        spec.volumes = ["/data".into()].into();
        spec.labels = [("z".into(), "1".into()), ("a".into(), "2".into())].into();
        spec.created = Some(0);
        spec.history_comment = Some("built".into());

        let (bytes, descriptor) = config_blob(&spec, &layer()).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["architecture"], "arm64");
        assert!(value.get("variant").is_none(), "apko gives arm64 no variant");
        assert_eq!(value["os"], "linux");
        assert_eq!(value["created"], "1970-01-01T00:00:00Z");
        assert_eq!(value["config"]["Env"], serde_json::json!(["A=1", "PATH=/usr/bin"]));
        assert_eq!(value["config"]["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
        assert_eq!(value["config"]["Cmd"], serde_json::json!(["echo hi"]));
        assert_eq!(value["config"]["User"], "65532");
        assert_eq!(value["config"]["WorkingDir"], "/home");
        assert_eq!(value["config"]["StopSignal"], "SIGTERM");
        assert_eq!(value["config"]["Volumes"], serde_json::json!({"/data": {}}));
        assert_eq!(value["config"]["Labels"], serde_json::json!({"a": "2", "z": "1"}));
        assert_eq!(value["rootfs"]["type"], "layers");
        assert_eq!(value["rootfs"]["diff_ids"][0], layer().diff_id.to_string());
        assert_eq!(value["history"][0]["created_by"], "flatroot");
        assert_eq!(value["history"][0]["comment"], "built");
        assert_eq!(descriptor.size(), bytes.len() as u64);
        assert_eq!(descriptor.media_type(), &MediaType::ImageConfig);
    }

    #[test]
    fn config_without_created_has_no_time() {
        let spec = ImageSpec::for_apk_arch("x86_64").unwrap();
        let (bytes, _) = config_blob(&spec, &layer()).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert!(value.get("created").is_none());
        assert!(value["history"][0].get("created").is_none());
        assert!(value["config"].get("Env").is_none());
    }

    #[test]
    fn manifest_takes_the_layer_media_type() {
        let spec = ImageSpec::for_apk_arch("x86_64").unwrap();
        let mut zstd_layer = layer();
        zstd_layer.media_type = MediaType::ImageLayerZstd;
        let blobs = image_blobs(&spec, &zstd_layer, &BTreeMap::new()).unwrap();

        let value: serde_json::Value = serde_json::from_slice(&blobs.manifest.0).unwrap();
        assert_eq!(value["schemaVersion"], 2);
        assert_eq!(value["mediaType"], "application/vnd.oci.image.manifest.v1+json");
        assert_eq!(value["config"]["digest"], blobs.config.1.digest().to_string());
        assert_eq!(value["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd");
        assert_eq!(value["layers"][0]["size"], 2);
        assert!(value.get("annotations").is_none());
    }

    #[test]
    fn index_lists_platforms_tags_and_annotations() {
        let amd =
            image_blobs(&ImageSpec::for_apk_arch("x86_64").unwrap(), &layer(), &BTreeMap::new())
                .unwrap();
        let arm =
            image_blobs(&ImageSpec::for_apk_arch("armv7").unwrap(), &layer(), &BTreeMap::new())
                .unwrap();
        let annotations = [("org.opencontainers.image.source".into(), "x".into())].into();
        let entries = [amd.index_entry(Some("latest")), arm.index_entry(None)];
        let (bytes, descriptor) = index_blob(&entries, &annotations).unwrap();

        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["mediaType"], "application/vnd.oci.image.index.v1+json");
        assert_eq!(value["annotations"]["org.opencontainers.image.source"], "x");
        let first = &value["manifests"][0];
        assert_eq!(first["platform"], serde_json::json!({"architecture": "amd64", "os": "linux"}));
        assert_eq!(first["annotations"][REF_NAME_ANNOTATION], "latest");
        assert_eq!(first["digest"], amd.manifest.1.digest().to_string());
        let second = &value["manifests"][1];
        assert_eq!(second["platform"]["variant"], "v7");
        assert!(second.get("annotations").is_none());
        assert_eq!(descriptor.digest().to_string(), digest_of(&bytes).unwrap().to_string());
    }
}
