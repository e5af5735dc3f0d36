//! Checks answers against `api-spec/openapi.yaml`: the status must be
//! documented for the operation, the content type too, and the body must
//! satisfy the documented schema. Supports the JSON Schema the document uses:
//! `$ref`, `type` (one or several), `const`, `enum`, `required`,
//! `properties`, `additionalProperties`, `items`, `oneOf`, `anyOf`, `allOf`,
//! `pattern`, `minLength`/`maxLength`, `minimum`/`maximum` and the formats
//! `uuid`, `date` and `date-time`.

use serde_json::Value;

/// The documented operation for a concrete path, if the document has one.
fn operation<'a>(document: &'a Value, method: &str, path: &str) -> Option<&'a Value> {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    let paths = document["paths"].as_object()?;
    let mut best: Option<(&Value, usize)> = None;
    for (template, item) in paths {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut literal = 0;
        let matches = parts.iter().zip(&segments).all(|(part, segment)| {
            if part.starts_with('{') {
                true
            } else {
                literal += 1;
                part == segment
            }
        });
        if matches && best.is_none_or(|(_, l)| literal > l) {
            best = Some((item, literal));
        }
    }
    best.and_then(|(item, _)| item.get(method.to_ascii_lowercase()))
}

/// Checks one answer. Paths the document does not describe are not checked
/// (tests of unknown paths).
///
/// # Errors
/// What does not match, in words.
pub fn check_answer(
    document: &Value,
    method: &str,
    path: &str,
    status: u16,
    content_type: Option<&str>,
    body: &Value,
) -> Result<(), String> {
    let Some(operation) = operation(document, method, path) else {
        return Ok(());
    };
    let responses = &operation["responses"];
    let response = responses
        .get(status.to_string())
        .or_else(|| responses.get("default"))
        .ok_or_else(|| format!("{method} {path}: status {status} is not documented"))?;
    let response = resolve(document, response);
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return Ok(());
    };
    let media = content_type
        .map(|c| c.split(';').next().unwrap_or(c).trim().to_owned())
        .ok_or_else(|| format!("{method} {path} {status}: no content type"))?;
    let documented = content.get(&media).ok_or_else(|| {
        format!("{method} {path} {status}: content type {media} is not documented")
    })?;
    if media.ends_with("json") {
        let mut errors = Vec::new();
        validate(document, &documented["schema"], body, "$", &mut errors);
        if !errors.is_empty() {
            return Err(format!(
                "{method} {path} {status}: {}\nbody: {body}",
                errors.join("; ")
            ));
        }
    }
    Ok(())
}

fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let target = document
                .pointer(reference.trim_start_matches('#'))
                .unwrap_or(&Value::Null);
            resolve(document, target)
        }
        None => schema,
    }
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        _ => false,
    }
}

/// Validates `value` against `schema`, collecting what fails.
pub fn validate(
    document: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    errors: &mut Vec<String>,
) {
    let schema = resolve(document, schema);
    if schema.is_null() || schema == &Value::Bool(true) {
        return;
    }
    if let Some(expected) = schema.get("type") {
        let names: Vec<&str> = match expected {
            Value::String(name) => vec![name.as_str()],
            Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !names.iter().any(|name| type_matches(name, value)) {
            errors.push(format!("{at}: expected {names:?}, got {value}"));
            return;
        }
    }
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        errors.push(format!("{at}: expected {constant}, got {value}"));
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {options:?}"));
    }
    for (keyword, require_one) in [("oneOf", true), ("anyOf", false)] {
        if let Some(options) = schema.get(keyword).and_then(Value::as_array) {
            let passing = options
                .iter()
                .filter(|option| {
                    let mut inner = Vec::new();
                    validate(document, option, value, at, &mut inner);
                    inner.is_empty()
                })
                .count();
            if (require_one && passing != 1) || passing == 0 {
                errors.push(format!(
                    "{at}: {passing} of the {keyword} alternatives match {value}"
                ));
            }
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for option in all {
            validate(document, option, value, at, errors);
        }
    }
    match value {
        Value::Object(map) => {
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for name in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(name) {
                        errors.push(format!("{at}: missing {name}"));
                    }
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            for (name, child) in map {
                let child_at = format!("{at}.{name}");
                match properties.and_then(|p| p.get(name)) {
                    Some(child_schema) => {
                        validate(document, child_schema, child, &child_at, errors)
                    }
                    None => match schema.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            errors.push(format!("{at}: unexpected property {name}"))
                        }
                        Some(extra) if extra.is_object() => {
                            validate(document, extra, child, &child_at, errors)
                        }
                        _ => {}
                    },
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate(document, item_schema, item, &format!("{at}[{i}]"), errors);
                }
            }
        }
        Value::String(text) => check_string(schema, text, at, errors),
        Value::Number(number) => {
            if let (Some(minimum), Some(n)) = (
                schema.get("minimum").and_then(Value::as_i64),
                number.as_i64(),
            ) && n < minimum
            {
                errors.push(format!("{at}: {n} < {minimum}"));
            }
            if let (Some(maximum), Some(n)) = (
                schema.get("maximum").and_then(Value::as_i64),
                number.as_i64(),
            ) && n > maximum
            {
                errors.push(format!("{at}: {n} > {maximum}"));
            }
        }
        _ => {}
    }
}

