//! A fault-injecting proxy in front of moto_server. Every request is forwarded to moto with
//! an `x-moto-account-id` header, so each proxy is its own AWS account: tests are isolated
//! without a region each. Rules match a service and an action (the EC2 Query `Action=` of the
//! form body, or the JSON protocols' `X-Amz-Target`) and answer the next N matching calls:
//!
//! - [`Answer::Error`]: an AWS error in the protocol's own shape (EC2 XML
//!   `<Response><Errors><Error><Code>…`, JSON `__type`), so the SDK sees the real code;
//! - [`Answer::Capacity`]: CreateFleet as EC2 answers when capacity is short. The request is
//!   rewritten before moto sees it (overrides without capacity dropped, the target lowered)
//!   and the response gets `errorSet` items for what was not launched, so no instance the
//!   caller does not hear of is ever launched. With no capacity left at all, moto is not
//!   called and the answer is an instant fleet with errors only.
//!
//! A rule may also be narrowed to calls naming an instance id ([`Naming`]), to play EC2's
//! eventual consistency: `InvalidInstanceID.NotFound` for an instance that exists
//! ([`AwsProxy::not_found`]).
//!
//! DynamoDB serializes conditional writes per item; moto does not, so the proxy forwards
//! DynamoDB calls one at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// What a rule answers.
#[derive(Debug, Clone)]
pub enum Answer {
    /// An AWS error with this HTTP status, code and message.
    Error {
        /// HTTP status.
        status: u16,
        /// AWS error code, e.g. `RequestLimitExceeded`.
        code: String,
        /// Message.
        message: String,
    },
    /// CreateFleet with short capacity.
    Capacity(Capacity),
    /// A JSON-protocol error with a body of its own (e.g. `CancellationReasons`).
    Json {
        /// HTTP status.
        status: u16,
        /// The body, `__type` included.
        body: serde_json::Value,
    },
}

/// DynamoDB's answer to a transaction whose items failed for `reasons` (one per item, in
/// order, `None` for those that did not fail).
pub fn transaction_canceled(reasons: &[&str]) -> Answer {
    let list: Vec<serde_json::Value> = reasons
        .iter()
        .map(|code| serde_json::json!({"Code": code}))
        .collect();
    Answer::Json {
        status: 400,
        body: serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": format!(
                "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                reasons.join(", ")
            ),
            "CancellationReasons": list,
        }),
    }
}

/// Which part of a CreateFleet request has no capacity.
#[derive(Debug, Clone, Default)]
pub struct Capacity {
    /// Only requests of this default capacity type (`spot`, `on-demand`); any when `None`.
    pub capacity_type: Option<String>,
    /// Instance types without capacity.
    pub instance_types: Vec<String>,
    /// Subnets without capacity.
    pub subnets: Vec<String>,
    /// At most this many instances per call (partial fulfilment).
    pub at_most: Option<u32>,
}

/// Error code EC2 reports for missing capacity.
pub const ICE: &str = "InsufficientInstanceCapacity";

/// Error code EC2 reports for an instance id it does not know (yet).
pub const INSTANCE_NOT_FOUND: &str = "InvalidInstanceID.NotFound";

/// Which instance ids a rule is about: it applies only to calls naming one of them (as
/// `InstanceId.N` or `ResourceId.N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Naming {
    /// This id.
    Id(String),
    /// Any id that a CreateFleet through this proxy returned.
    Launched,
}

