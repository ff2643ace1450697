//! Registry credentials from the Docker config file, as the Docker CLI keeps them.
//!
//! The file is `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. For a registry
//! host, `credHelpers.<host>` names a helper, else `credsStore` names one for every host; a
//! helper is `docker-credential-<name>` on `PATH`, run as `get` with the server on stdin,
//! answering `{"Username": …, "Secret": …}`. Without a helper (or when it knows nothing of
//! the host), `auths.<host>.auth` holds base64 `user:password`.
//!
//! See: <https://github.com/docker/docker-credential-helpers> for the helper protocol.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Deserialize;

/// Docker Hub's key in `auths` and the server its helpers are asked about.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A user name and its password or token. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or access token.
    pub secret: String,
    /// Where they came from, for messages: the config file or the helper's name.
    pub origin: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// The `Authorization` value of HTTP basic authentication.
    pub fn basic_header(&self) -> String {
        let pair = format!("{}:{}", self.username, self.secret);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    }
}

/// Why credentials could not be read. Secrets never appear in it.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The config file exists but cannot be read.
    #[error("cannot read the docker config {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not the JSON Docker writes.
    #[error("{path}: not a docker config file")]
    Json {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        #[source]
        source: crate::JsonDetail,
    },
    /// An `auths` entry whose `auth` is not base64 of `user:password`.
    #[error("{path}: auths.{host}.auth is not base64 of user:password")]
    Auth {
        /// The file.
        path: PathBuf,
        /// The entry's key.
        host: String,
    },
    /// A credential helper could not be started.
    #[error("cannot run the credential helper {helper} (for {host})")]
    HelperSpawn {
        /// `docker-credential-<name>`.
        helper: String,
        /// The registry asked about.
        host: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A credential helper failed for another reason than not knowing the host.
    #[error("the credential helper {helper} failed for {host} ({status}): {message}")]
    HelperFailed {
        /// `docker-credential-<name>`.
        helper: String,
        /// The registry asked about.
        host: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed (its stdout and stderr, trimmed).
        message: String,
    },
    /// A credential helper answered something other than `{"Username","Secret"}`.
    #[error("the credential helper {helper} answered no Username and Secret for {host}")]
    HelperOutput {
        /// `docker-credential-<name>`.
        helper: String,
        /// The registry asked about.
        host: String,
        /// What the parser said.
        #[source]
        source: crate::JsonDetail,
    },
}

/// The parts of Docker's `config.json` that hold credentials.
#[derive(Debug, Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl std::fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthEntry").finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Where credentials are looked up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CredentialSource {
    /// The Docker config file of the environment: `$DOCKER_CONFIG/config.json`, else
    /// `$HOME/.docker/config.json`.
    #[default]
    Environment,
    /// This config file.
    File(PathBuf),
    /// None: every registry is asked anonymously.
    Anonymous,
}

impl CredentialSource {
    /// The config file this source reads, if any.
    pub fn config_path(&self) -> Option<PathBuf> {
        match self {
            CredentialSource::Environment => match std::env::var_os("DOCKER_CONFIG") {
                Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir).join("config.json")),
                _ => std::env::var_os("HOME")
                    .filter(|h| !h.is_empty())
                    .map(|home| PathBuf::from(home).join(".docker/config.json")),
            },
            CredentialSource::File(path) => Some(path.clone()),
            CredentialSource::Anonymous => None,
        }
    }

    /// The credentials for `registry` (`host[:port]` as written in the reference), or
    /// `None` when nothing is configured for it. A missing config file means none.
    ///
    /// # Errors
    /// [`CredentialsError`] for a config file that cannot be read or parsed, or a helper
    /// that fails.
    pub fn lookup(&self, registry: &str) -> Result<Option<Credentials>, CredentialsError> {
        let Some(path) = self.config_path() else { return Ok(None) };
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CredentialsError::Read { path, source }),
        };
        let config: DockerConfig = serde_json::from_slice(&text)
            .map_err(|error| CredentialsError::Json { path: path.clone(), source: error.into() })?;
        lookup_in(&config, &path, registry)
    }
}

fn lookup_in(
    config: &DockerConfig,
    path: &Path,
    registry: &str,
) -> Result<Option<Credentials>, CredentialsError> {
    let keys = keys_for(registry);
    let helper = keys
        .iter()
        .find_map(|key| config.cred_helpers.get(key))
        .or(config.creds_store.as_ref())
        .filter(|name| !name.is_empty());
    if let Some(name) = helper {
        let server = if is_docker_hub(registry) { DOCKER_HUB_KEY } else { registry };
        if let Some(found) = run_helper(name, server)? {
            return Ok(Some(found));
        }
    }

    let entry = config.auths.iter().find(|(key, _)| keys.contains(&normalize(key)));
    let Some((key, entry)) = entry else { return Ok(None) };
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let bad = || CredentialsError::Auth { path: path.to_path_buf(), host: key.clone() };
        let decoded =
            base64::engine::general_purpose::STANDARD.decode(auth.trim()).map_err(|_| bad())?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        let (username, secret) = decoded.split_once(':').ok_or_else(bad)?;
        let origin = path.display().to_string();
        return Ok(Some(Credentials { username: username.into(), secret: secret.into(), origin }));
    }
    if let (Some(username), Some(secret)) = (&entry.username, &entry.password) {
        let (username, secret) = (username.clone(), secret.clone());
        return Ok(Some(Credentials { username, secret, origin: path.display().to_string() }));
    }
    if entry.identitytoken.is_some() {
        // OAuth2 refresh tokens need the token endpoint's POST flow, which is not written.
        tracing::warn!(registry, "an identitytoken in the docker config is not supported");
    }
    Ok(None)
}

