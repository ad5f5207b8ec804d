//! The real IMAP and SMTP servers of the inbox tests: `tests/mail_servers.py` (pymap, aiosmtpd),
//! started by `tests/run.sh`, which exports where it described them. One account on all of them;
//! every TLS port presents a throw-away certificate that `trust` makes a test app accept.

use latchkey::Config;
use serde::Deserialize;
use serde_json::{Value, json};

/// The servers as `tests/mail_servers.py` described them.
#[derive(Clone, Debug, Deserialize)]
pub struct MailServers {
    pub host: String,
    pub username: String,
    pub password: String,
    pub imap_starttls_port: u16,
    pub imaps_port: u16,
    pub smtp_starttls_port: u16,
    pub smtps_port: u16,
    /// Accepts connections and never answers.
    pub silent_port: u16,
    pub ca_pem: String,
}

impl MailServers {
    /// The running servers; panics loudly when the test command did not start them.
    pub fn get() -> MailServers {
        let path = std::env::var("LATCHKEY_TEST_MAIL_SERVERS").unwrap_or_else(|_| {
            panic!(
                "\n\n*** The inbox tests did NOT run: LATCHKEY_TEST_MAIL_SERVERS is not set.      ***\n\
                 *** Run ./tests/run.sh, which installs and starts pymap and aiosmtpd.          ***\n\n"
            )
        });
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("cannot read {path}: {error}"));
        serde_json::from_str(&text).expect("servers.json as tests/mail_servers.py writes it")
    }

    /// Make a test app trust the servers' throw-away certificate (and keep its checks short).
    pub fn trust(&self, config: &mut Config) {
        config.inbox_extra_roots_pem = Some(self.ca_pem.clone());
        config.inbox_login_timeout = std::time::Duration::from_secs(2);
    }

    /// `{host, port, secure, username, password}` of the IMAP server (TLS from the start when
    /// `secure`, else STARTTLS).
    pub fn imap(&self, secure: bool) -> Value {
        let port = if secure {
            self.imaps_port
        } else {
            self.imap_starttls_port
        };
        self.server(port, secure, &self.password)
    }

    /// The same for the SMTP server.
    pub fn smtp(&self, secure: bool) -> Value {
        let port = if secure {
            self.smtps_port
        } else {
            self.smtp_starttls_port
        };
        self.server(port, secure, &self.password)
    }

    pub fn server(&self, port: u16, secure: bool, password: &str) -> Value {
        json!({"host": self.host, "port": port, "secure": secure,
               "username": self.username, "password": password})
    }
}
