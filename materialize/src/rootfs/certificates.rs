//! CA certificates that a blueprint adds (`certificates.additional`) or has packages provide
//! (`certificates.providers`), installed as apko installs them, so that the image trusts
//! them without running `update-ca-certificates`:
//!
//! - each additional certificate is written to `usr/local/share/ca-certificates/` as
//!   `NAME-FINGERPRINT.crt` (the SHA-256 of its DER in hex);
//! - the `.crt` and `.pem` files of every installed package that provides one of the
//!   providers' names are read in path order, and those that hold a certificate are taken;
//!   the ones under `usr/share/ca-certificates/` are added to `etc/ca-certificates.conf`;
//! - every certificate, the additional ones first, is appended (with a blank line after it,
//!   as `update-ca-certificates` writes the bundle) to each CA bundle the image has.
//!
//! - and to Java's truststore (`etc/ssl/certs/java/cacerts`, a JKS store with the password
//!   `changeit`), if the image has one, as trusted certificates named `NAME-FINGERPRINT`
//!   and `pkg-FINGERPRINT`, created at the build time.

use sha2::{Digest as _, Sha256};
use x509_cert::der::Decode as _;

use flatroot_vfs::{Content, Follow, NodeKind, Timestamp, Tree};

use super::generate::{GenerateError, put};
use super::installed::InstalledPackage;
use super::jks::{self, JksError, TrustedCertificate};

/// Where additional certificates are written, as `update-ca-certificates` reads them.
const LOCAL_DIR: &str = "usr/local/share/ca-certificates";

/// The certificates of packages that `etc/ca-certificates.conf` names are under here.
const SYSTEM_DIR: &str = "usr/share/ca-certificates/";

/// The list of system certificates `update-ca-certificates` puts in the bundle.
const CONF: &str = "etc/ca-certificates.conf";

/// The CA bundles appended to, where the image has them: Alpine's and Wolfi's, and the one
/// AWS ECS's execute-command agent reads.
const BUNDLES: &[&str] = &[
    "etc/ssl/certs/ca-certificates.crt",
    "var/lib/ecs/deps/execute-command/certs/tls-ca-bundle.pem",
];

/// The longest name of an additional certificate: `NAME-` and 64 hex digits and `.crt` make
/// a file name of at most 255 bytes.
pub const MAX_NAME_LEN: usize = 255 - 1 - 64 - 4;

/// Java's truststore.
const JAVA_TRUSTSTORE: &str = "etc/ssl/certs/java/cacerts";

/// One X.509 certificate, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The certificate as one PEM block with LF line ends and 64-column lines.
    pub pem: String,
    /// The SHA-256 of its DER encoding, in lower-case hex.
    pub fingerprint: String,
    /// Its DER encoding.
    pub der: Vec<u8>,
}

/// Why a text is not one certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// Not one PEM block.
    #[error("expected one PEM block, found {0}")]
    Blocks(usize),
    /// The PEM block is malformed or of another kind.
    #[error("expected a -----BEGIN CERTIFICATE----- block: {0}")]
    Pem(String),
    /// The block's content is not an X.509 certificate.
    #[error("not an X.509 certificate: {0}")]
    X509(String),
}

/// Parses `text` as exactly one PEM `CERTIFICATE` block holding an X.509 certificate (text
/// around the block, such as a comment, is skipped).
///
/// # Errors
/// What is wrong with it.
pub fn parse(text: &str) -> Result<Certificate, CertificateError> {
    let blocks = crate::pem::block_count(text);
    if blocks != 1 {
        return Err(CertificateError::Blocks(blocks));
    }
    let no_end = || CertificateError::Pem("no -----END line".to_string());
    let block = crate::pem::first_block(text).ok_or_else(no_end)?;
    let (label, der) = x509_cert::der::pem::decode_vec(block.as_bytes())
        .map_err(|e| CertificateError::Pem(e.to_string()))?;
    if label != "CERTIFICATE" {
        return Err(CertificateError::Pem(format!("a {label} block")));
    }
    // Decoding refuses bytes after the certificate, so the PEM below holds exactly it.
    x509_cert::Certificate::from_der(&der).map_err(|e| CertificateError::X509(e.to_string()))?;
    let pem = x509_cert::der::pem::encode_string(
        "CERTIFICATE",
        x509_cert::der::pem::LineEnding::LF,
        &der,
    )
    .map_err(|e| CertificateError::Pem(e.to_string()))?;
    Ok(Certificate { pem, fingerprint: hex::encode(Sha256::digest(&der)), der })
}

