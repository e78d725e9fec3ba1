//! `myelin serve`'s settings: the config file (TOML with Kafka's broker config names, or a
//! Kafka `server.properties`), the environment (`MYELIN_*`) and the flags, merged in that
//! order of rising precedence.
//!
//! ```toml
//! listeners = "PLAINTEXT://0.0.0.0:9092"
//! advertised.listeners = "PLAINTEXT://broker1.example:9092"
//! log.dirs = "/var/lib/myelin"
//! node.id = 1
//! num.partitions = 3
//! "log.retention.hours" = 72          # quoted or dotted keys mean the same
//! log.cleanup.policy = ["compact", "delete"]
//! myelin.http.listen = "0.0.0.0:9644" # Myelin's own settings start with `myelin.`
//! myelin.log.format = "json"
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use myelin::broker::{DEFAULT_DATA_DIR, DEFAULT_HTTP_LISTEN, DEFAULT_LISTEN};

/// The log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    fn parse(source: &str, s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => bail!("{source}: log format {other:?} is not text or json"),
        }
    }
}

/// What `myelin serve` runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeSettings {
    pub data_dir: PathBuf,
    /// The Kafka listener (`HOST:PORT` or `PLAINTEXT://HOST:PORT`).
    pub listen: String,
    pub advertised: Option<String>,
    /// `None`: no HTTP endpoint.
    pub http_listen: Option<String>,
    /// `None` (the default): no schema registry API.
    pub schema_registry_listen: Option<String>,
    /// HTTP Basic authentication on the schema registry's API.
    pub schema_registry_basic_auth: bool,
    pub node_id: Option<String>,
    pub log_format: LogFormat,
    /// A `tracing` filter (`info`, `myelin_server=debug,info`); `None` for `RUST_LOG` or
    /// `info`.
    pub log_level: Option<String>,
    /// Every other broker config, by Kafka name.
    pub broker_configs: BTreeMap<String, String>,
}

/// The values one source (environment or flags) sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer {
    pub data_dir: Option<String>,
    pub listen: Option<String>,
    pub advertised: Option<String>,
    pub http_listen: Option<String>,
    pub schema_registry_listen: Option<String>,
    pub schema_registry_authentication: Option<String>,
    pub node_id: Option<String>,
    pub log_format: Option<String>,
    pub log_level: Option<String>,
    /// Broker configs by Kafka name (the file's keys, or `--override`).
    pub configs: BTreeMap<String, String>,
}

impl Layer {
    /// The layer of the environment `vars`.
    pub fn from_env(vars: &HashMap<String, String>) -> Self {
        let get = |k: &str| vars.get(k).cloned();
        Self {
            data_dir: get("MYELIN_DATA_DIR"),
            listen: get("MYELIN_LISTEN"),
            advertised: get("MYELIN_ADVERTISED_LISTEN"),
            http_listen: get("MYELIN_HTTP_LISTEN"),
            schema_registry_listen: get("MYELIN_SCHEMA_REGISTRY_LISTEN"),
            schema_registry_authentication: get("MYELIN_SCHEMA_REGISTRY_AUTHENTICATION"),
            node_id: get("MYELIN_NODE_ID"),
            log_format: get("MYELIN_LOG_FORMAT"),
            log_level: get("MYELIN_LOG_LEVEL"),
            configs: BTreeMap::new(),
        }
    }

    /// The layer of Kafka-named `configs` (a config file, or `--override`s): identity
    /// keys (`log.dirs`, `listeners`, `advertised.listeners`, `node.id`) and Myelin's own
    /// (`myelin.http.listen`, `myelin.log.format`, `myelin.log.level`) go to their
    /// settings, the rest are broker configs.
    pub fn from_configs(source: &str, configs: BTreeMap<String, String>) -> Result<Self> {
        let mut layer = Layer::default();
        for (k, v) in configs {
            match k.as_str() {
                "log.dirs" | "log.dir" => {
                    let dirs: Vec<&str> = v
                        .split(',')
                        .map(str::trim)
                        .filter(|d| !d.is_empty())
                        .collect();
                    if dirs.len() != 1 {
                        bail!("{source}: {k} = {v:?}: Myelin uses exactly one data directory");
                    }
                    layer.data_dir = Some(dirs[0].to_string());
                }
                "listeners" => layer.listen = Some(v),
                "advertised.listeners" => layer.advertised = Some(v),
                "node.id" | "broker.id" => layer.node_id = Some(v),
                "myelin.http.listen" => layer.http_listen = Some(v),
                "myelin.schema.registry.listen" => layer.schema_registry_listen = Some(v),
                "myelin.schema.registry.authentication" => {
                    layer.schema_registry_authentication = Some(v)
                }
                "myelin.log.format" => layer.log_format = Some(v),
                "myelin.log.level" => layer.log_level = Some(v),
                other if other.starts_with("myelin.") => {
                    bail!("{source}: unknown Myelin setting {other:?}")
                }
                _ => {
                    layer.configs.insert(k, v);
                }
            }
        }
        Ok(layer)
    }
}

