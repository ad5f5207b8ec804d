//! Real software authenticators for the passkey tests: every attestation and assertion the tests
//! send is made by one of them from the options our server answered, never built by our code.
//!
//! - `SoftKey`: kanidm's `webauthn-authenticator-rs` soft passkey (P-256, a signature counter,
//!   the client-side checks of the WebAuthn `create()`/`get()` algorithms). It keeps no
//!   discoverable credentials, so it signs in only with an email (`allowCredentials`).
//! - `DiscoverableKey`: 1Password's `passkey-rs` client and authenticator, an independent
//!   implementation that keeps the credential with its user handle, for sign-in without an email.
//!
//! Both act as the browser at `ORIGIN`, the default WebAuthn origin of `Config::for_tests`
//! (public URL `http://127.0.0.1:3000`, so RP ID `localhost`).

use passkey_authenticator::{Authenticator, UiHint, UserCheck, UserValidationMethod};
use passkey_client::{Client, DefaultClientData};
use passkey_crypto::AvailableBackend;
use passkey_types::ctap2::{Aaguid, Ctap2Error};
use passkey_types::webauthn::{CredentialCreationOptions, CredentialRequestOptions};
use serde_json::Value;
use url::Url;
use webauthn_authenticator_rs::AuthenticatorBackend;
use webauthn_authenticator_rs::prelude::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_proto::{CreationChallengeResponse, RequestChallengeResponse};

/// The origin the test authenticators act from.
pub const ORIGIN: &str = "http://localhost:3000";

fn url(origin: &str) -> Url {
    Url::parse(origin).expect("a valid origin")
}

/// kanidm's soft passkey (see the module header).
pub struct SoftKey {
    inner: SoftPasskey,
}

impl Default for SoftKey {
    fn default() -> Self {
        Self::new()
    }
}

impl SoftKey {
    pub fn new() -> Self {
        // `true`: it reports user verification. A software token has no PIN or biometric to
        // check; a passkey relying party requires the flag.
        Self {
            inner: SoftPasskey::new(true),
        }
    }

    /// `navigator.credentials.create()` at `origin` with the server's `options` JSON.
    pub fn create(&mut self, origin: &str, options: &Value) -> Result<Value, String> {
        let options: CreationChallengeResponse =
            serde_json::from_value(options.clone()).map_err(|e| format!("options: {e}"))?;
        let credential = self
            .inner
            .do_registration(url(origin), options)
            .map_err(|e| format!("{e:?}"))?;
        Ok(serde_json::to_value(credential).expect("a credential serializes"))
    }

    /// `navigator.credentials.get()` at `origin` with the server's `options` JSON.
    pub fn get(&mut self, origin: &str, options: &Value) -> Result<Value, String> {
        let options: RequestChallengeResponse =
            serde_json::from_value(options.clone()).map_err(|e| format!("options: {e}"))?;
        let assertion = self
            .inner
            .do_authentication(url(origin), options)
            .map_err(|e| format!("{e:?}"))?;
        Ok(serde_json::to_value(assertion).expect("an assertion serializes"))
    }

    /// An assertion whose authenticator data names `rp_id` (its SHA-256) instead of the options'
    /// RP ID: the authenticator asked directly, past the client's check that the RP ID fits the
    /// origin (what a phishing page with its own RP ID would get signed).
    pub fn get_for_rp(
        &mut self,
        origin: &str,
        options: &Value,
        rp_id: &str,
    ) -> Result<Value, String> {
        let options: RequestChallengeResponse =
            serde_json::from_value(options.clone()).map_err(|e| format!("options: {e}"))?;
        let mut request = options.public_key;
        request.rp_id = rp_id.to_owned();
        let assertion = <SoftPasskey as AuthenticatorBackend>::perform_auth(
            &mut self.inner,
            url(origin),
            request,
            60_000,
        )
        .map_err(|e| format!("{e:?}"))?;
        Ok(serde_json::to_value(assertion).expect("an assertion serializes"))
    }
}

/// A user who is always there and always verified (the authenticator asks; nobody is present).
struct AlwaysVerified;

#[async_trait::async_trait]
impl UserValidationMethod for AlwaysVerified {
    type PasskeyItem = passkey_types::Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Self::PasskeyItem>,
        presence: bool,
        verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck {
            presence,
            verification,
        })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(true)
    }
}

/// 1Password's passkey-rs with one discoverable credential (see the module header).
#[derive(Default)]
pub struct DiscoverableKey {
    credential: Option<passkey_types::Passkey>,
}

impl DiscoverableKey {
    pub fn new() -> Self {
        Self::default()
    }

    /// This key's authenticator, holding its credential (put back after each ceremony).
    fn authenticator(
        &mut self,
    ) -> Authenticator<Option<passkey_types::Passkey>, AlwaysVerified, AvailableBackend> {
        Authenticator::new(
            Aaguid::new_empty(),
            self.credential.take(),
            AlwaysVerified,
            AvailableBackend,
        )
    }

