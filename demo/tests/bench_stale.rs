//! scripts/bench-stale.sh's verdicts, in a tiny git repository of its own: fresh, stale (with
//! the commits named), a change outside the measured code, a commit missing from history, and a
//! report naming no commit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/bench-stale.sh");

/// A throwaway repository with `src/cycle`, `src/aws` and a README.
struct Repo(PathBuf);

impl Drop for Repo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Repo {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("bench-stale-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let repo = Self(dir);
        repo.git(&["init", "--quiet"]);
        repo.commit_file("src/cycle/mod.rs", "cycle", "cycle: first");
        repo.commit_file("src/aws/fleet.rs", "fleet", "aws: first");
        repo.commit_file("README.md", "readme", "readme: first");
        repo
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(&self.0)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", &self.0)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn commit_file(&self, path: &str, text: &str, message: &str) -> String {
        let file = self.0.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, text).unwrap();
        self.git(&["add", path]);
        self.git(&["commit", "--quiet", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Writes BENCHMARKS.md naming `commit` as the generator does (not committed: the script
    /// reads the file as it is).
    fn report(&self, commit: &str) {
        let text = format!("# Benchmarks\n\n| | |\n|---|---|\n| code | commit `{commit}` |\n");
        std::fs::write(self.0.join("BENCHMARKS.md"), text).unwrap();
    }

    fn check(&self, args: &[&str]) -> Output {
        Command::new("sh")
            .arg(SCRIPT)
            .args(args)
            .current_dir(&self.0)
            .output()
            .unwrap()
    }
}

fn said(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

#[test]
fn fresh_when_nothing_measured_changed() {
    let repo = Repo::new();
    repo.report(&repo.git(&["rev-parse", "HEAD"]));
    repo.commit_file("README.md", "more", "readme: outside the measured code");
    let out = repo.check(&[]);
    assert_eq!(code(&out), 0, "{}", said(&out));
    assert!(said(&out).contains("nothing in src/cycle src/aws changed"));
    let warned = repo.check(&["--warn"]);
    assert_eq!(code(&warned), 0);
    assert!(said(&warned).is_empty(), "{}", said(&warned));
}

#[test]
fn stale_names_each_commit_that_changed_the_measured_code() {
    let repo = Repo::new();
    let measured = repo.git(&["rev-parse", "HEAD"]);
    repo.report(&measured);
    repo.commit_file("src/aws/fleet.rs", "faster", "aws: a faster fleet");
    repo.commit_file("README.md", "more", "readme: unrelated");
    let cycle = repo.commit_file("src/cycle/mod.rs", "new", "cycle: a new loop");
    let out = repo.check(&[]);
    assert_eq!(code(&out), 1, "{}", said(&out));
    let text = said(&out);
    assert!(
        text.contains(&format!("measured commit {measured}")),
        "{text}"
    );
    assert!(text.contains("2 commit(s)"), "{text}");
    assert!(text.contains("aws: a faster fleet") && text.contains("cycle: a new loop"));
    assert!(text.contains(&cycle[..7]), "{text}");
    assert!(!text.contains("unrelated"), "{text}");
    // make test only warns.
    let warned = repo.check(&["--warn"]);
    assert_eq!(code(&warned), 0);
    assert!(said(&warned).contains("WARNING"));
    // An abbreviated hash (older reports) works too.
    repo.report(&measured[..12]);
    assert_eq!(code(&repo.check(&[])), 1);
}

#[test]
fn a_commit_missing_from_history_cannot_be_judged() {
    let repo = Repo::new();
    repo.report("0123456789abcdef0123456789abcdef01234567");
    let out = repo.check(&[]);
    assert_eq!(code(&out), 2);
    assert!(
        said(&out).contains("not in this clone's history"),
        "{}",
        said(&out)
    );
    assert_eq!(code(&repo.check(&["--warn"])), 0);
}

#[test]
fn a_shallow_clone_says_how_to_get_the_history() {
    let origin = Repo::new();
    let first = origin.git(&["rev-list", "--max-parents=0", "HEAD"]);
    let clone = Repo(std::env::temp_dir().join(format!("bench-stale-{}", uuid::Uuid::new_v4())));
    let url = format!("file://{}", origin.0.display());
    let target = clone.0.display().to_string();
    origin.git(&["clone", "--quiet", "--depth", "1", &url, &target]);
    clone.report(&first);
    let out = clone.check(&[]);
    assert_eq!(code(&out), 2, "{}", said(&out));
    assert!(
        said(&out).contains("git fetch --unshallow"),
        "{}",
        said(&out)
    );
}

#[test]
fn a_report_without_a_commit_is_named() {
    let repo = Repo::new();
    std::fs::write(repo.0.join("BENCHMARKS.md"), "# Benchmarks\n").unwrap();
    let out = repo.check(&[]);
    assert_eq!(code(&out), 2);
    assert!(said(&out).contains("names no measured commit"));
    std::fs::remove_file(repo.0.join("BENCHMARKS.md")).unwrap();
    assert!(said(&repo.check(&[])).contains("no BENCHMARKS.md"));
    assert!(Path::new(SCRIPT).is_file());
}
