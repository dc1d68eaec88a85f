//! The parent's side: a written path is added or modified depending on
//! the host (or the image layers) below, which only the parent can see.

use std::fs;
use std::path::PathBuf;

use super::report::{Change, FileKind, Report};
use super::snapshot::{OPAQUE, Stat, differences, stat};

/// Classifies written paths against `lower(path)`, which returns the
/// metadata of the same path below the overlay, if any.
pub(crate) fn classify(report: &mut Report, lower: impl Fn(&str) -> Option<fs::Metadata>) {
    for change in &mut report.files {
        if change.change != Change::Written {
            continue;
        }
        let opaque = change.detail == OPAQUE;
        match lower(&change.path) {
            None => {
                change.change = Change::Added;
                change.detail.clear();
            }
            Some(meta) => {
                let mut details = Vec::new();
                if opaque {
                    details.push(OPAQUE.to_owned());
                }
                // A written path always has a kind (only deletions have none).
                if let Some(kind) = change.kind {
                    let now = Stat { kind, size: change.size, mode: change.mode, mtime: (0, 0) };
                    let differ = differences(&stat(&meta), &now);
                    if !differ.is_empty() {
                        details.push(differ);
                    }
                }
                change.change = Change::Modified;
                change.detail = details.join(", ");
            }
        }
    }
    // A directory that exists below and only holds changed entries is not a
    // change of its own.
    report.files.retain(|c| !(c.change == Change::Modified && c.kind == Some(FileKind::Dir) && c.detail.is_empty()));
    report.files.sort();
}

/// Classifies against the host's files (`lowers` empty) or against image
/// layers (host directories, bottom first).
fn classify_on_host(report: &mut Report, lowers: &[PathBuf]) {
    let lower = |path: &str| {
        if lowers.is_empty() {
            return fs::symlink_metadata(path).ok();
        }
        let rel = path.trim_start_matches('/');
        lowers.iter().rev().find_map(|layer| fs::symlink_metadata(layer.join(rel)).ok())
    };
    classify(report, lower);
    drop_existing_scratch_dirs(report, lower);
}

/// A directory made in a fresh scratch tmpfs that the real one already has
/// (`mount` makes `/run/mount`, which every host has) would leave nothing
/// behind there: not a change. What it holds still counts.
fn drop_existing_scratch_dirs(report: &mut Report, lower: impl Fn(&str) -> Option<fs::Metadata>) {
    report.scratch.retain(|c| {
        let made_dir = c.change == Change::Added && c.kind == Some(FileKind::Dir);
        !(made_dir && lower(&c.path).is_some_and(|meta| meta.is_dir()))
    });
}

/// The report in the messages of a finished sandbox, classified.
pub(crate) fn from_messages(messages: &[crate::sandbox::protocol::Message]) -> Option<Report> {
    messages.iter().find_map(|m| match m {
        crate::sandbox::protocol::Message::Report { report, lowers } => {
            let mut report = Report::clone(report);
            classify_on_host(&mut report, lowers);
            Some(report)
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::pollution::report::FileChange;

    fn added(path: &str, kind: FileKind) -> FileChange {
        FileChange {
            path: path.into(),
            change: Change::Added,
            kind: Some(kind),
            size: 0,
            mode: 0o755,
            detail: String::new(),
        }
    }

    #[test]
    fn scratch_directories_the_real_one_has_are_no_leftover() {
        let root = tempfile::Builder::new().prefix("isolated-test-classify-").tempdir().unwrap();
        fs::create_dir_all(root.path().join("run/mount")).unwrap();
        fs::write(root.path().join("run/file"), "x").unwrap();
        let mut report = Report {
            scratch: vec![
                added("/run/mount", FileKind::Dir),
                added("/run/mount/utab", FileKind::File),
                added("/run/file", FileKind::File),
                added("/run/app", FileKind::Dir),
            ],
            ..Report::default()
        };
        classify_on_host(&mut report, &[root.path().to_path_buf()]);
        let left: Vec<&str> = report.scratch.iter().map(|c| c.path.as_str()).collect();
        // The directory the image has goes; what is in it, a file in place
        // of one it has, and a new directory stay.
        assert_eq!(left, ["/run/mount/utab", "/run/file", "/run/app"]);
    }

    #[test]
    fn classification_against_the_lower_layer() {
        let mut report = Report {
            files: vec![
                FileChange {
                    path: "/etc/passwd".into(),
                    change: Change::Written,
                    kind: Some(FileKind::File),
                    size: 1,
                    mode: 0o600,
                    detail: String::new(),
                },
                FileChange {
                    path: "/etc/isolated-test-new".into(),
                    change: Change::Written,
                    kind: Some(FileKind::File),
                    size: 1,
                    mode: 0o644,
                    detail: String::new(),
                },
                FileChange {
                    path: "/etc".into(),
                    change: Change::Written,
                    kind: Some(FileKind::Dir),
                    size: 0,
                    mode: 0o755,
                    detail: String::new(),
                },
            ],
            files_tracked: true,
            ..Report::default()
        };
        classify(&mut report, |p| fs::metadata(p).ok());
        assert_eq!(report.files.len(), 2, "{report:#?}");
        let passwd = report.files.iter().find(|c| c.path == "/etc/passwd").unwrap();
        assert_eq!(passwd.change, Change::Modified);
        assert!(passwd.detail.contains("mode 644 -> 600") && passwd.detail.contains("size"), "{}", passwd.detail);
        assert_eq!(report.files.iter().find(|c| c.path == "/etc/isolated-test-new").unwrap().change, Change::Added);
        let text = report.to_string();
        assert!(text.contains("modified /etc/passwd") && text.contains("added    /etc/isolated-test-new"), "{text}");
    }
}
