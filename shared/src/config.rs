//! Typed settings, read once from the environment at start-up. Every variable has a safe local
//! default or is named in the error when it is missing or malformed, so a bad deployment fails at
//! once with one clear line instead of on the first request.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use crate::domain::gates::Gates;
use crate::domain::plans::PlanFeatures;

/// Which adapters back the ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded store, `.eml` outbox, local key file: a laptop with no AWS account.
    Local,
    /// DynamoDB, SES v2 and KMS (an emulator when `AWS_ENDPOINT_URL` is set).
    Aws,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Aws => "aws",
        }
    }
}

/// argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB (`LATCHKEY_ARGON2_MEMORY_KIB`, default 19456 = 19 MiB, OWASP).
    pub memory_kib: u32,
    /// Iterations (`LATCHKEY_ARGON2_ITERATIONS`, default 2).
    pub iterations: u32,
    /// Parallelism (`LATCHKEY_ARGON2_PARALLELISM`, default 1).
    pub parallelism: u32,
}

/// Every setting Latchkey reads. The README lists each variable.
#[derive(Clone, Debug)]
pub struct Config {
    /// `LATCHKEY_BACKEND`: `local` (default) or `aws`.
    pub backend: Backend,
    /// `LATCHKEY_LISTEN`: the local server's address (default `127.0.0.1:3000`).
    pub listen: SocketAddr,
    /// `LATCHKEY_DATA_DIR`: embedded store, local key and outbox (default `.latchkey`).
    pub data_dir: PathBuf,
    /// `LATCHKEY_PUBLIC_URL`: the base of every link we build (default `http://127.0.0.1:3000`);
    /// never taken from a request's `Host`.
    pub public_url: String,
    /// `LATCHKEY_ISSUER`: the `iss` of access tokens (default: the public URL).
    pub issuer: String,
    /// `LATCHKEY_AUDIENCE`: the `aud` of access tokens (default `latchkey`).
    pub audience: String,
    /// `LATCHKEY_TABLE`: the DynamoDB table (default `latchkey`).
    pub table_name: String,
    /// `LATCHKEY_CREATE_TABLE`: create the table at start if missing (default: on when
    /// `AWS_ENDPOINT_URL` points at an emulator, off otherwise).
    pub create_table: bool,
    /// `LATCHKEY_KMS_KEY_ID`: the KMS key for secrets (required with `aws`).
    pub kms_key_id: Option<String>,
    /// `LATCHKEY_MAIL_FROM`: the sender of every email (an SES-verified identity in AWS).
    pub mail_from: String,
    /// `LATCHKEY_PRODUCT_NAME`: the name used in emails (default `Latchkey`).
    pub product_name: String,
    /// `LATCHKEY_ACCESS_TOKEN_TTL`: access-token lifetime in seconds (default 900).
    pub access_token_ttl: Duration,
    /// `LATCHKEY_REFRESH_TOKEN_TTL`: refresh-token absolute lifetime in seconds (default 30 days).
    pub refresh_token_ttl: Duration,
    /// `LATCHKEY_REFRESH_REUSE_GRACE`: seconds after a refresh token's rotation during which it
    /// may be presented again and answers the same successor instead of revoking the session
    /// (concurrent refreshes from two tabs, a retry after a lost answer); default 30, 0 turns the
    /// grace off.
    pub refresh_reuse_grace: Duration,
    /// `LATCHKEY_EMAIL_TOKEN_TTL`: emailed links and codes, seconds (default 900).
    pub email_token_ttl: Duration,
    /// `LATCHKEY_UNKNOWN_ADDRESS_MAIL`: what a magic-link or password-reset request for an
    /// address without an account mails: `notify` (default: "someone asked ..., but there is no
    /// account", the same work as for a known address, so timing tells nothing) or `drop` (no
    /// mail; the answer then comes sooner for unknown addresses).
    pub notify_unknown_addresses: bool,
    /// `LATCHKEY_INVITE_TTL`: workspace invites, seconds (default 7 days).
    pub invite_ttl: Duration,
    /// argon2id parameters.
    pub argon2: Argon2Params,
    /// `LATCHKEY_PASSWORD_MIN_LENGTH`: shortest password accepted (default 10).
    pub password_min_length: usize,
    /// `LATCHKEY_COOKIES`: also set tokens as cookies (default `true`).
    pub cookies: bool,
    /// `LATCHKEY_COOKIE_PREFIX`: prefix of cookie names (default `__Host-`).
    pub cookie_prefix: String,
    /// `LATCHKEY_CORS_ORIGINS`: comma-separated origins allowed to call with credentials.
    pub cors_origins: Vec<String>,
    /// `LATCHKEY_REDIRECT_ALLOW_LIST`: comma-separated exact URLs a redirect may go to.
    pub redirect_allow_list: Vec<String>,
    /// `LATCHKEY_CHECK_EMAIL`: serve `/auth/check-email` (default `true`; `false` answers 404).
    pub check_email_enabled: bool,
    /// `LATCHKEY_TRUST_PROXY`: take the client address from `X-Forwarded-For` (default `false`).
    pub trust_proxy: bool,
    /// `LATCHKEY_TRUSTED_PROXY_HOPS`: how many proxies we run append to `X-Forwarded-For`
    /// (default 1); the client address is the entry that many places from the right, the one our
    /// outermost proxy appended, never an entry the client wrote.
    pub trusted_proxy_hops: usize,
    /// `LATCHKEY_ADMIN_EMAILS`: comma-separated emails that are administrators.
    pub admin_emails: Vec<String>,
    /// `LATCHKEY_API_KEY_PREFIX`: what every API key starts with (default `agnt_sk_`); a bearer
    /// credential with this prefix is taken for an API key.
    pub api_key_prefix: String,
    /// `LATCHKEY_PLAN_FEATURES`: JSON, plan -> the features it grants on top of the plans below
    /// it (default: none).
    pub plan_features: PlanFeatures,
    /// `LATCHKEY_GATES`: JSON, `"METHOD /path"` -> `{"plan"?, "feature"?}` for the authorizer,
    /// `/auth/check` and the gate layers (default: no route gated).
    pub gates: Gates,
    /// `LATCHKEY_LOG_FORMAT`: `json` or `text` (default: `json` on Lambda, `text` elsewhere).
    pub log_json: bool,
    /// `LATCHKEY_INBOX_VERIFY`: try the IMAP and SMTP logins before storing an inbox's
    /// credentials (default `true`; `false` stores them unchecked).
    pub inbox_verify: bool,
    /// How long one IMAP or SMTP login attempt may take, connection and TLS included (5 s).
    pub inbox_login_timeout: Duration,
    /// Certificates (PEM) trusted for mail servers besides Mozilla's roots. Never read from the
    /// environment: only tests set it, to trust their throw-away certificate.
    pub inbox_extra_roots_pem: Option<String>,
    /// Whether the login check may connect to loopback, private, link-local and other non-public
    /// addresses. Not a setting: true only when `LATCHKEY_PUBLIC_URL` is itself on loopback (a
    /// development server, whose mail server is local too). Everywhere else a caller must not be
    /// able to make the service open connections into its own network.
    pub inbox_private_hosts: bool,
    /// Social login providers (`LATCHKEY_GOOGLE_*`, `LATCHKEY_GITHUB_*`, `LATCHKEY_OIDC_*`).
    pub oauth: OAuthProviders,
    /// `LATCHKEY_GOOGLE_SEARCH_API_KEY` + `LATCHKEY_GOOGLE_SEARCH_ENGINE_ID`, served by
    /// `/auth/google-search-keys` (both or neither).
    pub google_search: Option<GoogleSearchKeys>,
    /// The WebAuthn relying party (passkeys): `LATCHKEY_WEBAUTHN_RP_ID`, `_RP_NAME`, `_ORIGINS`.
    pub webauthn: WebauthnSettings,
    /// Serve the passkey demo page `GET /auth/passkeys/demo` (`LATCHKEY_DEMO_PAGES`; on by
    /// default locally, off on Lambda).
    pub demo_pages: bool,
}

