//! Secured owned clusters: `ssl` (TLS) and `sasl_ssl` (TLS + SASL SCRAM-SHA-512 and PLAIN,
//! ACLs enforced by Kafka's `StandardAuthorizer`).
//!
//! Everything is made per run: a CA and one broker certificate (SANs `127.0.0.1`, `localhost`)
//! generated with rcgen, PEM files in the cluster's temp dir (the CA for clients, the broker's
//! key and chain in each node's dir, mode 0600), and a random password for the harness's own
//! super user [`ADMIN_USER`]. SCRAM credentials are written into the storage at format time
//! (`--add-scram`), PLAIN users into the listener's JAAS config. Users' passwords never reach
//! a log: [`Security`]'s `Debug` leaves them out.
//!
//! Listeners of a secured node: the client listener (`SSL` or `SASL_SSL`; on a proxied cluster
//! also `DIRECT`, the same protocol with the same settings, bypassing the fault proxy), and
//! `INTERNAL` and `CONTROLLER`, both PLAINTEXT on 127.0.0.1 for inter-broker and quorum traffic. Their
//! principal is `User:ANONYMOUS`, which is therefore a super user: clients never learn those
//! listeners (metadata only names the listener a client connected to), but anything on the
//! machine that dials them directly is trusted. Fine for a disposable test cluster; that is
//! all this is for.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::client_props::ClientProps;
use crate::error::{HarnessError, Result};

/// The harness's own super user on a `sasl_ssl` cluster.
pub const ADMIN_USER: &str = "cutover-admin";

/// How clients reach an owned cluster.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    /// No TLS, no authentication (the default).
    #[default]
    Plaintext,
    /// TLS with a per-run CA; no client authentication (every client is `User:ANONYMOUS`).
    Ssl,
    /// TLS plus SASL (SCRAM-SHA-512 and PLAIN), ACLs enforced.
    SaslSsl,
}

impl SecurityProtocol {
    /// The protocol's name in Kafka configs (`security.protocol`, listener maps).
    pub fn kafka_name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }
}

/// A SASL mechanism the secured brokers accept.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum SaslMechanism {
    #[default]
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
    #[serde(rename = "PLAIN")]
    Plain,
}

impl SaslMechanism {
    pub fn kafka_name(self) -> &'static str {
        match self {
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::Plain => "PLAIN",
        }
    }

    fn login_module(self) -> &'static str {
        match self {
            SaslMechanism::ScramSha512 => "org.apache.kafka.common.security.scram.ScramLoginModule",
            SaslMechanism::Plain => "org.apache.kafka.common.security.plain.PlainLoginModule",
        }
    }
}

/// An extra SASL user of a `sasl_ssl` cluster (known to both mechanisms).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// The SASL user name (SCRAM-SHA-512 and PLAIN); its principal is `User:<name>`.
    pub name: String,
    /// Generated per run when unset.
    #[serde(default)]
    pub password: Option<String>,
}

impl fmt::Debug for UserSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserSpec")
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Checks a user name or password can be written into Kafka's `--add-scram` argument and a
/// JAAS config without quoting: letters, digits and `._-@+` only.
pub(crate) fn check_credential(what: &str, value: &str) -> std::result::Result<(), String> {
    if value.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-@+".contains(*c)))
    {
        return Err(format!(
            "{what} contains `{c}`: use letters, digits and `._-@+` only (it is written into a JAAS config)"
        ));
    }
    Ok(())
}

