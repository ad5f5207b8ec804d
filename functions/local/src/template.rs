//! `template.yaml`'s generated parts: each function's HttpApi events, between
//! `# BEGIN ROUTES <function>` and `# END ROUTES <function>`, written from the registry by
//! `cargo run -p xtask -- template`. The tests only check that the file is what this writes.

use crate::groups::{GROUPS, Group};
use latchkey::http::routes::Route;

/// Where the template is, relative to the workspace root.
pub const TEMPLATE_PATH: &str = "template.yaml";

/// An axum path (`/auth/sessions/{id}`, `/files/{*rest}`) in API Gateway's syntax
/// (`/auth/sessions/{id}`, `/files/{rest+}`).
pub fn api_gateway_path(axum_path: &str) -> String {
    axum_path
        .split('/')
        .map(|segment| match segment.strip_prefix("{*") {
            Some(rest) => format!("{{{}+}}", rest.trim_end_matches('}')),
            None => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The event's logical id: `DELETE /auth/sessions/{id}` is `DeleteAuthSessionsId`.
pub fn event_name(method: &str, path: &str) -> String {
    let mut name = String::new();
    for word in std::iter::once(method).chain(path.split(|c: char| !c.is_ascii_alphanumeric())) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.push(first.to_ascii_uppercase());
            name.extend(chars.map(|c| c.to_ascii_lowercase()));
        }
    }
    name
}

/// The text between a function's markers.
fn route_block(routes: &[Route]) -> String {
    if routes.is_empty() {
        return String::new();
    }
    let mut block = String::from("      Events:\n");
    for Route { method, path } in routes {
        block.push_str(&format!(
            "        {name}:\n          Type: HttpApi\n          Properties:\n            ApiId: !Ref HttpApi\n            Method: {method}\n            Path: {path}\n",
            name = event_name(method, path),
            path = api_gateway_path(path),
        ));
    }
    block
}

fn markers(group: &Group) -> (String, String) {
    (
        format!("      # BEGIN ROUTES {}\n", group.function),
        format!("      # END ROUTES {}\n", group.function),
    )
}

/// The template with every group's route block regenerated; an error names a missing marker.
pub fn regenerate(template: &str) -> Result<String, String> {
    let mut text = template.to_owned();
    for group in GROUPS {
        let (begin, end) = markers(group);
        let start = text.find(&begin).ok_or_else(|| {
            format!(
                "template.yaml has no `{}` line in {}",
                begin.trim(),
                group.function
            )
        })? + begin.len();
        let stop = start
            + text[start..]
                .find(&end)
                .ok_or_else(|| format!("template.yaml has no `{}` line", end.trim()))?;
        text.replace_range(start..stop, &route_block(&group.routes()));
    }
    Ok(text)
}
