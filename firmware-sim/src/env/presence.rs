//! User presence (and built-in user verification): the token's "button".

/// Why the token wants the user: lets an embedder show a useful prompt or apply a policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresencePurpose {
    /// authenticatorMakeCredential: register a new credential.
    MakeCredential,
    /// authenticatorMakeCredential hit the exclude list: the touch only confirms the refusal.
    ExcludedCredential,
    /// authenticatorGetAssertion: sign in.
    GetAssertion,
    /// authenticatorReset: erase every credential.
    Reset,
    /// authenticatorSelection, or a zero-length pinUvAuthParam: "touch the key you want to use".
    Selection,
    /// authenticatorClientPIN getPinUvAuthTokenUsingUvWithPermissions: built-in user
    /// verification for a pinUvAuthToken.
    UserVerification,
    /// CTAP1/U2F register.
    U2fRegister,
    /// CTAP1/U2F authenticate with enforced presence.
    U2fAuthenticate,
}

/// One request for the user's attention, as passed to every poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresenceRequest {
    /// Identifies the request; a new wait gets a new id, repeated polls of one wait share it.
    pub id: u64,
    /// What the touch is for.
    pub purpose: PresencePurpose,
    /// The relying party, when the request concerns one.
    pub rp_id: Option<String>,
    /// Whether built-in user verification is requested too (approval then means "verified").
    pub user_verification: bool,
}

/// The answer to one poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresenceStatus {
    /// The user approved (touched; and verified, if that was requested).
    Approved,
    /// The user refused.
    Denied,
    /// The user touched the key, but built-in user verification failed (only meaningful when the request asked for UV).
    NotVerified,
    /// No answer yet: the token keeps waiting and sends keepalives.
    Pending,
}

/// The user-presence "button" of the token.
///
/// The token never blocks: it calls [`UserPresence::poll`] when a wait starts and then on every
/// `Token::tick` until the answer is not [`PresenceStatus::Pending`], the wait times out, or the
/// host cancels it. CTAP1/U2F requests poll exactly once (U2F hosts retry by themselves).
pub trait UserPresence {
    /// Asks whether the user has answered `request` yet.
    fn poll(&mut self, request: &PresenceRequest) -> PresenceStatus;
    /// Tells the embedder the wait `id` is over (answered, timed out, cancelled or aborted).
    fn finished(&mut self, id: u64) {
        let _ = id;
    }
}
