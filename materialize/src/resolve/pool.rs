//! The package pool: every index entry of every repository, parsed once, with the map from
//! each name to the packages that provide it.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::apk::dependency::{Dependency, Provide};
use crate::apk::index::{Checksum, IndexEntry};
use crate::apk::version;
use crate::resolve::Request;

/// One installable package. Its identity is the `C:` checksum, as in apk: records with the
/// same checksum are one package, held by every repository that lists it; records without a
/// checksum are one package when they are byte-identical.
#[derive(Debug)]
pub(crate) struct Pkg {
    /// Position in [`Pool::pkgs`].
    pub id: usize,
    pub name: String,
    /// `name`'s index in [`Pool::providers`].
    pub name_id: u32,
    pub version: String,
    /// `(repository, entry)` of every copy, in repository order.
    pub copies: Vec<(usize, usize)>,
    pub depends: Vec<Dependency>,
    pub provides: Vec<Provide>,
    /// Each provide's name's index in [`Pool::providers`], in `provides` order.
    pub provide_ids: Vec<u32>,
    pub install_if: Vec<Dependency>,
    pub priority: u32,
    /// Why it can never be installed (a malformed `D:` token, another architecture).
    pub unusable: Option<String>,
    /// Each `D:` name's index in [`Pool::providers`], found the first time the package is
    /// chosen (most packages of an index never are); see [`Pool::depend_ids`].
    depend_ids: OnceCell<Vec<Option<u32>>>,
}

impl Pkg {
    /// `name-version`, as apk names a package in messages.
    pub fn label(&self) -> String {
        format!("{}-{}", self.name, self.version)
    }

    /// Every version this package offers for `name`: `Some(v)` for its own name and
    /// versioned provides, `None` for an unversioned provide.
    pub fn offers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = Option<&'a str>> + 'a {
        let own = (self.name == name).then_some(Some(self.version.as_str()));
        let provided =
            self.provides.iter().filter(move |p| p.name == name).map(|p| p.version.as_deref());
        own.into_iter().chain(provided)
    }

    /// The names it holds with a version (its own and versioned provides), with their
    /// indexes in [`Pool::providers`].
    pub fn versioned_names(&self) -> impl Iterator<Item = (u32, &str)> {
        let provided =
            self.provides.iter().zip(&self.provide_ids).filter(|(p, _)| p.version.is_some());
        std::iter::once((self.name_id, self.name.as_str()))
            .chain(provided.map(|(p, &id)| (id, p.name.as_str())))
    }
}

/// A provider of a name: the package, and which of its provides offers the name (`None`:
/// the package's own name).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Provider {
    pub pkg: usize,
    pub provide: Option<usize>,
}

/// All packages of a request.
pub(crate) struct Pool<'a> {
    pub request: &'a Request,
    pub pkgs: Vec<Pkg>,
    /// Every name some package holds, to its index in `providers`. Only looked up: the
    /// indexes follow the packages' order, never the map's.
    names: HashMap<String, u32>,
    /// The providers of each name, by the name's index.
    pub providers: Vec<Vec<Provider>>,
    /// Packages with an `i:` list: by name, newest version first.
    pub install_if: Vec<usize>,
    /// For each install_if package, the requirements that add it: its name, and its name
    /// at its exact version.
    self_deps: BTreeMap<usize, [Dependency; 2]>,
}

