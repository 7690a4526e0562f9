//! authenticatorSelection (0x0B): "is this the key the user touches?".

use super::{Continuation, Wait};
use crate::env::PresencePurpose;

/// Selection only waits for the touch; the outcome decides the status.
pub(crate) fn begin() -> Wait {
    Wait {
        purpose: PresencePurpose::Selection,
        rp_id: None,
        uv: false,
        cont: Continuation::Selection,
    }
}
