//! Reading the text: the main file (or the embedded default) and the files
//! its `[include] files=` globs name, each section remembering its file and
//! `%(here)s`.
//!
//! As supervisord: globs are whitespace separated, relative to the main
//! file's directory, may use `%(here)s`, `%(host_node_name)s` and
//! `%(ENV_X)s`, and each glob's matches are read in sorted order. Only the
//! main file's `[include]` counts; one in an included file is ignored (with
//! a warning). A section given twice, in one file or in two, is one section
//! with the keys of both, and a key given twice takes its later value
//! (supervisord's parser runs with `strict=False`); unlike supervisord,
//! each repeat is a warning naming both places.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::ConfigSource;
use super::diagnostic::{Diags, Place};
use super::dialect::{self, Entry, Section};
use super::embedded::{EMBEDDED_CONFIG, EMBEDDED_NAME};
use super::expand::Vars;
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
    /// Keys whose value was read from another file than `file` (the
    /// section is repeated there): that file and its `%(here)s`.
    merged: HashMap<String, (PathBuf, PathBuf)>,
    /// Each key's index in `section.entries`.
    keys: HashMap<String, usize>,
}

impl Located {
    fn new(section: &Section, file: &Path, here: &Path) -> Located {
        Located {
            section: Section {
                name: section.name.clone(),
                line: section.line,
                entries: Vec::new(),
            },
            file: file.to_path_buf(),
            here: here.to_path_buf(),
            merged: HashMap::new(),
            keys: HashMap::new(),
        }
    }

    /// A place in this section (its header line when `line` is None), in
    /// the file `key`'s value was read from.
    pub fn at<'a>(&'a self, key: Option<&'a str>, line: Option<usize>) -> Place<'a> {
        let file = key
            .and_then(|k| self.merged.get(k))
            .map_or(self.file.as_path(), |(file, _)| file.as_path());
        Place {
            file,
            line: line.or(Some(self.section.line)),
            section: Some(&self.section.name),
            key,
        }
    }

    /// The entry of `key` (found through the index, not a scan).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.keys.get(key).map(|&i| &self.section.entries[i])
    }

    /// `%(here)s` for `key`: its own file's directory.
    pub fn here_of(&self, key: &str) -> &Path {
        self.merged.get(key).map_or(&self.here, |(_, here)| here)
    }

    /// Add the entries of one `[name]` block read from `file`: a key met
    /// before takes the later value, with a warning naming both places.
    fn merge(&mut self, entries: Vec<Entry>, file: &Path, here: &Path, diags: &mut Diags) {
        for entry in entries {
            let origin = (file != self.file).then(|| (file.to_path_buf(), here.to_path_buf()));
            match self.keys.get(&entry.key) {
                Some(&i) => {
                    let first = &self.section.entries[i];
                    let first_at = self.at(Some(&first.key), Some(first.line));
                    let message = format!(
                        "given again (first at {}:{}): the later value is used, as supervisord does",
                        first_at.file.display(),
                        first.line
                    );
                    diags.warn(
                        Place {
                            file,
                            line: Some(entry.line),
                            section: Some(&self.section.name),
                            key: Some(&entry.key),
                        },
                        message,
                    );
                    match origin {
                        Some(o) => self.merged.insert(entry.key.clone(), o),
                        None => self.merged.remove(&entry.key),
                    };
                    self.section.entries[i] = entry;
                }
                None => {
                    if let Some(o) = origin {
                        self.merged.insert(entry.key.clone(), o);
                    }
                    self.keys
                        .insert(entry.key.clone(), self.section.entries.len());
                    self.section.entries.push(entry);
                }
            }
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
    /// Each section's index in `sections`, by name.
    index: HashMap<String, usize>,
}

impl Sources {
    /// The section named `name`, if there is one.
    pub fn section(&self, name: &str) -> Option<&Located> {
        self.index.get(name).map(|&i| &self.sections[i])
    }
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
        index: HashMap::new(),
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

/// Parse one text and add its sections (reporting its syntax errors;
/// merging a section met before into it).
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
        let header = Place {
            file,
            line: Some(section.line),
            section: Some(&section.name),
            key: None,
        };
        if !main && section.name == "include" {
            // Includes do not nest: supervisord reads [include] once, from
            // the main file.
            diags.warn(
                header,
                "ignored: only the main file's [include] is read (an included file cannot include more)",
            );
            continue;
        }
        let index = match sources.index.get(&section.name) {
            Some(&i) => {
                let first = &sources.sections[i];
                diags.warn(
                    header,
                    format!(
                        "the section is repeated (first at {}:{}): its keys are merged into \
                         it, as supervisord merges them",
                        first.file.display(),
                        first.section.line
                    ),
                );
                i
            }
            None => {
                sources
                    .index
                    .insert(section.name.clone(), sources.sections.len());
                sources.sections.push(Located::new(&section, file, here));
                sources.sections.len() - 1
            }
        };
        sources.sections[index].merge(section.entries, file, here, diags);
    }
}

fn read_includes(
    sources: &mut Sources,
    include: &Located,
    source: &ConfigSource,
    host: &Host,
    diags: &mut Diags,
) {
    let Some(entry) = include.entry("files") else {
        diags.error(include.at(None, None), "[include] has no files= setting");
        return;
    };
    let at = include.at(Some("files"), Some(entry.line));
    let mut vars = Vars::new();
    vars.set_str("here", sources.here.to_string_lossy());
    vars.set_str("host_node_name", host.node.clone());
    vars.set_env(host.env.iter());
    let Ok(value) = super::section::expand_at(&entry.value, &vars, at, diags) else {
        return;
    };
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    // Each file once, however many globs match it.
    let mut read: HashSet<PathBuf> = sources.files.iter().cloned().collect();
    for written in value.split_whitespace() {
        // supervisord's glob is not recursive: `**` matches like `*`, one
        // name (the glob crate's `**` would walk every directory below).
        let pattern = one_star_each(written);
        if pattern != written {
            diags.warn(
                at,
                format!(
                    "'{written}': '**' matches one name, as '*' does (supervisord's globs \
                     are not recursive)"
                ),
            );
        }
        let pattern = pattern.as_str();
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
            diags.warn(at, format!("No file matches via include \"{full_str}\""));
        }
        for path in found {
            if !path.is_file() || !read.insert(path.clone()) {
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

/// `pattern` with each run of `*` made one `*`.
fn one_star_each(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        if !(c == '*' && out.ends_with('*')) {
            out.push(c);
        }
    }
    out
}
