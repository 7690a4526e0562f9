//! Everything the stand-in remembers across restarts, and the state file that holds it.
//!
//! The file is JSON, written atomically (a temporary file beside it, fsync, rename) after
//! every request that changed something, with mode 0600 because it holds TOTP seeds and
//! signing keys. Short-lived things (auth sessions, pending SRP exchanges) are not kept.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::EmulatorError;
use super::cognito::model::CognitoState;
use super::iam::IamState;

/// The version of the state file's layout.
pub const STATE_VERSION: u32 = 1;

/// The persistent state of all services.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// Layout version; a file with another version is refused.
    pub version: u32,
    /// Cognito user pools, clients, users and refresh tokens.
    pub cognito: CognitoState,
    /// IAM users and virtual MFA devices.
    pub iam: IamState,
}

impl Default for State {
    fn default() -> Self {
        State {
            version: STATE_VERSION,
            cognito: CognitoState::default(),
            iam: IamState::default(),
        }
    }
}

/// The state file and what was last written to it.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    last_written: String,
}

impl StateFile {
    /// Load the state from `path`, or start empty when the file does not exist yet.
    pub fn load(path: &Path) -> Result<(State, StateFile), EmulatorError> {
        match fs::read_to_string(path) {
            Ok(text) => {
                let state: State =
                    serde_json::from_str(&text).map_err(|e| EmulatorError::StateParse {
                        path: path.to_owned(),
                        reason: e.to_string(),
                    })?;
                if state.version != STATE_VERSION {
                    return Err(EmulatorError::StateParse {
                        path: path.to_owned(),
                        reason: format!(
                            "layout version {} (this build reads version {STATE_VERSION})",
                            state.version
                        ),
                    });
                }
                Ok((
                    state,
                    StateFile {
                        path: path.to_owned(),
                        last_written: text,
                    },
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((
                State::default(),
                StateFile {
                    path: path.to_owned(),
                    last_written: String::new(),
                },
            )),
            Err(source) => Err(EmulatorError::StateRead {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write `state` if it differs from what was last written.
    pub fn save_if_changed(&mut self, state: &State) -> Result<bool, EmulatorError> {
        let text = serde_json::to_string_pretty(state).map_err(|e| EmulatorError::StateWrite {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        if text == self.last_written {
            return Ok(false);
        }
        write_atomically(&self.path, text.as_bytes()).map_err(|source| {
            EmulatorError::StateWrite {
                path: self.path.clone(),
                source,
            }
        })?;
        self.last_written = text;
        Ok(true)
    }
}

fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".to_owned());
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // Make the rename itself durable.
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_skip_unchanged() {
        let dir = std::env::temp_dir().join(format!(
            "authsim-state-{}",
            crate::emulator::crypto::uuid_v4()
        ));
        fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("state.json");
        let (mut state, mut file) = StateFile::load(&path).expect("load empty");
        assert!(state.iam.users.is_empty());
        assert!(file.save_if_changed(&state).expect("save"));
        assert!(!file.save_if_changed(&state).expect("save again"));
        state.iam.users.insert(
            "alice".into(),
            crate::emulator::iam::IamUser::new("alice", "/", 0.0, Vec::new()),
        );
        assert!(file.save_if_changed(&state).expect("save changed"));
        let (loaded, _) = StateFile::load(&path).expect("reload");
        assert!(loaded.iam.users.contains_key("alice"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::write(&path, "{not json").expect("corrupt");
        assert!(matches!(
            StateFile::load(&path),
            Err(EmulatorError::StateParse { .. })
        ));
        let _ = fs::remove_dir_all(&dir);
    }
}
