//! Solver behaviour, one rule per test, on small hand-written indexes.

use super::*;
use crate::apk::index::parse_text;

fn repo(text: &str) -> Repository {
    Repository { tag: None, name: "main".into(), entries: parse_text(text).unwrap() }
}

fn request(world: &[&str], repositories: Vec<Repository>) -> Request {
    let world = world.iter().map(|t| Dependency::parse(t).unwrap()).collect();
    Request { world, repositories, arch: None }
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
fn a_single_unversioned_provider_is_taken() {
    let r = repo("P:busybox\nV:1.35.0-r17\np:/bin/sh\n\nP:ca\nV:1\nD:/bin/sh\n");

    let res = resolve(&request(&["ca"], vec![r])).unwrap();

    assert_eq!(chosen(&res), ["busybox-1.35.0-r17", "ca-1"]);
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
    reversed.entries.reverse();

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
