//! How a blueprint is read as YAML, as apko's decoder (go-yaml v3) reads it: scalars,
//! nulls and booleans, merge keys and anchors, documents and duplicate keys, and hostile
//! input (alias bombs, deep nesting, oversized files) refused at once.

use flatroot_materialize::blueprint::{self, BlueprintError, PathKind};

use super::{chain, load_text, write};

#[test]
fn scalar_values_read_as_strings_like_apko() {
    let bp = load_text("cmd: 1\nenvironment:\n  DEBUG: true\n  LEVEL: 3\n").unwrap().blueprint;
    assert_eq!(bp.cmd.as_deref(), Some("1"));
    assert_eq!(bp.environment.get("DEBUG").map(String::as_str), Some("true"));
    assert_eq!(bp.environment.get("LEVEL").map(String::as_str), Some("3"));
}

#[test]
fn a_scalar_where_a_mapping_belongs_is_said_so_without_type_names() {
    for text in ["os-release: ''\n", "accounts: 3\n", "paths: [x]\n"] {
        let error = chain(&load_text(text).unwrap_err());
        assert!(error.contains("expected a mapping") && !error.contains("struct"), "{error}");
    }
}

#[test]
fn a_null_value_of_a_mapping_is_empty_as_apkos_decoder_reads_it() {
    let text = "environment:\n  A: ~\n  B:\n  C: null\n  D: '~'\nannotations: {E: ~}\n";
    let bp = load_text(text).unwrap().blueprint;

    let environment: Vec<(&str, &str)> =
        bp.environment.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(environment, [("A", ""), ("B", ""), ("C", ""), ("D", "~")]);
    assert_eq!(bp.annotations.get("E").map(String::as_str), Some(""));
}

#[test]
fn a_byte_order_mark_before_the_document_is_not_part_of_it() {
    let bp = load_text("\u{feff}cmd: x\nwork-dir: /a\n").unwrap().blueprint;
    assert_eq!(bp.cmd.as_deref(), Some("x"));
    assert_eq!(bp.work_dir.as_deref(), Some("/a"));
}

#[test]
fn merge_keys_are_applied_as_apkos_decoder_applies_them() {
    let text = "paths:\n  - &d {path: /d1, type: directory, permissions: 0o700, uid: 7}\n  \
                - <<: *d\n    path: /d2\nenvironment:\n  <<: {A: '1', B: '2'}\n  B: own\n";
    let bp = load_text(text).unwrap().blueprint;
    let (first, second) = (&bp.paths[0], &bp.paths[1]);
    assert_eq!((first.path.as_str(), second.path.as_str()), ("/d1", "/d2"));
    assert_eq!(second.kind, PathKind::Directory);
    assert_eq!(second.permissions.map(|m| m.bits()), Some(0o700));
    assert_eq!(second.uid, Some(7));
    let environment: Vec<_> = bp.environment.iter().collect();
    assert_eq!(environment, [(&"A".to_string(), &"1".to_string()), (&"B".into(), &"own".into())]);

    // A merged document is still checked against the schema, and an error names its field
    // and the place it is written: in the mapping, or where the merged mapping gives it.
    let error = load_text("paths:\n  - <<: {path: /x, type: directory, colour: red}\n");
    let error = error.unwrap_err();
    assert!(chain(&error).contains("unknown field `colour`"));
    let placed =
        matches!(error, BlueprintError::UnknownKey { line: Some(2), column: Some(37), .. });
    assert!(placed, "{error:?}");
    let error = load_text("paths:\n  - <<: {path: /x, type: directory}\n    uid: one\n");
    let error = error.unwrap_err();
    assert!(chain(&error).contains("paths[0].uid: invalid value: string \"one\""), "{error:?}");
    assert!(matches!(error, BlueprintError::Syntax { line: Some(3), column: Some(10), .. }));
    // An inherited value is placed where its anchored mapping writes it.
    let text = "annotations: &a {uid: nine}\npaths:\n  - <<: *a\n    path: /y\n";
    let error = load_text(text).unwrap_err();
    assert!(chain(&error).contains("paths[0].uid: invalid value"), "{error:?}");
    assert!(matches!(error, BlueprintError::Syntax { line: Some(1), column: Some(23), .. }));
    // A key given twice is reported as such, at its line, not as an unknown `<<`.
    let error = load_text("environment:\n  <<: {A: a}\n  B: b\n  B: c\n").unwrap_err();
    assert!(chain(&error).contains("duplicate"), "{}", chain(&error));
    assert!(matches!(error, BlueprintError::Syntax { line: Some(4), .. }), "{error:?}");
}

