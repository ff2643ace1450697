//! Registry flags shared by `publish`, `build --push`, `push`, `pull`, `mount` and `diff`,
//! and the `flatroot push` and `flatroot pull` subcommands.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use flatroot_materialize::build::Output;
use flatroot_materialize::http::HttpConfig;
use flatroot_materialize::image::ImageReadError;
use flatroot_materialize::registry::pull::PullFormat;
use flatroot_materialize::registry::{self, Reference, push::PushOutcome};
use serde_json::json;

use super::fetch::{FetchArgs, set_waits};
use crate::output::{self, Spinner};

/// How registries are reached.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Let this registry (`host` or `host:port`; repeatable) fall back to plain HTTP when
    /// HTTPS does not connect, as loopback registries (localhost, 127.0.0.0/8, ::1) always
    /// may; every other registry is HTTPS only.
    #[arg(long = "insecure-registry", value_name = "HOST", value_parser = registry_host)]
    pub insecure: Vec<String>,
    /// Trust the certificate authorities in this PEM file for registries, besides the
    /// system's (repeatable).
    #[arg(long = "registry-ca-file", value_name = "FILE")]
    pub registry_ca_files: Vec<PathBuf>,
}

/// An `--insecure-registry` value: a registry as a reference names it, checked so that a
/// misspelt one (`http://host:5000`) is refused instead of never matching.
fn registry_host(text: &str) -> Result<String, String> {
    registry::check_registry(text).map(|()| text.to_string())
}

/// How long registry requests wait, and how often they are tried again, for the commands
/// that read no package repository (`push`, `pull`); the others hold registries to their
/// repositories' `--timeout` and `--retries`.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Seconds to wait for a connection, and for each read or write of a stalled transfer
    /// [default: 60].
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Attempts after the first for a transient failure (dropped connection, timeout, 5xx),
    /// with exponential backoff [default: 4].
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
}

/// Options of pushing, besides where.
#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    /// Upload blobs larger than this in chunks of this size (bytes, or a whole or decimal
    /// number with a K, M, G or T suffix); smaller blobs go up in one request [default: 16M].
    // No clap default: `build` refuses the flag without `--push`, so it must tell it given.
    #[arg(
        long,
        value_name = "SIZE",
        allow_negative_numbers = true,
        value_parser = super::sizes::parse_nonzero_size
    )]
    pub chunk_size: Option<u64>,
    /// How registries are reached.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

impl RegistryArgs {
    /// The library's options for these flags. Credentials come from the Docker config of
    /// the environment (`DOCKER_CONFIG`, else `~/.docker/config.json`).
    pub fn options(&self) -> registry::Options {
        registry::Options {
            http: HttpConfig { ca_files: self.registry_ca_files.clone(), ..HttpConfig::default() },
            insecure: self.insecure.clone(),
            ..registry::Options::default()
        }
    }

    /// These options, with the waits and retries of `fetch` (`--timeout`, `--retries`): a
    /// command that reads both package repositories and registries holds both to them.
    pub fn options_with(&self, fetch: &FetchArgs) -> anyhow::Result<registry::Options> {
        self.options_waiting(fetch.timeout, fetch.retries)
    }

    /// These options, with `--timeout` and `--retries` as `wait` gives them.
    pub fn options_waiting_as(&self, wait: &WaitArgs) -> anyhow::Result<registry::Options> {
        self.options_waiting(wait.timeout, wait.retries)
    }

    fn options_waiting(
        &self,
        timeout: Option<u64>,
        retries: Option<u32>,
    ) -> anyhow::Result<registry::Options> {
        let mut options = self.options();
        set_waits(&mut options.http, timeout, retries)?;
        Ok(options)
    }
}

impl PushArgs {
    /// The library's options for these flags, waiting and retrying as `--timeout` and
    /// `--retries` say (`timeout`, `retries`).
    pub fn options(
        &self,
        timeout: Option<u64>,
        retries: Option<u32>,
    ) -> anyhow::Result<registry::Options> {
        let chunk_size = self.chunk_size.unwrap_or(registry::DEFAULT_CHUNK_SIZE);
        let options = self.registry.options_waiting(timeout, retries)?;
        Ok(registry::Options { chunk_size, ..options })
    }

    /// The first of these flags that was given, if any: for a command that pushes only
    /// when asked, and so refuses them otherwise instead of ignoring them.
    pub fn first_given(&self) -> Option<&'static str> {
        if self.chunk_size.is_some() {
            Some("--chunk-size")
        } else if !self.registry.insecure.is_empty() {
            Some("--insecure-registry")
        } else if !self.registry.registry_ca_files.is_empty() {
            Some("--registry-ca-file")
        } else {
            None
        }
    }
}

/// Parses every reference, naming the first that is not one.
pub fn references(texts: &[String]) -> anyhow::Result<Vec<Reference>> {
    texts.iter().map(|t| Reference::parse(t).map_err(anyhow::Error::from)).collect()
}

/// Tells the user, on stderr, what each reference received.
pub fn report_push(pushed: &PushOutcome) {
    for target in &pushed.targets {
        let tag = match &target.tag {
            Some(tag) => format!("tagged {tag}"),
            None => "by digest only".to_string(),
        };
        output::note(&format!(
            "pushed {}: {} blobs uploaded ({} bytes), {} mounted, {} already there; {tag}",
            target.reference,
            target.uploaded(),
            target.bytes_uploaded(),
            target.mounted(),
            target.existing(),
        ));
    }
}