/// The per-run security material of one secured cluster.
#[derive(Clone)]
pub struct Security {
    pub protocol: SecurityProtocol,
    /// What cutover's own clients authenticate with.
    pub mechanism: SaslMechanism,
    /// The CA certificate clients trust (PEM).
    pub ca_file: PathBuf,
    ca_pem: String,
    /// The broker's private key followed by its certificate chain (PEM).
    broker_pem: String,
    /// Name → password, the admin first.
    users: BTreeMap<String, String>,
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Security")
            .field("protocol", &self.protocol)
            .field("mechanism", &self.mechanism)
            .field("ca_file", &self.ca_file)
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The file name of a node's key store inside its dir.
pub(crate) const BROKER_PEM: &str = "broker-keystore.pem";

impl Security {
    /// [`Security::generate`] for an owned cluster's spec (its protocol, mechanism, users).
    pub fn for_spec(
        spec: &crate::spec::ClusterSpec,
        cluster_dir: &Path,
    ) -> Result<Option<Security>> {
        Security::generate(spec.security, spec.sasl_mechanism, &spec.users, cluster_dir)
    }

    /// Generates the CA, the broker certificate and the passwords, and writes the CA to
    /// `cluster_dir/ca.pem`. `None` for plaintext clusters.
    pub fn generate(
        protocol: SecurityProtocol,
        mechanism: SaslMechanism,
        users: &[UserSpec],
        cluster_dir: &Path,
    ) -> Result<Option<Security>> {
        if protocol == SecurityProtocol::Plaintext {
            return Ok(None);
        }
        let tls = |e: rcgen::Error| HarnessError::InvalidSpec {
            field: "security".into(),
            reason: format!("generating the TLS material: {e}"),
        };
        // Certificate parameters for these subject alternative names and common name.
        let named = |names: &[&str], cn: &str| -> Result<rcgen::CertificateParams> {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            let mut params = rcgen::CertificateParams::new(names).map_err(tls)?;
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
            Ok(params)
        };
        let mut ca_params = named(&[], "cutover per-run CA")?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = rcgen::KeyPair::generate().map_err(tls)?;
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(tls)?;
        let mut params = named(&["127.0.0.1", "localhost"], "cutover broker")?;
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = rcgen::KeyPair::generate().map_err(tls)?;
        let cert = params.signed_by(&key, &ca).map_err(tls)?;
        let ca_pem = ca.pem();
        let broker_pem = format!("{}{}{}", key.serialize_pem(), cert.pem(), ca_pem);

        let mut all = BTreeMap::new();
        all.insert(ADMIN_USER.to_string(), random_password()?);
        for user in users {
            let password = match &user.password {
                Some(p) => p.clone(),
                None => random_password()?,
            };
            all.insert(user.name.clone(), password);
        }
        let ca_file = cluster_dir.join("ca.pem");
        write_private(&ca_file, &ca_pem)?;
        Ok(Some(Security {
            protocol,
            mechanism,
            ca_file,
            ca_pem,
            broker_pem,
            users: all,
        }))
    }

    /// The CA certificate (PEM), for clients that take it inline.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The password of `user`, if the cluster has that user.
    pub fn password(&self, user: &str) -> Option<&str> {
        self.users.get(user).map(String::as_str)
    }

    /// User names (the admin included).
    pub fn user_names(&self) -> Vec<String> {
        self.users.keys().cloned().collect()
    }

    /// The listener name of the client listener.
    pub fn listener_name(&self) -> &'static str {
        self.protocol.kafka_name()
    }

    /// Writes the node's key store into `node_dir` (mode 0600).
    pub(crate) fn write_node_files(&self, node_dir: &Path) -> Result<()> {
        write_private(&node_dir.join(BROKER_PEM), &self.broker_pem)
    }

