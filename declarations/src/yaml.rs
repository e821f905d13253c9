//! YAML documents as trees whose every node knows its line and column, built from
//! `yaml-rust2`'s marked events (its `Yaml` values carry no positions). Aliases are resolved
//! to a copy of their anchored node; tags are ignored. Scalars keep their text as written, so a
//! config value `retention.ms: 604800000` is the string `604800000`, as the broker reports it.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// One YAML node and where it starts (1-based line and column).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub line: usize,
    pub column: usize,
}

/// A node's content.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar as written; `plain` is false for quoted and block scalars (`"1"` is a string,
    /// `1` a number, both `1` here).
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Key-value pairs in file order.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// A plain `~`, `null`, `Null`, `NULL` or empty scalar (YAML 1.2 core schema).
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The value of `key` in a mapping (None for other nodes or a missing key).
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| k.scalar() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a scalar.
    pub fn scalar(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// What the node is, for "expected …, found …" messages.
    pub fn describe(&self) -> String {
        match &self.value {
            Value::Scalar { .. } if self.is_null() => "nothing".to_string(),
            Value::Scalar { text, .. } => format!("`{text}`"),
            Value::Seq(_) => "a list".to_string(),
            Value::Map(_) => "a mapping".to_string(),
        }
    }
}

/// A document that could not be parsed: the scanner's message and where.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// The documents of a YAML stream (`---` separated), each with the line where it starts;
/// empty documents are kept as null scalars so that document numbers match the file.
pub fn documents(text: &str) -> Result<Vec<Node>, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| SyntaxError {
        line: e.marker().line(),
        column: e.marker().col() + 1,
        message: e.info().to_string(),
    })?;
    Ok(builder.docs)
}

#[derive(Default)]
struct Builder {
    docs: Vec<Node>,
    /// Open containers: the node and, for a mapping, a key waiting for its value.
    stack: Vec<(Node, Option<Node>, usize)>,
    anchors: HashMap<usize, Node>,
    /// Documents started so far.
    started: usize,
}

impl Builder {
    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some((parent, pending, _)) => match &mut parent.value {
                Value::Seq(items) => items.push(node),
                Value::Map(pairs) => match pending.take() {
                    None => *pending = Some(node),
                    Some(key) => pairs.push((key, node)),
                },
                Value::Scalar { .. } => {}
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let at = |value| Node {
            value,
            line: mark.line(),
            column: mark.col() + 1,
        };
        match event {
            Event::Scalar(text, style, anchor, _) => {
                let plain = style == TScalarStyle::Plain;
                self.push_value(at(Value::Scalar { text, plain }), anchor);
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push((at(Value::Seq(vec![])), None, anchor))
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push((at(Value::Map(vec![])), None, anchor))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((node, _, anchor)) = self.stack.pop() {
                    self.push_value(node, anchor);
                }
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().unwrap_or_else(|| {
                    at(Value::Scalar {
                        text: String::new(),
                        plain: true,
                    })
                });
                self.push_value(node, 0);
            }
            // A document with no content: a null placeholder (yaml-rust2 emits `~` itself).
            Event::DocumentEnd if self.stack.is_empty() && self.docs.len() < self.started => {
                self.docs.push(at(Value::Scalar {
                    text: String::new(),
                    plain: true,
                }));
            }
            Event::DocumentStart => self.started += 1,
            _ => {}
        }
    }
}