/// Reads a config file: TOML whose keys are Kafka config names, or, for a file named
/// `*.properties`, a Java properties file as Kafka reads `server.properties`
/// ([`parse_properties`]). In TOML, dotted keys and nested tables are joined with dots;
/// numbers and booleans become their text; arrays become comma-separated lists.
pub fn load_file(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    let properties = path.extension().is_some_and(|e| e == "properties");
    if properties {
        Ok(parse_properties(&text))
    } else {
        parse_toml(&text)
    }
    .with_context(|| format!("in the config file {}", path.display()))
}

/// Parses a Java properties file as `java.util.Properties.load` does, which is how Kafka
/// reads `server.properties`: one `key=value` per logical line (`=`, `:` or whitespace
/// separate them, with whitespace around them ignored); `#` and `!` start comment lines;
/// a line ending in an odd number of backslashes continues on the next, whose leading
/// whitespace is dropped; `\t`, `\n`, `\r`, `\f`, `\uXXXX` and `\` before any other
/// character are escapes. A later key replaces an earlier one.
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(first) = lines.next() {
        let mut logical = first.trim_start().to_string();
        if logical.is_empty() || logical.starts_with('#') || logical.starts_with('!') {
            continue;
        }
        // Continuations: an odd number of trailing backslashes.
        while logical.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1 {
            logical.pop();
            match lines.next() {
                Some(next) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split_property(&logical);
        out.insert(unescape(key), unescape(value));
    }
    out
}

/// A logical line's key and value: the key ends at the first unescaped `=`, `:` or
/// whitespace; then whitespace, one `=` or `:`, and whitespace are skipped.
fn split_property(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | b'\x0c' => break,
            _ => i += 1,
        }
    }
    let end = i.min(bytes.len());
    let key = &line[..end];
    let mut rest = line[end..].trim_start_matches([' ', '\t', '\x0c']);
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start_matches([' ', '\t', '\x0c']);
    }
    (key, rest)
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => out.push_str(&hex),
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Parses config-file text (see [`load_file`]).
pub fn parse_toml(text: &str) -> Result<BTreeMap<String, String>> {
    let table: toml::Table = text.parse()?;
    let mut out = BTreeMap::new();
    flatten("", &toml::Value::Table(table), &mut out)?;
    Ok(out)
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut BTreeMap<String, String>) -> Result<()> {
    use toml::Value;
    let scalar = |v: &Value| -> Result<String> {
        Ok(match v {
            Value::String(s) => s.clone(),
            Value::Integer(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Boolean(b) => b.to_string(),
            Value::Datetime(d) => d.to_string(),
            Value::Array(_) | Value::Table(_) => {
                bail!("{prefix}: nested lists are not config values")
            }
        })
    };
    match value {
        Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out)?;
            }
        }
        Value::Array(items) => {
            let parts: Result<Vec<String>> = items.iter().map(scalar).collect();
            out.insert(prefix.to_string(), parts?.join(","));
        }
        v => {
            out.insert(prefix.to_string(), scalar(v)?);
        }
    }
    Ok(())
}