#[test]
fn merge_keys_chain_through_anchors_built_with_merge_keys() {
    // `/c` merges `/b`, which merges `/a`: own keys win over `/b`'s, `/b`'s over `/a`'s. In
    // a merged list an earlier mapping wins, and a later one's own chain is still followed.
    let text = "paths:\n  - &a {path: /a, type: directory, uid: 1, gid: 1, permissions: 0o700}\n  \
                - &b {<<: *a, path: /b, uid: 2}\n  \
                - <<: [*b, {<<: {recursive: true}, gid: 9}]\n    path: /c\n";
    let bp = load_text(text).unwrap().blueprint;

    let c = &bp.paths[2];
    assert_eq!(c.path, "/c");
    assert_eq!((c.uid, c.gid), (Some(2), Some(1)));
    assert_eq!(c.permissions.map(|m| m.bits()), Some(0o700));
    assert!(c.recursive);
    assert_eq!((bp.paths[1].uid, bp.paths[1].gid), (Some(2), Some(1)));

    // An operand that is no mapping is refused, naming its field and the merge key, and
    // placed at that key.
    let cases = [
        ("environment:\n  <<: [x]\n", "environment: a merge key `<<` lists something", 2, 3),
        ("environment:\n  <<: x\n", "environment: a merge key `<<` takes a mapping", 2, 3),
        ("paths:\n  - {path: /a}\n  - {<<: 3}\n", "paths[1]: a merge key `<<` takes", 3, 6),
        ("<<: [1]\n", "a merge key `<<` lists something", 1, 1),
    ];
    for (bad, expected, line, column) in cases {
        let error = load_text(bad).unwrap_err();
        assert!(chain(&error).contains(expected), "{}", chain(&error));
        let placed = matches!(error, BlueprintError::Syntax { line: Some(l), column: Some(c), .. }
            if (l, c) == (line, column));
        assert!(placed, "{error:?}");
    }
}

#[test]
fn an_alias_inside_its_own_anchor_says_so() {
    let error = load_text("environment: &x {<<: *x}\n").unwrap_err();

    assert!(chain(&error).contains("an alias inside the collection its anchor"), "{error:?}");
}

#[test]
fn an_unknown_anchor_is_named() {
    let error = load_text("annotations:\n  <<: *base\n").unwrap_err();

    let BlueprintError::Syntax { line, column, .. } = &error else { panic!("{error:?}") };
    assert_eq!((*line, *column), (Some(2), Some(7)), "{error:?}");
    assert!(chain(&error).contains("unknown anchor `base`: no `&base`"), "{}", chain(&error));
}

