//! Reading the text: the main file (or the embedded default) and the files
//! its `[include] files=` globs name, each section remembering its file and
//! `%(here)s`.
//!
//! As supervisord: globs are whitespace separated, relative to the main
//! file's directory, may use `%(here)s`, `%(host_node_name)s` and
//! `%(ENV_X)s`, and each glob's matches are read in sorted order. Only the
//! main file's `[include]` counts; one in an included file is ignored (with
//! a warning). Unlike supervisord, a section defined in two files is an
//! error rather than a silent merge.

use std::path::{Path, PathBuf};

use super::ConfigSource;
use super::diagnostic::{Diags, Place};
use super::dialect::{self, Section};
use super::embedded::{EMBEDDED_CONFIG, EMBEDDED_NAME};
use super::expand::{self, Vars};
use super::load::Host;
use super::paths;

/// A section and where it came from.
#[derive(Debug, Clone)]
pub struct Located {
    pub section: Section,
    /// The file, as diagnostics name it.
    pub file: PathBuf,
    /// `%(here)s` for this section: its file's directory.
    pub here: PathBuf,
}

impl Located {
    /// A place in this section (its header line when `line` is None).
    pub fn at<'a>(&'a self, key: Option<&'a str>, line: Option<usize>) -> Place<'a> {
        Place {
            file: &self.file,
            line: line.or(Some(self.section.line)),
            section: Some(&self.section.name),
            key,
        }
    }
}

/// Everything read.
#[derive(Debug, Clone)]
pub struct Sources {
    pub sections: Vec<Located>,
    /// Every file read, main file first.
    pub files: Vec<PathBuf>,
    /// The main file's name for diagnostics (`<embedded default>` for it).
    pub main_name: PathBuf,
    /// `%(here)s` of the main file.
    pub here: PathBuf,
}

/// Read the main text and its includes; `None` if the main file cannot be
/// read at all (the error is in `diags`).
pub fn read(source: &ConfigSource, host: &Host, diags: &mut Diags) -> Option<Sources> {
    let (text, main_name, here, files) = match source {
        ConfigSource::File(path) => {
            let text = read_text(path, diags)?;
            let dir = paths::parent_dir(path).unwrap_or(Path::new("."));
            let here = paths::normalize(dir, &host.cwd);
            (text, path.clone(), here, vec![path.clone()])
        }
        ConfigSource::Embedded(dir) => (
            EMBEDDED_CONFIG.to_string(),
            PathBuf::from(EMBEDDED_NAME),
            dir.clone(),
            Vec::new(),
        ),
    };
    let mut sources = Sources {
        sections: Vec::new(),
        files,
        main_name: main_name.clone(),
        here: here.clone(),
    };
    add_document(&mut sources, &text, &main_name, &here, diags, true);

    let include = sources
        .sections
        .iter()
        .find(|l| l.section.name == "include")
        .cloned();
    if let Some(include) = include {
        read_includes(&mut sources, &include, source, host, diags);
    }
    Some(sources)
}

fn read_text(path: &Path, diags: &mut Diags) -> Option<String> {
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Some(text),
            Err(e) => {
                diags.error(
                    Place::file(path),
                    format!(
                        "the file is not valid UTF-8 (at byte {})",
                        e.utf8_error().valid_up_to()
                    ),
                );
                None
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            diags.error(Place::file(path), "could not find config file");
            None
        }
        Err(e) => {
            diags.error(
                Place::file(path),
                format!("could not read config file: {e}"),
            );
            None
        }
    }
}

/// Parse one text and add its sections (reporting its syntax errors and
/// sections already defined in another file).
fn add_document(
    sources: &mut Sources,
    text: &str,
    file: &Path,
    here: &Path,
    diags: &mut Diags,
    main: bool,
) {
    let doc = dialect::parse(text);
    for e in &doc.errors {
        diags.error(
            Place {
                file,
                line: Some(e.line),
                section: e.section.as_deref(),
                key: e.key.as_deref(),
            },
            e.message.clone(),
        );
    }
    for section in doc.sections {
        if !main && section.name == "include" {
            // Includes do not nest: supervisord reads [include] once, from
            // the main file.
            diags.warn(
                Place {
                    file,
                    line: Some(section.line),
                    section: Some(&section.name),
                    key: None,
                },
                "ignored: only the main file's [include] is read (an included file cannot include more)",
            );
            continue;
        }
        if let Some(first) = sources
            .sections
            .iter()
            .find(|l| l.section.name == section.name)
        {
            diags.error(
                Place {
                    file,
                    line: Some(section.line),
                    section: Some(&section.name),
                    key: None,
                },
                format!(
                    "section [{}] is already defined in {}:{}",
                    section.name,
                    first.file.display(),
                    first.section.line
                ),
            );
            continue;
        }
        sources.sections.push(Located {
            section,
            file: file.to_path_buf(),
            here: here.to_path_buf(),
        });
    }
}

fn read_includes(
    sources: &mut Sources,
    include: &Located,
    source: &ConfigSource,
    host: &Host,
    diags: &mut Diags,
) {
    let Some(entry) = include.section.get("files") else {
        diags.error(include.at(None, None), "[include] has no files= setting");
        return;
    };
    let at = include.at(Some("files"), Some(entry.line));
    let mut vars = Vars::new();
    vars.set_str("here", sources.here.to_string_lossy());
    vars.set_str("host_node_name", host.node.clone());
    vars.set_env(host.env.iter());
    let value = match expand::expand(&entry.value, &vars) {
        Ok(v) => v,
        Err(e) => {
            diags.error(at, super::section::expand_message(&e, &entry.value, &vars));
            return;
        }
    };
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    for pattern in value.split_whitespace() {
        let full = sources.here.join(pattern);
        let full_str = full.to_string_lossy().into_owned();
        let matches = match glob::glob_with(&full_str, options) {
            Ok(paths) => paths,
            Err(e) => {
                diags.error(at, format!("bad glob '{pattern}': {e}"));
                continue;
            }
        };
        let mut found: Vec<PathBuf> = matches.filter_map(Result::ok).collect();
        found.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
        if found.is_empty() && matches!(source, ConfigSource::File(_)) {
            diags.warn(at, format!("no file matches '{full_str}'"));
        }
        for path in found {
            if sources.files.contains(&path) || !path.is_file() {
                continue;
            }
            let Some(text) = read_text(&path, diags) else {
                continue;
            };
            sources.files.push(path.clone());
            let here = paths::normalize(
                paths::parent_dir(&path).unwrap_or(Path::new(".")),
                &host.cwd,
            );
            add_document(sources, &text, &path, &here, diags, false);
        }
    }
}