/// What to install: the blueprint's `certificates`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Certificates {
    /// `additional`: by name, in blueprint order.
    pub additional: Vec<(String, Certificate)>,
    /// `providers`: names that packages provide.
    pub providers: Vec<String>,
}

impl Certificates {
    /// Whether the blueprint asks for nothing.
    pub fn is_empty(&self) -> bool {
        self.additional.is_empty() && self.providers.is_empty()
    }
}

/// What [`install`] did that a user may want to know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Installed {
    /// How many certificates were added.
    pub certificates: usize,
    /// The bundles and truststores they were added to.
    pub stores: Vec<&'static str>,
}

/// Why certificates could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A file cannot be placed (a package put a non-directory where a directory of the path
    /// must be).
    #[error(transparent)]
    Write(GenerateError),
    /// Java's truststore is not one that certificates can be added to.
    #[error("cannot add certificates to the Java truststore {JAVA_TRUSTSTORE}")]
    Truststore(#[source] JksError),
}

/// Installs `certificates` into `tree`, whose packages are `installed`, stamping what it
/// writes with `time`.
///
/// # Errors
/// [`InstallError`] when a file cannot be placed, or the image's Java truststore is no JKS
/// store that the password `changeit` opens.
pub fn install(
    tree: &mut Tree,
    certificates: &Certificates,
    installed: &[InstalledPackage],
    time: i64,
) -> Result<Installed, InstallError> {
    if certificates.is_empty() {
        return Ok(Installed::default());
    }

    for (name, certificate) in &certificates.additional {
        let path = format!("{LOCAL_DIR}/{name}-{}.crt", certificate.fingerprint);
        write(tree, &path, certificate.pem.clone().into_bytes(), time)?;
    }

    let from_packages: Vec<(String, Certificate)> = provided_files(certificates, installed)
        .into_iter()
        .filter_map(|path| {
            let text = String::from_utf8(file_bytes(tree, &path)?).ok()?;
            Some((path, parse(&text).ok()?))
        })
        .collect();
    let listed: String = from_packages
        .iter()
        .filter_map(|(path, _)| path.strip_prefix(SYSTEM_DIR))
        .map(|rel| format!("{rel}\n"))
        .collect();
    if !listed.is_empty() {
        let mut conf = file_bytes(tree, CONF).unwrap_or_default();
        // A last line without its newline stays a line of its own.
        if conf.last().is_some_and(|&b| b != b'\n') {
            conf.push(b'\n');
        }
        conf.extend_from_slice(listed.as_bytes());
        write(tree, CONF, conf, time)?;
    }

    // Every certificate, the additional ones first, with its truststore alias.
    let additional =
        certificates.additional.iter().map(|(name, c)| (format!("{name}-{}", c.fingerprint), c));
    let provided = from_packages.iter().map(|(_, c)| (format!("pkg-{}", c.fingerprint), c));
    // A certificate twice (a file and a link to it, or given and provided) is added once.
    let mut seen = std::collections::BTreeSet::new();
    let taken: Vec<(String, &Certificate)> =
        additional.chain(provided).filter(|(_, c)| seen.insert(&c.fingerprint)).collect();

    let mut report = Installed { certificates: taken.len(), ..Installed::default() };
    if taken.is_empty() {
        return Ok(report);
    }
    let appended: String = taken.iter().map(|(_, c)| format!("{}\n", c.pem)).collect();
    // One bundle reached through a symlink at another's place is appended to once.
    let mut appended_to = std::collections::BTreeSet::new();
    for bundle in BUNDLES {
        let node = tree.lookup(bundle.as_bytes(), Follow::Final).ok();
        if !node.is_some_and(|node| appended_to.insert(node)) {
            continue;
        }
        let Some(mut bytes) = file_bytes(tree, bundle) else { continue };
        bytes.extend_from_slice(appended.as_bytes());
        write(tree, bundle, bytes, time)?;
        report.stores.push(bundle);
    }
    if let Some(store) = file_bytes(tree, JAVA_TRUSTSTORE) {
        let created_ms = u64::try_from(time).unwrap_or(0).saturating_mul(1000);
        let trusted: Vec<TrustedCertificate> = taken
            .iter()
            .map(|(alias, c)| TrustedCertificate {
                alias: alias.clone(),
                created_ms,
                der: c.der.clone(),
            })
            .collect();
        let store = jks::add_trusted(&store, jks::CACERTS_PASSWORD, &trusted)
            .map_err(InstallError::Truststore)?;
        write(tree, JAVA_TRUSTSTORE, store, time)?;
        report.stores.push(JAVA_TRUSTSTORE);
    }
    Ok(report)
}