impl<'a> Pool<'a> {
    /// Builds the pool; `exclude` lists `(name, version)` pairs that must not be chosen.
    pub fn new(request: &'a Request, exclude: &BTreeSet<(String, String)>) -> Pool<'a> {
        let mut pkgs: Vec<Pkg> = Vec::new();
        let mut by_key: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
        let mut by_checksum: BTreeMap<&Checksum, usize> = BTreeMap::new();

        for (r, repo) in request.repositories.iter().enumerate() {
            for (e, entry) in repo.entries.iter().enumerate() {
                // apk files packages by checksum and keeps the first record of each
                // (`apk_db_pkg_add`): a later record with that checksum is the same package
                // (another copy), its own fields ignored. One that names another package is
                // dropped here, repository included, as a copy must carry the package's own
                // name (apk-tools tests installif1-3: libiif shares bar's checksum).
                if let Some(&id) = entry.checksum.as_ref().and_then(|c| by_checksum.get(c)) {
                    let first = &pkgs[id];
                    if first.name == entry.name && first.version == entry.version {
                        pkgs[id].copies.push((r, e));
                    } else {
                        tracing::debug!(
                            package = %format!("{}-{}", entry.name, entry.version),
                            same_as = %first.label(),
                            repository = %repo.name,
                            "record dropped: its checksum is another package's"
                        );
                    }
                    continue;
                }
                // Without a checksum, only a byte-identical record is the same package.
                let key = (entry.name.as_str(), entry.version.as_str());
                let same =
                    entry.checksum.is_none().then(|| by_key.get(&key)).flatten().and_then(|ids| {
                        ids.iter().copied().find(|&id| {
                            let (r0, e0) = pkgs[id].copies[0];
                            request.repositories[r0].entries[e0] == *entry
                        })
                    });
                if let Some(id) = same {
                    pkgs[id].copies.push((r, e));
                    continue;
                }
                let id = pkgs.len();
                match &entry.checksum {
                    Some(c) => {
                        by_checksum.insert(c, id);
                    }
                    None => by_key.entry(key).or_default().push(id),
                }
                pkgs.push(make_pkg(request, id, r, e, exclude));
            }
        }

        // Names are numbered once here, so that the search compares numbers, not strings.
        let mut names: HashMap<String, u32> = HashMap::new();
        let mut providers: Vec<Vec<Provider>> = Vec::new();
        let mut intern = |name: &str, provider: Provider| -> u32 {
            let id = match names.get(name) {
                Some(&id) => id,
                None => {
                    let id = providers.len() as u32;
                    names.insert(name.to_string(), id);
                    providers.push(Vec::new());
                    id
                }
            };
            providers[id as usize].push(provider);
            id
        };
        for pkg in &mut pkgs {
            pkg.name_id = intern(&pkg.name, Provider { pkg: pkg.id, provide: None });
            pkg.provide_ids = (0..pkg.provides.len())
                .map(|i| intern(&pkg.provides[i].name, Provider { pkg: pkg.id, provide: Some(i) }))
                .collect();
        }

        let mut install_if: Vec<usize> =
            pkgs.iter().filter(|p| !p.install_if.is_empty()).map(|p| p.id).collect();
        let entry = |id: usize| {
            let (r, e) = pkgs[id].copies[0];
            &request.repositories[r].entries[e]
        };
        // By name, newest first; same-version rebuilds by content, never by file position.
        install_if.sort_by(|&a, &b| {
            let (ea, eb) = (entry(a), entry(b));
            ea.name
                .cmp(&eb.name)
                .then_with(|| version::compare_lenient(&eb.version, &ea.version))
                .then_with(|| ea.checksum.cmp(&eb.checksum))
                .then_with(|| ea.depends.cmp(&eb.depends))
                .then_with(|| ea.install_if.cmp(&eb.install_if))
                .then(a.cmp(&b))
        });

        let self_deps = install_if
            .iter()
            .map(|&id| {
                let p = &pkgs[id];
                let exact = Dependency {
                    op: Some(crate::apk::dependency::Op::Equal),
                    version: Some(p.version.clone()),
                    ..Dependency::any(&p.name)
                };
                (id, [Dependency::any(&p.name), exact])
            })
            .collect();

        Pool { request, pkgs, names, providers, install_if, self_deps }
    }

    /// The index of `name` in [`Pool::providers`]; `None` when nothing holds it.
    pub fn name_id(&self, name: &str) -> Option<u32> {
        self.names.get(name).copied()
    }

    /// The index in [`Pool::providers`] of each of `pkg`'s `D:` names, in `depends` order.
    pub fn depend_ids(&self, pkg: usize) -> &[Option<u32>] {
        let p = &self.pkgs[pkg];
        p.depend_ids.get_or_init(|| p.depends.iter().map(|d| self.name_id(&d.name)).collect())
    }

    /// The providers of `name` (none when nothing holds it).
    pub fn providers_of(&self, name: &str) -> &[Provider] {
        self.name_id(name).map_or(&[], |id| &self.providers[id as usize])
    }

    /// The requirement `name` of install_if package `pkg`.
    ///
    /// # Panics
    /// When `pkg` has no install_if condition (never in the solver).
    pub fn any_dep(&self, pkg: usize) -> &Dependency {
        &self.self_deps[&pkg][0]
    }

    /// The requirement `name=version` of install_if package `pkg`.
    ///
    /// # Panics
    /// When `pkg` has no install_if condition (never in the solver).
    pub fn exact_dep(&self, pkg: usize) -> &Dependency {
        &self.self_deps[&pkg][1]
    }

    /// The version a provider offers; `None` for an unversioned provide.
    pub fn offered(&self, p: Provider) -> Option<&str> {
        let pkg = &self.pkgs[p.pkg];
        match p.provide {
            None => Some(pkg.version.as_str()),
            Some(i) => pkg.provides.get(i).and_then(|pr| pr.version.as_deref()),
        }
    }

    /// Whether `pkg` may be taken under `allowed` tags: it sits in an untagged repository,
    /// or in one whose tag is allowed (apk's repository pinning).
    pub fn eligible(&self, pkg: usize, allowed: &BTreeSet<String>) -> bool {
        self.pkgs[pkg].copies.iter().any(|&(r, _)| match &self.request.repositories[r].tag {
            None => true,
            Some(tag) => allowed.contains(tag),
        })
    }

    /// Whether `pkg` sits in a repository with exactly the `preferred` tag (`None`: an
    /// untagged repository).
    pub fn preferred(&self, pkg: usize, preferred: Option<&str>) -> bool {
        let repos = &self.request.repositories;
        self.pkgs[pkg].copies.iter().any(|&(r, _)| repos[r].tag.as_deref() == preferred)
    }

    /// The copy to take: the first in a preferred repository, else the first allowed one,
    /// else the first.
    pub fn copy_for(
        &self,
        pkg: usize,
        preferred: Option<&str>,
        allowed: &BTreeSet<String>,
    ) -> (usize, usize) {
        let repos = &self.request.repositories;
        let copies = &self.pkgs[pkg].copies;
        let pick = |ok: &dyn Fn(Option<&String>) -> bool| {
            copies.iter().copied().find(|&(r, _)| ok(repos[r].tag.as_ref()))
        };
        pick(&|t| t.map(String::as_str) == preferred)
            .or_else(|| pick(&|t| t.is_none_or(|t| allowed.contains(t))))
            .unwrap_or(copies[0])
    }

    /// Tags of the repositories holding `pkg` (for "masked in" messages).
    pub fn tags(&self, pkg: usize) -> Vec<String> {
        let mut tags: Vec<String> = self.pkgs[pkg]
            .copies
            .iter()
            .filter_map(|&(r, _)| self.request.repositories[r].tag.clone())
            .collect();
        tags.dedup();
        tags
    }

    /// The index entry of `pkg`'s first copy.
    pub fn entry(&self, pkg: usize) -> &IndexEntry {
        let (r, e) = self.pkgs[pkg].copies[0];
        &self.request.repositories[r].entries[e]
    }

    /// The lowest repository index holding `pkg`.
    pub fn first_repo(&self, pkg: usize) -> usize {
        self.pkgs[pkg].copies[0].0
    }
}

fn make_pkg(
    request: &Request,
    id: usize,
    r: usize,
    e: usize,
    exclude: &BTreeSet<(String, String)>,
) -> Pkg {
    let entry = &request.repositories[r].entries[e];
    let mut unusable = None;

    // apk marks a package with an unreadable D: uninstallable rather than failing the
    // index (`apk_pkgtmpl_add_info`); an unreadable i: only disables the install_if rule.
    let depends = Dependency::parse_all(&entry.depends).unwrap_or_else(|err| {
        let token = err.token();
        let repository = &request.repositories[r].name;
        unusable = Some(format!(
            "its index entry in {repository} has a D: token '{token}' that is no dependency \
             (expected name(@tag)([<>~=]version))"
        ));
        Vec::new()
    });
    let install_if = Dependency::parse_all(&entry.install_if).unwrap_or_default();
    let provides = entry.provides.iter().filter_map(|t| Provide::parse(t).ok()).collect();

    if let Some(arch) = &request.arch {
        let a = entry.arch.as_str();
        if !a.is_empty() && a != "noarch" && a != arch {
            unusable = Some(format!("arch {a} is not {arch}"));
        }
    }
    if exclude.contains(&(entry.name.clone(), entry.version.clone())) {
        unusable = Some("missing on another architecture".to_string());
    }

    Pkg {
        id,
        name: entry.name.clone(),
        name_id: 0,
        version: entry.version.clone(),
        copies: vec![(r, e)],
        depends,
        provides,
        provide_ids: Vec::new(),
        install_if,
        priority: entry.provider_priority.unwrap_or(0),
        unusable,
        depend_ids: OnceCell::new(),
    }
}
