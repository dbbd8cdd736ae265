//! Opening the control server's sockets: the unix socket (stale-file
//! cleanup, liveness check, chmod, chown) and the TCP listener
//! (`[inet_http_server] port` forms).

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::{TcpListener, UnixListener};

/// Where and how to create the unix control socket (`[unix_http_server]`).
#[derive(Debug, Clone, PartialEq)]
pub struct UnixListenSpec {
    pub path: PathBuf,
    /// Socket file mode, e.g. `0o700`.
    pub mode: u32,
    /// `user` or `user:group` (names or numeric ids).
    pub chown: Option<String>,
}

/// Binds the unix socket. An existing socket file is removed first unless a
/// server still answers on it, in which case this fails with `AddrInUse`.
/// Returns the listener and the socket file's inode (to recognise it later).
pub fn bind_unix(spec: &UnixListenSpec) -> io::Result<(UnixListener, u64)> {
    let path = &spec.path;
    match std::fs::symlink_metadata(path) {
        Ok(meta) => {
            if !meta.file_type().is_socket() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} exists and is not a socket; remove it or choose another file",
                        path.display()
                    ),
                ));
            }
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "another server is already listening on {}; shut it down first",
                        path.display()
                    ),
                ));
            }
            std::fs::remove_file(path)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path).map_err(|e| annotate(e, path))?;
    let setup = (|| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(spec.mode))?;
        if let Some(owner) = &spec.chown {
            let (uid, gid) = resolve_owner(owner)?;
            nix::unistd::chown(path, Some(uid), gid).map_err(|e| {
                io::Error::new(
                    io::Error::from(e).kind(),
                    format!("cannot chown {} to {owner}: {e}", path.display()),
                )
            })?;
        }
        std::fs::metadata(path).map(|m| m.ino())
    })();
    match setup {
        Ok(ino) => Ok((listener, ino)),
        Err(e) => {
            let _ = std::fs::remove_file(path);
            Err(e)
        }
    }
}

fn annotate(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("cannot bind {}: {e}", path.display()))
}

/// `user` or `user:group` (names or numeric ids) to ids. A lone user leaves
/// the group as it is, as supervisord does (gid -1).
fn resolve_owner(spec: &str) -> io::Result<(nix::unistd::Uid, Option<nix::unistd::Gid>)> {
    use nix::unistd::{Gid, Group, Uid, User};
    let bad = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("chown {spec:?}: {what}"),
        )
    };
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let uid = match user.parse::<u32>() {
        Ok(n) => Uid::from_raw(n),
        Err(_) => match User::from_name(user).ok().flatten() {
            Some(u) => u.uid,
            None => return Err(bad(&format!("no such user {user:?}"))),
        },
    };
    let gid = match group {
        Some(g) => Some(match g.parse::<u32>() {
            Ok(n) => Gid::from_raw(n),
            Err(_) => match Group::from_name(g).ok().flatten() {
                Some(gr) => gr.gid,
                None => return Err(bad(&format!("no such group {g:?}"))),
            },
        }),
        None => None,
    };
    Ok((uid, gid))
}

/// Splits an `[inet_http_server] port` value into host and port:
/// `host:port`, `[v6]:port`, `*:port`, `:port` or a bare `port`
/// (`*`, empty and bare forms listen on all interfaces).
pub fn parse_port_spec(spec: &str) -> io::Result<(String, u16)> {
    let spec = spec.trim();
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad port {spec:?}: expected host:port, *:port, :port or port"),
        )
    };
    let (host, port) = match spec.rsplit_once(':') {
        Some((h, p)) => (h, p),
        None => ("", spec),
    };
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.is_empty() || host == "*" {
        "0.0.0.0"
    } else {
        host
    };
    Ok((host.to_string(), port))
}

/// Binds the TCP listener for a `port` value.
pub async fn bind_tcp(spec: &str) -> io::Result<TcpListener> {
    let (host, port) = parse_port_spec(spec)?;
    TcpListener::bind((host.as_str(), port))
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {spec}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_forms() {
        assert_eq!(
            parse_port_spec("127.0.0.1:9001").unwrap(),
            ("127.0.0.1".into(), 9001)
        );
        assert_eq!(parse_port_spec("*:9001").unwrap(), ("0.0.0.0".into(), 9001));
        assert_eq!(parse_port_spec(":9001").unwrap(), ("0.0.0.0".into(), 9001));
        assert_eq!(parse_port_spec("9001").unwrap(), ("0.0.0.0".into(), 9001));
        assert_eq!(
            parse_port_spec("localhost:1").unwrap(),
            ("localhost".into(), 1)
        );
        assert_eq!(parse_port_spec("[::1]:9001").unwrap(), ("::1".into(), 9001));
        for bad in ["", "host:", "host:x", "70000", "a:b:c"] {
            assert!(parse_port_spec(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn stale_socket_replaced_live_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let spec = UnixListenSpec {
            path: path.clone(),
            mode: 0o700,
            chown: None,
        };
        // A stale socket file: bound once, listener dropped.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let (live, _) = bind_unix(&spec).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let e = bind_unix(&spec).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        drop(live);
        // A regular file is never removed.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"x").unwrap();
        assert!(bind_unix(&spec).is_err());
        assert!(path.exists());
    }

    #[test]
    fn owner_resolution() {
        let me = nix::unistd::User::from_uid(nix::unistd::getuid())
            .unwrap()
            .unwrap();
        assert_eq!(resolve_owner(&me.name).unwrap(), (me.uid, None));
        let both = format!("{}:{}", me.name, me.gid);
        assert_eq!(resolve_owner(&both).unwrap(), (me.uid, Some(me.gid)));
        assert_eq!(resolve_owner("12345:7").unwrap().0.as_raw(), 12345);
        assert!(resolve_owner("no-such-user-sluice").is_err());
        assert!(resolve_owner(&format!("{}:no-such-group-sluice", me.name)).is_err());
    }
}
