//! Reading an OpenAPI file of `docs/` and checking the code against it: its routes, answers
//! against the schema of their status, and sample values of the Rust types against the
//! component schemas. Shared by the chain's and the worker's tests (the worker includes this
//! file by path).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

/// An OpenAPI file, as JSON.
pub struct Spec {
    /// The file's name under `docs/`.
    pub file: String,
    /// Its content.
    pub doc: Value,
}

/// One operation of the file.
#[derive(Debug, Clone)]
pub struct Operation {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path template (`/v1/txs/{id}`).
    pub path: String,
    /// The operation object.
    pub op: Value,
}

impl Operation {
    /// Whether the operation is marked `x-fat-dev: true` (served only by `fat dev`).
    pub fn dev(&self) -> bool {
        self.op["x-fat-dev"] == Value::Bool(true)
    }

    /// The path with each path parameter replaced by its `example`.
    pub fn example_uri(&self) -> String {
        let mut uri = self.path.clone();
        for param in self.op["parameters"].as_array().into_iter().flatten() {
            if param["in"] != "path" {
                continue;
            }
            let name = param["name"].as_str().unwrap_or_default();
            let example = param["example"].as_str().unwrap_or_else(|| {
                panic!(
                    "{} {}: path parameter {name} has no string `example`",
                    self.method, self.path
                )
            });
            uri = uri.replace(&format!("{{{name}}}"), example);
        }
        assert!(
            !uri.contains('{'),
            "{} {}: a path parameter is not declared in `parameters`",
            self.method,
            self.path
        );
        uri
    }
}

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

impl Spec {
    /// Load `docs/{file}` of the workspace.
    pub fn load(file: &str) -> Self {
        let path = format!("{}/../../docs/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let doc: Value = serde_norway::from_str(&text)
            .unwrap_or_else(|e| panic!("docs/{file} is not valid YAML: {e}"));
        assert_eq!(doc["openapi"], "3.1.0", "docs/{file}: not OpenAPI 3.1.0");
        Self {
            file: file.to_string(),
            doc,
        }
    }

    /// Every operation of the file.
    pub fn operations(&self) -> Vec<Operation> {
        let mut ops = Vec::new();
        for (path, item) in self.doc["paths"].as_object().expect("`paths`") {
            for (method, op) in item.as_object().expect("a path item") {
                if METHODS.contains(&method.as_str()) {
                    ops.push(Operation {
                        method: method.to_uppercase(),
                        path: path.clone(),
                        op: op.clone(),
                    });
                }
            }
        }
        ops
    }

    /// The (method, path) of every operation; dev-only ones when `dev`, the others otherwise.
    pub fn routes(&self, dev: bool) -> BTreeSet<(String, String)> {
        self.operations()
            .into_iter()
            .filter(|op| op.dev() == dev)
            .map(|op| (op.method, op.path))
            .collect()
    }

    /// A validator of `schema`, resolved within the file (its `$ref`s point into it).
    fn validator(&self, schema: &Value) -> jsonschema::Validator {
        let mut root = self.doc.clone();
        root["x-check"] = schema.clone();
        root["$ref"] = json!("#/x-check");
        root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        jsonschema::draft202012::new(&root)
            .unwrap_or_else(|e| panic!("docs/{}: a schema does not compile: {e}", self.file))
    }

    /// What is wrong with `value` under `schema`, one line per error.
    fn errors(&self, schema: &Value, value: &Value) -> Vec<String> {
        self.validator(schema)
            .iter_errors(value)
            .map(|e| format!("at `{}`: {e}", e.instance_path()))
            .collect()
    }

    /// The response object of `method path` for `status`.
    fn response(&self, method: &str, path: &str, status: u16) -> Result<&Value, String> {
        let op = &self.doc["paths"][path][method.to_lowercase()];
        if op.is_null() {
            return Err(format!("docs/{}: no operation {method} {path}", self.file));
        }
        let response = &op["responses"][status.to_string()];
        if response.is_null() {
            let listed: Vec<_> = op["responses"]
                .as_object()
                .map(|r| r.keys().cloned().collect())
                .unwrap_or_default();
            return Err(format!(
                "docs/{}: {method} {path} answered {status}, which the file does not list (it lists {listed:?})",
                self.file
            ));
        }
        Ok(response)
    }

    /// Check an answer of `method path` (a template) against the file: its status must be
    /// listed, its content type listed under it and, for JSON, its body valid under the
    /// schema.
    pub fn check_answer(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: &str,
        body: &[u8],
    ) -> Result<(), String> {
        let response = self.response(method, path, status)?;
        let media = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let content = &response["content"];
        let Some(entry) = content.get(&media) else {
            let listed: Vec<_> = content
                .as_object()
                .map(|c| c.keys().cloned().collect())
                .unwrap_or_default();
            return Err(format!(
                "docs/{}: {method} {path} answered {status} as {media:?}, which the file does not list (it lists {listed:?})",
                self.file
            ));
        };
        if media != "application/json" {
            return Ok(());
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            format!("{method} {path} answered {status} with a body that is not JSON: {e}")
        })?;
        let errors = self.errors(&entry["schema"], &value);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "docs/{}: the {status} answer of {method} {path} does not fit its schema:\n  {}",
                self.file,
                errors.join("\n  ")
            ))
        }
    }

    /// Check the data of one Server-Sent Event of `GET path` against the file's `x-sse-data`.
    pub fn check_event(&self, path: &str, event: &str, data: &str) -> Result<(), String> {
        let entry = &self.response("GET", path, 200)?["content"]["text/event-stream"];
        if entry["x-sse-event"] != event {
            return Err(format!(
                "docs/{}: GET {path} sent a {event:?} event; the file names {}",
                self.file, entry["x-sse-event"]
            ));
        }
        let value: Value = serde_json::from_str(data)
            .map_err(|e| format!("GET {path}: event data is not JSON: {e}"))?;
        let errors = self.errors(&entry["x-sse-data"], &value);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "docs/{}: a {event} event of GET {path} does not fit `x-sse-data`:\n  {}",
                self.file,
                errors.join("\n  ")
            ))
        }
    }

    /// Check sample values of the Rust types against the component schemas of the same name:
    /// every component has samples; every sample is valid; a schema's `properties` are the
    /// fields the sample serializes; each `oneOf` branch is some sample's. Returns every
    /// difference, one per line.
    pub fn check_samples(&self, samples: &[(&str, Value)]) -> Vec<String> {
        let mut problems = Vec::new();
        let schemas = self.doc["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut by_name: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
        for (name, value) in samples {
            by_name.entry(name).or_default().push(value);
        }
        for name in schemas.keys() {
            if !by_name.contains_key(name.as_str()) {
                problems.push(format!(
                    "components.schemas.{name}: no Rust type sampled for it (a schema the code does not have?)"
                ));
            }
        }
        for (name, values) in &by_name {
            let Some(schema) = schemas.get(*name) else {
                problems.push(format!(
                    "components.schemas.{name}: missing (the Rust type is sampled: {})",
                    values[0]
                ));
                continue;
            };
            let reference = json!({"$ref": format!("#/components/schemas/{name}")});
            let mut covered = BTreeSet::new();
            for value in values {
                for error in self.errors(&reference, value) {
                    problems.push(format!(
                        "components.schemas.{name}: a value of the Rust type does not fit: {error}"
                    ));
                }
                if let Some(properties) = schema.get("properties") {
                    compare_fields(&mut problems, name, properties, value);
                }
                for (i, branch) in schema["oneOf"].as_array().into_iter().flatten().enumerate() {
                    if self.errors(branch, value).is_empty() {
                        covered.insert(i);
                        if let Some(properties) = branch.get("properties") {
                            compare_fields(
                                &mut problems,
                                &format!("{name}.oneOf[{i}]"),
                                properties,
                                value,
                            );
                        }
                    }
                }
            }
            for (i, branch) in schema["oneOf"].as_array().into_iter().flatten().enumerate() {
                if !covered.contains(&i) {
                    problems.push(format!(
                        "components.schemas.{name}.oneOf[{i}] ({branch}) fits none of the Rust values sampled"
                    ));
                }
            }
        }
        let mut distinct = Vec::new();
        for problem in problems {
            if !distinct.contains(&problem) {
                distinct.push(problem);
            }
        }
        distinct
    }
}

