//! The `MailLogin` port against real mail servers: an IMAP login with `async-imap` on tokio and
//! an SMTP AUTH with `lettre`'s transport, both over rustls (the aws-lc-rs provider) and both
//! bounded by one deadline, so an unreachable host answers within a few seconds.
//!
//! `secure` means TLS from the first byte (IMAPS, SMTPS); otherwise the client upgrades with
//! STARTTLS whenever the server offers it, and logs in without TLS only on a server that offers
//! none (API.md: "STARTTLS otherwise where offered"). Certificates are checked against Mozilla's
//! roots (`webpki-roots`, compiled in: no file system or network lookup on Lambda), plus the
//! extra roots the configuration names, which only tests set. Verification is never turned off.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_imap::imap_proto::{Capability, Response};
use async_trait::async_trait;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use secrecy::ExposeSecret;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::ports::{MailLogin, MailLoginError, MailProtocol, MailServerLogin};

/// Logs in to real IMAP and SMTP servers.
pub struct MailServers {
    tls: Arc<ClientConfig>,
    /// Extra trusted roots (PEM), handed to lettre's own TLS set-up too.
    extra_roots_pem: Option<String>,
    /// The whole attempt, connection and TLS included.
    timeout: Duration,
}

impl MailServers {
    /// `extra_roots_pem`: certificates to trust besides Mozilla's roots (tests' throw-away CA).
    pub fn new(extra_roots_pem: Option<String>, timeout: Duration) -> Self {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(pem) = &extra_roots_pem {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()).flatten() {
                // A certificate rustls cannot use is left out: the logins it would vouch for
                // then fail as untrusted, which is the safe way to be wrong.
                let _ = roots.add(cert);
            }
        }
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("aws-lc-rs supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self {
            tls: Arc::new(tls),
            extra_roots_pem,
            timeout,
        }
    }

    async fn imap(&self, server: &MailServerLogin) -> Result<(), MailLoginError> {
        let tcp = TcpStream::connect((server.host.as_str(), server.port))
            .await
            .map_err(unreachable)?;
        if server.secure {
            let tls = self.tls_over(tcp, &server.host).await?;
            let mut client = async_imap::Client::new(tls);
            greeting(&mut client).await?;
            return imap_login(client, server).await;
        }
        let mut client = async_imap::Client::new(tcp);
        greeting(&mut client).await?;
        if offers_starttls(&mut client).await? {
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(unreachable)?;
            let tls = self.tls_over(client.into_inner(), &server.host).await?;
            // After STARTTLS the server sends no second greeting.
            return imap_login(async_imap::Client::new(tls), server).await;
        }
        imap_login(client, server).await
    }

    async fn tls_over(
        &self,
        tcp: TcpStream,
        host: &str,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, MailLoginError> {
        let name = ServerName::try_from(host.to_owned()).map_err(unreachable)?;
        TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(unreachable)
    }

    async fn smtp(&self, server: &MailServerLogin) -> Result<(), MailLoginError> {
        let mut parameters = TlsParameters::builder(server.host.clone())
            .certificate_store(CertificateStore::WebpkiRoots);
        if let Some(pem) = &self.extra_roots_pem {
            parameters = parameters
                .add_root_certificate(Certificate::from_pem(pem.as_bytes()).map_err(unreachable)?);
        }
        let parameters = parameters.build_rustls().map_err(unreachable)?;
        let tls = if server.secure {
            Tls::Wrapper(parameters)
        } else {
            Tls::Opportunistic(parameters)
        };
        let transport: AsyncSmtpTransport<Tokio1Executor> =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&server.host)
                .port(server.port)
                .tls(tls)
                .timeout(Some(self.timeout))
                .credentials(Credentials::new(
                    server.username.clone(),
                    server.password.expose_secret().to_owned(),
                ))
                .build();
        match transport.test_connection().await {
            Ok(_) => Ok(()),
            // The server answered with a refusal (535 and friends) or offered no way to log in.
            Err(error) if error.is_permanent() || error.is_transient() || error.is_client() => {
                Err(MailLoginError::Refused(error.to_string()))
            }
            Err(error) => Err(unreachable(error)),
        }
    }
}

fn unreachable(error: impl fmt::Display) -> MailLoginError {
    MailLoginError::Unreachable(error.to_string())
}

/// The server's first line: it must be there and not `BYE`.
async fn greeting<S>(client: &mut async_imap::Client<S>) -> Result<(), MailLoginError>
where
    S: AsyncRead + AsyncWrite + Unpin + fmt::Debug + Send,
{
    match client.read_response().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(MailLoginError::Unreachable(
            "the server closed the connection before its greeting".into(),
        )),
        Err(error) => Err(unreachable(error)),
    }
}

/// Whether `CAPABILITY` lists `STARTTLS`. (async-imap sends commands only from a logged-in
/// session, so this one goes straight onto the stream under a tag of our own.)
async fn offers_starttls<S>(client: &mut async_imap::Client<S>) -> Result<bool, MailLoginError>
where
    S: AsyncRead + AsyncWrite + Unpin + fmt::Debug + Send,
{
    const TAG: &str = "lk0";
    let stream = client.get_mut();
    stream
        .write_all(format!("{TAG} CAPABILITY\r\n").as_bytes())
        .await
        .map_err(unreachable)?;
    stream.flush().await.map_err(unreachable)?;
    let mut starttls = false;
    loop {
        let response = client
            .read_response()
            .await
            .map_err(unreachable)?
            .ok_or_else(|| MailLoginError::Unreachable("the connection closed".into()))?;
        match response.parsed() {
            Response::Capabilities(capabilities) => {
                starttls |= capabilities.iter().any(|capability| {
                    matches!(capability, Capability::Atom(atom) if atom.eq_ignore_ascii_case("STARTTLS"))
                });
            }
            Response::Done { tag, .. } if tag.0 == TAG => return Ok(starttls),
            _ => {}
        }
    }
}

async fn imap_login<S>(
    client: async_imap::Client<S>,
    server: &MailServerLogin,
) -> Result<(), MailLoginError>
where
    S: AsyncRead + AsyncWrite + Unpin + fmt::Debug + Send,
{
    match client
        .login(&server.username, server.password.expose_secret())
        .await
    {
        Ok(mut session) => {
            // A polite goodbye; the login is what mattered.
            let _ = session.logout().await;
            Ok(())
        }
        Err((async_imap::error::Error::No(text), _))
        | Err((async_imap::error::Error::Bad(text), _)) => Err(MailLoginError::Refused(text)),
        Err((error, _)) => Err(unreachable(error)),
    }
}

#[async_trait]
impl MailLogin for MailServers {
    async fn try_login(
        &self,
        protocol: MailProtocol,
        server: &MailServerLogin,
    ) -> Result<(), MailLoginError> {
        let attempt = async {
            match protocol {
                MailProtocol::Imap => self.imap(server).await,
                MailProtocol::Smtp => self.smtp(server).await,
            }
        };
        tokio::time::timeout(self.timeout, attempt)
            .await
            .unwrap_or_else(|_| {
                Err(MailLoginError::Unreachable(format!(
                    "no answer within {} s",
                    self.timeout.as_secs()
                )))
            })
    }
}
