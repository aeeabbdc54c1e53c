//! Finds where a field path (`services.orders.routes[0]`) stands in the YAML text, so that
//! errors found after deserializing can still name a line and column.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Line and column (both 1-based) of each key and value in a document, by field path.
#[derive(Debug, Default)]
pub(crate) struct Positions {
    keys: HashMap<String, (usize, usize)>,
    values: HashMap<String, (usize, usize)>,
}

impl Positions {
    /// Indexes `text`. A document that does not parse yields an empty index: the syntax error
    /// itself is reported by the deserializer, which knows its position.
    pub(crate) fn index(text: &str) -> Positions {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut builder, false).is_err() {
            return Positions::default();
        }
        builder.positions
    }

    /// Where the value at `path` starts; the document's start for an empty path.
    pub(crate) fn value(&self, path: &str) -> Option<(usize, usize)> {
        self.values.get(path).copied()
    }

    /// Where the key naming `path` starts.
    pub(crate) fn key(&self, path: &str) -> Option<(usize, usize)> {
        self.keys.get(path).copied()
    }

    /// The closest known position for `path`: its value, else its key, else its parent's.
    pub(crate) fn nearest(&self, path: &str) -> Option<(usize, usize)> {
        let mut path = path;
        loop {
            if let Some(pos) = self.value(path).or_else(|| self.key(path)) {
                return Some(pos);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, next: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    positions: Positions,
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

impl Builder {
    /// Places a node that starts at `mark`: returns its path if it is a value, or records it
    /// as a key (returning `None`) if the enclosing mapping is waiting for one.
    fn place(&mut self, scalar: Option<&str>, mark: (usize, usize)) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next }) => {
                let child = format!("{path}[{next}]");
                *next += 1;
                Some(child)
            }
            Some(Frame::Map { path, key }) => match key.take() {
                Some(k) => Some(join(path, &k)),
                None => {
                    let k = scalar.unwrap_or("?").to_owned();
                    // A block mapping's own start marker is unreliable; its first key is where it starts.
                    self.positions.values.entry(path.clone()).or_insert(mark);
                    self.positions.keys.insert(join(path, &k), mark);
                    *key = Some(k);
                    None
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        let mark = (marker.line(), marker.col() + 1);
        match event {
            Event::Scalar(value, ..) => {
                if let Some(path) = self.place(Some(&value), mark) {
                    self.positions.values.entry(path).or_insert(mark);
                }
            }
            Event::Alias(_) => {
                if let Some(path) = self.place(Some("*alias"), mark) {
                    self.positions.values.entry(path).or_insert(mark);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let path = self.place(None, mark).unwrap_or_else(|| "?".to_owned());
                if matches!(event, Event::SequenceStart(..)) {
                    self.positions.values.entry(path.clone()).or_insert(mark);
                }
                self.stack
                    .push(if matches!(event, Event::MappingStart(..)) {
                        Frame::Map { path, key: None }
                    } else {
                        Frame::Seq { path, next: 0 }
                    });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "services:\n  orders:\n    endpoints: [\"a:1\", \"b:2\"]\n    routes:\n      - backends:\n          - service: x\n";

    #[test]
    fn finds_values_and_keys() {
        let p = Positions::index(DOC);
        assert_eq!(p.key("services.orders"), Some((2, 3)));
        assert_eq!(p.value("services.orders.endpoints[1]"), Some((3, 24)));
        assert_eq!(
            p.value("services.orders.routes[0].backends[0].service"),
            Some((6, 22))
        );
        assert_eq!(
            p.nearest("services.orders.routes[0].backends[0].weight"),
            Some((6, 13))
        );
    }
}