    /// Broker settings for the client listeners (`listeners`: their names, each of this
    /// protocol; the SASL JAAS configs are per listener name, `listener.name.<name>.*`), the
    /// authorizer and the users.
    pub(crate) fn broker_properties(
        &self,
        node_dir: &Path,
        listeners: &[&str],
    ) -> BTreeMap<String, String> {
        let mut p = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            p.insert(k.to_string(), v);
        };
        set("ssl.keystore.type", "PEM".into());
        set(
            "ssl.keystore.location",
            node_dir.join(BROKER_PEM).display().to_string(),
        );
        set("ssl.client.auth", "none".into());
        if self.protocol == SecurityProtocol::SaslSsl {
            set(
                "sasl.enabled.mechanisms",
                format!(
                    "{},{}",
                    SaslMechanism::ScramSha512.kafka_name(),
                    SaslMechanism::Plain.kafka_name()
                ),
            );
            let plain_users = self
                .users
                .iter()
                .map(|(u, pw)| format!(" user_{u}=\"{pw}\""))
                .collect::<String>();
            for listener in listeners {
                let prefix = format!("listener.name.{}", listener.to_ascii_lowercase());
                set(
                    &format!("{prefix}.scram-sha-512.sasl.jaas.config"),
                    format!("{} required;", SaslMechanism::ScramSha512.login_module()),
                );
                set(
                    &format!("{prefix}.plain.sasl.jaas.config"),
                    format!(
                        "{} required{plain_users};",
                        SaslMechanism::Plain.login_module()
                    ),
                );
            }
            set(
                "authorizer.class.name",
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer".into(),
            );
            set("super.users", format!("User:{ADMIN_USER};User:ANONYMOUS"));
            set("allow.everyone.if.no.acl.found", "false".into());
        }
        p
    }

    /// Arguments for `StorageTool format` that create the SCRAM credentials.
    pub(crate) fn format_args(&self) -> Vec<String> {
        if self.protocol != SecurityProtocol::SaslSsl {
            return Vec::new();
        }
        self.users
            .iter()
            .flat_map(|(u, pw)| {
                [
                    "--add-scram".to_string(),
                    format!("SCRAM-SHA-512=[name={u},password={pw}]"),
                ]
            })
            .collect()
    }

    /// Java-client properties of the harness's super user.
    pub fn admin_props(&self, bootstrap: &str) -> ClientProps {
        let mut props = self.tls_props(bootstrap);
        if let (SecurityProtocol::SaslSsl, Some(password)) =
            (self.protocol, self.password(ADMIN_USER))
        {
            props.set("sasl.mechanism", self.mechanism.kafka_name());
            props.set(
                "sasl.jaas.config",
                jaas_config(self.mechanism, ADMIN_USER, password),
            );
        }
        props
    }

    fn tls_props(&self, bootstrap: &str) -> ClientProps {
        let mut props = ClientProps::bootstrap(bootstrap);
        props.set("security.protocol", self.protocol.kafka_name());
        props.set("ssl.truststore.type", "PEM");
        props.set(
            "ssl.truststore.location",
            self.ca_file.display().to_string(),
        );
        props
    }

    /// Java-client properties for `user` (the admin when `None`) with `bootstrap`.
    pub fn client_props(&self, bootstrap: &str, user: Option<&str>) -> Result<ClientProps> {
        let mut props = self.tls_props(bootstrap);
        if self.protocol == SecurityProtocol::SaslSsl {
            let user = user.unwrap_or(ADMIN_USER);
            let password = self
                .password(user)
                .ok_or_else(|| HarnessError::InvalidSpec {
                    field: "users".into(),
                    reason: format!(
                        "the cluster has no user `{user}` (it has {:?})",
                        self.user_names()
                    ),
                })?;
            props.set("sasl.mechanism", self.mechanism.kafka_name());
            props.set(
                "sasl.jaas.config",
                jaas_config(self.mechanism, user, password),
            );
        }
        Ok(props)
    }
}

/// The client properties of an owned cluster: its super user's when secured.
pub(crate) fn owned_props(security: Option<&Security>, bootstrap: &str) -> ClientProps {
    match security {
        Some(security) => security.admin_props(bootstrap),
        None => ClientProps::bootstrap(bootstrap),
    }
}

/// The client properties of SASL user `user` of an owned cluster.
pub(crate) fn owned_props_as(
    security: Option<&Security>,
    cluster: &str,
    bootstrap: &str,
    user: &str,
) -> Result<ClientProps> {
    match security {
        Some(security) => security.client_props(bootstrap, Some(user)),
        None => Err(HarnessError::InvalidSpec {
            field: format!("{cluster}.users"),
            reason: format!("cluster `{cluster}` is not secured, so it has no user `{user}`"),
        }),
    }
}

