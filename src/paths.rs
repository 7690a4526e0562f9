//! Where authsim keeps its state.

use std::path::PathBuf;

/// Environment variable that overrides the state directory (like `--state-dir`).
pub const STATE_DIR_ENV: &str = "AUTHSIM_STATE_DIR";

/// The default state directory: `$XDG_DATA_HOME/authsim`, else `~/.local/share/authsim`.
pub fn default_state_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(x);
        if p.is_absolute() {
            return Some(p.join("authsim"));
        }
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|h| PathBuf::from(h).join(".local/share/authsim"))
}

/// Environment variable naming the control API's Unix socket (like `--api-socket`).
pub const API_SOCKET_ENV: &str = "AUTHSIM_API_SOCKET";

/// Where the daemon of `state_dir` keeps its sockets: `$XDG_RUNTIME_DIR/authsim` for the
/// default state directory (the usual single daemon of a user), else the state directory
/// itself, so daemons on different state directories never collide.
pub fn run_dir(state_dir: &std::path::Path, state_dir_is_default: bool) -> PathBuf {
    if state_dir_is_default
        && let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty())
    {
        let p = PathBuf::from(x);
        if p.is_absolute() {
            return p.join("authsim");
        }
    }
    state_dir.to_path_buf()
}

/// The control API's socket: `AUTHSIM_API_SOCKET` if set, else `api.sock` in [`run_dir`].
pub fn api_socket(state_dir: &std::path::Path, state_dir_is_default: bool) -> PathBuf {
    match std::env::var_os(API_SOCKET_ENV).filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => run_dir(state_dir, state_dir_is_default).join("api.sock"),
    }
}

/// Creates `dir` (and its missing parents) with mode 0700, and takes group and other access
/// away from it if it exists already and belongs to this user: it holds the sockets and the
/// token file of a daemon that serves only its owner.
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let meta = std::fs::metadata(dir)?;
    // /proc/self belongs to the effective uid of this process.
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    if Some(meta.uid()) == me && meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn private_dirs_are_0700_new_or_old() {
        let mut r = [0u8; 8];
        getrandom::fill(&mut r).unwrap();
        let base = std::env::temp_dir().join(format!("authsim-paths-{}", hex::encode(r)));
        let dir = base.join("run/authsim");
        create_private_dir(&dir).unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700, "an existing one of ours is tightened");
        let _ = std::fs::remove_dir_all(base);
    }
}