#[test]
fn a_quoted_merge_key_is_refused_at_its_place() {
    // go-yaml merges only for a plain `<<`; a quoted one is a key of that name, which
    // serde_yaml's values cannot tell from a merge key.
    let cases =
        [("environment: {\"<<\": {A: a}}\n", (1, 15)), ("environment:\n  '<<': x\n", (2, 3))];
    for (text, (at_line, at_column)) in cases {
        let error = load_text(text).unwrap_err();
        let BlueprintError::Syntax { line, column, .. } = &error else { panic!("{error:?}") };
        assert_eq!((*line, *column), (Some(at_line), Some(at_column)), "{error:?}");
        assert!(chain(&error).contains("a quoted `<<` key is refused"), "{}", chain(&error));
    }
    // An explicit key (`? "<<"`, its value on a later line) and a tag other than go-yaml's
    // merge tags make the same plain key.
    let cases = [
        ("environment:\n  ? \"<<\"\n  # the value:\n  : {A: a}\n", (2, 5), "quoted"),
        ("environment:\n  !!str <<: {A: a}\n", (2, 3), "tagged"),
        ("environment: {!!str <<: {A: a}}\n", (1, 15), "tagged"),
        ("environment:\n  ! <<: {A: a}\n", (2, 3), "tagged"),
    ];
    for (text, (at_line, at_column), how) in cases {
        let error = load_text(text).unwrap_err();
        let BlueprintError::Syntax { line, column, .. } = &error else { panic!("{error:?}") };
        assert_eq!((*line, *column), (Some(at_line), Some(at_column)), "{error:?}");
        let refused = format!("a {how} `<<` key is refused");
        assert!(chain(&error).contains(&refused), "{}", chain(&error));
    }
    let bp = load_text("environment:\n  !!merge <<: {A: a}\n").unwrap().blueprint;
    assert_eq!(bp.environment.get("A").map(String::as_str), Some("a"));
    // Quoted `<<` as a value is text.
    let bp = load_text("environment:\n  A: '<<'\n  <<: {B: b}\n  C: \"<<\"\n").unwrap().blueprint;
    assert_eq!(bp.environment.get("A").map(String::as_str), Some("<<"));
    assert_eq!(bp.environment.get("B").map(String::as_str), Some("b"));
}

#[test]
fn merges_that_repeat_too_much_are_refused_saying_why() {
    // Each level merges the one before four times: 4^7 copies of the first.
    let mut text = String::from("paths:\n  - &m0 {path: /a, type: directory}\n");
    for level in 1..=7 {
        let previous = format!("*m{}", level - 1);
        let list = [previous.as_str(); 4].join(", ");
        text.push_str(&format!("  - &m{level} {{<<: [{list}], path: /a{level}}}\n"));
    }

    let error = load_text(&text).unwrap_err();

    assert!(chain(&error).contains("aliases stand for too much"), "{}", chain(&error));
}

#[test]
fn aliases_may_stand_for_little_text_in_all() {
    let big = "x".repeat(200_000);
    let aliases = "  - *s\n".repeat(400);
    let text = format!("annotations:\n  s: &s {big}\nvolumes:\n{aliases}");

    let error = load_text(&text).unwrap_err();

    assert!(chain(&error).contains("aliases (at most 1000, fewer the longer"), "{}", chain(&error));
}

#[test]
fn yaml_1_1_booleans_are_read_as_apkos_decoder_reads_them() {
    for (word, expected) in
        [("yes", true), ("On", true), ("Y", true), ("NO", false), ("off", false)]
    {
        let text = format!("paths: [{{path: /d, type: directory, recursive: {word}}}]\n");
        assert_eq!(load_text(&text).unwrap().blueprint.paths[0].recursive, expected, "{word}");
    }
    let error = load_text("paths: [{path: /d, type: directory, recursive: maybe}]\n");
    assert!(chain(&error.unwrap_err()).contains("a boolean (true, false, yes, no, on, off)"));
}

#[test]
fn billion_laughs_is_refused_at_its_first_alias() {
    let mut text = String::from(
        "contents:\n  packages: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for level in 1..=9 {
        let refs = vec![format!("*a{}", level - 1); 10].join(", ");
        text.push_str(&format!("volumes{level}: &a{level} [{refs}]\n"));
    }
    // The same bomb under keys the schema has.
    let typed = format!(
        "contents:\n  packages: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n\
         annotations: &a1 {{{}}}\nenvironment: *a1\n",
        (0..10).map(|i| format!("k{i}: *a0")).collect::<Vec<_>>().join(", ")
    );

    // Both stop where the first aliased list meets the schema, before any alias is expanded
    // into the value that holds it.
    let error = load_text(&text).unwrap_err();
    let BlueprintError::UnknownKey { line, key, .. } = &error else { panic!("{error:?}") };
    assert_eq!((*line, key.as_str()), (Some(3), "volumes1"));
    let error = load_text(&typed).unwrap_err();
    let BlueprintError::Syntax { line, column, .. } = &error else { panic!("{error:?}") };
    assert_eq!((*line, *column), (Some(2), Some(13)), "{error:?}");
    assert!(chain(&error).contains("annotations.k0: invalid type: sequence"), "{error:?}");
}