#[derive(Debug, Clone)]
struct Rule {
    service: String,
    action: String,
    /// Only calls naming these instance ids, when set.
    naming: Option<Naming>,
    /// Matching calls let through before the rule answers.
    skip: u32,
    times: u32,
    answer: Answer,
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct ProxyCall {
    /// Signing name: `ec2`, `dynamodb`, `ssm`, …
    pub service: String,
    /// Action, e.g. `CreateFleet`, `TransactWriteItems`.
    pub action: String,
    /// The injected answer's code, when a rule answered or rewrote it.
    pub injected: Option<String>,
    /// Whether moto got the request.
    pub forwarded: bool,
    /// EC2 Query parameters as moto got them (or as sent, when not forwarded).
    pub params: Vec<(String, String)>,
    /// Status of the answer.
    pub status: u16,
    /// When the proxy received the request.
    pub received_at: SystemTime,
    /// When the request went to moto and when moto's answer was read, if it was forwarded;
    /// from `received_at` to the first is the wait for the DynamoDB queue.
    pub upstream: Option<(SystemTime, SystemTime)>,
}

impl ProxyCall {
    /// A Query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    account_id: String,
    client: reqwest::Client,
    rules: Mutex<Vec<Rule>>,
    calls: Mutex<Vec<ProxyCall>>,
    /// Instance ids CreateFleet returned, in its answers.
    launched: Mutex<BTreeSet<String>>,
    dynamodb: tokio::sync::Mutex<()>,
}

/// A running proxy; it stops when dropped.
#[derive(Debug)]
pub struct AwsProxy {
    url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AwsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A fresh 12-digit account id.
fn new_account_id() -> String {
    let n = uuid::Uuid::new_v4().as_u128() % 900_000_000_000 + 100_000_000_000;
    n.to_string()
}

impl AwsProxy {
    /// A proxy to `upstream` (moto's URL) for a new account.
    pub async fn start(upstream: &str) -> AwsProxy {
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            account_id: new_account_id(),
            client: reqwest::Client::new(),
            rules: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
            launched: Mutex::new(BTreeSet::new()),
            dynamodb: tokio::sync::Mutex::new(()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("proxy serves");
        });
        AwsProxy { url, shared, task }
    }

    /// The proxy's URL, for the SDK's endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The account this proxy's requests live in.
    pub fn account_id(&self) -> &str {
        &self.shared.account_id
    }

    /// Answers the next `times` calls of `service`/`action` with `answer`.
    pub fn add(&self, service: &str, action: &str, times: u32, answer: Answer) {
        self.add_after(service, action, 0, times, answer);
    }

    /// Lets `skip` calls of `service`/`action` through, then answers `times` with `answer`.
    pub fn add_after(&self, service: &str, action: &str, skip: u32, times: u32, answer: Answer) {
        self.shared.rules.lock().unwrap().push(Rule {
            service: service.to_owned(),
            action: action.to_owned(),
            naming: None,
            skip,
            times,
            answer,
        });
    }

    /// Answers `InvalidInstanceID.NotFound` to the next `times` EC2 `action` calls naming an id
    /// of `naming`, as EC2 does while a new instance id propagates (or once an instance is
    /// long gone). The calls never reach moto.
    pub fn not_found(&self, action: &str, naming: Naming, times: u32) {
        self.shared.rules.lock().unwrap().push(Rule {
            service: "ec2".to_owned(),
            action: action.to_owned(),
            naming: Some(naming),
            skip: 0,
            times,
            answer: Answer::Error {
                status: 400,
                code: INSTANCE_NOT_FOUND.to_owned(),
                message: "The instance ID does not exist".to_owned(),
            },
        });
    }

    /// Instance ids CreateFleet returned so far.
    pub fn launched(&self) -> Vec<String> {
        self.shared
            .launched
            .lock()
            .unwrap()
            .iter()
            .cloned()
            .collect()
    }

    /// Answers the next `times` calls with an AWS error of the usual status for `code`.
    pub fn fail(&self, service: &str, action: &str, times: u32, code: &str) {
        let status = match code {
            "RequestLimitExceeded" | "InternalError" | "ServiceUnavailable" => 503,
            "InternalServerError" => 500,
            _ => 400,
        };
        let answer = Answer::Error {
            status,
            code: code.to_owned(),
            message: format!("injected {code}"),
        };
        self.add(service, action, times, answer);
    }

    /// Disarms every rule.
    pub fn clear(&self) {
        self.shared.rules.lock().unwrap().clear();
    }

    /// Rules still armed (remaining uses).
    pub fn armed(&self) -> u32 {
        self.shared
            .rules
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.times)
            .sum()
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<ProxyCall> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// Calls of one action.
    pub fn calls_to(&self, action: &str) -> Vec<ProxyCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.action == action)
            .collect()
    }
}

