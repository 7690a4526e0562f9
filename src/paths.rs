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