/// Whether the object `value`'s keys are `properties`' names; a difference is a problem.
fn compare_fields(problems: &mut Vec<String>, name: &str, properties: &Value, value: &Value) {
    let Some(object) = value.as_object() else {
        return;
    };
    let declared: BTreeSet<&String> = properties
        .as_object()
        .map(|p| p.keys().collect())
        .unwrap_or_default();
    let serialized: BTreeSet<&String> = object.keys().collect();
    if declared != serialized {
        let missing: Vec<_> = serialized.difference(&declared).collect();
        let extra: Vec<_> = declared.difference(&serialized).collect();
        problems.push(format!(
            "components.schemas.{name}: Rust serializes {missing:?} that the file does not declare; the file declares {extra:?} that Rust does not serialize"
        ));
    }
}

/// The differences between the routes of a file and a route table, or `None`.
pub fn route_differences(
    file: &str,
    documented: &BTreeSet<(String, String)>,
    served: &BTreeSet<(String, String)>,
) -> Option<String> {
    let only_file: Vec<_> = documented.difference(served).collect();
    let only_code: Vec<_> = served.difference(documented).collect();
    (!only_file.is_empty() || !only_code.is_empty()).then(|| {
        format!(
            "docs/{file} and ROUTES differ: in the file, not in ROUTES: {only_file:?}; in ROUTES, not in the file: {only_code:?}"
        )
    })
}

/// A route table as a set.
pub fn route_set(routes: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    routes
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect()
}