/// The `.crt` and `.pem` files (not directories) of the installed packages that provide a
/// name of `certificates.providers`, sorted by path.
fn provided_files(certificates: &Certificates, installed: &[InstalledPackage]) -> Vec<String> {
    let provides = |package: &InstalledPackage| {
        package.record.provides.iter().any(|entry| {
            // `name` or `name=version`, as a package lists what it provides.
            let name = entry.split_once('=').map_or(entry.as_str(), |(name, _)| name);
            certificates.providers.iter().any(|p| p == name)
        })
    };
    let mut paths: Vec<String> = installed
        .iter()
        .filter(|package| provides(package))
        .flat_map(|package| &package.entries)
        .filter(|entry| !entry.is_dir)
        .filter_map(|entry| String::from_utf8(entry.path.clone()).ok())
        .filter(|path| path.ends_with(".crt") || path.ends_with(".pem"))
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// The content of the regular file at `path` (following symlinks), if there is one.
fn file_bytes(tree: &Tree, path: &str) -> Option<Vec<u8>> {
    let id = tree.lookup(path.as_bytes(), Follow::Final).ok()?;
    match &tree.node(id).kind {
        NodeKind::File(content) => Some(content.bytes().to_vec()),
        _ => None,
    }
}

/// Writes `bytes` at `path` (following a symlink at it, as appending to a file through one
/// does), keeping the owner and mode of a file already there and giving a new one root and
/// 0644; missing directories are made root-owned 0755. Everything written gets mtime `time`.
fn write(tree: &mut Tree, path: &str, bytes: Vec<u8>, time: i64) -> Result<(), InstallError> {
    if let Ok(id) = tree.lookup(path.as_bytes(), Follow::Final)
        && matches!(tree.node(id).kind, NodeKind::File(_))
    {
        let node = tree.node_mut(id);
        node.kind = NodeKind::File(Content::from_vec(bytes));
        node.meta.mtime = Timestamp::from_secs(time);
        return Ok(());
    }
    put(tree, path, bytes, 0o644, time, true).map_err(InstallError::Write)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use super::*;

    #[test]
    fn text_that_is_not_one_certificate_is_refused_saying_why() {
        assert_eq!(parse("no pem here"), Err(CertificateError::Blocks(0)));
        let key = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(matches!(parse(key), Err(CertificateError::Pem(_))), "{:?}", parse(key));
        let junk = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(parse(junk), Err(CertificateError::X509(_))), "{:?}", parse(junk));
        let two = format!("{junk}{junk}");
        assert_eq!(parse(&two), Err(CertificateError::Blocks(2)));
    }
}
