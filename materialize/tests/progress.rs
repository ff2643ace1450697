//! What a build reports of its progress: each stage of each architecture, and each package
//! of the unpack stage as it is done.

#![allow(clippy::unwrap_used, reason = "tests panic on failure")]

use std::path::Path;
use std::sync::Mutex;

use flatroot_materialize::apk::signature::{Keyring, Trust};
use flatroot_materialize::blueprint;
use flatroot_materialize::build::{self, Options};
use flatroot_materialize::plan::{self, Overrides};
use flatroot_materialize::progress::{Progress, Stage};

/// Every report, in the order received.
#[derive(Default)]
struct Recorded {
    stages: Mutex<Vec<(String, Stage)>>,
    advances: Mutex<Vec<(String, usize, usize)>>,
}

impl Progress for Recorded {
    fn stage(&self, image: &str, stage: Stage) {
        self.stages.lock().unwrap().push((image.to_string(), stage));
    }

    fn advance(&self, image: &str, done: usize, total: usize) {
        self.advances.lock().unwrap().push((image.to_string(), done, total));
    }
}

#[test]
fn unpacking_reports_each_package_as_it_is_done() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let blueprint = Path::new("testdata/blueprint.yaml");
    let loaded = blueprint::load(blueprint, &root).unwrap();
    let plan = plan::from_blueprint(&loaded, blueprint, &root, &Overrides::default()).unwrap();
    let options = Options { trust: Trust::default(), ..Options::default() };
    let keyring = Keyring::load_files(&plan.keyring).unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let recorded = Recorded::default();

    let resolved = build::resolve_arch(&plan, &options, "x86_64", &keyring, &recorded).unwrap();
    let built = build::tree_of(&plan, &options, &resolved, &keyring, &pool, &recorded).unwrap();

    let packages = built.packages.len();
    assert!(packages > 1, "the fixture has packages to count");
    let stages = recorded.stages.into_inner().unwrap();
    assert!(stages.contains(&("x86_64".into(), Stage::Unpack { packages })), "{stages:?}");
    let mut advances = recorded.advances.into_inner().unwrap();
    advances.sort();
    let expected: Vec<_> = (1..=packages).map(|done| ("x86_64".into(), done, packages)).collect();
    assert_eq!(advances, expected, "one report per package, each count once");
}
