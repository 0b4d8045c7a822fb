//! Every citation in a comment or a document can be followed inside this repository: a Markdown
//! path names a file of the repository, and each `§N` or `§N.M` after it is a numbered heading of
//! that file. A `§` with no file before it cites the Markdown file it is written in, or, in
//! source, the last file the comments named. Comments give reasons, never issue numbers, since a
//! reader of the code cannot follow an issue number.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Where comments and documents are read.
const SCANNED_DIRS: &[&str] = &[
    "src", "fake", "tests", "testkit", "demo", "scripts", "docs", "examples",
];
const SCANNED_FILES: &[&str] = &["README.md", "BENCHMARKS.md", "Makefile", "template.yaml"];
/// Left out of the scan: its own tests hold broken citations on purpose.
const THIS_FILE: &str = "tests/doc_citations.rs";
/// Files whose comments start with `#`.
const HASH_COMMENTED: &[&str] = &["sh", "py", "yaml", "yml", "toml"];

#[derive(Debug, PartialEq)]
enum Token {
    /// A Markdown path, as written.
    Path(String),
    /// A section number, `9` or `9.1`.
    Section(String),
    /// An issue number (`issue #N`).
    Issue,
}

/// The citations in one piece of comment text, in order.
fn tokens(text: &str) -> Vec<Token> {
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || "_./-".contains(c);
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        if chars[i] == '§' {
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let number: String = chars[start + 1..i].iter().collect();
            let number = number.trim_end_matches('.');
            if !number.is_empty() {
                found.push(Token::Section(number.to_string()));
            }
        } else if is_path_char(chars[i]) {
            while i < chars.len() && is_path_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let word = word.trim_end_matches('.');
            let in_url = word.starts_with("//") || (start > 0 && chars[start - 1] == ':');
            if word.ends_with(".md") && word.len() > 3 && !in_url {
                found.push(Token::Path(word.to_string()));
            }
            let before: String = chars[start.saturating_sub(8)..start].iter().collect();
            let before = before.to_lowercase();
            if word.starts_with(|c: char| c.is_ascii_digit())
                && (before.ends_with("issue #") || before.ends_with("issues #"))
            {
                found.push(Token::Issue);
            }
        } else {
            i += 1;
        }
    }
    found
}

/// The comment text of a line of `file`, or `None` if the line has no comment.
fn comment(file: &Path, line: &str) -> Option<String> {
    let extension = file.extension().and_then(|e| e.to_str()).unwrap_or("");
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if extension == "md" {
        Some(line.to_string())
    } else if extension == "rs" {
        line.find("//").map(|i| line[i..].to_string())
    } else if name == "Makefile" || HASH_COMMENTED.contains(&extension) {
        let at = line
            .char_indices()
            .find(|&(i, c)| c == '#' && (i == 0 || line[..i].ends_with(char::is_whitespace)))?;
        Some(line[at.0..].to_string())
    } else {
        None
    }
}

/// The numbers of a Markdown file's headings (`## 9. Long poll` and `### 9.1 …` give 9 and 9.1).
fn heading_numbers(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter(|l| l.starts_with('#'))
        .filter_map(|l| l.trim_start_matches('#').split_whitespace().next())
        .map(|n| n.trim_end_matches('.').to_string())
        .filter(|n| n.starts_with(|c: char| c.is_ascii_digit()))
        .collect()
}

/// The file `cited` names, looked up from the repository root and from each directory that
/// holds `citing`.
fn resolve(root: &Path, citing: &Path, cited: &str) -> Option<PathBuf> {
    let mut bases = vec![root.to_path_buf()];
    bases.extend(citing.ancestors().skip(1).map(|d| root.join(d)));
    bases
        .into_iter()
        .map(|b| b.join(cited))
        .find(|p| p.is_file())
}

/// Every broken citation of one file (`relative` to `root`), as `file:line: what`.
fn check_file(root: &Path, relative: &Path, text: &str) -> Vec<String> {
    let markdown = relative.extension().is_some_and(|e| e == "md");
    let own = markdown.then(|| root.join(relative));
    let mut cited: Option<PathBuf> = None;
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let at = format!("{}:{}", relative.display(), index + 1);
        if markdown {
            cited.clone_from(&own);
        }
        let Some(comment) = comment(relative, line) else {
            continue;
        };
        for token in tokens(&comment) {
            match token {
                Token::Path(path) => {
                    cited = resolve(root, relative, &path);
                    if cited.is_none() {
                        problems.push(format!("{at}: {path} is not a file of this repository"));
                    }
                }
                Token::Section(number) => match &cited {
                    None => problems.push(format!("{at}: §{number} follows no file it could cite")),
                    Some(file) => {
                        let headings = fs::read_to_string(file).map(|t| heading_numbers(&t));
                        if !headings.is_ok_and(|h| h.contains(&number)) {
                            let file = file.strip_prefix(root).unwrap_or(file).display();
                            problems.push(format!("{at}: §{number} is not a heading of {file}"));
                        }
                    }
                },
                Token::Issue => problems.push(format!(
                    "{at}: an issue number; say the reason itself: {}",
                    comment.trim()
                )),
            }
        }
    }
    problems
}

fn scanned_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = SCANNED_FILES.iter().map(PathBuf::from).collect();
    let mut dirs: Vec<PathBuf> = SCANNED_DIRS.iter().map(PathBuf::from).collect();
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = fs::read_dir(root.join(&dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = dir.join(entry.file_name());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                if entry.file_name() != "target" {
                    dirs.push(path);
                }
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_citation_points_into_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let problems: Vec<String> = scanned_files(root)
        .iter()
        .filter(|f| f.as_path() != Path::new(THIS_FILE))
        .filter_map(|f| fs::read_to_string(root.join(f)).ok().map(|t| (f, t)))
        .flat_map(|(f, text)| check_file(root, f, &text))
        .collect();
    assert!(
        problems.is_empty(),
        "{} broken citation(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_scanner_reads_paths_sections_and_issue_numbers() {
    assert_eq!(
        tokens("see `docs/protocol.md` §9.1, §10 and (design.md §1–§2)."),
        vec![
            Token::Path("docs/protocol.md".into()),
            Token::Section("9.1".into()),
            Token::Section("10".into()),
            Token::Path("design.md".into()),
            Token::Section("1".into()),
            Token::Section("2".into()),
        ]
    );
    assert_eq!(
        tokens("as Issue #3 says, and issues #4; PKCS#1; ARC #4285"),
        vec![Token::Issue, Token::Issue]
    );
    assert_eq!(
        tokens("https://github.com/o/r/blob/main/README.md §2"),
        vec![Token::Section("2".into())]
    );
}

#[test]
fn a_citation_outside_the_repository_or_its_headings_is_reported() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = Path::new("src/lib.rs");
    let text = "// (protocol.md §9.1)\n// (docs/deploy.md §99)\n/// §3 then issue #7\nlet a = 1; // fine\n";
    let problems = check_file(root, source, text);
    let expected = [
        "src/lib.rs:1: protocol.md is not a file of this repository",
        "src/lib.rs:1: §9.1 follows no file it could cite",
        "src/lib.rs:2: §99 is not a heading of docs/deploy.md",
        "src/lib.rs:3: §3 is not a heading of docs/deploy.md",
        "src/lib.rs:3: an issue number; say the reason itself: /// §3 then issue #7",
    ];
    assert_eq!(problems, expected);
}
