//! The [`SchemaRegistry`] trait over the Confluent-compatible REST API, and its HTTP
//! implementation.
//!
//! Endpoints used (Confluent Schema Registry API reference; Apicurio serves the same under
//! `/apis/ccompat/v7`): `GET /subjects`, `GET /subjects/{s}/versions`,
//! `GET /subjects/{s}/versions/{v}`, `POST /subjects/{s}/versions` (register),
//! `POST /subjects/{s}` (look a schema up), `GET /schemas/ids/{id}[/versions]`,
//! `GET|PUT /config[/{s}]` (compatibility). Credentials given in the URL
//! (`https://user:pass@host/...`) or with [`HttpRegistry::with_basic_auth`] are sent as HTTP
//! basic auth and never appear in [`SchemaRegistry::url`] or in errors.

use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::canonical::{canonical_form, SchemaType};
use crate::error::{RegistryError, Result};

/// A reference from one schema to another subject's version (Avro named types, JSON `$ref`,
/// Protobuf imports).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: u32,
}

/// A schema as the API carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    pub schema_type: SchemaType,
    pub schema: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
}

impl Schema {
    pub fn new(schema_type: SchemaType, schema: impl Into<String>) -> Schema {
        Schema {
            schema_type,
            schema: schema.into(),
            references: Vec::new(),
        }
    }

    /// The canonical form of the schema text ([`canonical_form`]); references are resolved and
    /// compared by content separately (`compare::content_identity`).
    pub fn canonical(&self) -> Result<String> {
        canonical_form(self.schema_type, &self.schema)
    }

    fn from_api(url: &str, v: &Value) -> Result<Schema> {
        let schema = v
            .get("schema")
            .and_then(Value::as_str)
            .ok_or_else(|| RegistryError::Decode {
                url: url.to_string(),
                detail: format!("no `schema` string in {}", truncate(&v.to_string())),
            })?
            .to_string();
        let schema_type = SchemaType::from_api(v.get("schemaType").and_then(Value::as_str))?;
        let references = match v.get("references") {
            Some(Value::Array(_)) => {
                serde_json::from_value(v["references"].clone()).map_err(|e| {
                    RegistryError::Decode {
                        url: url.to_string(),
                        detail: format!("bad `references`: {e}"),
                    }
                })?
            }
            _ => Vec::new(),
        };
        Ok(Schema {
            schema_type,
            schema,
            references,
        })
    }

    fn to_api(&self) -> Value {
        let mut body = json!({ "schema": self.schema });
        if let Some(t) = self.schema_type.api_name() {
            body["schemaType"] = json!(t);
        }
        if !self.references.is_empty() {
            body["references"] = json!(self.references);
        }
        body
    }
}

/// One version of a subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredSchema {
    pub subject: String,
    pub version: u32,
    pub id: u32,
    pub schema: Schema,
}

/// A schema registry speaking the Confluent-compatible API.
pub trait SchemaRegistry: Send + Sync {
    /// The base URL without credentials (safe to print).
    fn url(&self) -> &str;
    /// Every subject.
    fn subjects(&self) -> Result<Vec<String>>;
    /// A subject's version numbers, ascending.
    fn versions(&self, subject: &str) -> Result<Vec<u32>>;
    /// One version of a subject.
    fn version(&self, subject: &str, version: u32) -> Result<RegisteredSchema>;
    /// The schema with this id; `None` when the id resolves to nothing.
    fn schema_by_id(&self, id: u32) -> Result<Option<Schema>>;
    /// The subject/versions holding the schema with this id (empty when the id is unknown).
    fn id_versions(&self, id: u32) -> Result<Vec<(String, u32)>>;
    /// Registers `schema` under `subject` (a new version, or the existing one if identical);
    /// returns its id.
    fn register(&self, subject: &str, schema: &Schema) -> Result<u32>;
    /// The version of `subject` holding `schema`, if any.
    fn lookup(&self, subject: &str, schema: &Schema) -> Result<Option<RegisteredSchema>>;
    /// The compatibility level in force for `subject` (falling back to the global level), or
    /// the global level for `None`.
    fn compatibility(&self, subject: Option<&str>) -> Result<Option<String>>;
    /// Sets the compatibility level of `subject`, or the global level for `None`.
    fn set_compatibility(&self, subject: Option<&str>, level: &str) -> Result<()>;
}