/// The signing name in a SigV4 `Authorization` header.
fn service_of(headers: &HeaderMap) -> String {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or_default()
        .to_owned()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers.contains_key("x-amz-target")
}

/// The action: `X-Amz-Target`'s operation, or the Query `Action` of the form body or URL.
fn action_of(headers: &HeaderMap, query: &str, form: &[(String, String)]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let from_query: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    form.iter()
        .chain(&from_query)
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// Instance ids a request names.
fn named_ids(form: &[(String, String)]) -> impl Iterator<Item = &str> {
    form.iter()
        .filter(|(k, _)| k.starts_with("InstanceId.") || k.starts_with("ResourceId."))
        .map(|(_, v)| v.as_str())
}

/// Whether a request names an id of `naming`.
fn names(form: &[(String, String)], naming: &Naming, launched: &BTreeSet<String>) -> bool {
    named_ids(form).any(|id| match naming {
        Naming::Id(wanted) => id == wanted,
        Naming::Launched => launched.contains(id),
    })
}

/// Instance ids in a CreateFleet answer (`<instanceIds><item>i-…</item>…</instanceIds>`).
fn fleet_instance_ids(xml: &str) -> Vec<String> {
    xml.split("<instanceIds>")
        .skip(1)
        .filter_map(|rest| rest.split("</instanceIds>").next())
        .flat_map(|list| list.split("<item>").skip(1))
        .filter_map(|item| item.split("</item>").next())
        .map(|id| id.trim().to_owned())
        .collect()
}

/// Whether a rule applies to a request: its service and action, for a capacity rule the
/// request's capacity type, and for a naming rule the instance ids it names.
fn applies(
    rule: &Rule,
    service: &str,
    action: &str,
    form: &[(String, String)],
    launched: &BTreeSet<String>,
) -> bool {
    if rule
        .naming
        .as_ref()
        .is_some_and(|naming| !names(form, naming, launched))
    {
        return false;
    }
    let kind_ok = match &rule.answer {
        Answer::Capacity(Capacity {
            capacity_type: Some(wanted),
            ..
        }) => form.iter().any(|(k, v)| {
            k == "TargetCapacitySpecification.DefaultTargetCapacityType" && v == wanted
        }),
        _ => true,
    };
    rule.times > 0 && rule.service == service && rule.action == action && kind_ok
}

fn take_rule(
    shared: &Shared,
    service: &str,
    action: &str,
    form: &[(String, String)],
) -> Option<Answer> {
    let launched = shared.launched.lock().unwrap().clone();
    let mut rules = shared.rules.lock().unwrap();
    let index = rules
        .iter()
        .position(|r| applies(r, service, action, form, &launched))?;
    if rules[index].skip > 0 {
        rules[index].skip -= 1;
        return None;
    }
    rules[index].times -= 1;
    let answer = rules[index].answer.clone();
    if rules[index].times == 0 {
        rules.remove(index);
    }
    Some(answer)
}

/// An AWS error in the request's protocol.
pub fn error_response(json: bool, status: u16, code: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    if json {
        let body = serde_json::json!({"__type": code, "message": message}).to_string();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.0"),
        );
        if let Ok(value) = HeaderValue::from_str(code) {
            headers.insert("x-amzn-errortype", value);
        }
        response
    } else {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
             <Message>{message}</Message></Error></Errors><RequestID>{}</RequestID></Response>",
            uuid::Uuid::new_v4()
        );
        (
            status,
            [(header::CONTENT_TYPE, "text/xml;charset=UTF-8")],
            body,
        )
            .into_response()
    }
}

/// One CreateFleet override of the request, by its config and override index.
#[derive(Debug, Default, Clone)]
struct Override {
    fields: BTreeMap<String, String>,
}

/// What a capacity rule did to a CreateFleet request.
#[derive(Debug)]
pub struct Rewritten {
    /// The parameters moto gets.
    pub params: Vec<(String, String)>,
    /// `errorSet` items for what was not launched.
    pub errors: Vec<String>,
    /// The lowered `TotalTargetCapacity`.
    pub target: u32,
}

