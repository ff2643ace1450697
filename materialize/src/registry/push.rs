//! Pushing an image layout to references: blobs, then manifests and the index by digest,
//! and only when every reference has all of them, the tags.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::auth::repository_scope;
use super::session::{Call, Session};
use super::source::{self, Blob, Manifest};
use super::upload::Destination;
use super::{Options, Reference, RegistryError};
use crate::http::Client;
use crate::progress::{Progress, Stage};

pub use super::upload::Sent;

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    /// The digest of the top manifest (the image index for what flatroot builds).
    pub index_digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// Per reference, in the order given.
    pub targets: Vec<TargetOutcome>,
}

/// What a push did for one reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetOutcome {
    /// The reference as written.
    pub reference: String,
    /// Each blob's digest and size, and how it got there.
    pub blobs: Vec<(String, u64, Sent)>,
    /// The tag put, if any (a reference by digest alone puts none).
    pub tag: Option<String>,
}

impl TargetOutcome {
    /// How many blobs were sent as bytes (in one request or in chunks).
    pub fn uploaded(&self) -> usize {
        self.blobs.iter().filter(|(_, _, s)| matches!(s, Sent::Uploaded | Sent::Chunked(_))).count()
    }

    /// How many blobs were mounted from another repository.
    pub fn mounted(&self) -> usize {
        self.blobs.iter().filter(|(_, _, s)| *s == Sent::Mounted).count()
    }

    /// How many blobs the repository already had.
    pub fn existing(&self) -> usize {
        self.blobs.iter().filter(|(_, _, s)| *s == Sent::Existing).count()
    }

    /// The bytes uploaded.
    pub fn bytes_uploaded(&self) -> u64 {
        self.blobs
            .iter()
            .filter(|(_, _, s)| matches!(s, Sent::Uploaded | Sent::Chunked(_)))
            .map(|(_, size, _)| size)
            .sum()
    }
}

/// Pushes the image of the layout at `layout` (its `index.json` names one) to every
/// reference in `targets`; [`push_named`] of no name.
///
/// # Errors
/// As [`push_named`].
pub fn push_layout(
    layout: &Path,
    targets: &[Reference],
    options: &Options,
    progress: &dyn Progress,
) -> Result<PushOutcome, RegistryError> {
    push_named(layout, None, targets, options, progress)
}

/// Pushes the image of the layout at `layout` to every reference in `targets`: the one its
/// `index.json` names, or with `name` the one it lists under that name
/// (`org.opencontainers.image.ref.name`) or digest.
///
/// Per reference, in order: each blob the repository lacks is mounted from a repository of
/// the same registry that this push already filled, or uploaded (`options.jobs` at a
/// time); then every manifest and the index are put by digest. Only when all references
/// have everything are the tags put (a reference without tag or digest is tagged
/// `latest`), so a failure leaves no tag pointing at a half-pushed image. A reference with a
/// digest must carry the image's own.
///
/// # Errors
/// [`RegistryError`] naming the reference, the request and what the registry said.
pub fn push_named(
    layout: &Path,
    name: Option<&str>,
    targets: &[Reference],
    options: &Options,
    progress: &dyn Progress,
) -> Result<PushOutcome, RegistryError> {
    let image = source::read_layout(layout, name)?;
    let top = image.top();
    for target in targets {
        if let Some(digest) = &target.digest
            && digest != &top.digest
        {
            return Err(RegistryError::DigestReference {
                reference: target.to_string(),
                actual: top.digest.clone(),
            });
        }
    }

    let targets = distinct(targets);

    let client = Client::new(&options.http).map_err(RegistryError::Client)?;
    // Every registry is reached before anything is sent to any of them.
    let mut sessions: BTreeMap<&str, Session> = BTreeMap::new();
    for target in &targets {
        if !sessions.contains_key(target.registry.as_str()) {
            let session = Session::connect(target, options, client.clone())?;
            sessions.insert(target.registry.as_str(), session);
        }
    }

    // The first repository of each registry that this push filled: where mounts come from.
    let mut holders: BTreeMap<&str, &str> = BTreeMap::new();
    let mut outcomes = Vec::with_capacity(targets.len());
    for target in &targets {
        progress.stage(&target.to_string(), Stage::Push);
        let session = &sessions[target.registry.as_str()];
        let reference = target.to_string();
        let destination = Destination {
            session,
            reference: &reference,
            repository: &target.repository,
            chunk_size: options.chunk_size.max(1),
        };
        let mount_from =
            holders.get(target.registry.as_str()).copied().filter(|r| *r != target.repository);
        let sent = send_blobs(&destination, &image.blobs, mount_from, options.jobs)?;
        for manifest in &image.manifests {
            put_manifest(session, &reference, &target.repository, &manifest.digest, manifest)?;
        }
        holders.entry(target.registry.as_str()).or_insert(target.repository.as_str());

        let blobs = image.blobs.iter().zip(sent).map(|(b, s)| (b.digest.clone(), b.size, s));
        let tag = tag_of(target).map(str::to_string);
        outcomes.push(TargetOutcome { reference, blobs: blobs.collect(), tag });
    }

    for (target, outcome) in targets.iter().zip(&outcomes) {
        if let Some(tag) = &outcome.tag {
            let session = &sessions[target.registry.as_str()];
            put_manifest(session, &outcome.reference, &target.repository, tag, top)?;
        }
    }
    tracing::debug!(digest = %top.digest, targets = targets.len(), "pushed");

    Ok(PushOutcome {
        index_digest: top.digest.clone(),
        media_type: top.media_type.clone(),
        size: top.bytes.len() as u64,
        targets: outcomes,
    })
}

