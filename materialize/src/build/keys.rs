//! The keyring of a plan: local key files read, keys named by URL fetched through the cache.

use super::{BuildError, Options, Plan};
use crate::apk::signature::Keyring;
use crate::fetch::{Fetcher, Remote};

/// The keyring `plan` names: each local file under its file name, each URL (`http://`,
/// `https://`, credentials allowed) fetched with `options.fetch` (from the cache when
/// offline) under the last segment of its path. A later key of the same name replaces an
/// earlier one.
///
/// # Errors
/// [`BuildError::Keyring`] for a local file that cannot be read or is not a key, and
/// [`BuildError::Key`] for a URL that cannot be fetched or does not hold a PEM public key.
pub fn load_keyring(plan: &Plan, options: &Options) -> Result<Keyring, BuildError> {
    let mut keyring = Keyring::new();
    let mut fetcher = None;
    for path in &plan.keyring {
        let location = path.to_string_lossy();
        if !Remote::is_url(&location) {
            keyring.insert_file(path).map_err(|e| BuildError::Keyring(Box::new(e)))?;
            continue;
        }
        let fetcher = match &mut fetcher {
            Some(fetcher) => fetcher,
            None => fetcher.insert(
                Fetcher::new(&options.fetch).map_err(|e| BuildError::Fetcher(Box::new(e)))?,
            ),
        };
        let key = fetcher.key(&location).map_err(|e| BuildError::Key(Box::new(e)))?;
        tracing::debug!(url = %key.url, name = %key.name, "key fetched");
        keyring
            .insert_from(&key.name, &key.pem, &key.url)
            .map_err(|e| BuildError::Keyring(Box::new(e)))?;
    }
    Ok(keyring)
}