/// The Confluent-compatible API over HTTP(S).
#[derive(Clone)]
pub struct HttpRegistry {
    base: String,
    auth: Option<String>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for HttpRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRegistry")
            .field("base", &self.base)
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

fn truncate(s: &str) -> String {
    if s.len() > 300 {
        let mut end = 300;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s.to_string()
    }
}

/// Percent-encodes a path segment (subject names may hold `/`, spaces, …).
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

impl HttpRegistry {
    /// A client for the API at `url` (e.g. `http://127.0.0.1:8081/apis/ccompat/v7`);
    /// `user:password@` in the URL becomes basic auth.
    pub fn new(url: &str) -> Result<HttpRegistry> {
        let url = url.trim().trim_end_matches('/');
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(RegistryError::Decode {
                url: url.to_string(),
                detail: "expected http://HOST:PORT/PATH or https://…".into(),
            });
        };
        if scheme != "http" && scheme != "https" {
            return Err(RegistryError::Decode {
                url: format!("{scheme}://…"),
                detail: "only http and https registries are supported".into(),
            });
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (userinfo, host) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let mut registry = HttpRegistry {
            base: format!("{scheme}://{host}{path}"),
            auth: None,
            agent,
        };
        if let Some(info) = userinfo {
            let (user, pass) = info.split_once(':').unwrap_or((info, ""));
            registry = registry.with_basic_auth(user, pass);
        }
        Ok(registry)
    }

    /// Sends HTTP basic auth with every request.
    pub fn with_basic_auth(mut self, user: &str, password: &str) -> HttpRegistry {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.auth = Some(format!("Basic {token}"));
        self
    }

    fn call(&self, method: &'static str, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
        let url = format!("{}{path}", self.base);
        let transport = |e: ureq::Error| RegistryError::Transport {
            method,
            url: url.clone(),
            detail: e.to_string(),
        };
        let mut response = match (method, body) {
            ("GET", _) => {
                let mut req = self.agent.get(&url).header("Accept", CONTENT_TYPE);
                if let Some(a) = &self.auth {
                    req = req.header("Authorization", a);
                }
                req.call().map_err(transport)?
            }
            (_, body) => {
                let text = body.map(Value::to_string).unwrap_or_default();
                let mut req = match method {
                    "PUT" => self.agent.put(&url),
                    _ => self.agent.post(&url),
                }
                .header("Accept", CONTENT_TYPE)
                .header("Content-Type", CONTENT_TYPE);
                if let Some(a) = &self.auth {
                    req = req.header("Authorization", a);
                }
                req.send(text).map_err(transport)?
            }
        };
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| RegistryError::Transport {
                method,
                url: url.clone(),
                detail: format!("reading the answer: {e}"),
            })?;
        if !(200..300).contains(&status) {
            return Err(RegistryError::Http {
                method,
                url,
                status,
                body: truncate(&text),
            });
        }
        let value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| RegistryError::Decode {
                url: url.clone(),
                detail: format!("not JSON ({e}): {}", truncate(&text)),
            })?
        };
        Ok((status, value))
    }

    fn get(&self, path: &str) -> Result<Value> {
        self.call("GET", path, None).map(|(_, v)| v)
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, path: &str, v: Value) -> Result<T> {
        serde_json::from_value(v).map_err(|e| RegistryError::Decode {
            url: format!("{}{path}", self.base),
            detail: e.to_string(),
        })
    }
}

impl SchemaRegistry for HttpRegistry {
    fn url(&self) -> &str {
        &self.base
    }

    fn subjects(&self) -> Result<Vec<String>> {
        let path = "/subjects";
        let mut subjects: Vec<String> = self.decode(path, self.get(path)?)?;
        subjects.sort();
        Ok(subjects)
    }

    fn versions(&self, subject: &str) -> Result<Vec<u32>> {
        let path = format!("/subjects/{}/versions", segment(subject));
        let mut versions: Vec<u32> = self.decode(&path, self.get(&path)?)?;
        versions.sort_unstable();
        Ok(versions)
    }