/// The Google Programmable Search configuration handed to signed-in clients.
#[derive(Clone, Debug)]
pub struct GoogleSearchKeys {
    pub api_key: String,
    pub engine_id: String,
}

/// Whether `url` is an absolute `https://` URL, or `http://` on a loopback host (local
/// development and tests); `Err` says what is wrong.
pub fn check_endpoint_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|_| format!("`{url}` is not an absolute URL"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => return Err(format!("`{url}` has no host")),
    };
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err(format!("`{url}` must use https (http only on loopback)")),
        _ => return Err(format!("`{url}` must be an https URL")),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("`{url}` must not carry credentials"));
    }
    if parsed.fragment().is_some() {
        return Err(format!("`{url}` must not have a fragment"));
    }
    Ok(())
}

/// Who the passkeys are for. Checked at start-up: the RP ID must be a registrable suffix of the
/// host of every origin (WebAuthn's rule, which also forbids IP addresses as RP IDs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebauthnSettings {
    /// The domain credentials are scoped to. Default: the host of the public URL, or `localhost`
    /// when that host is an IP address (`http://127.0.0.1:3000` locally).
    pub rp_id: String,
    /// Shown by authenticators. Default: the product name.
    pub rp_name: String,
    /// The origins a browser may run a ceremony from, exactly (scheme, host and port). Default:
    /// the origin of the public URL, with `localhost` for an IP host.
    pub origins: Vec<String>,
}