/// Merges the layers: file, then environment, then flags, each overriding the one before.
pub fn resolve(file: Layer, env: Layer, flags: Layer) -> Result<ServeSettings> {
    let layers = [&flags, &env, &file];
    let pick = |f: fn(&Layer) -> &Option<String>| layers.iter().find_map(|l| f(l).clone());
    let http_listen = match pick(|l| &l.http_listen) {
        None => Some(DEFAULT_HTTP_LISTEN.to_string()),
        Some(v) if matches!(v.trim(), "" | "off" | "none") => None,
        Some(v) => Some(v),
    };
    let schema_registry_listen =
        pick(|l| &l.schema_registry_listen).filter(|v| !matches!(v.trim(), "" | "off" | "none"));
    let schema_registry_basic_auth = match pick(|l| &l.schema_registry_authentication) {
        None => false,
        Some(v) => match v.trim().to_ascii_uppercase().as_str() {
            "NONE" => false,
            "BASIC" => true,
            _ => bail!("schema registry authentication {v:?}: NONE or BASIC"),
        },
    };
    let log_format = match pick(|l| &l.log_format) {
        None => LogFormat::Text,
        Some(v) => LogFormat::parse("log format", &v)?,
    };
    let mut broker_configs = file.configs.clone();
    broker_configs.extend(env.configs.clone());
    broker_configs.extend(flags.configs.clone());
    Ok(ServeSettings {
        data_dir: PathBuf::from(
            pick(|l| &l.data_dir).unwrap_or_else(|| DEFAULT_DATA_DIR.to_string()),
        ),
        listen: pick(|l| &l.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_string()),
        advertised: pick(|l| &l.advertised),
        http_listen,
        schema_registry_listen,
        schema_registry_basic_auth,
        node_id: pick(|l| &l.node_id),
        log_format,
        log_level: pick(|l| &l.log_level),
        broker_configs,
    })
}

#[cfg(test)]
mod tests {

