//! DVC compatibility, checked against DVC's own worked example and `dvc add`'s output.
use std::fs;

use super::hash::push_python_json_string;
use super::*;

fn entry(md5: &str, relpath: &str) -> DirEntry {
    DirEntry {
        md5: md5.into(),
        relpath: relpath.into(),
        size: 0,
    }
}

/// The worked example from DVC itself (see the components notes): 210 bytes, hash 1a734c9c.
#[test]
fn manifest_matches_dvc_byte_for_byte() {
    let entries = [
        entry("b1946ac92492d2347c6235b4d2611184", "sub/notes.txt"),
        entry("c28e7e30d1dd46f320e0c3c1bc967c77", "test.csv"),
        entry("e5ebd4c02cefbe7955977c67ada242b7", "train.csv"),
    ];
    let manifest = dir_manifest(&entries);
    assert_eq!(
        String::from_utf8(manifest.clone()).unwrap(),
        r#"[{"md5": "b1946ac92492d2347c6235b4d2611184", "relpath": "sub/notes.txt"}, {"md5": "c28e7e30d1dd46f320e0c3c1bc967c77", "relpath": "test.csv"}, {"md5": "e5ebd4c02cefbe7955977c67ada242b7", "relpath": "train.csv"}]"#
    );
    assert_eq!(manifest.len(), 210);
    assert_eq!(bytes_md5(&manifest), "1a734c9c1f2fbc0b44e1c7d6b591c2ac");
}

#[test]
fn hash_dir_reproduces_dvcs_example_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    fs::create_dir_all(raw.join("sub")).unwrap();
    fs::create_dir_all(raw.join("empty")).unwrap();
    fs::write(raw.join("train.csv"), "a,b\n1,2\n").unwrap();
    fs::write(raw.join("test.csv"), "x,y\n3,4\n").unwrap();
    fs::write(raw.join("sub/notes.txt"), "hello\n").unwrap();
    let hash = hash_dir(&raw).unwrap();
    assert_eq!(hash.md5, "1a734c9c1f2fbc0b44e1c7d6b591c2ac.dir");
    assert_eq!((hash.size, hash.nfiles), (22, 3));
}

#[test]
fn strings_are_escaped_like_python_json_dumps() {
    let mut out = String::new();
    push_python_json_string(&mut out, "Zed/\u{fc} \"q\"\\\t\u{1}/日本😀.txt");
    assert_eq!(
        out,
        r#""Zed/\u00fc \"q\"\\\t\u0001/\u65e5\u672c\ud83d\ude00.txt""#
    );
}

#[test]
fn entries_sort_by_whole_relpath_in_code_point_order() {
    // Created in an order unlike the expected one; `list_files` (what hash_dir and the
    // manifest use) must give DVC's order: whole relpaths, by code point ("a.txt" before
    // "a/b c.txt" because '.' < '/'; uppercase before lowercase), not a directory walk's.
    let dir = tempfile::tempdir().unwrap();
    for name in ["a/b c.txt", "Zed/y", "a.txt", "a-b/x", ".hidden"] {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, name).unwrap();
    }
    let listed: Vec<String> = list_files(dir.path())
        .unwrap()
        .into_iter()
        .map(|(relpath, _)| relpath)
        .collect();
    assert_eq!(listed, [".hidden", "Zed/y", "a-b/x", "a.txt", "a/b c.txt"]);
}

#[test]
fn pointer_yaml_is_what_dvc_add_writes_and_reads_back() {
    let pointer = DvcPointer {
        md5: "630b02676c8479105b83ee6e145ce069.dir".into(),
        size: 13,
        nfiles: Some(1),
        path: "models".into(),
    };
    let yaml = pointer.to_yaml();
    assert_eq!(
        yaml,
        "outs:\n- md5: 630b02676c8479105b83ee6e145ce069.dir\n  size: 13\n  nfiles: 1\n  hash: md5\n  path: models\n"
    );
    assert_eq!(DvcPointer::parse(&yaml).unwrap(), pointer);
    let odd = DvcPointer {
        path: "it's here".into(),
        ..pointer
    };
    assert_eq!(DvcPointer::parse(&odd.to_yaml()).unwrap(), odd);
}

#[test]
fn malformed_pointers_are_refused() {
    assert!(DvcPointer::parse("outs: []\n").is_err());
    let bad_md5 = "outs:\n- md5: xyz\n  size: 1\n  path: a\n";
    assert!(DvcPointer::parse(bad_md5)
        .unwrap_err()
        .contains("not an md5"));
}

#[test]
fn add_dir_fills_the_cache_and_writes_the_pointer() {
    let root = tempfile::tempdir().unwrap();
    let repo = DvcRepo::open_or_init(root.path()).unwrap();
    let data = root.path().join("data");
    fs::create_dir(&data).unwrap();
    fs::write(data.join("a.bin"), b"abc").unwrap();
    let pointer = repo.add_dir(&data).unwrap();
    assert_eq!(pointer.nfiles, Some(1));
    let cached = object_path(&repo.cache_dir(), &bytes_md5(b"abc"));
    assert_eq!(fs::read(&cached).unwrap(), b"abc");
    assert!(fs::metadata(&cached).unwrap().permissions().readonly());
    let manifest = object_path(&repo.cache_dir(), &pointer.md5);
    assert_eq!(
        bytes_md5(&fs::read(manifest).unwrap()) + ".dir",
        pointer.md5
    );
    assert_eq!(
        DvcPointer::read(&root.path().join("data.dvc")).unwrap(),
        pointer
    );
    // Adding again is idempotent.
    assert_eq!(repo.add_dir(&data).unwrap(), pointer);
}

#[test]
fn add_dir_refuses_paths_outside_the_repo() {
    let root = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let repo = DvcRepo::open_or_init(root.path()).unwrap();
    assert!(matches!(
        repo.add_dir(elsewhere.path()),
        Err(DvcError::OutsideRepo { .. })
    ));
}