    fn version(&self, subject: &str, version: u32) -> Result<RegisteredSchema> {
        let path = format!("/subjects/{}/versions/{version}", segment(subject));
        let v = self.get(&path)?;
        let url = format!("{}{path}", self.base);
        let id = v
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| RegistryError::Decode {
                url: url.clone(),
                detail: "no numeric `id`".into(),
            })?;
        Ok(RegisteredSchema {
            subject: subject.to_string(),
            version: v
                .get("version")
                .and_then(Value::as_u64)
                .map_or(version, |n| n as u32),
            id: id as u32,
            schema: Schema::from_api(&url, &v)?,
        })
    }

    fn schema_by_id(&self, id: u32) -> Result<Option<Schema>> {
        let path = format!("/schemas/ids/{id}");
        match self.get(&path) {
            Ok(v) => Ok(Some(Schema::from_api(&format!("{}{path}", self.base), &v)?)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn id_versions(&self, id: u32) -> Result<Vec<(String, u32)>> {
        #[derive(Deserialize)]
        struct SubjectVersion {
            subject: String,
            version: u32,
        }
        let path = format!("/schemas/ids/{id}/versions");
        match self.get(&path) {
            Ok(v) => {
                let list: Vec<SubjectVersion> = self.decode(&path, v)?;
                Ok(list
                    .into_iter()
                    .map(|sv| (sv.subject, sv.version))
                    .collect())
            }
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    fn register(&self, subject: &str, schema: &Schema) -> Result<u32> {
        let path = format!("/subjects/{}/versions", segment(subject));
        let (_, v) = self.call("POST", &path, Some(&schema.to_api()))?;
        v.get("id")
            .and_then(Value::as_u64)
            .map(|n| n as u32)
            .ok_or_else(|| RegistryError::Decode {
                url: format!("{}{path}", self.base),
                detail: format!("no numeric `id` in {}", truncate(&v.to_string())),
            })
    }

    fn lookup(&self, subject: &str, schema: &Schema) -> Result<Option<RegisteredSchema>> {
        let path = format!("/subjects/{}", segment(subject));
        match self.call("POST", &path, Some(&schema.to_api())) {
            Ok((_, v)) => {
                let url = format!("{}{path}", self.base);
                let id = v.get("id").and_then(Value::as_u64);
                let version = v.get("version").and_then(Value::as_u64);
                match (id, version) {
                    (Some(id), Some(version)) => Ok(Some(RegisteredSchema {
                        subject: subject.to_string(),
                        version: version as u32,
                        id: id as u32,
                        schema: Schema::from_api(&url, &v).unwrap_or_else(|_| schema.clone()),
                    })),
                    _ => Err(RegistryError::Decode {
                        url,
                        detail: "no numeric `id` and `version`".into(),
                    }),
                }
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn compatibility(&self, subject: Option<&str>) -> Result<Option<String>> {
        let path = match subject {
            Some(s) => format!("/config/{}?defaultToGlobal=true", segment(s)),
            None => "/config".to_string(),
        };
        match self.get(&path) {
            Ok(v) => Ok(v
                .get("compatibilityLevel")
                .or_else(|| v.get("compatibility"))
                .and_then(Value::as_str)
                .map(str::to_string)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn set_compatibility(&self, subject: Option<&str>, level: &str) -> Result<()> {
        let path = match subject {
            Some(s) => format!("/config/{}", segment(s)),
            None => "/config".to_string(),
        };
        self.call("PUT", &path, Some(&json!({ "compatibility": level })))
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_url_become_basic_auth_and_are_never_shown() {
        let r = HttpRegistry::new("https://alice:s3cret@registry.example:8443/apis/ccompat/v7/")
            .unwrap();
        assert_eq!(r.url(), "https://registry.example:8443/apis/ccompat/v7");
        assert!(r.auth.as_deref().unwrap().starts_with("Basic "));
        assert!(!format!("{r:?}").contains("s3cret"));
        assert!(HttpRegistry::new("registry:8081").is_err());
        assert!(HttpRegistry::new("ftp://x").is_err());
    }

    #[test]
    fn subjects_are_percent_encoded() {
        assert_eq!(segment("orders-value"), "orders-value");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn api_bodies_carry_type_and_references() {
        let mut s = Schema::new(SchemaType::Json, "{}");
        s.references.push(Reference {
            name: "x".into(),
            subject: "y".into(),
            version: 2,
        });
        let v = s.to_api();
        assert_eq!(v["schemaType"], "JSON");
        assert_eq!(v["references"][0]["version"], 2);
        assert!(Schema::new(SchemaType::Avro, "\"int\"")
            .to_api()
            .get("schemaType")
            .is_none());
        let back = Schema::from_api("u", &v).unwrap();
        assert_eq!(back, s);
    }
}
