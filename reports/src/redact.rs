//! Secrets never reach a report: wherever a configuration is echoed (the scenario file, client
//! properties, a command line) values under secret keys are replaced by `[redacted]`.
//!
//! Three passes over TOML text, because a secret can hide in a plain `key = "value"` line, in
//! an inline table, or inside another value (`password="…"` in a JAAS line): every
//! `key = "string"` with a secret key is masked, then every `password=…`-like fragment, then
//! every string value that the parsed document holds under a secret key. If the masked text
//! still parses to a secret in clear (a multi-line string, say), the text is replaced by the
//! parsed document re-serialised with the secrets masked (comments lost, secrets safe).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

pub use secrets::{is_secret_key, REDACTED};

static KEY_STRING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?P<key>"[^"\n]*"|'[^'\n]*'|[A-Za-z0-9_.\-]+)(?P<eq>\s*=\s*)(?P<value>"(?:[^"\\\n]|\\.)*"|'[^'\n]*')"#)
        .expect("static regex")
});

static FRAGMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)(?P<key>[A-Za-z0-9_.\-]*(?:password|passwd|secret|token|api[_.\-]?key)[A-Za-z0-9_.\-]*)(?P<eq>\s*[=:]\s*)(?P<value>\\"(?:[^"\\]|\\[^"])*\\"|"(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;}"']+)"#,
    )
    .expect("static regex")
});

/// Masks `password=…`, `token: …`, `secret=…` fragments in any text (command lines, errors,
/// JAAS lines).
pub fn redact_text(text: &str) -> String {
    FRAGMENT
        .replace_all(text, |c: &regex::Captures| {
            let value = &c["value"];
            // `(… --password=x)`: the closing parenthesis belongs to the text around.
            let tail = if value.ends_with(')') && !value.contains('(') {
                ")"
            } else {
                ""
            };
            let quote = if value.starts_with("\\\"") {
                "\\\""
            } else if value.starts_with('"') {
                "\""
            } else if value.starts_with('\'') {
                "'"
            } else {
                ""
            };
            format!("{}{}{quote}{REDACTED}{quote}{tail}", &c["key"], &c["eq"])
        })
        .into_owned()
}

/// Client properties with secret values masked.
pub fn redact_props(props: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    props
        .iter()
        .map(|(k, v)| {
            let v = if is_secret_key(k) {
                REDACTED.to_string()
            } else {
                redact_text(v)
            };
            (k.clone(), v)
        })
        .collect()
}

/// A TOML document (a scenario file) with every secret masked, comments kept when possible.
pub fn redact_toml(text: &str) -> String {
    let masked = KEY_STRING.replace_all(text, |c: &regex::Captures| {
        if is_secret_key(&c["key"]) {
            let q = if c["value"].starts_with('\'') {
                "'"
            } else {
                "\""
            };
            format!("{}{}{q}{REDACTED}{q}", &c["key"], &c["eq"])
        } else {
            c[0].to_string()
        }
    });
    let mut masked = redact_text(&masked);
    let Ok(doc) = toml::from_str::<toml::Value>(text) else {
        // Not TOML after all: the text passes are all we can do.
        return masked;
    };
    let mut secrets = Vec::new();
    collect_secrets(&doc, false, &mut secrets);
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in &secrets {
        if s.len() >= 3 && s != REDACTED {
            masked = masked.replace(s.as_str(), REDACTED);
        }
    }
    match toml::from_str::<toml::Value>(&masked) {
        Ok(again) if !holds_secret(&again, false) => masked,
        _ => {
            let mut doc = doc;
            mask_value(&mut doc, false);
            toml::to_string_pretty(&doc)
                .map(|t| format!("# (comments dropped while redacting secrets)\n{t}"))
                .unwrap_or_else(|_| REDACTED.to_string())
        }
    }
}

/// For each element of an array (a command line): true when the element before it is a
/// secret flag (`["copy.sh", "--password", "x"]`: the `x`).
fn after_secret_flag(a: &[toml::Value]) -> Vec<bool> {
    let mut out = vec![false; a.len()];
    for (i, pair) in a.windows(2).enumerate() {
        out[i + 1] = pair[0].as_str().is_some_and(secrets::is_secret_flag);
    }
    out
}

fn collect_secrets(v: &toml::Value, secret: bool, out: &mut Vec<String>) {
    match v {
        toml::Value::String(s) if secret => out.push(s.clone()),
        toml::Value::Table(t) => {
            for (k, v) in t {
                collect_secrets(v, secret || is_secret_key(k), out);
            }
        }
        toml::Value::Array(a) => {
            for (v, after_flag) in a.iter().zip(after_secret_flag(a)) {
                collect_secrets(v, secret || after_flag, out);
            }
        }
        _ => {}
    }
}

fn holds_secret(v: &toml::Value, secret: bool) -> bool {
    match v {
        toml::Value::String(s) => (secret && s != REDACTED) || (!secret && redact_text(s) != *s),
        toml::Value::Table(t) => t
            .iter()
            .any(|(k, v)| holds_secret(v, secret || is_secret_key(k))),
        toml::Value::Array(a) => a
            .iter()
            .zip(after_secret_flag(a))
            .any(|(v, after_flag)| holds_secret(v, secret || after_flag)),
        _ => secret,
    }
}