/// The `--json` part of a push; its field names are part of flatroot's interface.
pub fn push_json(pushed: &PushOutcome) -> serde_json::Value {
    let targets: Vec<serde_json::Value> = pushed
        .targets
        .iter()
        .map(|t| {
            json!({
                "reference": t.reference,
                "tag": t.tag,
                "uploaded": t.uploaded(),
                "uploaded_bytes": t.bytes_uploaded(),
                "mounted": t.mounted(),
                "existing": t.existing(),
            })
        })
        .collect();
    json!({ "digest": pushed.index_digest, "media_type": pushed.media_type, "targets": targets })
}

/// Options of `flatroot push`.
#[derive(Debug, Args)]
pub struct PushLayoutArgs {
    /// The OCI image layout directory; its `index.json` must name one image, or
    /// `LAYOUT:NAME` picks one of several by its name (`org.opencontainers.image.ref.name`)
    /// or digest.
    pub layout: PathBuf,
    /// Where to push, as for `flatroot publish`.
    #[arg(required = true, value_name = "REF")]
    pub references: Vec<String>,
    /// Print a JSON summary of what each reference received instead of the digest.
    #[arg(long)]
    pub json: bool,
    /// How the image is pushed.
    #[command(flatten)]
    pub push: PushArgs,
    /// How long requests wait.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// Pushes a layout to every reference and prints its digest.
pub fn push(args: PushLayoutArgs) -> anyhow::Result<ExitCode> {
    let targets = references(&args.references)?;
    let options = args.push.options(args.wait.timeout, args.wait.retries)?;
    // `LAYOUT:NAME` picks one image of a layout of several, as `mount` and `diff` read it.
    let (layout, name) = match flatroot_materialize::image::split_named(&args.layout) {
        Some((layout, name)) => (layout, Some(name)),
        None => (args.layout.clone(), None),
    };
    let no_name = flatroot_materialize::image::check_name_given(&args.layout);
    let file_without_name =
        matches!(&no_name, Err(ImageReadError::EmptyName { path, .. }) if path.is_file());
    if layout.is_file() || file_without_name {
        bail!(
            "{}: push takes an OCI image layout directory, not a file such as a docker-archive",
            args.layout.display()
        );
    }
    no_name?;
    let spinner = Spinner::new();
    let pushed = registry::push::push_named(&layout, name.as_deref(), &targets, &options, &spinner);
    spinner.finish();
    let pushed = pushed.with_context(|| {
        format!("pushing {} to {}", args.layout.display(), args.references.join(", "))
    })?;

    report_push(&pushed);
    if args.json {
        output::data(&serde_json::to_string_pretty(&push_json(&pushed))?)?;
    } else {
        output::data(&pushed.index_digest)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Options of `flatroot pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// The image: `HOST[:PORT]/NAME[:TAG][@sha256:DIGEST]`.
    pub reference: String,
    /// The OCI image layout directory to write (replaced if it is one already).
    pub out: PathBuf,
    /// Pull only the image of this platform (`x86_64` or `amd64`, `armv7` or `arm/v7`,
    /// `linux/arm64`), written as the layout's one image; default: every platform.
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Rewrite Docker's manifest lists and manifests with OCI's media types, as `skopeo copy`
    /// writes a layout, so that skopeo and umoci find the image by name; the manifests and
    /// the digest printed then differ from the registry's (configs and layers do not)
    #[arg(long)]
    pub oci: bool,
    /// Print a JSON summary instead of the digest.
    #[arg(long)]
    pub json: bool,
    /// How registries are reached.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// How long requests wait.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// Pulls the reference into a layout and prints its manifest's digest.
pub fn pull(args: PullArgs) -> anyhow::Result<ExitCode> {
    let reference = Reference::parse(&args.reference)?;
    super::build::not_standard_output("OUT", &args.out)?;
    // Any archive name is refused as such: `build`'s words for a compressed one would offer
    // a .tar, which pull does not write either.
    let archive = super::build::output_for(args.out.clone())
        .map_or(true, |out| matches!(out, Output::DockerArchive(_)));
    if archive {
        bail!("{}: pull writes an OCI image layout directory, not an archive", args.out.display());
    }
    let platform = match &args.arch {
        Some(name) => {
            Some(flatroot_materialize::image::platform_of_name(name).map_err(anyhow::Error::msg)?)
        }
        None => None,
    };
    let (options, spinner) = (args.registry.options_waiting_as(&args.wait)?, Spinner::new());
    let format = if args.oci { PullFormat::Oci } else { PullFormat::AsServed };
    let pulled = match &platform {
        Some(platform) => registry::pull::pull_platform(
            &reference,
            platform,
            &args.out,
            (&options, format),
            &spinner,
        ),
        None => registry::pull::pull_layout(&reference, &args.out, (&options, format), &spinner),
    };
    spinner.finish();
    let pulled = pulled.with_context(|| format!("pulling {reference}"))?;
    if pulled.docker_manifests > 0 {
        output::note(&format!(
            "note: {}: the registry's manifests are of Docker's media types, kept as served; \
             skopeo and umoci find no image of such a layout by name (pull with --oci to rewrite \
             them)",
            args.out.display()
        ));
    }

    if args.json {
        let summary = json!({
            "digest": pulled.digest,
            "media_type": pulled.media_type,
            "size": pulled.size,
            "manifests": pulled.manifests,
            "blobs": pulled.blobs,
            "blob_bytes": pulled.blob_bytes,
            "docker_manifests": pulled.docker_manifests,
            "rewritten_manifests": pulled.rewritten_manifests,
            "served_digest": pulled.served_digest,
        });
        output::data(&serde_json::to_string_pretty(&summary)?)?;
    } else {
        output::data(&pulled.digest)?;
    }
    Ok(ExitCode::SUCCESS)
}