impl WebauthnSettings {
    fn from_env(env: &Env<'_>, public_url: &str, product_name: &str) -> Result<Self, ConfigError> {
        let public = url::Url::parse(public_url).map_err(|e| {
            env.error(
                "LATCHKEY_PUBLIC_URL",
                format!("expected an http(s) URL, got `{public_url}`: {e}"),
            )
        })?;
        // An IP address cannot be an RP ID: locally the browser must use `localhost`.
        let ip_host = matches!(public.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)));
        let default_origin = {
            let mut origin = public.clone();
            if ip_host {
                origin
                    .set_host(Some("localhost"))
                    .expect("an http(s) URL takes a host");
            }
            origin.origin().ascii_serialization()
        };
        let rp_id = match env.get("LATCHKEY_WEBAUTHN_RP_ID") {
            Some(rp_id) => rp_id.to_lowercase(),
            None if ip_host => "localhost".to_owned(),
            None => public.host_str().unwrap_or("localhost").to_owned(),
        };
        let mut origins = env.list("LATCHKEY_WEBAUTHN_ORIGINS");
        if origins.is_empty() {
            origins.push(default_origin);
        }
        let settings = Self {
            rp_name: env
                .get("LATCHKEY_WEBAUTHN_RP_NAME")
                .unwrap_or_else(|| product_name.to_owned()),
            rp_id,
            origins,
        };
        settings.relying_party().map_err(|problem| {
            let variable = if env.get("LATCHKEY_WEBAUTHN_ORIGINS").is_some() {
                "LATCHKEY_WEBAUTHN_ORIGINS"
            } else {
                "LATCHKEY_WEBAUTHN_RP_ID"
            };
            env.error(variable, problem)
        })?;
        Ok(settings)
    }

    /// The relying party these settings describe (cheap: built per ceremony, so a test's
    /// settings never leak into another's).
    pub fn relying_party(&self) -> Result<webauthn_rs::Webauthn, String> {
        let mut origins = Vec::with_capacity(self.origins.len());
        for origin in &self.origins {
            let url = url::Url::parse(origin)
                .ok()
                .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
                .ok_or_else(|| format!("`{origin}` is not an http(s) origin"))?;
            if !matches!(url.path(), "" | "/") || url.query().is_some() {
                return Err(format!(
                    "`{origin}` is not an origin (scheme, host and port only)"
                ));
            }
            origins.push(url);
        }
        let (first, rest) = origins
            .split_first()
            .ok_or_else(|| "at least one origin is needed".to_owned())?;
        let mut builder = webauthn_rs::WebauthnBuilder::new(&self.rp_id, first)
            .map_err(|_| self.mismatch(first))?
            .rp_name(&self.rp_name);
        for origin in rest {
            // The builder checks only the first origin against the RP ID; check each.
            webauthn_rs::WebauthnBuilder::new(&self.rp_id, origin)
                .map_err(|_| self.mismatch(origin))?;
            builder = builder.append_allowed_origin(origin);
        }
        builder
            .build()
            .map_err(|e| format!("invalid WebAuthn settings: {e}"))
    }

    fn mismatch(&self, origin: &url::Url) -> String {
        format!(
            "the RP ID `{}` is not the host of `{}` nor a parent domain of it (an IP address \
             is never an RP ID: use localhost)",
            self.rp_id,
            origin.origin().ascii_serialization()
        )
    }
}

/// A setting that is missing or malformed; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {variable}: {problem}")]
pub struct ConfigError {
    /// Owned for the per-provider names (`LATCHKEY_OIDC_<NAME>_ISSUER`).
    pub variable: Cow<'static, str>,
    pub problem: String,
}