fn check_string(schema: &Value, text: &str, at: &str, errors: &mut Vec<String>) {
    let length = text.chars().count() as u64;
    if schema
        .get("minLength")
        .and_then(Value::as_u64)
        .is_some_and(|min| length < min)
    {
        errors.push(format!("{at}: shorter than minLength"));
    }
    if schema
        .get("maxLength")
        .and_then(Value::as_u64)
        .is_some_and(|max| length > max)
    {
        errors.push(format!("{at}: longer than maxLength"));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        match regex::Regex::new(pattern) {
            Ok(regex) if !regex.is_match(text) => {
                errors.push(format!("{at}: {text:?} does not match {pattern}"))
            }
            Ok(_) => {}
            Err(e) => errors.push(format!("{at}: bad pattern {pattern}: {e}")),
        }
    }
    let format_ok = match schema.get("format").and_then(Value::as_str) {
        Some("uuid") => uuid::Uuid::parse_str(text).is_ok(),
        Some("date") => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok(),
        Some("date-time") => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
        _ => true,
    };
    if !format_ok {
        errors.push(format!(
            "{at}: {text:?} is not a valid {}",
            schema["format"]
        ));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::check_answer;

    fn document() -> &'static serde_json::Value {
        ets_api::openapi_document()
    }

    #[test]
    fn a_documented_answer_passes_and_a_broken_one_is_named() {
        let participant = json!({
            "id": "01a22356-8d48-7703-8ea7-1a0a59ba8035", "name": "x", "credit_code": "91350100M000100Y43",
            "region_code": "320500", "industry": null
        });
        let ok = check_answer(
            document(),
            "GET",
            "/v1/participants/abc",
            200,
            Some("application/json"),
            &participant,
        );
        assert_eq!(ok, Ok(()));

        let mut missing = participant.clone();
        missing.as_object_mut().map(|m| m.remove("id"));
        let error = check_answer(
            document(),
            "GET",
            "/v1/participants/abc",
            200,
            Some("application/json"),
            &missing,
        );
        assert!(error.expect_err("missing id").contains("missing id"));

        let mut extra = participant.clone();
        extra["secret"] = json!("x");
        assert!(
            check_answer(
                document(),
                "GET",
                "/v1/participants/abc",
                200,
                Some("application/json"),
                &extra
            )
            .is_err()
        );

        let mut bad_uuid = participant;
        bad_uuid["id"] = json!("not-a-uuid");
        assert!(
            check_answer(
                document(),
                "GET",
                "/v1/participants/abc",
                200,
                Some("application/json"),
                &bad_uuid
            )
            .is_err()
        );
    }

    #[test]
    fn undocumented_statuses_and_content_types_are_refused() {
        let problem =
            json!({"type": "t", "title": "t", "status": 418, "detail": "d", "code": "teapot"});
        assert!(
            check_answer(
                document(),
                "GET",
                "/v1/participants/abc",
                418,
                Some("application/problem+json"),
                &problem
            )
            .is_err()
        );
        assert!(
            check_answer(
                document(),
                "GET",
                "/v1/participants/abc",
                404,
                Some("text/html"),
                &problem
            )
            .is_err()
        );
        let money = json!({"id": "01a22356-8d48-7703-8ea7-1a0a59ba8035", "participant_id": "01a22356-8d48-7703-8ea7-1a0a59ba8035",
            "amount": "12.5", "reference": "r", "at": "2026-11-28T18:06:44.721050Z"});
        let error = check_answer(
            document(),
            "POST",
            "/v1/cash/deposits",
            201,
            Some("application/json"),
            &money,
        );
        assert!(error.is_err(), "money has exactly two decimals");
    }
}