#[test]
fn deep_flow_nesting_is_refused_before_it_is_parsed() {
    let text = format!("contents:\n  packages: {}", "[".repeat(1_000_000));

    let error = load_text(&text).unwrap_err();

    let BlueprintError::Syntax { line, .. } = &error else { panic!("{error:?}") };
    assert_eq!(*line, Some(2));
    assert!(chain(&error).contains("nest deeper than"), "{}", chain(&error));
}

#[test]
fn deep_block_nesting_is_refused_at_its_first_level() {
    let mut text = String::from("options:\n");
    for depth in 1..400 {
        text.push_str(&"  ".repeat(depth));
        text.push_str("- \n");
    }
    let mut sequences = String::from("volumes:\n");
    for depth in 0..400 {
        sequences.push_str(&" ".repeat(depth * 2 + 2));
        sequences.push_str("-\n");
    }

    // Each fails where the first nested value meets the schema, not at the bottom.
    let expected = [
        (text, 2, "options: invalid type: sequence, expected a mapping"),
        (sequences, 3, "volumes[0]: invalid type: sequence, expected a string"),
    ];
    for (deep, at_line, message) in expected {
        let error = load_text(&deep).unwrap_err();
        let BlueprintError::Syntax { line, .. } = &error else { panic!("{error:?}") };
        assert_eq!(*line, Some(at_line), "{error:?}");
        assert!(chain(&error).contains(message), "{}", chain(&error));
    }
}

#[test]
fn oversized_blueprint_is_refused_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let limit = blueprint::MAX_BLUEPRINT_BYTES;
    let padding = "#".repeat(usize::try_from(limit).unwrap());
    let file = write(dir.path(), "big.yaml", &format!("cmd: x\n{padding}"));

    let error = blueprint::load(&file, dir.path()).unwrap_err();
    let BlueprintError::TooLarge { path, limit: reported } = &error else { panic!("{error:?}") };
    assert_eq!((path, *reported), (&file, limit));
    assert!(error.to_string().contains(&limit.to_string()), "{error}");

    let error = load_text(&padding.repeat(2)).unwrap_err();
    assert!(matches!(error, BlueprintError::TooLarge { .. }), "{error:?}");
}

#[test]
fn duplicate_keys_are_rejected_at_the_repeat() {
    // (blueprint, the line and column the error names, what it says)
    let cases = [
        ("cmd: a\n# note\nwork-dir: /\ncmd: b\n", (4, 1), "duplicate field `cmd`"),
        ("environment:\n  A: '1'\n  B: x\n  A: '2'\n", (4, 3), "duplicate key `A`"),
        ("annotations:\n  \"org.a\": x\n  org.a: y\n", (3, 3), "duplicate key `org.a`"),
        (
            "accounts:\n  users:\n    - username: a\n      uid: 5\n      uid: 6\n",
            (5, 7),
            "duplicate field `uid`",
        ),
        ("entrypoint:\n  type: x\n  services: {a: x, a: y}\n", (3, 13), "duplicate key `a`"),
        // An anchored or tagged mapping is marked at its anchor; the repeat is still found.
        ("annotations: &m\n  a: b\n\n  a: c\n", (4, 3), "duplicate key `a`"),
        ("annotations: &m !!map # note\n  a: b\n  a: c\n", (3, 3), "duplicate key `a`"),
    ];
    for (text, (line, column), says) in cases {
        let error = load_text(text).unwrap_err();
        let BlueprintError::Syntax { line: at_line, column: at_column, .. } = &error else {
            panic!("{text}: {error:?}");
        };
        assert!(chain(&error).contains(says), "{text}: {}", chain(&error));
        if !text.contains('{') {
            assert_eq!((*at_line, *at_column), (Some(line), Some(column)), "{text}");
        }
    }
}