impl Config {
    /// Read the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Read settings from any lookup (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let backend = match env.get("LATCHKEY_BACKEND").as_deref() {
            None | Some("local") | Some("embedded") => Backend::Local,
            Some("aws") => Backend::Aws,
            Some(other) => {
                return Err(env.error(
                    "LATCHKEY_BACKEND",
                    format!("expected `local` or `aws`, got `{other}`"),
                ));
            }
        };
        let public_url = env
            .get("LATCHKEY_PUBLIC_URL")
            .unwrap_or_else(|| "http://127.0.0.1:3000".into());
        let public_url = public_url.trim_end_matches('/').to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://"))
            || public_url.len() < 10
        {
            return Err(env.error(
                "LATCHKEY_PUBLIC_URL",
                format!("expected an http(s) URL, got `{public_url}`"),
            ));
        }
        let kms_key_id = env.get("LATCHKEY_KMS_KEY_ID");
        if backend == Backend::Aws && kms_key_id.is_none() {
            return Err(env.error(
                "LATCHKEY_KMS_KEY_ID",
                "required when LATCHKEY_BACKEND=aws".into(),
            ));
        }
        let emulator = env.get("AWS_ENDPOINT_URL").is_some();
        let public_url_for_webauthn = public_url.clone();
        let on_loopback = url::Url::parse(&public_url)
            .ok()
            .and_then(|url| match url.host()? {
                url::Host::Domain(name) => Some(name.eq_ignore_ascii_case("localhost")),
                url::Host::Ipv4(ip) => Some(ip.is_loopback()),
                url::Host::Ipv6(ip) => Some(ip.is_loopback()),
            })
            .unwrap_or(false);
        let product_name_for_webauthn = env
            .get("LATCHKEY_PRODUCT_NAME")
            .unwrap_or_else(|| "Latchkey".into());
        let config = Self {
            backend,
            listen: env.parse(
                "LATCHKEY_LISTEN",
                "127.0.0.1:3000",
                "an address like 127.0.0.1:3000",
            )?,
            data_dir: PathBuf::from(
                env.get("LATCHKEY_DATA_DIR")
                    .unwrap_or_else(|| ".latchkey".into()),
            ),
            issuer: env
                .get("LATCHKEY_ISSUER")
                .unwrap_or_else(|| public_url.clone()),
            public_url,
            audience: env
                .get("LATCHKEY_AUDIENCE")
                .unwrap_or_else(|| "latchkey".into()),
            table_name: env
                .get("LATCHKEY_TABLE")
                .unwrap_or_else(|| "latchkey".into()),
            create_table: env.flag("LATCHKEY_CREATE_TABLE", emulator)?,
            kms_key_id,
            mail_from: env
                .get("LATCHKEY_MAIL_FROM")
                .unwrap_or_else(|| "Latchkey <no-reply@latchkey.local>".into()),
            product_name: env
                .get("LATCHKEY_PRODUCT_NAME")
                .unwrap_or_else(|| "Latchkey".into()),
            access_token_ttl: env.seconds("LATCHKEY_ACCESS_TOKEN_TTL", 900)?,
            refresh_token_ttl: env.seconds("LATCHKEY_REFRESH_TOKEN_TTL", 30 * 24 * 3600)?,
            refresh_reuse_grace: Duration::from_secs(env.parse(
                "LATCHKEY_REFRESH_REUSE_GRACE",
                "30",
                "a whole number of seconds",
            )?),
            email_token_ttl: env.seconds("LATCHKEY_EMAIL_TOKEN_TTL", 900)?,
            notify_unknown_addresses: match env.get("LATCHKEY_UNKNOWN_ADDRESS_MAIL").as_deref() {
                None | Some("notify") => true,
                Some("drop") => false,
                Some(other) => {
                    return Err(env.error(
                        "LATCHKEY_UNKNOWN_ADDRESS_MAIL",
                        format!("expected notify or drop, got `{other}`"),
                    ));
                }
            },
            invite_ttl: env.seconds("LATCHKEY_INVITE_TTL", 7 * 24 * 3600)?,
            argon2: Argon2Params {
                memory_kib: env.parse("LATCHKEY_ARGON2_MEMORY_KIB", "19456", "a number of KiB")?,
                iterations: env.parse("LATCHKEY_ARGON2_ITERATIONS", "2", "a whole number")?,
                parallelism: env.parse("LATCHKEY_ARGON2_PARALLELISM", "1", "a whole number")?,
            },
            password_min_length: env.parse(
                "LATCHKEY_PASSWORD_MIN_LENGTH",
                "10",
                "a whole number",
            )?,
            cookies: env.flag("LATCHKEY_COOKIES", true)?,
            cookie_prefix: env
                .get("LATCHKEY_COOKIE_PREFIX")
                .unwrap_or_else(|| "__Host-".into()),
            cors_origins: env.list("LATCHKEY_CORS_ORIGINS"),
            redirect_allow_list: env.list("LATCHKEY_REDIRECT_ALLOW_LIST"),
            check_email_enabled: env.flag("LATCHKEY_CHECK_EMAIL", true)?,
            trust_proxy: env.flag("LATCHKEY_TRUST_PROXY", false)?,
            trusted_proxy_hops: env.parse(
                "LATCHKEY_TRUSTED_PROXY_HOPS",
                "1",
                "a whole number of proxies, at least 1",
            )?,
            admin_emails: env
                .list("LATCHKEY_ADMIN_EMAILS")
                .into_iter()
                .map(|e| e.to_lowercase())
                .collect(),
            api_key_prefix: {
                let prefix = env
                    .get("LATCHKEY_API_KEY_PREFIX")
                    .unwrap_or_else(|| "agnt_sk_".into());
                // The prefix tells a key from a JWT (which starts `ey`) in `Authorization`.
                if !(4..=32).contains(&prefix.len())
                    || prefix.starts_with("ey")
                    || !prefix
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    return Err(env.error(
                        "LATCHKEY_API_KEY_PREFIX",
                        format!(
                            "expected 4 to 32 of A-Z a-z 0-9 _ - not starting `ey`, got `{prefix}`"
                        ),
                    ));
                }
                prefix
            },
            plan_features: match env.get("LATCHKEY_PLAN_FEATURES") {
                None => PlanFeatures::default(),
                Some(json) => PlanFeatures::parse(&json)
                    .map_err(|problem| env.error("LATCHKEY_PLAN_FEATURES", problem))?,
            },
            gates: match env.get("LATCHKEY_GATES") {
                None => Gates::default(),
                Some(json) => {
                    Gates::parse(&json).map_err(|problem| env.error("LATCHKEY_GATES", problem))?
                }
            },
            log_json: match env.get("LATCHKEY_LOG_FORMAT").as_deref() {
                Some("json") => true,
                Some("text") => false,
                None => env.get("AWS_LAMBDA_FUNCTION_NAME").is_some(),
                Some(other) => {
                    return Err(env.error(
                        "LATCHKEY_LOG_FORMAT",
                        format!("expected `json` or `text`, got `{other}`"),
                    ));
                }
            },
            inbox_verify: env.flag("LATCHKEY_INBOX_VERIFY", true)?,
            inbox_login_timeout: Duration::from_secs(5),
            inbox_extra_roots_pem: None,
            inbox_private_hosts: on_loopback,
            oauth: OAuthProviders::from_env(&env)?,
            google_search: match (
                env.get("LATCHKEY_GOOGLE_SEARCH_API_KEY"),
                env.get("LATCHKEY_GOOGLE_SEARCH_ENGINE_ID"),
            ) {
                (None, None) => None,
                (Some(api_key), Some(engine_id)) => Some(GoogleSearchKeys { api_key, engine_id }),
                (Some(_), None) => {
                    return Err(env.error(
                        "LATCHKEY_GOOGLE_SEARCH_ENGINE_ID",
                        "required when LATCHKEY_GOOGLE_SEARCH_API_KEY is set".into(),
                    ));
                }
                (None, Some(_)) => {
                    return Err(env.error(
                        "LATCHKEY_GOOGLE_SEARCH_API_KEY",
                        "required when LATCHKEY_GOOGLE_SEARCH_ENGINE_ID is set".into(),
                    ));
                }
            },
            webauthn: WebauthnSettings::from_env(
                &env,
                &public_url_for_webauthn,
                &product_name_for_webauthn,
            )?,
            demo_pages: env.flag(
                "LATCHKEY_DEMO_PAGES",
                env.get("AWS_LAMBDA_FUNCTION_NAME").is_none(),
            )?,
        };
        // tower-http panics on `*` with credentials (after the listening line); browsers refuse
        // it anyway. An origin is `scheme://host[:port]`, nothing after it.
        for origin in &config.cors_origins {
            if origin == "*" {
                return Err(env.error(
                    "LATCHKEY_CORS_ORIGINS",
                    "`*` cannot be used: credentials (cookies) are never allowed to any origin; \
                     list each origin, e.g. https://app.example.com"
                        .into(),
                ));
            }
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            if rest.is_none_or(|host| host.is_empty() || host.contains(['/', ' ', '*'])) {
                return Err(env.error(
                    "LATCHKEY_CORS_ORIGINS",
                    format!("expected origins like https://app.example.com, got `{origin}`"),
                ));
            }
        }
        if config.trusted_proxy_hops == 0 {
            return Err(env.error(
                "LATCHKEY_TRUSTED_PROXY_HOPS",
                "must be at least 1 (the proxy in front of Latchkey)".into(),
            ));
        }
        if config.argon2.memory_kib < 8 * config.argon2.parallelism
            || config.argon2.iterations == 0
            || config.argon2.parallelism == 0
        {
            return Err(env.error(
                "LATCHKEY_ARGON2_MEMORY_KIB",
                "argon2 needs iterations >= 1, parallelism >= 1, memory >= 8 KiB per lane".into(),
            ));
        }
        Ok(config)
    }

    /// Settings for tests: local defaults, a given data dir, and argon2 cheap enough to run many
    /// sign-ins per test (the production parameters are exercised by the benchmarks).
    pub fn for_tests(data_dir: impl Into<PathBuf>) -> Self {
        let mut config = Self::from_lookup(|_| None).expect("defaults are valid");
        config.data_dir = data_dir.into();
        config.argon2 = Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        config
    }
}

struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn error(&self, variable: impl Into<Cow<'static, str>>, problem: String) -> ConfigError {
        ConfigError {
            variable: variable.into(),
            problem,
        }
    }

    fn parse<T: std::str::FromStr>(
        &self,
        name: &'static str,
        default: &str,
        expected: &str,
    ) -> Result<T, ConfigError> {
        let raw = self.get(name).unwrap_or_else(|| default.to_owned());
        raw.parse()
            .map_err(|_| self.error(name, format!("expected {expected}, got `{raw}`")))
    }

    fn seconds(&self, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
        let seconds: u64 = self.parse(name, &default.to_string(), "a whole number of seconds")?;
        if seconds == 0 {
            return Err(self.error(name, "must be more than 0 seconds".into()));
        }
        Ok(Duration::from_secs(seconds))
    }

    fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.to_lowercase()).as_deref() {
            None => Ok(default),
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some("0" | "false" | "no" | "off") => Ok(false),
            Some(other) => Err(self.error(name, format!("expected true or false, got `{other}`"))),
        }
    }

    fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The social login providers that are enabled (a provider is enabled when its client id is
/// set). API.md, "Social login and account linking", names every variable.
#[derive(Clone, Debug, Default)]
pub struct OAuthProviders {
    /// `LATCHKEY_GOOGLE_CLIENT_ID`, `_CLIENT_SECRET`, `_ISSUER` [`https://accounts.google.com`].
    pub google: Option<OidcProvider>,
    /// `LATCHKEY_GITHUB_CLIENT_ID`, `_CLIENT_SECRET`, `_AUTHORIZE_URL`, `_TOKEN_URL`, `_API_URL`.
    pub github: Option<GithubProvider>,
    /// `LATCHKEY_OIDC_PROVIDERS=okta,entra`, each with `LATCHKEY_OIDC_<NAME>_ISSUER`,
    /// `_CLIENT_ID`, `_CLIENT_SECRET`, `_SCOPES` [`openid email profile`].
    pub oidc: Vec<OidcProvider>,
}

/// An OpenID Connect provider: everything else comes from its discovery document.
#[derive(Clone, Debug)]
pub struct OidcProvider {
    /// Our name for it, the `{provider}` of the paths (`google`, `okta`).
    pub name: String,
    /// The issuer URL exactly as the ID tokens' `iss` says it (no trailing slash added).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub scopes: Vec<String>,
}

/// GitHub: OAuth 2 without OIDC; the identity comes from its REST API.
#[derive(Clone, Debug)]
pub struct GithubProvider {
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub authorize_url: String,
    pub token_url: String,
    /// The REST API base; `/user` and `/user/emails` are read.
    pub api_url: String,
}

/// Default scopes of an OIDC provider.
pub const OIDC_DEFAULT_SCOPES: &str = "openid email profile";
/// What GitHub is asked for: the profile and the addresses with their verified flags.
pub const GITHUB_SCOPES: &str = "read:user user:email";

impl OAuthProviders {
    /// The names of the enabled providers, in the order `/auth/login-methods` lists them.
    pub fn names(&self) -> Vec<&str> {
        let mut names = Vec::new();
        if self.google.is_some() {
            names.push("google");
        }
        if self.github.is_some() {
            names.push("github");
        }
        names.extend(self.oidc.iter().map(|p| p.name.as_str()));
        names
    }

    /// The OIDC provider of this name (Google included).
    pub fn oidc(&self, name: &str) -> Option<&OidcProvider> {
        self.google
            .iter()
            .chain(self.oidc.iter())
            .find(|p| p.name == name)
    }

    fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let google = match env.get("LATCHKEY_GOOGLE_CLIENT_ID") {
            None => None,
            Some(client_id) => Some(OidcProvider {
                name: "google".into(),
                issuer: env.url(
                    "LATCHKEY_GOOGLE_ISSUER".into(),
                    "https://accounts.google.com",
                )?,
                client_id,
                client_secret: env.secret("LATCHKEY_GOOGLE_CLIENT_SECRET"),
                scopes: split_scopes(OIDC_DEFAULT_SCOPES),
            }),
        };
        let github = match env.get("LATCHKEY_GITHUB_CLIENT_ID") {
            None => None,
            Some(client_id) => Some(GithubProvider {
                client_id,
                client_secret: env.secret("LATCHKEY_GITHUB_CLIENT_SECRET"),
                authorize_url: env.url(
                    "LATCHKEY_GITHUB_AUTHORIZE_URL".into(),
                    "https://github.com/login/oauth/authorize",
                )?,
                token_url: env.url(
                    "LATCHKEY_GITHUB_TOKEN_URL".into(),
                    "https://github.com/login/oauth/access_token",
                )?,
                api_url: env
                    .url("LATCHKEY_GITHUB_API_URL".into(), "https://api.github.com")?
                    .trim_end_matches('/')
                    .to_owned(),
            }),
        };
        let mut oidc: Vec<OidcProvider> = Vec::new();
        for name in env.list("LATCHKEY_OIDC_PROVIDERS") {
            let name = name.to_lowercase();
            let valid = !name.is_empty()
                && name.len() <= 32
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid || ["google", "github"].contains(&name.as_str()) {
                return Err(env.error(
                    "LATCHKEY_OIDC_PROVIDERS",
                    format!(
                        "`{name}`: expected names of a-z 0-9 - (up to 32), not google or github"
                    ),
                ));
            }
            if oidc.iter().any(|p| p.name == name) {
                return Err(env.error("LATCHKEY_OIDC_PROVIDERS", format!("`{name}` twice")));
            }
            let prefix = format!("LATCHKEY_OIDC_{}_", name.to_uppercase().replace('-', "_"));
            let variable = |suffix: &str| format!("{prefix}{suffix}");
            let issuer_variable = variable("ISSUER");
            if env.get(&issuer_variable).is_none() {
                return Err(env.error(issuer_variable, "required for this provider".into()));
            }
            let client_id_variable = variable("CLIENT_ID");
            let client_id = env.get(&client_id_variable).ok_or_else(|| {
                env.error(client_id_variable, "required for this provider".into())
            })?;
            oidc.push(OidcProvider {
                issuer: env.url(issuer_variable.clone().into(), "")?,
                client_id,
                client_secret: env.secret(&variable("CLIENT_SECRET")),
                scopes: split_scopes(
                    &env.get(&variable("SCOPES"))
                        .unwrap_or_else(|| OIDC_DEFAULT_SCOPES.into()),
                ),
                name,
            });
        }
        Ok(Self {
            google,
            github,
            oidc,
        })
    }
}