    /// `java.util.Properties.load`'s rules, on the shapes Kafka's configs take.
    #[test]
    fn properties_read_as_java_reads_them() {
        let text = "# Kafka's server.properties\n\
                    ! also a comment\n\
                    \n\
                    process.roles=broker,controller\n\
                    node.id = 1\n\
                    listeners:PLAINTEXT://:9092,CONTROLLER://:9093\n\
                    log.dirs /tmp/kraft-combined-logs\n\
                    listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\\n\
                    \x20   username=\"admin\" \\\n\
                    \x20   password=\"admin-secret\";\n\
                    escaped\\=key=a\\tb\\u00e9\\\\\n\
                    empty=\n\
                    num.partitions=1\n\
                    num.partitions=3\n";
        let p = parse_properties(text);
        assert_eq!(p["process.roles"], "broker,controller");
        assert_eq!(p["node.id"], "1");
        assert_eq!(p["listeners"], "PLAINTEXT://:9092,CONTROLLER://:9093");
        assert_eq!(p["log.dirs"], "/tmp/kraft-combined-logs");
        assert_eq!(
            p["listener.name.sasl_plaintext.plain.sasl.jaas.config"],
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"admin-secret\";"
        );
        assert_eq!(p["escaped=key"], "a\tb\u{e9}\\");
        assert_eq!(p["empty"], "");
        assert_eq!(p["num.partitions"], "3", "a later key wins");
        assert_eq!(p.len(), 8);
    }

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_without_any_configuration() {
        let s = resolve(Layer::default(), Layer::default(), Layer::default()).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("./myelin-data"));
        assert_eq!(s.listen, "127.0.0.1:9092");
        assert_eq!(s.http_listen.as_deref(), Some("127.0.0.1:9644"));
        assert_eq!(s.log_format, LogFormat::Text);
        assert!(s.broker_configs.is_empty());
    }

    #[test]
    fn the_schema_registry_is_off_unless_asked_for() {
        let s = resolve(Layer::default(), Layer::default(), Layer::default()).unwrap();
        assert_eq!(s.schema_registry_listen, None);
        assert!(!s.schema_registry_basic_auth);
        let file = Layer::from_configs(
            "file",
            parse_toml(
                r#"
                myelin.schema.registry.listen = "127.0.0.1:8081"
                myelin.schema.registry.authentication = "basic"
                "#,
            )
            .unwrap(),
        )
        .unwrap();
        let s = resolve(file.clone(), Layer::default(), Layer::default()).unwrap();
        assert_eq!(s.schema_registry_listen.as_deref(), Some("127.0.0.1:8081"));
        assert!(s.schema_registry_basic_auth);
        let off = Layer::from_env(&env(&[("MYELIN_SCHEMA_REGISTRY_LISTEN", "off")]));
        let s = resolve(file, off, Layer::default()).unwrap();
        assert_eq!(s.schema_registry_listen, None);
        let bad = Layer::from_env(&env(&[(
            "MYELIN_SCHEMA_REGISTRY_AUTHENTICATION",
            "KERBEROS",
        )]));
        let e = resolve(Layer::default(), bad, Layer::default()).unwrap_err();
        assert!(e.to_string().contains("NONE or BASIC"), "{e}");
    }

    #[test]
    fn file_then_environment_then_flags() {
        let file = Layer::from_configs(
            "file",
            parse_toml(
                r#"
                listeners = "PLAINTEXT://127.0.0.1:1111"
                log.dirs = "/from/file"
                advertised.listeners = "PLAINTEXT://file.example:1111"
                node.id = 7
                num.partitions = 3
                "log.retention.hours" = 5
                myelin.http.listen = "127.0.0.1:2222"
                myelin.log.format = "json"
                "#,
            )
            .unwrap(),
        )
        .unwrap();
        let environment = Layer::from_env(&env(&[
            ("MYELIN_LISTEN", "127.0.0.1:3333"),
            ("MYELIN_DATA_DIR", "/from/env"),
            ("MYELIN_LOG_FORMAT", "text"),
        ]));
        let flags = Layer {
            listen: Some("127.0.0.1:4444".into()),
            configs: [("num.partitions".to_string(), "9".to_string())].into(),
            ..Layer::default()
        };
        let s = resolve(file.clone(), environment.clone(), flags).unwrap();
        assert_eq!(
            s.listen, "127.0.0.1:4444",
            "a flag beats the environment and the file"
        );
        assert_eq!(
            s.data_dir,
            PathBuf::from("/from/env"),
            "the environment beats the file"
        );
        assert_eq!(
            s.log_format,
            LogFormat::Text,
            "the environment beats the file"
        );
        assert_eq!(
            s.advertised.as_deref(),
            Some("PLAINTEXT://file.example:1111")
        );
        assert_eq!(s.http_listen.as_deref(), Some("127.0.0.1:2222"));
        assert_eq!(s.node_id.as_deref(), Some("7"));
        assert_eq!(s.broker_configs["num.partitions"], "9");
        assert_eq!(s.broker_configs["log.retention.hours"], "5");
        assert!(!s.broker_configs.contains_key("listeners"));

        let s = resolve(file, Layer::default(), Layer::default()).unwrap();
        assert_eq!(s.listen, "PLAINTEXT://127.0.0.1:1111");
        assert_eq!(s.data_dir, PathBuf::from("/from/file"));
        assert_eq!(s.log_format, LogFormat::Json);
    }

    #[test]
    fn toml_values_become_kafka_text() {
        let m = parse_toml(
            r#"
            auto.create.topics.enable = false
            log.cleanup.policy = ["compact", "delete"]
            "message.max.bytes" = 2000000
            [log.retention]
            ms = 1000
            "#,
        )
        .unwrap();
        assert_eq!(m["auto.create.topics.enable"], "false");
        assert_eq!(m["log.cleanup.policy"], "compact,delete");
        assert_eq!(m["message.max.bytes"], "2000000");
        assert_eq!(m["log.retention.ms"], "1000");
    }

    /// The example shipped for the systemd unit parses, and Myelin knows every key.
    #[test]
    fn the_deploy_example_is_valid() {
        let configs = parse_toml(include_str!("../../../../deploy/myelin.toml")).unwrap();
        let layer = Layer::from_configs("deploy/myelin.toml", configs).unwrap();
        let s = resolve(layer, Layer::default(), Layer::default()).unwrap();
        assert_eq!(s.listen, "PLAINTEXT://0.0.0.0:9092");
        assert_eq!(s.http_listen.as_deref(), Some("0.0.0.0:9644"));
        let t = myelin::settings::translate(&s.broker_configs).unwrap();
        t.server.validate().unwrap();
    }

    #[test]
    fn http_can_be_turned_off_and_bad_values_are_named() {
        let flags = Layer {
            http_listen: Some("off".into()),
            ..Layer::default()
        };
        assert_eq!(
            resolve(Layer::default(), Layer::default(), flags)
                .unwrap()
                .http_listen,
            None
        );
        let bad = Layer {
            log_format: Some("xml".into()),
            ..Layer::default()
        };
        assert!(resolve(Layer::default(), bad, Layer::default()).is_err());
        let two_dirs = [("log.dirs".to_string(), "/a,/b".to_string())].into();
        assert!(Layer::from_configs("file", two_dirs).is_err());
        let typo = [("myelin.htp.listen".to_string(), "x".to_string())].into();
        assert!(Layer::from_configs("file", typo).is_err());
        assert!(parse_toml("listeners = ").is_err());
    }
}