#[test]
fn a_second_document_is_refused_at_its_marker() {
    for (text, line) in [("cmd: a\n---\ncmd: b\n", 2), ("---\ncmd: a\n\n--- \ncmd: b\n", 4)] {
        let error = load_text(text).unwrap_err();
        let BlueprintError::Syntax { line: at, column, .. } = &error else { panic!("{error:?}") };
        assert_eq!((*at, *column), (Some(line), Some(1)), "{text}");
        assert!(chain(&error).contains("more than one document"), "{}", chain(&error));
    }
}

#[test]
fn aliases_in_moderation_are_expanded() {
    let text = "work-dir: &dir /srv\nvolumes: [*dir, *dir]\ncontents:\n  packages: &pkgs [a, b]\n\
                accounts:\n  groups: [{groupname: g, gid: 7, members: *pkgs}]\n";

    let bp = load_text(text).unwrap().blueprint;

    assert_eq!(bp.volumes, ["/srv", "/srv"]);
    assert_eq!(bp.accounts.groups[0].members, ["a", "b"]);
}

#[test]
fn alias_expansion_through_nested_collections_is_refused() {
    // Each of the options aliases one list of aliases: n * n strings if expanded.
    let n = 20_000;
    let mut text =
        format!("work-dir: &s lol\nvolumes: &l [{}]\noptions:\n", vec!["*s"; n].join(", "));
    for index in 0..n {
        text.push_str(&format!("  o{index}: {{contents: {{packages: {{add: *l}}}}}}\n"));
    }

    let error = load_text(&text).unwrap_err();

    let BlueprintError::Syntax { line, .. } = &error else { panic!("{error:?}") };
    assert_eq!(*line, Some(2));
    assert!(chain(&error).contains("aliases"), "{}", chain(&error));
}

#[test]
fn a_control_character_or_a_byte_that_is_not_utf8_is_placed_where_it_is() {
    let error = load_text("contents:\n  packages:\n    - é\u{1}b\n").unwrap_err();
    let BlueprintError::Syntax { line, column, .. } = &error else { panic!("{error:?}") };
    assert_eq!((*line, *column), (Some(3), Some(8)), "{}", chain(&error));
    assert!(chain(&error).ends_with("control characters are not allowed"), "{}", chain(&error));
    // Lines end as the parser ends them: with a lone CR, or CR LF; an unknown key too.
    let error = load_text("contents:\r  packages: [a]\rcolour: red\r").unwrap_err();
    let BlueprintError::UnknownKey { line, column, .. } = &error else { panic!("{error:?}") };
    assert_eq!((*line, *column), (Some(3), Some(1)), "{}", chain(&error));
    for text in
        ["contents:\r  packages:\r    - é\u{1}b\r", "contents:\r\n  packages:\r\n    - é\u{1}b"]
    {
        let error = load_text(text).unwrap_err();
        let BlueprintError::Syntax { line, column, .. } = &error else { panic!("{error:?}") };
        assert_eq!((*line, *column), (Some(3), Some(8)), "{text:?}: {}", chain(&error));
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("apko.yaml");
    std::fs::write(&file, b"contents:\n  packages:\n    - \xc3\xa9\xffb\n").unwrap();
    let error = blueprint::load(&file, dir.path()).unwrap_err();
    let BlueprintError::Syntax { line, column, .. } = &error else { panic!("{error:?}") };
    assert_eq!((*line, *column), (Some(3), Some(8)), "{}", chain(&error));
    let text = chain(&error);
    assert!(text.contains("byte 0xff is not UTF-8 text, which a blueprint must be"), "{text}");
    assert!(text.starts_with(&format!("{}:3:8", file.display())), "{text}");
}
