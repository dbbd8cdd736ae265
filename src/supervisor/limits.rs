//! `[supervisord] minfds` and `minprocs`: raise the daemon's soft limits (and
//! the hard ones when root) before any child starts, as supervisord does, so
//! children inherit them; refuse to start when that is impossible.

use nix::sys::resource::{RLIM_INFINITY, Resource, getrlimit, setrlimit};

/// Make sure the soft limit of `resource` is at least `min`.
fn raise(resource: Resource, min: u64, key: &str, what: &str) -> Result<(), String> {
    let (soft, hard) = getrlimit(resource).map_err(|e| format!("getrlimit: {e}"))?;
    if soft == RLIM_INFINITY || soft >= min {
        return Ok(());
    }
    let new_hard = if hard != RLIM_INFINITY && hard < min {
        min
    } else {
        hard
    };
    setrlimit(resource, min, new_hard).map_err(|_| {
        format!(
            "The minimum number of {what} required to run this process is {min} as per the \
             \"{key}\" setting in the config file. The current environment will only allow \
             {hard} {what}. Either raise the limit in your environment (ulimit) or lower the \
             {key} setting in the config file."
        )
    })
}

/// Apply `minfds` and `minprocs`.
pub fn apply(minfds: u64, minprocs: u64) -> Result<(), String> {
    raise(
        Resource::RLIMIT_NOFILE,
        minfds,
        "minfds",
        "file descriptors",
    )?;
    raise(Resource::RLIMIT_NPROC, minprocs, "minprocs", "processes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_already_high_enough_is_left_alone() {
        let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
        assert!(apply(soft.min(1), 1).is_ok());
        assert_eq!(
            getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit").0,
            soft
        );
    }
}
