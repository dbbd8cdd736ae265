//! Switching to another user (uid, gid and supplementary groups), for a
//! child's `user=` and for the daemon's own `[supervisord] user=`.

use std::ffi::CString;

use nix::unistd::{Gid, Uid, User};

/// A user to become, resolved ahead of time (the lookup is not safe in a
/// forked child; [`SwitchUser::apply`] is).
pub struct SwitchUser {
    uid: Uid,
    gid: Gid,
    groups: Vec<libc::gid_t>,
}

impl SwitchUser {
    /// Look `name` up; supervisord's errors when it is unknown or when we
    /// are not root and `name` is not already us.
    pub fn resolve(name: &str) -> Result<SwitchUser, String> {
        let user = User::from_name(name)
            .ok()
            .flatten()
            .ok_or_else(|| format!("Invalid user name {name}"))?;
        let euid = Uid::effective();
        if !euid.is_root() && euid != user.uid {
            return Err("Can't drop privilege as nonroot user".to_string());
        }
        let cname = CString::new(name).map_err(|_| format!("Invalid user name {name}"))?;
        let groups = nix::unistd::getgrouplist(&cname, user.gid)
            .unwrap_or_else(|_| vec![user.gid])
            .iter()
            .map(|g| g.as_raw())
            .collect();
        Ok(SwitchUser {
            uid: user.uid,
            gid: user.gid,
            groups,
        })
    }

    /// Become the user: groups, then gid, then uid (the order that still
    /// has the privilege for each step). Only raw syscalls, so it may run
    /// between fork and exec. A no-op when we already are that user.
    pub fn apply(&self) -> std::io::Result<()> {
        // SAFETY: plain syscalls on data owned by `self`.
        unsafe {
            if libc::geteuid() == self.uid.as_raw() && libc::getegid() == self.gid.as_raw() {
                return Ok(());
            }
            if libc::setgroups(self.groups.len(), self.groups.as_ptr()) != 0
                || libc::setgid(self.gid.as_raw()) != 0
                || libc::setuid(self.uid.as_raw()) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}