/// A Java-client `sasl.jaas.config` value.
pub fn jaas_config(mechanism: SaslMechanism, user: &str, password: &str) -> String {
    format!(
        "{} required username=\"{user}\" password=\"{password}\";",
        mechanism.login_module()
    )
}

fn random_password() -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut file =
        std::fs::File::open("/dev/urandom").map_err(HarnessError::io("opening /dev/urandom"))?;
    let mut bytes = [0u8; 24];
    std::io::Read::read_exact(&mut file, &mut bytes)
        .map_err(HarnessError::io("reading /dev/urandom"))?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect())
}

/// Writes a file only its owner can read.
pub(crate) fn write_private(path: &Path, text: &str) -> Result<()> {
    crate::workdir::write_owner_only(path, text)
        .map_err(HarnessError::io(format!("writing {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn material_is_per_run_and_passwords_stay_out_of_debug() {
        let dir = tempfile::tempdir().unwrap();
        let users = vec![UserSpec {
            name: "replicator".into(),
            password: Some("known-Secret-42".into()),
        }];
        let a = Security::generate(
            SecurityProtocol::SaslSsl,
            SaslMechanism::ScramSha512,
            &users,
            dir.path(),
        )
        .unwrap()
        .unwrap();
        let b = Security::generate(
            SecurityProtocol::SaslSsl,
            SaslMechanism::Plain,
            &[],
            dir.path(),
        )
        .unwrap()
        .unwrap();
        assert_ne!(a.ca_pem(), b.ca_pem(), "a CA per run");
        assert_ne!(a.password(ADMIN_USER), b.password(ADMIN_USER));
        assert_eq!(a.password("replicator"), Some("known-Secret-42"));
        let debug = format!("{a:?} {users:?}");
        assert!(!debug.contains("known-Secret-42"), "{debug}");
        assert!(!debug.contains(a.password(ADMIN_USER).unwrap()), "{debug}");
        let mode = std::fs::metadata(&b.ca_file).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
        assert!(a.broker_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(a.broker_pem.matches("BEGIN CERTIFICATE").count(), 2);

        let props = a.client_props("127.0.0.1:1", Some("replicator")).unwrap();
        assert_eq!(props.get("security.protocol"), Some("SASL_SSL"));
        assert!(props
            .get("sasl.jaas.config")
            .unwrap()
            .contains("username=\"replicator\""));
        let err = a.client_props("x:1", Some("nobody")).unwrap_err();
        assert!(err.to_string().contains("nobody"), "{err}");
        let scram = a.format_args();
        assert_eq!(scram.len(), 4, "admin and replicator");
        let broker = a.broker_properties(Path::new("/n"), &["SASL_SSL", "DIRECT"]);
        for listener in ["sasl_ssl", "direct"] {
            assert!(
                broker[&format!("listener.name.{listener}.plain.sasl.jaas.config")]
                    .contains("user_replicator=\"known-Secret-42\"")
            );
            assert!(broker.contains_key(&format!(
                "listener.name.{listener}.scram-sha-512.sasl.jaas.config"
            )));
        }
        assert_eq!(
            broker["super.users"],
            format!("User:{ADMIN_USER};User:ANONYMOUS")
        );
        assert!(Security::generate(
            SecurityProtocol::Plaintext,
            SaslMechanism::Plain,
            &[],
            dir.path()
        )
        .unwrap()
        .is_none());
    }

    #[test]
    fn credentials_that_break_jaas_are_refused() {
        assert!(check_credential("password", "ok.Pass-1@x").is_ok());
        let err = check_credential("password", "a\"b").unwrap_err();
        assert!(err.contains('"'), "{err}");
        assert!(check_credential("name", "").is_err());
        assert!(check_credential("password", "a,b]").is_err());
    }
}