fn mask_value(v: &mut toml::Value, secret: bool) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                let s = secret || is_secret_key(k);
                mask_value(v, s);
            }
        }
        toml::Value::Array(a) => {
            let flags = after_secret_flag(a);
            for (v, after_flag) in a.iter_mut().zip(flags) {
                mask_value(v, secret || after_flag);
            }
        }
        toml::Value::String(s) => {
            *s = if secret {
                REDACTED.to_string()
            } else {
                redact_text(s)
            }
        }
        other if secret => *other = toml::Value::String(REDACTED.into()),
        _ => {}
    }
}

/// The report with every echoed configuration masked: scenario text, client properties, the
/// system's command line, failure lines, fault details and errors.
/// `scheme://user:password@host` → `scheme://***@host` (a registry URL with credentials).
static URL_USERINFO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s]+@").expect("valid regex")
});

/// Credentials inside URLs masked, then the usual fragments.
pub fn redact_urls(text: &str) -> String {
    redact_text(&URL_USERINFO.replace_all(text, "${scheme}***@"))
}

pub fn redact_report(report: &mut crate::RunReport) {
    if let Some(t) = &report.scenario_text {
        report.scenario_text = Some(redact_toml(t));
    }
    for props in report.client_properties.values_mut() {
        *props = redact_props(props);
    }
    report.system = redact_text(&report.system);
    report.description = redact_text(&report.description);
    for f in report.failures.iter_mut().chain(&mut report.undecided) {
        f.detail = redact_text(&f.detail);
    }
    for f in &mut report.faults {
        f.detail = redact_text(&f.detail);
        f.error = redact_text(&f.error);
    }
    if let Some(reg) = &mut report.registries {
        for s in reg
            .sources
            .iter_mut()
            .chain(std::iter::once(&mut reg.target))
        {
            *s = redact_urls(s);
        }
        for f in &mut reg.findings {
            f.detail = redact_urls(&f.detail);
        }
        for c in &mut reg.records {
            for e in &mut c.examples {
                *e = redact_urls(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "hunter2-s3cr3t";

    #[test]
    fn credentials_in_urls_are_masked() {
        assert_eq!(
            redact_urls(&format!(
                "a (https://bob:{SECRET}@reg:8081/apis/ccompat/v7)"
            )),
            "a (https://***@reg:8081/apis/ccompat/v7)"
        );
        assert_eq!(redact_urls("http://reg:8081/x"), "http://reg:8081/x");
    }

    #[test]
    fn plain_inline_and_jaas_secrets_are_masked_and_comments_kept() {
        let text = format!(
            r#"# a comment that stays
[system]
kind = "builtin"
source_properties = {{ "ssl.key.password" = "{SECRET}", "bootstrap.servers" = "a:9092" }}
[system.target_properties]
"sasl.jaas.config" = "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"{SECRET}\";"
api_token = '{SECRET}'
"#
        );
        let out = redact_toml(&text);
        assert!(!out.contains(SECRET), "{out}");
        assert!(out.contains("# a comment that stays"));
        assert!(out.contains("a:9092"));
        assert!(out.contains(REDACTED));
    }

    #[test]
    fn multi_line_secret_falls_back_to_a_masked_document() {
        let text = format!("[x]\npassword = \"\"\"\n{SECRET}\n\"\"\"\nother = 1\n");
        let out = redact_toml(&text);
        assert!(!out.contains(SECRET), "{out}");
        assert!(out.contains("other"));
    }

    #[test]
    fn key_named_secrets_and_secret_arguments_never_reach_a_report() {
        let text = format!(
            "[system]\nkind = \"command\"\ncommand = [\"./copy.sh\", \"--password\", \"{SECRET}\", \"--topics\", \"orders\"]\n"
        );
        let out = redact_toml(&text);
        assert!(!out.contains(SECRET), "{out}");
        assert!(out.contains("orders"), "{out}");
        let mut props = BTreeMap::new();
        props.insert("ssl.key.pem".to_string(), SECRET.to_string());
        props.insert("source.ssl.keystore.key".to_string(), SECRET.to_string());
        props.insert("bootstrap.servers".to_string(), "a:9092".to_string());
        let shown = redact_props(&props);
        assert!(!format!("{shown:?}").contains(SECRET), "{shown:?}");
        assert_eq!(shown["bootstrap.servers"], "a:9092");
        let mut report = crate::RunReport {
            scenario_text: Some(text),
            client_properties: [("source".to_string(), props)].into_iter().collect(),
            ..crate::RunReport::default()
        };
        redact_report(&mut report);
        let json = serde_json::to_string(&report).unwrap();
        assert!(!json.contains(SECRET), "{json}");
    }

    #[test]
    fn command_lines_lose_their_passwords() {
        let out = redact_text(&format!(
            "command (./copy --password={SECRET} --token {SECRET})"
        ));
        assert!(out.contains("--password=[redacted]"), "{out}");
        // A value after a space is not recognisable as a secret, but the key=value one is.
        let out = redact_text(&format!("sasl password: {SECRET}"));
        assert!(!out.contains(SECRET), "{out}");
    }
}
