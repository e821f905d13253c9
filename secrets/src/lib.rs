//! # secrets
//!
//! cutover's one secret policy: which configuration keys (Kafka client properties, MirrorMaker 2
//! properties, TOML keys, connector JSON fields) and which command-line arguments hold a
//! secret, and the text that replaces one. Every crate that echoes a configuration (reports,
//! lint, the scenario runner, the client properties' `Debug`) asks here, so a new kind of
//! secret is added in one place.
//!
//! Must not: depend on anything (it is linked everywhere), or print anything.

/// What a secret value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Words that make a key secret wherever they appear in it.
const SECRET_WORDS: [&str; 8] = [
    "password",
    "passwd",
    "jaas",
    "secret",
    "token",
    "credential",
    "private",
    "apikey",
];

/// Key segments that follow `key` in keys that are not secrets (`key.serializer`, …).
const NOT_SECRET_AFTER_KEY: [&str; 5] =
    ["serializer", "deserializer", "converter", "field", "schema"];

/// True for keys whose value must never be printed: passwords, `sasl.jaas.config`, tokens,
/// secrets, credentials, API keys, and private keys in any spelling (`ssl.key.pem`,
/// `ssl.keystore.key`, `source.ssl.keystore.key`, `api_key`, `signing-key`).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.trim_matches(['"', '\'']).to_ascii_lowercase();
    if SECRET_WORDS.iter().any(|w| k.contains(w)) {
        return true;
    }
    // A private key under any name: a `key` segment that is not the first (`key.serializer`,
    // `key_size` are about record keys) nor followed by a serializer-like word.
    let segments: Vec<&str> = k.split(['.', '_', '-']).filter(|s| !s.is_empty()).collect();
    segments.iter().enumerate().skip(1).any(|(i, s)| {
        *s == "key"
            && segments
                .get(i + 1)
                .is_none_or(|next| !NOT_SECRET_AFTER_KEY.contains(next))
    })
}

/// True for a command-line flag whose next argument is a secret (`--password`, `--sasl-token`,
/// `-Dssl.key.password`): the same words as [`is_secret_key`].
pub fn is_secret_flag(arg: &str) -> bool {
    let Some(name) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
        return false;
    };
    !name.is_empty() && !name.contains('=') && is_secret_key(name)
}

/// A command line with its secrets masked: the argument after a secret flag (`--password x`),
/// and the value of `--password=x` / `-Dssl.key.password=x`.
pub fn redact_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut next_is_secret = false;
    for a in args {
        if next_is_secret {
            out.push(REDACTED.to_string());
            next_is_secret = false;
            continue;
        }
        if let Some((flag, _)) = a.split_once('=') {
            let name = flag.trim_start_matches('-').trim_start_matches("D");
            if flag.starts_with('-') && is_secret_key(name) {
                out.push(format!("{flag}={REDACTED}"));
                continue;
            }
        }
        next_is_secret = is_secret_flag(a);
        out.push(a.clone());
    }
    out
}

/// Java `.properties` text with the value of every secret key masked, line by line
/// (`key=value`, `key: value`, `key value`; comments and layout kept). Continuation lines of
/// a masked value are masked too.
pub fn redact_properties(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut masking_continuation = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        if masking_continuation {
            masking_continuation = body.ends_with('\\');
            out.push_str(ending);
            continue;
        }
        let trimmed = body.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
            out.push_str(line);
            continue;
        }
        let split = trimmed
            .char_indices()
            .find(|(_, c)| matches!(c, '=' | ':' | ' ' | '\t'))
            .map(|(i, _)| i);
        match split {
            Some(i) if is_secret_key(&trimmed[..i]) => {
                let indent = &body[..body.len() - trimmed.len()];
                let sep = trimmed[i..]
                    .char_indices()
                    .find(|(_, c)| !matches!(c, '=' | ':' | ' ' | '\t'))
                    .map_or(trimmed.len() - i, |(j, _)| j);
                out.push_str(indent);
                out.push_str(&trimmed[..i + sep]);
                out.push_str(REDACTED);
                out.push_str(ending);
                masking_continuation = body.ends_with('\\');
            }
            _ => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_in_every_spelling() {
        for k in [
            "sasl.jaas.config",
            "ssl.key.password",
            "ssl.key.pem",
            "ssl.keystore.key",
            "source.ssl.keystore.key",
            "target.ssl.key.pem",
            "sasl.password",
            "basic.auth.user.info.credentials",
            "api_key",
            "signing-key",
            "oauth.token",
            "client.secret",
            "PRIVATE_KEY",
            "\"password\"",
        ] {
            assert!(is_secret_key(k), "{k} is a secret");
        }
        for k in [
            "bootstrap.servers",
            "key.serializer",
            "key.deserializer",
            "key.converter",
            "ssl.keystore.location",
            "ssl.keystore.type",
            "ssl.truststore.location",
            "ssl.truststore.certificates",
            "security.protocol",
            "sasl.mechanism",
            "key",
            "keys",
            "monkey",
        ] {
            assert!(!is_secret_key(k), "{k} is not a secret");
        }
    }

    #[test]
    fn a_secret_as_the_next_argument_or_after_equals_is_masked() {
        let args: Vec<String> = [
            "./copy.sh",
            "--password",
            "hunter2",
            "--sasl-token=abc",
            "-Dssl.key.password=k3y",
            "--topics",
            "orders",
            "--verbose",
        ]
        .map(String::from)
        .to_vec();
        let shown = redact_args(&args).join(" ");
        assert_eq!(
            shown,
            "./copy.sh --password [redacted] --sasl-token=[redacted] -Dssl.key.password=[redacted] --topics orders --verbose"
        );
    }

    #[test]
    fn properties_are_masked_by_key_with_layout_kept() {
        let text = "# comment password=visible-in-comment\nbootstrap.servers=a:9092\nsource.ssl.keystore.key=-----BEGIN \\\n  PRIVATE KEY-----\ntarget.sasl.jaas.config : x required password=\"p\";\n  ssl.key.pem abc\n";
        let out = redact_properties(text);
        assert_eq!(
            out,
            "# comment password=visible-in-comment\nbootstrap.servers=a:9092\nsource.ssl.keystore.key=[redacted]\n\ntarget.sasl.jaas.config : [redacted]\n  ssl.key.pem [redacted]\n"
        );
    }
}
