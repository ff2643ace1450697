//! TLS for the test server: a certificate authority and a certificate for `127.0.0.1` made
//! by the `openssl` command, and the rustls server configuration that presents it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A test certificate authority and the server certificate it signed.
#[derive(Debug, Clone)]
pub struct TestCertificates {
    /// The authority's certificate (PEM): what a client is told to trust (`--ca-file`).
    pub ca: PathBuf,
    /// The server's certificate (PEM), for `IP:127.0.0.1`, signed by the authority.
    pub certificate: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
}

/// Makes a fresh authority and a server certificate for `127.0.0.1` in `dir` with
/// `openssl` (see [`crate::testenv::command_for`] for skipping when it is missing).
///
/// # Errors
/// When `openssl` fails.
pub fn make_certificates(openssl: &Path, dir: &Path) -> Result<TestCertificates> {
    let run = |args: &[&str]| -> Result<()> {
        let output = Command::new(openssl)
            .current_dir(dir)
            .args(args)
            .output()
            .with_context(|| format!("running openssl {}", args.join(" ")))?;
        if !output.status.success() {
            bail!("openssl {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
        }
        Ok(())
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &["-keyout", "ca.key", "-out", "ca.pem", "-days", "3", "-subj", "/CN=flatroot test CA"],
    ]
    .concat())?;
    run(&[
        &["req"][..],
        &ec,
        &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
    ]
    .concat())?;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .context("writing server.ext")?;
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ])?;
    Ok(TestCertificates {
        ca: dir.join("ca.pem"),
        certificate: dir.join("server.pem"),
        key: dir.join("server.key"),
    })
}

/// The server side of TLS with `certificates`, on rustls with the ring provider.
///
/// # Errors
/// When the files cannot be read or rustls refuses them.
pub fn server_config(certificates: &TestCertificates) -> Result<Arc<rustls::ServerConfig>> {
    let chain = CertificateDer::pem_file_iter(&certificates.certificate)
        .context("reading the server certificate")?
        .collect::<Result<Vec<_>, _>>()
        .context("parsing the server certificate")?;
    let key = PrivateKeyDer::from_pem_file(&certificates.key).context("reading the server key")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("choosing TLS versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("using the server certificate")?;
    Ok(Arc::new(config))
}