/// Panic with every problem, one per line, when there are any.
pub fn assert_none(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} difference(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Calls a router and checks every answer against a file, gathering what does not fit so a
/// test fails once, naming everything that differs.
pub struct Checker<'a> {
    /// The file.
    pub spec: &'a Spec,
    /// The server under test.
    pub router: axum::Router,
    /// What did not fit, each once: the problem, how many answers showed it, the first
    /// request that did and its body.
    pub problems: Vec<(String, usize, String)>,
    /// The (method, template) of every answer checked.
    pub checked: BTreeSet<(String, String)>,
}

impl<'a> Checker<'a> {
    /// A checker of `router`'s answers against `spec`.
    pub fn new(spec: &'a Spec, router: axum::Router) -> Self {
        Self {
            spec,
            router,
            problems: Vec::new(),
            checked: BTreeSet::new(),
        }
    }

    async fn send(
        &self,
        method: &str,
        uri: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> axum::response::Response {
        use tower::ServiceExt;
        let mut request = axum::http::Request::builder().method(method).uri(uri);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let request = request.body(axum::body::Body::from(body)).unwrap();
        self.router.clone().oneshot(request).await.unwrap()
    }

    /// Send `method uri` (an instance of `template`), expect `expected` and check the answer
    /// against the file; returns the body as JSON (`null` when it is not JSON).
    pub async fn call(
        &mut self,
        method: &str,
        template: &str,
        uri: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
        expected: u16,
    ) -> Value {
        use http_body_util::BodyExt;
        let response = self.send(method, uri, content_type, body).await;
        let status = response.status().as_u16();
        let media = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = if media.starts_with("text/event-stream") {
            Vec::new()
        } else {
            response
                .into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec()
        };
        let text = String::from_utf8_lossy(&bytes).to_string();
        if status != expected {
            self.problem(
                format!("{method} {uri}: expected {expected}, got {status}"),
                format!("{method} {uri}"),
                &text,
            );
        }
        if let Err(problem) = self
            .spec
            .check_answer(method, template, status, &media, &bytes)
        {
            self.problem(problem, format!("{method} {uri}"), &text);
        }
        self.checked
            .insert((method.to_string(), template.to_string()));
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    /// Note `problem`, seen in the answer to `request` with `body`.
    pub fn problem(&mut self, problem: String, request: String, body: &str) {
        if let Some(seen) = self.problems.iter_mut().find(|(p, _, _)| *p == problem) {
            seen.1 += 1;
            return;
        }
        let body: String = body.chars().take(300).collect();
        self.problems
            .push((problem, 1, format!("{request}: {body}")));
    }

    /// `GET uri`, expecting `expected`.
    pub async fn get(&mut self, template: &str, uri: &str, expected: u16) -> Value {
        self.call("GET", template, uri, None, Vec::new(), expected)
            .await
    }

    /// Open the event stream `GET uri` (an instance of `template`), check its answer and the
    /// data of its first `count` events of kind `event`; returns those data as JSON.
    pub async fn events(
        &mut self,
        template: &str,
        uri: &str,
        event: &str,
        count: usize,
    ) -> Vec<Value> {
        use http_body_util::BodyExt;
        let response = self.send("GET", uri, None, Vec::new()).await;
        let status = response.status().as_u16();
        let media = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        if let Err(problem) = self.spec.check_answer("GET", template, status, &media, &[]) {
            self.problem(problem, format!("GET {uri}"), "");
        }
        self.checked
            .insert(("GET".to_string(), template.to_string()));
        let mut body = response.into_body();
        let (mut buffer, mut data) = (String::new(), Vec::new());
        while data.len() < count {
            let frame = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame())
                .await
                .unwrap_or_else(|_| panic!("GET {uri}: no event within 10 s"))
                .expect("the stream ended")
                .unwrap();
            let Ok(chunk) = frame.into_data() else {
                continue;
            };
            buffer.push_str(std::str::from_utf8(&chunk).unwrap());
            while let Some(end) = buffer.find("\n\n") {
                let text: String = buffer.drain(..end + 2).collect();
                let name = text.lines().find_map(|l| l.strip_prefix("event: "));
                let Some(json) = text.lines().find_map(|l| l.strip_prefix("data: ")) else {
                    continue;
                };
                if let Err(problem) =
                    self.spec
                        .check_event(template, name.unwrap_or("message"), json)
                {
                    self.problem(problem, format!("GET {uri}"), json);
                }
                if name == Some(event) {
                    data.push(serde_json::from_str(json).unwrap_or(Value::Null));
                }
            }
        }
        data
    }

    /// Fail with every problem, and with every route of `routes` no answer was checked for.
    pub fn finish(self, routes: &BTreeSet<(String, String)>) {
        let mut problems: Vec<String> = self
            .problems
            .iter()
            .map(|(problem, count, first)| {
                format!("{problem}\n    ({count} answer(s); the first: {first})")
            })
            .collect();
        for route in routes.difference(&self.checked) {
            problems.push(format!("{route:?}: no answer of this route was checked"));
        }
        assert_none(
            &format!("answers against docs/{}", self.spec.file),
            &problems,
        );
    }
}
