//! The registry of endpoint groups: every Lambda function behind the HTTP API, its name, its
//! `template.yaml` logical id and what it serves. The local server, `xtask` (template route
//! blocks, the OpenAPI document) and the tests all read this one list.

use axum::Router;
use latchkey::AppState;
use latchkey::http::Routes;
use latchkey::http::routes::Route;

/// What a function is.
#[derive(Clone, Copy)]
pub enum Kind {
    /// Behind the HTTP API: its declared routes, and the router built from them.
    Http {
        routes: fn() -> Routes,
        router: fn(AppState) -> Router,
    },
    /// An API Gateway REQUEST authorizer: invoked by API Gateway before a route's function, no
    /// HTTP router and no routes of its own.
    Authorizer,
}

/// One endpoint group: a crate under `functions/`, one Lambda function in `template.yaml`.
#[derive(Clone, Copy)]
pub struct Group {
    /// The crate's folder under `functions/`, its OpenAPI tag, and its folder under `events/`.
    pub name: &'static str,
    /// What the tag means, for the OpenAPI document.
    pub description: &'static str,
    /// The function's logical id in `template.yaml`.
    pub function: &'static str,
    pub kind: Kind,
}

/// Every endpoint group. A new crate under `functions/` fails the registry tests until it is
/// listed here (see the README's "Adding an endpoint group").
pub const GROUPS: &[Group] = &[
    Group {
        name: "well-known",
        description: "Health, the JWKS that verifies our access tokens, OpenID discovery, and \
                      this document.",
        function: "WellKnownFunction",
        kind: Kind::Http {
            routes: latchkey_well_known::routes,
            router: latchkey_well_known::router,
        },
    },
    Group {
        name: "accounts",
        description: "Sign-up, sign-in, refresh, logout, the caller's profile and sessions, \
                      password change, sign-in discovery and CSRF tokens.",
        function: "AccountsFunction",
        kind: Kind::Http {
            routes: latchkey_accounts::routes,
            router: latchkey_accounts::router,
        },
    },
    Group {
        name: "email-links",
        description: "Magic links and codes, email verification, password reset.",
        function: "EmailLinksFunction",
        kind: Kind::Http {
            routes: latchkey_email_links::routes,
            router: latchkey_email_links::router,
        },
    },
    Group {
        name: "mfa",
        description: "TOTP second factor: setup and confirmation, the second step of a sign-in \
                      (a TOTP or recovery code with the mfa_token), step-up, disabling, recovery \
                      codes.",
        function: "MfaFunction",
        kind: Kind::Http {
            routes: latchkey_mfa::routes,
            router: latchkey_mfa::router,
        },
    },
    Group {
        name: "passkeys",
        description: "Passkeys (WebAuthn): adding one, signing in with one (with an email or \
                      none), listing and removing them, and a demo page to try them in a browser.",
        function: "PasskeysFunction",
        kind: Kind::Http {
            routes: latchkey_passkeys::routes,
            router: latchkey_passkeys::router,
        },
    },
    Group {
        name: "workspaces",
        description: "Workspaces, members and roles, invites (accepting one signs in), switching \
                      the active workspace, and waitlists.",
        function: "WorkspacesFunction",
        kind: Kind::Http {
            routes: latchkey_workspaces::routes,
            router: latchkey_workspaces::router,
        },
    },
    Group {
        name: "api-keys",
        description: "API keys (seed 001), the gate check for reverse proxies, and an \
                      administrator's plan change.",
        function: "ApiKeysFunction",
        kind: Kind::Http {
            routes: latchkey_api_keys::routes,
            router: latchkey_api_keys::router,
        },
    },
    Group {
        name: "oauth",
        description: "Social login with Google, GitHub and any OpenID Connect provider, linking a \
                      provider to the signed-in account, listing and unlinking identities.",
        function: "OAuthFunction",
        kind: Kind::Http {
            routes: latchkey_oauth::routes,
            router: latchkey_oauth::router,
        },
    },
    Group {
        name: "integrations",
        description: "External providers (seed 001): the provider registry, OAuth connections \
                      to providers, users' provider API keys, valid provider tokens for agents, \
                      and the Google search keys.",
        function: "IntegrationsFunction",
        kind: Kind::Http {
            routes: latchkey_integrations::routes,
            router: latchkey_integrations::router,
        },
    },
    Group {
        name: "inboxes",
        description: "Agent inbox auth (seed 000): connecting a human's mailbox by IMAP/SMTP \
                      credentials (tried first), Google OAuth or the hosted IMAP form, the \
                      emailed confirmation, listing and deletion.",
        function: "InboxesFunction",
        kind: Kind::Http {
            routes: latchkey_inboxes::routes,
            router: latchkey_inboxes::router,
        },
    },
    Group {
        name: "authorizer",
        description: "The API Gateway Lambda authorizer for a platform's other APIs: access \
                      tokens, API keys and LATCHKEY_GATES.",
        function: "AuthorizerFunction",
        kind: Kind::Authorizer,
    },
];

/// Crates under `functions/` that are not a Lambda function.
pub const NOT_GROUPS: &[&str] = &["local"];

impl Group {
    /// The declared routes (none for an authorizer), sorted.
    pub fn routes(&self) -> Vec<Route> {
        match self.kind {
            Kind::Http { routes, .. } => routes().list(),
            Kind::Authorizer => Vec::new(),
        }
    }

    /// The group's router, or `None` for an authorizer.
    pub fn router(&self, state: AppState) -> Option<Router> {
        match self.kind {
            Kind::Http { router, .. } => Some(router(state)),
            Kind::Authorizer => None,
        }
    }
}

/// The group named `name`.
pub fn group(name: &str) -> Option<&'static Group> {
    GROUPS.iter().find(|group| group.name == name)
}
