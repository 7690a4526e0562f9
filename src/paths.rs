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