    /// `navigator.credentials.create()` at `origin`; the credential is kept as discoverable.
    pub async fn create(&mut self, origin: &str, options: &Value) -> Result<Value, String> {
        let request: CredentialCreationOptions =
            serde_json::from_value(options.clone()).map_err(|e| format!("options: {e}"))?;
        let origin = url(origin);
        let mut client = Client::new(self.authenticator()).allows_insecure_localhost(true);
        let created = client.register(&origin, request, DefaultClientData).await;
        self.credential = client.authenticator().store().clone();
        let created = created.map_err(|e| format!("{e:?}"))?;
        Ok(serde_json::to_value(created).expect("a credential serializes"))
    }

    /// `navigator.credentials.get()` at `origin`; with an empty `allowCredentials` the kept
    /// credential answers, with its user handle.
    pub async fn get(&mut self, origin: &str, options: &Value) -> Result<Value, String> {
        let request: CredentialRequestOptions =
            serde_json::from_value(options.clone()).map_err(|e| format!("options: {e}"))?;
        let origin = url(origin);
        let mut client = Client::new(self.authenticator()).allows_insecure_localhost(true);
        let assertion = client
            .authenticate(&origin, request, DefaultClientData)
            .await;
        self.credential = client.authenticator().store().clone();
        let assertion = assertion.map_err(|e| format!("{e:?}"))?;
        Ok(serde_json::to_value(assertion).expect("an assertion serializes"))
    }
}

/// A cloned authenticator: its credential ids and keys come from fixed material, so two of them
/// make the same credential (same id, same key pair) with real, verifiable attestations. What a
/// relying party sees when one authenticator's secrets are copied to another device, or when an
/// attacker replays another account's credential: the duplicate credential id must be refused.
pub struct ClonedKey {
    credential: Option<passkey_types::Passkey>,
}

impl Default for ClonedKey {
    fn default() -> Self {
        Self::new()
    }
}

/// The fixed key of every `ClonedKey`: made once per test process by the real backend.
fn cloned_key_pkcs8() -> &'static [u8] {
    use passkey_crypto::{CryptoBackend, Pkcs8, iana};
    static KEY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        AvailableBackend
            .generate_key(iana::Algorithm::ES256)
            .expect("a P-256 key")
            .to_pkcs8()
            .expect("its PKCS#8 form")
    })
}

/// The "randomness" of a cloned authenticator: the same bytes every time.
pub struct FixedRng;

impl passkey_crypto::rng::RngBackend for FixedRng {
    fn random_vec(len: usize) -> Vec<u8> {
        vec![0x5a; len]
    }

    fn random_array<const N: usize>() -> [u8; N] {
        [0x5a; N]
    }

    fn from_range(range: std::ops::RangeInclusive<u8>) -> u8 {
        *range.start()
    }
}

/// The real backend's hashing and signing, with `FixedRng` and the fixed key.
#[derive(Clone, Copy)]
pub struct ClonedBackend;

impl passkey_crypto::CryptoBackend for ClonedBackend {
    type Rng = FixedRng;
    type Sha256 = <AvailableBackend as passkey_crypto::CryptoBackend>::Sha256;
    type SecretKey = <AvailableBackend as passkey_crypto::CryptoBackend>::SecretKey;

    fn enumerate_algorithms(&self) -> Vec<passkey_crypto::iana::Algorithm> {
        vec![passkey_crypto::iana::Algorithm::ES256]
    }

    fn generate_key(
        &self,
        _algorithm: passkey_crypto::iana::Algorithm,
    ) -> Result<Self::SecretKey, passkey_crypto::Error> {
        use passkey_crypto::Pkcs8;
        Self::SecretKey::from_pkcs8(cloned_key_pkcs8())
    }
}

impl ClonedKey {
    pub fn new() -> Self {
        Self { credential: None }
    }

    /// `navigator.credentials.create()` at `origin`: always the same credential id and key.
    pub async fn create(&mut self, origin: &str, options: &Value) -> Result<Value, String> {
        let request: CredentialCreationOptions =
            serde_json::from_value(options.clone()).map_err(|e| format!("options: {e}"))?;
        let authenticator = Authenticator::new(
            Aaguid::new_empty(),
            self.credential.take(),
            AlwaysVerified,
            ClonedBackend,
        );
        let mut client = Client::new(authenticator).allows_insecure_localhost(true);
        let created = client
            .register(&url(origin), request, DefaultClientData)
            .await;
        self.credential = client.authenticator().store().clone();
        let created = created.map_err(|e| format!("{e:?}"))?;
        Ok(serde_json::to_value(created).expect("a credential serializes"))
    }
}
