//! IAM over the query protocol: users (as far as MFA needs them) and virtual MFA devices
//! with every MFA-device operation, IAM's error codes, messages and HTTP statuses.
//!
//! Strictness: one 40-byte seed per device; `EnableMFADevice` needs two codes of
//! consecutive steps within one step of the server's clock; `ResyncMFADevice` accepts the
//! pair within ten minutes and remembers the device's drift; any step already accepted
//! for the device is refused afterwards.
//!
//! One file per group of actions (`users`, `mfa_devices`, `tags`, `access_keys`); this file
//! only names them and dispatches.

pub mod access_keys;
pub mod mfa_devices;
pub mod model;
pub mod tags;
pub mod users;
pub mod wire;

use crate::emulator::context::Ctx;
use crate::emulator::query::{Params, QueryError};
pub use model::{
    AccessKey, Caller, IamState, IamUser, MAX_ACCESS_KEYS_PER_USER, MAX_DEVICES_PER_USER, MAX_TAGS,
    MfaDevice, RESYNC_WINDOW_STEPS, SessionKey, check_device_code,
};
pub use wire::{NS, VERSION, validate_code};

/// How an action is run; `Ok` is the XML response body.
type Handler = fn(&mut IamState, &Params, &Ctx) -> Result<String, QueryError>;

/// Every IAM action the stand-in implements, and its handler.
static ACTIONS: &[(&str, Handler)] = &[
    ("CreateUser", users::create_user),
    ("GetUser", users::get_user),
    ("DeleteUser", users::delete_user),
    ("ListUsers", users::list_users),
    (
        "CreateVirtualMFADevice",
        mfa_devices::create_virtual_mfa_device,
    ),
    ("EnableMFADevice", |s, p, c| {
        mfa_devices::enable_or_resync(s, p, c, true)
    }),
    ("ResyncMFADevice", |s, p, c| {
        mfa_devices::enable_or_resync(s, p, c, false)
    }),
    ("DeactivateMFADevice", mfa_devices::deactivate_mfa_device),
    (
        "DeleteVirtualMFADevice",
        mfa_devices::delete_virtual_mfa_device,
    ),
    ("ListMFADevices", mfa_devices::list_mfa_devices),
    (
        "ListVirtualMFADevices",
        mfa_devices::list_virtual_mfa_devices,
    ),
    ("GetMFADevice", mfa_devices::get_mfa_device),
    ("TagMFADevice", tags::tag_mfa_device),
    ("UntagMFADevice", tags::untag_mfa_device),
    ("ListMFADeviceTags", tags::list_mfa_device_tags),
    ("CreateAccessKey", access_keys::create_access_key),
    ("ListAccessKeys", access_keys::list_access_keys),
    ("DeleteAccessKey", access_keys::delete_access_key),
];

/// Run one IAM action; `Ok` is the XML response body.
pub fn handle(
    state: &mut IamState,
    action: &str,
    p: &Params,
    ctx: &Ctx,
) -> Result<String, QueryError> {
    match ACTIONS.iter().find(|(name, _)| *name == action) {
        Some((_, run)) => run(state, p, ctx),
        None => Err(QueryError::new(
            "InvalidAction",
            400,
            format!("Could not find operation {action} for version {VERSION}"),
        )),
    }
}