fn split_scopes(scopes: &str) -> Vec<String> {
    scopes
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Env<'_> {
    /// A URL we will call or send people to: `https://`, or `http://` on loopback only.
    fn url(&self, name: Cow<'static, str>, default: &str) -> Result<String, ConfigError> {
        let raw = self.get(&name).unwrap_or_else(|| default.to_owned());
        let allowed = url::Url::parse(&raw)
            .ok()
            .is_some_and(|url| crate::adapters::outbound::is_allowed_url(&url));
        if !allowed {
            return Err(self.error(
                name,
                format!("expected an https:// URL (http:// only on loopback), got `{raw}`"),
            ));
        }
        Ok(raw)
    }

    /// A client secret. Optional here: only the functions that run a flow are given it (the
    /// template keeps it out of the others' environment), and the flow refuses to start
    /// without one where the provider needs it.
    fn secret(&self, name: &str) -> Option<SecretString> {
        self.get(name).map(SecretString::from)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn google_search_keys_come_as_a_pair() {
        assert!(config(&[]).unwrap().google_search.is_none());
        let error = config(&[("LATCHKEY_GOOGLE_SEARCH_API_KEY", "k")]).unwrap_err();
        assert_eq!(error.variable, "LATCHKEY_GOOGLE_SEARCH_ENGINE_ID");
        let keys = config(&[
            ("LATCHKEY_GOOGLE_SEARCH_API_KEY", "k"),
            ("LATCHKEY_GOOGLE_SEARCH_ENGINE_ID", "e"),
        ])
        .unwrap()
        .google_search
        .unwrap();
        assert_eq!((keys.api_key.as_str(), keys.engine_id.as_str()), ("k", "e"));
    }

    #[test]
    fn endpoint_urls_are_https_or_loopback_http() {
        for good in [
            "https://example.com/token",
            "http://127.0.0.1:9000/x",
            "http://localhost/x",
            "http://[::1]:80/",
        ] {
            assert!(check_endpoint_url(good).is_ok(), "{good}");
        }
        for bad in [
            "http://example.com/token",
            "ftp://example.com",
            "example.com",
            "https://user:pw@example.com/",
            "https://example.com/#x",
            "javascript:alert(1)",
        ] {
            assert!(check_endpoint_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_are_local_and_safe() {
        let config = config(&[]).unwrap();
        assert_eq!(config.backend, Backend::Local);
        assert_eq!(config.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(config.public_url, "http://127.0.0.1:3000");
        assert_eq!(config.access_token_ttl, Duration::from_secs(900));
        assert_eq!(
            config.argon2,
            Argon2Params {
                memory_kib: 19456,
                iterations: 2,
                parallelism: 1
            }
        );
        assert!(config.cookies);
        assert!(!config.trust_proxy);
        assert_eq!(config.trusted_proxy_hops, 1);
    }

    #[test]
    fn trusted_proxy_hops_must_be_a_positive_number() {
        assert_eq!(
            config(&[("LATCHKEY_TRUSTED_PROXY_HOPS", "2")])
                .unwrap()
                .trusted_proxy_hops,
            2
        );
        for bad in ["0", "-1", "two"] {
            assert_eq!(
                config(&[("LATCHKEY_TRUSTED_PROXY_HOPS", bad)])
                    .unwrap_err()
                    .variable,
                "LATCHKEY_TRUSTED_PROXY_HOPS"
            );
        }
    }

    #[test]
    fn a_malformed_listen_address_names_the_variable() {
        let error = config(&[("LATCHKEY_LISTEN", "nonsense")]).unwrap_err();
        assert_eq!(error.variable, "LATCHKEY_LISTEN");
        assert!(error.to_string().contains("nonsense"));
    }

    #[test]
    fn passkeys_default_to_localhost_for_an_ip_public_url_and_to_its_host_otherwise() {
        let local = config(&[]).unwrap();
        assert_eq!(local.webauthn.rp_id, "localhost");
        assert_eq!(local.webauthn.origins, vec!["http://localhost:3000"]);
        assert_eq!(local.webauthn.rp_name, "Latchkey");
        assert!(local.demo_pages);
        let deployed = config(&[
            ("LATCHKEY_PUBLIC_URL", "https://auth.example.com/"),
            ("LATCHKEY_PRODUCT_NAME", "Acme"),
            ("AWS_LAMBDA_FUNCTION_NAME", "passkeys"),
        ])
        .unwrap();
        assert_eq!(deployed.webauthn.rp_id, "auth.example.com");
        assert_eq!(deployed.webauthn.origins, vec!["https://auth.example.com"]);
        assert_eq!(deployed.webauthn.rp_name, "Acme");
        assert!(!deployed.demo_pages, "no demo page on Lambda unless asked");
        let parent = config(&[
            ("LATCHKEY_PUBLIC_URL", "https://auth.example.com"),
            ("LATCHKEY_WEBAUTHN_RP_ID", "example.com"),
            (
                "LATCHKEY_WEBAUTHN_ORIGINS",
                "https://auth.example.com, https://app.example.com",
            ),
        ])
        .unwrap();
        assert_eq!(parent.webauthn.origins.len(), 2);
    }

    #[test]
    fn a_webauthn_rp_id_that_does_not_fit_the_origins_stops_start_up() {
        let ip = config(&[("LATCHKEY_WEBAUTHN_RP_ID", "127.0.0.1")]).unwrap_err();
        assert_eq!(ip.variable, "LATCHKEY_WEBAUTHN_RP_ID");
        let foreign = config(&[
            ("LATCHKEY_PUBLIC_URL", "https://auth.example.com"),
            (
                "LATCHKEY_WEBAUTHN_ORIGINS",
                "https://auth.example.com,https://evil.example",
            ),
        ])
        .unwrap_err();
        assert_eq!(foreign.variable, "LATCHKEY_WEBAUTHN_ORIGINS");
        assert!(
            foreign.problem.contains("evil.example"),
            "{}",
            foreign.problem
        );
        let not_an_origin =
            config(&[("LATCHKEY_WEBAUTHN_ORIGINS", "http://localhost:3000/app")]).unwrap_err();
        assert_eq!(not_an_origin.variable, "LATCHKEY_WEBAUTHN_ORIGINS");
        let flag = config(&[("LATCHKEY_DEMO_PAGES", "maybe")]).unwrap_err();
        assert_eq!(flag.variable, "LATCHKEY_DEMO_PAGES");
    }

    #[test]
    fn the_aws_backend_requires_a_kms_key() {
        let error = config(&[("LATCHKEY_BACKEND", "aws")]).unwrap_err();
        assert_eq!(error.variable, "LATCHKEY_KMS_KEY_ID");
        assert!(
            config(&[
                ("LATCHKEY_BACKEND", "aws"),
                ("LATCHKEY_KMS_KEY_ID", "alias/x")
            ])
            .is_ok()
        );
    }

    #[test]
    fn an_unknown_backend_is_refused() {
        assert_eq!(
            config(&[("LATCHKEY_BACKEND", "mongo")])
                .unwrap_err()
                .variable,
            "LATCHKEY_BACKEND"
        );
    }

    #[test]
    fn only_a_development_server_on_loopback_may_check_logins_on_private_hosts() {
        let with = |url: &str| {
            Config::from_lookup(|name| (name == "LATCHKEY_PUBLIC_URL").then(|| url.to_owned()))
                .unwrap()
                .inbox_private_hosts
        };
        assert!(with("http://127.0.0.1:3000"));
        assert!(with("http://localhost:3000"));
        assert!(with("http://[::1]:3000"));
        assert!(!with("https://auth.example.com"));
        assert!(!with("http://10.0.0.5:3000"));
    }

    #[test]
    fn the_public_url_loses_its_trailing_slash_and_must_be_http() {
        assert_eq!(
            config(&[("LATCHKEY_PUBLIC_URL", "https://auth.example.com/")])
                .unwrap()
                .public_url,
            "https://auth.example.com"
        );
        assert_eq!(
            config(&[("LATCHKEY_PUBLIC_URL", "auth.example.com")])
                .unwrap_err()
                .variable,
            "LATCHKEY_PUBLIC_URL"
        );
    }

    #[test]
    fn malformed_plan_features_gates_and_key_prefixes_stop_start_up_naming_the_variable() {
        for (variable, value) in [
            ("LATCHKEY_PLAN_FEATURES", r#"{"gold": ["x"]}"#),
            ("LATCHKEY_GATES", r#"{"GET /x": {"plan": "gold"}}"#),
            ("LATCHKEY_GATES", "not json"),
            ("LATCHKEY_API_KEY_PREFIX", "eyJ_"),
            ("LATCHKEY_API_KEY_PREFIX", "a b c d"),
        ] {
            let error = config(&[(variable, value)]).unwrap_err();
            assert_eq!(error.variable, variable, "{value}");
            assert!(!error.to_string().contains('\n'), "one line: {error}");
        }
        let config = config(&[
            (
                "LATCHKEY_PLAN_FEATURES",
                r#"{"business": ["advanced_analytics"]}"#,
            ),
            (
                "LATCHKEY_GATES",
                r#"{"GET /reports/*": {"plan": "business"}}"#,
            ),
        ])
        .unwrap();
        assert!(!config.gates.is_empty());
        assert_eq!(config.api_key_prefix, "agnt_sk_");
    }

    #[test]
    fn oauth_providers_are_enabled_by_their_client_id_and_checked_at_start_up() {
        let none = config(&[]).unwrap();
        assert!(none.oauth.names().is_empty());
        let all = config(&[
            ("LATCHKEY_GOOGLE_CLIENT_ID", "g-id"),
            ("LATCHKEY_GOOGLE_CLIENT_SECRET", "g-secret"),
            ("LATCHKEY_GITHUB_CLIENT_ID", "gh-id"),
            ("LATCHKEY_GITHUB_CLIENT_SECRET", "gh-secret"),
            ("LATCHKEY_GITHUB_API_URL", "http://127.0.0.1:9/"),
            ("LATCHKEY_OIDC_PROVIDERS", "okta, My-Idp"),
            ("LATCHKEY_OIDC_OKTA_ISSUER", "https://example.okta.com"),
            ("LATCHKEY_OIDC_OKTA_CLIENT_ID", "o-id"),
            ("LATCHKEY_OIDC_MY_IDP_ISSUER", "http://localhost:8080/realm"),
            ("LATCHKEY_OIDC_MY_IDP_CLIENT_ID", "m-id"),
            ("LATCHKEY_OIDC_MY_IDP_SCOPES", "openid email"),
        ])
        .unwrap();
        assert_eq!(all.oauth.names(), ["google", "github", "okta", "my-idp"]);
        let google = all.oauth.oidc("google").unwrap();
        assert_eq!(google.issuer, "https://accounts.google.com");
        assert_eq!(google.scopes, ["openid", "email", "profile"]);
        let github = all.oauth.github.as_ref().unwrap();
        assert_eq!(github.api_url, "http://127.0.0.1:9");
        assert_eq!(
            github.token_url,
            "https://github.com/login/oauth/access_token"
        );
        assert_eq!(
            all.oauth.oidc("my-idp").unwrap().scopes,
            ["openid", "email"]
        );
        assert!(all.oauth.oidc("okta").unwrap().client_secret.is_none());
        assert!(google.client_secret.is_some());
        assert!(
            !format!("{all:?}").contains("g-secret"),
            "secrets never print"
        );

        for (pairs, variable) in [
            (
                vec![
                    ("LATCHKEY_GOOGLE_CLIENT_ID", "x"),
                    ("LATCHKEY_GOOGLE_CLIENT_SECRET", "y"),
                    ("LATCHKEY_GOOGLE_ISSUER", "http://accounts.example.com"),
                ],
                "LATCHKEY_GOOGLE_ISSUER",
            ),
            (
                vec![
                    ("LATCHKEY_GITHUB_CLIENT_ID", "x"),
                    ("LATCHKEY_GITHUB_CLIENT_SECRET", "y"),
                    ("LATCHKEY_GITHUB_TOKEN_URL", "ftp://github.com/token"),
                ],
                "LATCHKEY_GITHUB_TOKEN_URL",
            ),
            (
                vec![("LATCHKEY_OIDC_PROVIDERS", "okta")],
                "LATCHKEY_OIDC_OKTA_ISSUER",
            ),
            (
                vec![
                    ("LATCHKEY_OIDC_PROVIDERS", "okta"),
                    ("LATCHKEY_OIDC_OKTA_ISSUER", "https://o.example"),
                ],
                "LATCHKEY_OIDC_OKTA_CLIENT_ID",
            ),
            (
                vec![("LATCHKEY_OIDC_PROVIDERS", "google")],
                "LATCHKEY_OIDC_PROVIDERS",
            ),
            (
                vec![("LATCHKEY_OIDC_PROVIDERS", "a b")],
                "LATCHKEY_OIDC_PROVIDERS",
            ),
        ] {
            let error = config(&pairs).unwrap_err();
            assert_eq!(error.variable, variable, "{pairs:?}");
            assert!(!error.to_string().contains('\n'), "one line: {error}");
        }
    }

    #[test]
    fn a_wildcard_or_malformed_cors_origin_stops_start_up_naming_the_variable() {
        for bad in [
            "*",
            "https://a.example.com, *",
            "app.example.com",
            "https://a.example.com/x",
        ] {
            let error = config(&[("LATCHKEY_CORS_ORIGINS", bad)]).unwrap_err();
            assert_eq!(error.variable, "LATCHKEY_CORS_ORIGINS", "{bad}");
            assert!(!error.to_string().contains('\n'), "one line: {error}");
        }
        assert_eq!(
            config(&[(
                "LATCHKEY_CORS_ORIGINS",
                "https://a.example.com,http://localhost:5173"
            )])
            .unwrap()
            .cors_origins
            .len(),
            2
        );
    }

    #[test]
    fn zero_lifetimes_and_bad_flags_are_refused() {
        assert_eq!(
            config(&[("LATCHKEY_ACCESS_TOKEN_TTL", "0")])
                .unwrap_err()
                .variable,
            "LATCHKEY_ACCESS_TOKEN_TTL"
        );
        assert_eq!(
            config(&[("LATCHKEY_COOKIES", "maybe")])
                .unwrap_err()
                .variable,
            "LATCHKEY_COOKIES"
        );
    }
}
