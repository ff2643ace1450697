//! Solver behaviour, one rule per test, on small hand-written indexes.

use super::*;
use crate::apk::index::parse_text;

fn repo(text: &str) -> Repository {
    Repository { tag: None, name: "main".into(), entries: parse_text(text).unwrap().into() }
}

fn request(world: &[&str], repositories: Vec<Repository>) -> Request {
    Request { world: dependencies(world), repositories, arch: None, locked: Vec::new() }
}

fn dependencies(texts: &[&str]) -> Vec<Dependency> {
    texts.iter().map(|t| Dependency::parse(t).unwrap()).collect()
}

fn chosen(resolution: &Resolution) -> Vec<String> {
    resolution.packages.iter().map(|c| format!("{}-{}", c.name, c.version)).collect()
}

fn problem(err: ResolveError) -> Problem {
    match err {
        ResolveError::Unsatisfiable { problem } => *problem,
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn highest_satisfying_version_wins_and_dependencies_come_first() {
    let r = repo("P:a\nV:1\nD:b\n\nP:a\nV:2\nD:b>=2\n\nP:b\nV:1\n\nP:b\nV:2\n\nP:b\nV:2_rc1\n");

    let res = resolve(&request(&["a"], vec![r])).unwrap();

    assert_eq!(chosen(&res), ["b-2", "a-2"]);
}

#[test]
fn backtracks_instead_of_forcing_an_avoidable_conflict() {
    // foo needs bar and baz~1.0; bar-2 would force baz>=2, so bar-1 must be chosen.
    let r = repo(
        "P:foo\nV:1\nD:bar baz~1.0\n\nP:bar\nV:2\nD:baz>=2\n\nP:bar\nV:1\n\n\
         P:baz\nV:1.0.3\n\nP:baz\nV:2.0\n",
    );

    let res = resolve(&request(&["foo"], vec![r])).unwrap();

    let mut got = chosen(&res);
    got.sort();
    assert_eq!(got, ["bar-1", "baz-1.0.3", "foo-1"]);
}

#[test]
fn nothing_provides_names_who_needed_it() {
    let r = repo("P:a\nV:1\nD:b\n\nP:b\nV:1\nD:so:libgone.so.1\n");

    let p = problem(resolve(&request(&["a"], vec![r])).unwrap_err());

    let Problem::NoSuchPackage { dependency, required_by } = p else { panic!("{p:?}") };
    assert_eq!(dependency.name, "so:libgone.so.1");
    assert_eq!(required_by, ["b-1[so:libgone.so.1]", "a-1[b]", "world[a]"]);
}

#[test]
fn a_locks_pins_are_installed_and_named_as_the_locks() {
    let r = repo("P:a\nV:1\nD:b\n\nP:b\nV:1\n\nP:b\nV:2\n\nP:c\nV:1\nD:so:libgone.so.1\n");
    let mut req = request(&["a"], vec![r]);
    req.locked = dependencies(&["a=1", "b=1"]);

    let res = resolve(&req).unwrap();
    req.locked.push(Dependency::parse("c=1").unwrap());
    let p = problem(resolve(&req).unwrap_err());

    assert_eq!(chosen(&res), ["b-1", "a-1"]);
    assert_eq!(res.explain("a").unwrap(), ["a-1 (world[a])"]);
    // Pins are met before any package's dependencies: what holds b at 1 is the lock.
    assert_eq!(res.explain("b").unwrap(), ["b-1 (lock[b=1])"]);
    let Problem::NoSuchPackage { required_by, .. } = p else { panic!("{p:?}") };
    assert_eq!(required_by, ["c-1[so:libgone.so.1]", "lock[c=1]"]);
}

#[test]
fn a_lock_pin_no_world_entry_asks_for_is_explained_by_the_lock() {
    let r = repo("P:a\nV:1\n\nP:docs\nV:2\n");
    let mut req = request(&["a"], vec![r]);
    req.locked = dependencies(&["a=1", "docs=2"]);

    let res = resolve(&req).unwrap();

    assert_eq!(res.explain("docs").unwrap(), ["docs-2 (lock[docs=2])"]);
    assert_eq!(res.get("docs").unwrap().reason.to_string(), "lock[docs=2]");
}

#[test]
fn a_conflict_with_a_chosen_package_names_both() {
    let r = repo("P:a\nV:1\nD:!b\n\nP:b\nV:1\n\nP:b\nV:2\n");

    let p = problem(resolve(&request(&["a", "b>1"], vec![r])).unwrap_err());

    let Problem::Breaks { dependency, required_by, installed } = p else { panic!("{p:?}") };
    assert_eq!(dependency.to_string(), "!b");
    assert_eq!(required_by, ["a-1[!b]", "world[a]"]);
    assert_eq!(installed, "b-2");
}

#[test]
fn rejected_candidates_say_why() {
    let r = repo("P:a\nV:1\nD:!b\n\nP:x\nV:1\nD:b>1\n\nP:b\nV:1\n\nP:b\nV:2\n");

    let p = problem(resolve(&request(&["a", "x"], vec![r])).unwrap_err());

    let Problem::Rejected { dependency, candidates, required_by } = p else { panic!("{p:?}") };
    assert_eq!(dependency.to_string(), "b>1");
    assert_eq!(required_by, ["x-1[b>1]", "world[x]"]);
    let why: Vec<(String, Why)> = candidates.into_iter().map(|c| (c.package, c.why)).collect();
    assert!(why.contains(&("b-1".into(), Why::Version)), "{why:?}");
    let breaks = Why::Breaks { by: "a-1".into(), dependency: Dependency::parse("!b").unwrap() };
    assert!(why.contains(&("b-2".into(), breaks)), "{why:?}");
}

#[test]
fn requested_provider_beats_priority_and_satisfies_the_virtual() {
    let r = repo(
        "P:busybox-binsh\nV:1\np:/bin/sh\nk:100\n\nP:dash-binsh\nV:1\np:/bin/sh\nk:60\n\n\
         P:app\nV:1\nD:/bin/sh\n",
    );

    let by_priority = resolve(&request(&["app"], vec![r.clone()])).unwrap();
    let requested = resolve(&request(&["app", "dash-binsh"], vec![r])).unwrap();

    assert_eq!(chosen(&by_priority), ["busybox-binsh-1", "app-1"]);
    assert_eq!(chosen(&requested), ["dash-binsh-1", "app-1"]);
}

#[test]
fn unversioned_virtual_without_priority_must_be_chosen() {
    let r = repo("P:p1\nV:1\np:virt\n\nP:p2\nV:1\np:virt\n\nP:app\nV:1\nD:virt\n");

    let p = problem(resolve(&request(&["app"], vec![r.clone()])).unwrap_err());
    let explicit = resolve(&request(&["app", "p2"], vec![r])).unwrap();

    let Problem::Virtual { providers, required_by, .. } = p else { panic!("{p:?}") };
    assert_eq!(providers, ["p1", "p2"]);
    assert_eq!(required_by, ["app-1[virt]", "world[app]"]);
    assert_eq!(chosen(&explicit), ["p2-1", "app-1"]);
}

#[test]
fn a_single_unversioned_provider_without_priority_is_not_taken_by_itself() {
    let r = repo("P:busybox\nV:1.35.0-r17\np:/bin/sh\n\nP:ca\nV:1\nD:/bin/sh\n");

    let p = problem(resolve(&request(&["ca"], vec![r])).unwrap_err());

    let Problem::Virtual { dependency, providers, required_by } = p else { panic!("{p:?}") };
    assert_eq!(dependency.name, "/bin/sh");
    assert_eq!(providers, ["busybox"]);
    assert_eq!(required_by, ["ca-1[/bin/sh]", "world[ca]"]);
}

#[test]
fn a_single_unversioned_provider_is_taken_once_its_own_name_is_required() {
    // `base` needs busybox by name after `ca` has asked for /bin/sh.
    let r = repo(
        "P:busybox\nV:1.35.0-r17\np:/bin/sh\n\nP:ca\nV:1\nD:/bin/sh\n\n\
         P:base\nV:1\nD:busybox\n",
    );

    let by_world = resolve(&request(&["ca", "busybox"], vec![r.clone()])).unwrap();
    let by_dependency = resolve(&request(&["ca", "base"], vec![r])).unwrap();

    assert_eq!(chosen(&by_world), ["busybox-1.35.0-r17", "ca-1"]);
    assert_eq!(chosen(&by_dependency), ["busybox-1.35.0-r17", "base-1", "ca-1"]);
}

#[test]
fn a_package_that_provides_its_own_name_conflicts_with_itself() {
    let r = repo("P:selfish\nV:0.1\np:selfish\n\nP:tidy\nV:1\np:tidy=1\n");

    let p = problem(resolve(&request(&["selfish"], vec![r.clone()])).unwrap_err());
    let versioned = problem(resolve(&request(&["tidy"], vec![r])).unwrap_err());

    let Problem::Rejected { candidates, .. } = p else { panic!("{p:?}") };
    let conflict = Why::Conflicts { with: "selfish-0.1".into(), name: "selfish".into() };
    assert_eq!(candidates, [Rejection { package: "selfish-0.1".into(), why: conflict }]);
    assert!(matches!(versioned, Problem::Rejected { .. }), "{versioned:?}");
}

#[test]
fn two_versioned_providers_of_one_name_conflict() {
    let r = repo("P:a\nV:1\np:svc=1\n\nP:b\nV:1\np:svc=2\n");

    let p = problem(resolve(&request(&["a", "b"], vec![r])).unwrap_err());

    let Problem::Rejected { candidates, .. } = p else { panic!("{p:?}") };
    let conflict = Why::Conflicts { with: "a-1".into(), name: "svc".into() };
    assert_eq!(candidates, [Rejection { package: "b-1".into(), why: conflict }]);
}

#[test]
fn versioned_provide_satisfies_a_versioned_dependency() {
    let r = repo("P:libfoo\nV:3\np:so:libfoo.so.1=1.2\n\nP:app\nV:1\nD:so:libfoo.so.1>=1.1\n");

    let res = resolve(&request(&["app"], vec![r])).unwrap();

    assert_eq!(chosen(&res), ["libfoo-3", "app-1"]);
    let explained = res.explain("libfoo").unwrap();
    assert_eq!(
        explained,
        ["app-1 (world[app])", "libfoo-3 (required by app-1[so:libfoo.so.1>=1.1])"]
    );
}

#[test]
fn tagged_repository_is_used_only_when_asked_for() {
    let main = repo("P:a\nV:1\nD:b\n\nP:b\nV:1\n");
    let mut edge = repo("P:a\nV:2\nD:b\n\nP:b\nV:2\n");
    edge.tag = Some("edge".into());

    let plain = resolve(&request(&["a"], vec![main.clone(), edge.clone()])).unwrap();
    let pinned = resolve(&request(&["a@edge"], vec![main, edge])).unwrap();

    assert_eq!(chosen(&plain), ["b-1", "a-1"]);
    // The pinned package's own dependencies prefer untagged repositories.
    assert_eq!(chosen(&pinned), ["b-1", "a-2"]);
    assert_eq!(pinned.get("a").unwrap().repository, 1);
}

#[test]
fn install_if_adds_a_package_when_its_condition_holds() {
    let r = repo("P:a\nV:1\n\nP:b\nV:1\n\nP:a-b-glue\nV:1\ni:a b\n\nP:a-c-glue\nV:1\ni:a !b\n");

    let both = resolve(&request(&["a", "b"], vec![r.clone()])).unwrap();
    let only_a = resolve(&request(&["a"], vec![r])).unwrap();

    assert_eq!(chosen(&both), ["a-1", "b-1", "a-b-glue-1"]);
    assert!(matches!(both.get("a-b-glue").unwrap().reason, Reason::InstallIf { .. }));
    assert_eq!(chosen(&only_a), ["a-1", "a-c-glue-1"]);
}

#[test]
fn world_conflict_keeps_a_package_out() {
    let r = repo("P:a\nV:1\n\nP:b\nV:1\n\nP:glue\nV:1\ni:a b\n");

    let res = resolve(&request(&["a", "b", "!glue"], vec![r])).unwrap();

    assert_eq!(chosen(&res), ["a-1", "b-1"]);
}

#[test]
fn dependency_cycle_is_ordered_the_same_whatever_the_input_order() {
    let text = "P:x\nV:1\nD:y\n\nP:y\nV:1\nD:z\n\nP:z\nV:1\nD:x\n\nP:top\nV:1\nD:y\n";
    let mut reversed = repo(text);
    reversed.entries = reversed.entries.iter().rev().cloned().collect();

    let a = resolve(&request(&["top"], vec![repo(text)])).unwrap();
    let b = resolve(&request(&["top"], vec![reversed])).unwrap();

    assert_eq!(chosen(&a), chosen(&b));
    // The walk starts at top and enters the cycle at y; x's edge back to y is the one cut.
    assert_eq!(chosen(&a), ["x-1", "z-1", "y-1", "top-1"]);
}

#[test]
fn malformed_dependency_makes_the_package_uninstallable() {
    let r = repo("P:a\nV:2\nD:b==1\n\nP:a\nV:1\n\nP:b\nV:1\n");

    let res = resolve(&request(&["a"], vec![r])).unwrap();

    assert_eq!(chosen(&res), ["a-1"]);
}

#[test]
fn other_architectures_are_not_installable() {
    let r = repo("P:a\nV:2\nA:aarch64\n\nP:a\nV:1\nA:x86_64\n\nP:n\nV:1\nA:noarch\n");
    let mut req = request(&["a", "n"], vec![r]);
    req.arch = Some("x86_64".into());

    let res = resolve(&req).unwrap();

    assert_eq!(chosen(&res), ["a-1", "n-1"]);
}

#[test]
fn error_message_reads_like_apk() {
    let r = repo("P:a\nV:1\nD:missing\n");

    let err = resolve(&request(&["a"], vec![r])).unwrap_err();

    assert_eq!(
        err.to_string(),
        "unable to select packages: missing (no such package), required by: a-1[missing] <- \
         world[a]"
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// A random index over names p0..p5, versions 1..3, with dependencies, conflicts and
    /// provides among them.
    fn arb_index() -> impl Strategy<Value = String> {
        let dep = (0..6usize, 0..4u8, 1..4u8, any::<bool>()).prop_map(|(n, op, v, neg)| {
            let op = ["", ">=", "<", "="][usize::from(op)];
            let ver = if op.is_empty() { String::new() } else { v.to_string() };
            format!("{}p{n}{op}{ver}", if neg { "!" } else { "" })
        });
        let pkg =
            (0..6usize, 1..4u8, prop::collection::vec(dep, 0..3), prop::option::of(0..6usize));
        prop::collection::vec(pkg, 1..12).prop_map(|pkgs| {
            let mut text = String::new();
            for (n, v, deps, provide) in pkgs {
                text.push_str(&format!("P:p{n}\nV:{v}\n"));
                if !deps.is_empty() {
                    text.push_str(&format!("D:{}\n", deps.join(" ")));
                }
                if let Some(p) = provide.filter(|&p| p != n) {
                    text.push_str(&format!("p:v{p}={v}\n"));
                }
                text.push('\n');
            }
            text
        })
    }

    /// One to three world entries over the same names.
    fn arb_world() -> impl Strategy<Value = Vec<String>> {
        prop::collection::btree_set(0..6usize, 1..4)
            .prop_map(|names| names.into_iter().map(|n| format!("p{n}")).collect())
    }

    /// Checks a resolution against the rules: one package per name, every dependency met,
    /// no conflict broken, one versioned provider per name.
    fn verify(req: &Request, res: &Resolution) -> Result<(), String> {
        let entries: Vec<&crate::apk::index::IndexEntry> =
            res.packages.iter().map(|c| &req.repositories[c.repository].entries[c.entry]).collect();
        verify_set(&req.world, &entries)
    }

    fn verify_set(
        world: &[Dependency],
        entries: &[&crate::apk::index::IndexEntry],
    ) -> Result<(), String> {
        let mut names = BTreeSet::new();
        let mut offers: Vec<(String, Option<String>, String)> = Vec::new();
        for e in entries {
            if !names.insert(e.name.clone()) {
                return Err(format!("{} twice", e.name));
            }
            offers.push((e.name.clone(), Some(e.version.clone()), e.name.clone()));
            for p in &e.provides {
                let p = crate::apk::dependency::Provide::parse(p).unwrap();
                offers.push((p.name, p.version, e.name.clone()));
            }
        }
        let mut versioned = BTreeSet::new();
        for (name, version, _) in &offers {
            if version.is_some() && !versioned.insert(name.clone()) {
                return Err(format!("{name} held twice with a version"));
            }
        }
        let world = world.iter().map(|d| (d.clone(), "world".to_string()));
        let deps = entries.iter().flat_map(|e| {
            Dependency::parse_all(&e.depends).unwrap().into_iter().map(|d| (d, e.name.clone()))
        });
        for (dep, owner) in world.chain(deps) {
            let meets = |(name, version, _): &(String, Option<String>, String)| {
                name == &dep.name
                    && match version {
                        Some(v) => !dep.conflict && dep.matches(v),
                        None => !dep.conflict && dep.op.is_none(),
                    }
            };
            let breaks = |(name, version, holder): &(String, Option<String>, String)| {
                name == &dep.name
                    && holder != &owner
                    && match version {
                        Some(v) => !dep.matches(v),
                        None => dep.op.is_none(),
                    }
            };
            if dep.conflict && offers.iter().any(breaks) {
                return Err(format!("{owner}[{dep}] broken"));
            }
            if !dep.conflict && !offers.iter().any(meets) {
                return Err(format!("{owner}[{dep}] unmet"));
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn every_resolution_meets_every_rule(index in arb_index(), want in arb_world()) {
            let want: Vec<&str> = want.iter().map(String::as_str).collect();
            let req = request(&want, vec![repo(&index)]);
            if let Ok(res) = resolve(&req) {
                prop_assert_eq!(verify(&req, &res), Ok(()), "{}", index);
            }
        }

        #[test]
        fn finds_a_solution_whenever_one_exists(index in arb_index(), want in arb_world()) {
            let want: Vec<&str> = want.iter().map(String::as_str).collect();
            let req = request(&want, vec![repo(&index)]);
            let all: Vec<&crate::apk::index::IndexEntry> =
                req.repositories[0].entries.iter().collect();
            let exists = (0u32..1 << all.len()).any(|mask| {
                let subset: Vec<_> =
                    all.iter()
                        .enumerate()
                        .filter(|(i, _)| mask & (1 << i) != 0)
                        .map(|(_, e)| *e)
                        .collect();
                verify_set(&req.world, &subset).is_ok()
            });
            prop_assert_eq!(resolve(&req).is_ok(), exists, "{}", index);
        }

        #[test]
        fn result_does_not_depend_on_entry_order(index in arb_index(), want in 0..6usize) {
            let forward = request(&[&format!("p{want}")], vec![repo(&index)]);
            let mut backward = forward.clone();
            let reversed = backward.repositories[0].entries.iter().rev().cloned().collect();
            backward.repositories[0].entries = reversed;
            let a = resolve(&forward).map(|r| chosen(&r)).map_err(|e| e.to_string());
            let b = resolve(&backward).map(|r| chosen(&r)).map_err(|e| e.to_string());
            prop_assert_eq!(a.is_ok(), b.is_ok(), "{}", index);
            if a.is_ok() {
                prop_assert_eq!(a, b, "{}", index);
            }
        }
    }
}

#[test]
fn a_missing_package_is_reported_without_trying_every_unrelated_choice() {
    // 3^15 combinations of unrelated versions before "missing"; backjumping skips them.
    let mut text = String::new();
    let mut world: Vec<String> = Vec::new();
    for i in 0..15 {
        for v in 1..4 {
            text.push_str(&format!("P:x{i}\nV:{v}\nD:y{i}\n\nP:y{i}\nV:{v}\n\n"));
        }
        world.push(format!("x{i}"));
    }
    text.push_str("P:last\nV:1\nD:missing\n\n");
    world.push("last".into());
    let world: Vec<&str> = world.iter().map(String::as_str).collect();

    let err = resolve(&request(&world, vec![repo(&text)])).unwrap_err();

    assert!(err.to_string().contains("missing (no such package)"), "{err}");
}

#[test]
fn backjumping_still_retries_the_choice_a_conflict_depends_on() {
    // The newest a pulls in c-2, which conflicts with d; an unrelated choice (u) sits
    // between them and must not hide a's older version.
    let r = repo(
        "P:a\nV:2\nD:c=2\n\nP:a\nV:1\nD:c=1\n\nP:u\nV:2\n\nP:u\nV:1\n\n\
         P:c\nV:2\n\nP:c\nV:1\n\nP:d\nV:1\nD:!c>1\n",
    );

    let res = resolve(&request(&["a", "u", "d"], vec![r])).unwrap();

    let mut got = chosen(&res);
    got.sort();
    assert_eq!(got, ["a-1", "c-1", "d-1", "u-2"]);
}

#[test]
fn backjumping_retries_the_choice_that_excluded_a_candidate() {
    // d needs c<2, but a-2 already took c-2: the dead end depends on a's choice, not on
    // the unrelated u chosen in between.
    let r = repo(
        "P:a\nV:2\nD:c>=2\n\nP:a\nV:1\nD:c<2\n\nP:u\nV:2\n\nP:u\nV:1\n\n\
         P:c\nV:2\n\nP:c\nV:1\n\nP:d\nV:1\nD:c<2\n",
    );

    let res = resolve(&request(&["a", "u", "d"], vec![r])).unwrap();

    let mut got = chosen(&res);
    got.sort();
    assert_eq!(got, ["a-1", "c-1", "d-1", "u-2"]);
}

#[test]
fn a_record_with_another_packages_checksum_is_that_package() {
    // apk files packages by `C:`: the second record is bar again, and libiif never exists
    // (apk-tools tests installif1-3).
    let c = "C:Q1hdUpqRv5mYgJEqW52UmVsvmyysF=";
    let same = "C:Q1hdUpqRv5mYgJEqW52UmVsvmyysE="; // the same SHA-1: only padding bits differ
    let r =
        repo(&format!("{c}\nP:bar\nV:1\n\n{same}\nP:libiif\nV:1\ni:bar\n\nP:app\nV:1\nD:bar\n"));

    let res = resolve(&request(&["app"], vec![r.clone()])).unwrap();
    let asked = problem(resolve(&request(&["libiif"], vec![r])).unwrap_err());

    assert_eq!(chosen(&res), ["bar-1", "app-1"]);
    assert!(matches!(asked, Problem::NoSuchPackage { .. }), "{asked:?}");
}

#[test]
fn a_package_providing_a_renamed_one_at_a_higher_version_wins_however_the_name_is_asked_for() {
    // b is a's successor: it provides a=2. apk selects by the version offered for the name
    // asked for, so b-2 replaces a-1 whether the world or a dependency asks for `a`.
    let r = repo("P:a\nV:1\n\nP:b\nV:2\np:a=2\n\nP:x\nV:1\nD:a\n");

    for world in [&["a"][..], &["x"], &["a", "x"]] {
        let res = resolve(&request(world, vec![r.clone()])).unwrap();

        let got = chosen(&res);
        assert!(got.contains(&"b-2".to_string()), "{world:?}: {got:?}");
        assert!(!got.contains(&"a-1".to_string()), "{world:?}: {got:?}");
    }
}

#[test]
fn a_package_with_an_unreadable_dependency_says_which_index_entry_holds_it() {
    let r = repo("P:a\nV:1\nD:b>>1\n\nP:b\nV:1\n");

    let p = problem(resolve(&request(&["a"], vec![r])).unwrap_err());

    let Problem::Rejected { candidates, .. } = p else { panic!("{p:?}") };
    let Why::Unusable { detail } = &candidates[0].why else { panic!("{candidates:?}") };
    assert!(detail.contains("index entry in main has a D: token 'b>>1'"), "{detail}");
    assert!(!detail.contains("world"), "{detail}");
}