/// The tag a push to `target` puts: its own, none for a reference by digest alone, else
/// `latest`.
fn tag_of(target: &Reference) -> Option<&str> {
    match (&target.tag, &target.digest) {
        (Some(tag), _) => Some(tag),
        (None, Some(_)) => None,
        (None, None) => Some("latest"),
    }
}

/// `targets` without those that name what an earlier one names (`host/app` after
/// `host/app:latest`, or the same reference twice), which would be pushed and tagged twice.
fn distinct(targets: &[Reference]) -> Vec<&Reference> {
    let mut seen = std::collections::HashSet::new();
    let key =
        |t: &Reference| (t.registry.clone(), t.repository.clone(), tag_of(t).map(str::to_string));
    targets.iter().filter(|target| seen.insert(key(target))).collect()
}

/// Sends every blob, `jobs` at a time; the first failure stops the others from starting
/// new blobs and is returned.
fn send_blobs(
    destination: &Destination<'_>,
    blobs: &[Blob],
    mount_from: Option<&str>,
    jobs: usize,
) -> Result<Vec<Sent>, RegistryError> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Sent>>> = Mutex::new(vec![None; blobs.len()]);
    let failure: Mutex<Option<RegistryError>> = Mutex::new(None);
    let failed = || failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_some();

    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, blobs.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(blob) = blobs.get(i) else { break };
                    if failed() {
                        break;
                    }
                    match destination.send(blob, mount_from) {
                        Ok(sent) => {
                            tracing::debug!(digest = %blob.digest, ?sent, "blob in place");
                            let mut results =
                                results.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                            results[i] = Some(sent);
                        }
                        Err(error) => {
                            let mut slot =
                                failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                            slot.get_or_insert(error);
                            break;
                        }
                    }
                }
            });
        }
    });

    if let Some(error) = failure.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
        return Err(error);
    }
    let results = results.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Every slot is filled when no worker failed.
    Ok(results.into_iter().map(|s| s.unwrap_or(Sent::Existing)).collect())
}

/// `PUT /v2/<repository>/manifests/<reference>` with the manifest's bytes and media type.
fn put_manifest(
    session: &Session,
    reference: &str,
    repository: &str,
    by: &str,
    manifest: &Manifest,
) -> Result<(), RegistryError> {
    let call = Call {
        reference,
        method: "PUT",
        url: session.url(&format!("/v2/{repository}/manifests/{by}")),
        scopes: vec![repository_scope(repository, true)],
        retry: true,
    };
    let response = session.call(&call, &|agent, auth| {
        let mut request = agent.put(&call.url).header("Content-Type", &manifest.media_type);
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        request.send(manifest.bytes.as_slice())
    })?;
    session.expect(&call, response, &[201]).map(drop)
}