/// Runs `docker-credential-<name> get` for `server`. `None` when the helper knows nothing
/// of it (it says "credentials not found").
fn run_helper(name: &str, server: &str) -> Result<Option<Credentials>, CredentialsError> {
    let helper = format!("docker-credential-{name}");
    let spawn_error = |source| CredentialsError::HelperSpawn {
        helper: helper.clone(),
        host: server.to_string(),
        source,
    };
    let mut child = Command::new(&helper)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading closes the pipe; its answer still decides.
        let _ = stdin.write_all(server.as_bytes());
    }
    let output = child.wait_with_output().map_err(spawn_error)?;
    tracing::debug!(helper, server, status = %output.status, "credential helper ran");

    if !output.status.success() {
        let message = format!(
            "{} {}",
            String::from_utf8_lossy(&output.stdout).trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
        let message = message.trim().to_string();
        if message.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(CredentialsError::HelperFailed {
            helper,
            host: server.to_string(),
            status: output.status,
            message,
        });
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout).map_err(|error| {
        let (helper, host) = (helper.clone(), server.to_string());
        CredentialsError::HelperOutput { helper, host, source: error.into() }
    })?;
    if answer.username == "<token>" {
        tracing::warn!(helper, server, "a helper's identity token is not supported");
        return Ok(None);
    }
    Ok(Some(Credentials { username: answer.username, secret: answer.secret, origin: helper }))
}

fn is_docker_hub(registry: &str) -> bool {
    matches!(registry, "docker.io" | "index.docker.io" | "registry-1.docker.io")
}

/// The `auths` keys (normalized) that may hold `registry`'s credentials.
fn keys_for(registry: &str) -> Vec<String> {
    let mut keys = vec![registry.to_string()];
    if is_docker_hub(registry) {
        keys.extend(["index.docker.io", "docker.io", "registry-1.docker.io"].map(str::to_string));
    }
    keys
}

/// `https://host:port/v1/` → `host:port`, as the Docker CLI compares keys.
fn normalize(key: &str) -> String {
    let rest = key.split_once("://").map_or(key, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> DockerConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn auths_entries_match_with_or_without_scheme_and_path() {
        let auth = base64::engine::general_purpose::STANDARD.encode("me:pa:ss");
        let json = format!(r#"{{"auths":{{"https://127.0.0.1:5000/v1/":{{"auth":"{auth}"}}}}}}"#);
        let found = lookup_in(&config(&json), Path::new("c.json"), "127.0.0.1:5000").unwrap();
        let found = found.unwrap();
        assert_eq!((found.username.as_str(), found.secret.as_str()), ("me", "pa:ss"));
        assert!(!format!("{found:?}").contains("pa:ss"));
        assert!(lookup_in(&config(&json), Path::new("c"), "127.0.0.1:5001").unwrap().is_none());
    }

    #[test]
    fn a_malformed_auth_names_the_file_and_entry() {
        let json = r#"{"auths":{"localhost:5000":{"auth":"!!not base64"}}}"#;
        let error = lookup_in(&config(json), Path::new("c.json"), "localhost:5000").unwrap_err();
        assert_eq!(
            error.to_string(),
            "c.json: auths.localhost:5000.auth is not base64 of user:password"
        );
    }

    #[test]
    fn a_config_of_the_wrong_shape_is_said_so_without_type_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        for json in ["3", r#"{"auths":{"localhost:5000":3}}"#] {
            std::fs::write(&path, json).unwrap();
            let error = CredentialSource::File(path.clone()).lookup("localhost:5000").unwrap_err();
            let said = crate::error_chain(&error);
            assert!(said.contains("not a docker config file"), "{said}");
            assert!(said.contains("expected a JSON object") && !said.contains("struct"), "{said}");
        }
    }

    #[test]
    fn a_missing_helper_is_an_error_naming_it() {
        let json = r#"{"credHelpers":{"localhost:5000":"flatroot-no-such-helper"}}"#;
        let error = lookup_in(&config(json), Path::new("c"), "localhost:5000").unwrap_err();
        assert!(error.to_string().contains("docker-credential-flatroot-no-such-helper"), "{error}");
    }

    #[test]
    fn keys_are_normalized() {
        assert_eq!(normalize("https://index.docker.io/v1/"), "index.docker.io");
        assert_eq!(normalize("localhost:5000"), "localhost:5000");
        assert_eq!(normalize("http://h:1/x"), "h:1");
    }
}
