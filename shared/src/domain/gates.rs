//! `LATCHKEY_GATES`: which plan or feature a route of the platform's other APIs requires.
//!
//! A JSON object from `"METHOD /path"` to `{"plan": "business"}` and/or `{"feature": "x"}`. A path
//! segment may be `{name}` (any one segment) and the last may be `*` (any rest, even none); the
//! method `*` matches any. Routes not named need only a valid caller. When several entries match
//! a request, every one of them must pass: a broad rule cannot be undone by a narrower one.

use serde::Deserialize;

use super::plans::{Plan, is_feature_name};

/// What one route requires.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    #[serde(default)]
    pub plan: Option<Plan>,
    #[serde(default)]
    pub feature: Option<String>,
}

impl Gate {
    pub fn plan(plan: Plan) -> Self {
        Self {
            plan: Some(plan),
            feature: None,
        }
    }

    pub fn feature(feature: impl Into<String>) -> Self {
        Self {
            plan: None,
            feature: Some(feature.into()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Any,
    Rest,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Route {
    /// Upper case; `None` for `*`.
    method: Option<String>,
    segments: Vec<Segment>,
}

impl Route {
    fn parse(pattern: &str) -> Result<Self, String> {
        let (method, path) = pattern
            .trim()
            .split_once(' ')
            .ok_or_else(|| format!("`{pattern}`: expected \"METHOD /path\""))?;
        let path = path.trim();
        if !path.starts_with('/') {
            return Err(format!("`{pattern}`: the path must start with /"));
        }
        let method = match method {
            "*" => None,
            m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphabetic()) => {
                Some(m.to_ascii_uppercase())
            }
            _ => return Err(format!("`{pattern}`: the method must be a word or *")),
        };
        let parts: Vec<&str> = split_path(path).collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (index, part) in parts.iter().enumerate() {
            segments.push(match *part {
                "*" if index + 1 == parts.len() => Segment::Rest,
                "*" => return Err(format!("`{pattern}`: * may only be the last segment")),
                p if p.starts_with('{') && p.ends_with('}') && p.len() > 2 => Segment::Any,
                p => Segment::Literal(p.to_owned()),
            });
        }
        Ok(Self { method, segments })
    }

    /// The route as the tail of an API Gateway method ARN (`GET/reports/*`); placeholders become
    /// `*`, which in an IAM resource matches across `/` too (so a deny may cover a little more
    /// than the route: never less).
    fn arn_tail(&self) -> String {
        let mut tail = self.method.clone().unwrap_or_else(|| "*".to_owned());
        for segment in &self.segments {
            tail.push('/');
            tail.push_str(match segment {
                Segment::Literal(literal) => literal,
                Segment::Any | Segment::Rest => "*",
            });
        }
        if self.segments.is_empty() {
            tail.push('/');
        }
        tail
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        if self
            .method
            .as_deref()
            .is_some_and(|m| !m.eq_ignore_ascii_case(method))
        {
            return false;
        }
        let mut parts = split_path(path);
        for segment in &self.segments {
            match segment {
                Segment::Rest => return true,
                Segment::Any => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                Segment::Literal(literal) => {
                    if parts.next() != Some(literal.as_str()) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }
}

/// The path without its query, split on `/` with empty segments dropped (`/a//b/` is `a`, `b`).
fn split_path(path: &str) -> impl Iterator<Item = &str> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.split('/').filter(|s| !s.is_empty())
}

/// The parsed route table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gates(Vec<(Route, Gate)>);

impl Gates {
    /// Parse `LATCHKEY_GATES`; the message of an error names the entry at fault.
    pub fn parse(json: &str) -> Result<Self, String> {
        let raw: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json)
            .map_err(|e| format!("expected a JSON object from \"METHOD /path\" to a gate: {e}"))?;
        let mut gates = Vec::with_capacity(raw.len());
        for (pattern, gate) in raw {
            let route = Route::parse(&pattern)?;
            let gate: Gate = serde_json::from_value(gate).map_err(|e| {
                format!("`{pattern}`: expected {{\"plan\": ...}} and/or {{\"feature\": ...}}: {e}")
            })?;
            if gate.plan.is_none() && gate.feature.is_none() {
                return Err(format!("`{pattern}`: name a plan, a feature or both"));
            }
            if let Some(feature) = gate.feature.as_deref().filter(|f| !is_feature_name(f)) {
                return Err(format!("`{pattern}`: `{feature}` is not a feature name"));
            }
            gates.push((route, gate));
        }
        Ok(Self(gates))
    }

    /// The gates a request must pass, in the order they were written.
    pub fn matching<'a>(
        &'a self,
        method: &'a str,
        path: &'a str,
    ) -> impl Iterator<Item = &'a Gate> {
        self.0
            .iter()
            .filter(move |(route, _)| route.matches(method, path))
            .map(|(_, gate)| gate)
    }

    /// The ARN tails (`GET/reports/*`) of every route whose gate `passes` refuses: what an IAM
    /// policy must deny so that a cached allow cannot open a gated route.
    pub fn refused_arn_tails(&self, passes: impl Fn(&Gate) -> bool) -> Vec<String> {
        self.0
            .iter()
            .filter(|(_, gate)| !passes(gate))
            .map(|(route, _)| route.arn_tail())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gates(json: &str) -> Gates {
        Gates::parse(json).unwrap()
    }

    #[test]
    fn placeholders_match_one_segment_and_a_final_star_the_rest() {
        let table = gates(
            r#"{"GET /reports/{id}": {"plan": "business"}, "* /admin/*": {"feature": "admin"}}"#,
        );
        assert_eq!(table.matching("GET", "/reports/7").count(), 1);
        assert_eq!(table.matching("get", "/reports/7?x=1").count(), 1);
        assert_eq!(table.matching("GET", "/reports/7/raw").count(), 0);
        assert_eq!(table.matching("POST", "/reports/7").count(), 0);
        assert_eq!(table.matching("DELETE", "/admin").count(), 1);
        assert_eq!(table.matching("PUT", "/admin/users/1").count(), 1);
        assert_eq!(table.matching("GET", "/administer").count(), 0);
    }

    #[test]
    fn every_matching_gate_applies() {
        let table = gates(
            r#"{"* /reports/*": {"plan": "personal"}, "GET /reports/export": {"feature": "export"}}"#,
        );
        let matched: Vec<_> = table.matching("GET", "/reports/export").collect();
        assert_eq!(
            matched,
            vec![&Gate::plan(Plan::Personal), &Gate::feature("export")]
        );
    }

    #[test]
    fn refused_routes_become_arn_tails() {
        let table =
            gates(r#"{"GET /reports/{id}": {"plan": "business"}, "* /": {"feature": "x"}}"#);
        let tails = table.refused_arn_tails(|_| false);
        assert!(tails.contains(&"GET/reports/*".to_owned()), "{tails:?}");
        assert!(tails.contains(&"*/".to_owned()), "{tails:?}");
        assert!(table.refused_arn_tails(|_| true).is_empty());
    }

    #[test]
    fn malformed_gates_name_the_entry() {
        assert!(Gates::parse("[]").unwrap_err().contains("JSON object"));
        assert!(
            Gates::parse(r#"{"/x": {"plan": "free"}}"#)
                .unwrap_err()
                .contains("/x")
        );
        assert!(
            Gates::parse(r#"{"GET x": {"plan": "free"}}"#)
                .unwrap_err()
                .contains("GET x")
        );
        assert!(
            Gates::parse(r#"{"GET /x": {}}"#)
                .unwrap_err()
                .contains("GET /x")
        );
        assert!(
            Gates::parse(r#"{"GET /x": {"plan": "gold"}}"#)
                .unwrap_err()
                .contains("GET /x")
        );
        assert!(
            Gates::parse(r#"{"GET /*/x": {"plan": "free"}}"#)
                .unwrap_err()
                .contains("last")
        );
    }
}
