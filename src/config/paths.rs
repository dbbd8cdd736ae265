//! Path helpers matching supervisord's: `~` expansion (`expanduser`),
//! absolute lexical normalisation (`normpath(abspath(...))`), and the
//! "does this directory exist" checks it makes at config time; and the
//! length every path must stay under.

use std::path::{Component, Path, PathBuf};

/// Linux's PATH_MAX, with its NUL: a path of this many bytes or more is
/// refused by every system call (ENAMETOOLONG).
pub const PATH_MAX: usize = 4096;

/// Is `path` shorter than [`PATH_MAX`]?
pub fn fits(path: &Path) -> bool {
    path.as_os_str().len() < PATH_MAX
}

/// `~` and `~/x` use `$HOME`; `~user/x` that user's home; else unchanged.
pub fn expand_user(s: &str, home: Option<&str>) -> String {
    let Some(rest) = s.strip_prefix('~') else {
        return s.to_string();
    };
    let (user, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let dir = if user.is_empty() {
        home.map(str::to_string)
    } else {
        nix::unistd::User::from_name(user)
            .ok()
            .flatten()
            .map(|u| u.dir.to_string_lossy().into_owned())
    };
    match dir {
        Some(d) => format!("{}{tail}", d.trim_end_matches('/')),
        None => s.to_string(),
    }
}

/// Absolute (relative to `cwd`) with `.` and `..` resolved lexically.
pub fn normalize(path: &Path, cwd: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    };
    let mut out = PathBuf::new();
    for comp in joined.components() {
        match comp {
            Component::CurDir => {}
            Component::ParentDir => {
                // Never above the root, as normpath.
                if out.parent().is_some() {
                    out.pop();
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The directory part of a file path, if it has one.
pub fn parent_dir(path: &Path) -> Option<&Path> {
    path.parent().filter(|p| !p.as_os_str().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde() {
        assert_eq!(expand_user("~/x", Some("/home/u")), "/home/u/x");
        assert_eq!(expand_user("~", Some("/home/u/")), "/home/u");
        assert_eq!(expand_user("/a/~b", Some("/home/u")), "/a/~b");
        assert_eq!(expand_user("~root/x", None), "/root/x");
        assert_eq!(expand_user("~/x", None), "~/x");
    }

    #[test]
    fn normalizing() {
        let cwd = Path::new("/work/dir");
        assert_eq!(
            normalize(Path::new("a/./b/../c"), cwd),
            PathBuf::from("/work/dir/a/c")
        );
        assert_eq!(normalize(Path::new("/x/../../y"), cwd), PathBuf::from("/y"));
        assert_eq!(
            normalize(Path::new("../up"), cwd),
            PathBuf::from("/work/up")
        );
    }

    #[test]
    fn parents() {
        assert_eq!(parent_dir(Path::new("x.log")), None);
        assert_eq!(parent_dir(Path::new("/a/x.log")), Some(Path::new("/a")));
    }
}
