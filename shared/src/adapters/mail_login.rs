//! The `MailLogin` port against real mail servers: an IMAP login with `async-imap` on tokio and
//! an SMTP AUTH with `lettre`'s transport, both over rustls (the aws-lc-rs provider) and both
//! bounded by one deadline, so an unreachable host answers within a few seconds.
//!
//! `secure` means TLS from the first byte (IMAPS, SMTPS); otherwise the client upgrades with
//! STARTTLS whenever the server offers it, and logs in without TLS only on a server that offers
//! none (API.md: "STARTTLS otherwise where offered"). Certificates are checked against Mozilla's
//! roots (`webpki-roots`, compiled in: no file system or network lookup on Lambda), plus the
//! extra roots the configuration names, which only tests set. Verification is never turned off.
//!
//! The host is resolved once, here, and every address it resolves to must be public (not
//! loopback, private, link-local, shared, reserved...) unless the configuration allows private
//! hosts (a development server): a caller names the host, and must not be able to make the
//! service open connections into its own network. The clients then connect to the checked
//! addresses, never to the name again, so a second DNS answer cannot slip another one in.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
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
    /// Whether non-public addresses may be connected to (module header).
    private_hosts: bool,
}

impl MailServers {
    /// `extra_roots_pem`: certificates to trust besides Mozilla's roots (tests' throw-away CA).
    pub fn new(extra_roots_pem: Option<String>, timeout: Duration, private_hosts: bool) -> Self {
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
            private_hosts,
        }
    }

    /// The addresses `server` resolves to, refused when one of them is not public (unless
    /// private hosts are allowed).
    async fn resolve(&self, server: &MailServerLogin) -> Result<Vec<SocketAddr>, MailLoginError> {
        let addresses: Vec<SocketAddr> =
            tokio::net::lookup_host((server.host.as_str(), server.port))
                .await
                .map_err(unreachable)?
                .collect();
        if addresses.is_empty() {
            return Err(unreachable(format!("{} has no address", server.host)));
        }
        if !self.private_hosts && addresses.iter().any(|a| !is_public(a.ip())) {
            return Err(MailLoginError::NotPublic(server.host.clone()));
        }
        Ok(addresses)
    }

    async fn imap(&self, server: &MailServerLogin) -> Result<(), MailLoginError> {
        let addresses = self.resolve(server).await?;
        let tcp = TcpStream::connect(&addresses[..])
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
        // The checked address, not the name (TLS still verifies the name: `parameters`).
        let address = self.resolve(server).await?[0].ip().to_string();
        let transport: AsyncSmtpTransport<Tokio1Executor> =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(address)
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

/// An address on the public internet: not loopback, private (RFC 1918, IPv6 unique local),
/// link-local, shared (100.64/10), unspecified, broadcast, multicast, documentation,
/// benchmarking or reserved; an IPv4-mapped IPv6 address is judged as its IPv4 address.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        || ip.to_ipv4().is_some_and(|v4| !is_public_v4(v4)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
    }

    #[tokio::test]
    async fn a_loopback_host_is_refused_before_any_connection_unless_private_hosts_are_allowed() {
        // A listener that counts connections: the refusal must come before one is opened.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let server = MailServerLogin {
            host: "localhost".into(),
            port: listener.local_addr().unwrap().port(),
            secure: false,
            username: "ada".into(),
            password: String::from("not-checked").into(),
        };
        let refusing = MailServers::new(None, Duration::from_secs(2), false);
        for protocol in [MailProtocol::Imap, MailProtocol::Smtp] {
            match refusing.try_login(protocol, &server).await {
                Err(MailLoginError::NotPublic(host)) => assert_eq!(host, "localhost"),
                other => panic!("{protocol:?}: {other:?}"),
            }
        }
        assert!(listener.accept().is_err(), "no connection was opened");

        let allowing = MailServers::new(None, Duration::from_secs(2), true);
        let _ = allowing.try_login(MailProtocol::Imap, &server).await;
        assert!(listener.accept().is_ok(), "a development server connects");
    }
}