/// Splits `LaunchTemplateConfigs.{c}.Overrides.{n}.{field}`.
fn override_key(key: &str) -> Option<(u32, u32, &str)> {
    let rest = key.strip_prefix("LaunchTemplateConfigs.")?;
    let (config, rest) = rest.split_once('.')?;
    let rest = rest.strip_prefix("Overrides.")?;
    let (n, field) = rest.split_once('.')?;
    Some((config.parse().ok()?, n.parse().ok()?, field))
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn error_item(params: &[(String, String)], o: &Override, lifecycle: &str, message: &str) -> String {
    let get = |k: &str| {
        params
            .iter()
            .find(|(p, _)| p == k)
            .map(|(_, v)| xml_escape(v))
            .unwrap_or_default()
    };
    let field = |k: &str| o.fields.get(k).map(|v| xml_escape(v)).unwrap_or_default();
    format!(
        "<item><launchTemplateAndOverrides><launchTemplateSpecification>\
         <launchTemplateId>{}</launchTemplateId><version>{}</version>\
         </launchTemplateSpecification><overrides><instanceType>{}</instanceType>\
         <subnetId>{}</subnetId></overrides></launchTemplateAndOverrides>\
         <lifecycle>{lifecycle}</lifecycle><errorCode>{ICE}</errorCode>\
         <errorMessage>{message}</errorMessage></item>",
        get("LaunchTemplateConfigs.1.LaunchTemplateSpecification.LaunchTemplateId"),
        get("LaunchTemplateConfigs.1.LaunchTemplateSpecification.Version"),
        field("InstanceType"),
        field("SubnetId"),
    )
}

/// Applies a capacity rule to CreateFleet parameters; `None` when it does not apply to them.
pub fn rewrite_fleet(params: &[(String, String)], capacity: &Capacity) -> Option<Rewritten> {
    let get = |k: &str| params.iter().find(|(p, _)| p == k).map(|(_, v)| v.clone());
    let kind = get("TargetCapacitySpecification.DefaultTargetCapacityType")
        .unwrap_or_else(|| "on-demand".to_owned());
    if capacity
        .capacity_type
        .as_ref()
        .is_some_and(|wanted| *wanted != kind)
    {
        return None;
    }
    let lifecycle = if kind == "spot" { "spot" } else { "on-demand" };
    let mut overrides: BTreeMap<(u32, u32), Override> = BTreeMap::new();
    let mut rest = Vec::new();
    for (k, v) in params {
        match override_key(k) {
            Some((c, n, field)) => {
                overrides
                    .entry((c, n))
                    .or_default()
                    .fields
                    .insert(field.to_owned(), v.clone());
            }
            None => rest.push((k.clone(), v.clone())),
        }
    }
    let mut errors = Vec::new();
    let mut kept: BTreeMap<u32, Vec<Override>> = BTreeMap::new();
    for ((c, _), o) in overrides {
        let no_type = o
            .fields
            .get("InstanceType")
            .is_some_and(|t| capacity.instance_types.contains(t));
        let no_subnet = o
            .fields
            .get("SubnetId")
            .is_some_and(|s| capacity.subnets.contains(s));
        if no_type || no_subnet {
            errors.push(error_item(
                params,
                &o,
                lifecycle,
                "There is no Spot capacity available that matches your request.",
            ));
        } else {
            kept.entry(c).or_default().push(o);
        }
    }
    for (c, list) in &kept {
        for (i, o) in list.iter().enumerate() {
            for (field, v) in &o.fields {
                rest.push((
                    format!("LaunchTemplateConfigs.{c}.Overrides.{}.{field}", i + 1),
                    v.clone(),
                ));
            }
        }
    }
    let requested: u32 = get("TargetCapacitySpecification.TotalTargetCapacity")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut target = if kept.is_empty() { 0 } else { requested };
    if let Some(at_most) = capacity.at_most
        && target > at_most
    {
        target = at_most;
        let first = kept.values().flatten().next().cloned().unwrap_or_default();
        errors.push(error_item(
            params,
            &first,
            lifecycle,
            "We currently do not have sufficient capacity in the Availability Zone you requested.",
        ));
    }
    for (k, v) in &mut rest {
        if k == "TargetCapacitySpecification.TotalTargetCapacity" {
            *v = target.to_string();
        }
    }
    Some(Rewritten {
        params: rest,
        errors,
        target,
    })
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let received_at = SystemTime::now();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let service = service_of(&parts.headers);
    let json = is_json(&parts.headers);
    let form: Vec<(String, String)> = if json {
        Vec::new()
    } else {
        url::form_urlencoded::parse(&body).into_owned().collect()
    };
    let query = parts.uri.query().unwrap_or_default();
    let action = action_of(&parts.headers, query, &form);
    let mut call = ProxyCall {
        service: service.clone(),
        action: action.clone(),
        injected: None,
        forwarded: false,
        params: form.clone(),
        status: 0,
        received_at,
        upstream: None,
    };
    let mut body = body;
    let mut fleet_errors: Vec<String> = Vec::new();
    match take_rule(&shared, &service, &action, &form) {
        Some(Answer::Error {
            status,
            code,
            message,
        }) => {
            call.injected = Some(code.clone());
            call.status = status;
            shared.calls.lock().unwrap().push(call);
            return error_response(json, status, &code, &message);
        }
        Some(Answer::Json { status, body }) => {
            call.injected = body["__type"]
                .as_str()
                .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned());
            call.status = status;
            shared.calls.lock().unwrap().push(call);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            return (
                status,
                [(header::CONTENT_TYPE, "application/x-amz-json-1.0")],
                body.to_string(),
            )
                .into_response();
        }
        Some(Answer::Capacity(capacity)) => {
            if let Some(rewritten) = rewrite_fleet(&form, &capacity) {
                call.injected = (!rewritten.errors.is_empty()).then(|| ICE.to_owned());
                call.params = rewritten.params.clone();
                if rewritten.target == 0 {
                    call.status = 200;
                    shared.calls.lock().unwrap().push(call);
                    return fleet_without_instances(&rewritten.errors);
                }
                body = Bytes::from(
                    url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(&rewritten.params)
                        .finish(),
                );
                fleet_errors = rewritten.errors;
            }
        }
        None => {}
    }
    let _serialized = if service == "dynamodb" {
        Some(shared.dynamodb.lock().await)
    } else {
        None
    };
    let target = format!(
        "{}{}",
        shared.upstream,
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let mut upstream = shared
        .client
        .request(parts.method.clone(), target)
        .header("x-moto-account-id", &shared.account_id)
        .body(body);
    for (name, value) in &parts.headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            upstream = upstream.header(name, value);
        }
    }
    call.forwarded = true;
    let sent_at = SystemTime::now();
    let answer = match upstream.send().await {
        Ok(answer) => answer,
        Err(e) => {
            call.status = 502;
            shared.calls.lock().unwrap().push(call);
            return (StatusCode::BAD_GATEWAY, format!("moto unreachable: {e}")).into_response();
        }
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let mut bytes = answer.bytes().await.unwrap_or_default();
    call.upstream = Some((sent_at, SystemTime::now()));
    if action == "CreateFleet" && status.is_success() {
        let ids = fleet_instance_ids(&String::from_utf8_lossy(&bytes));
        shared.launched.lock().unwrap().extend(ids);
    }
    if !fleet_errors.is_empty() && status.is_success() {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let set = format!("<errorSet>{}</errorSet>", fleet_errors.concat());
        let patched = text.replacen(
            "</CreateFleetResponse>",
            &format!("{set}</CreateFleetResponse>"),
            1,
        );
        bytes = Bytes::from(patched);
    }
    call.status = status.as_u16();
    shared.calls.lock().unwrap().push(call);
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if name != header::CONTENT_LENGTH
            && name != header::TRANSFER_ENCODING
            && name != header::CONNECTION
        {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}

/// An instant fleet that launched nothing: only errors.
fn fleet_without_instances(errors: &[String]) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CreateFleetResponse \
         xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>{}</requestId>\
         <fleetId>fleet-{}</fleetId><errorSet>{}</errorSet><fleetInstanceSet/>\
         </CreateFleetResponse>",
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        errors.concat()
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml;charset=UTF-8")],
        body,
    )
        .into_response()
}
