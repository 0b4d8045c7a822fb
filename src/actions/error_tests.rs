use reqwest::StatusCode;

use super::*;

fn api(status: u16, type_name: Option<&str>, error_kind: Option<&str>, message: &str) -> ApiError {
    ApiError {
        method: "PATCH".into(),
        url: "https://example.test/sessions/1".into(),
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT),
        activity_id: None,
        github_request_id: None,
        type_name: type_name.map(str::to_owned),
        error_kind: error_kind.map(str::to_owned),
        message: message.to_owned(),
    }
}

fn error(status: u16, type_name: Option<&str>, error_kind: Option<&str>) -> ActionsError {
    ActionsError::Api(Box::new(api(status, type_name, error_kind, "")))
}

#[test]
fn a_session_is_gone_on_404_expired_invalid_or_a_refused_queue_call() {
    let expired = Some("GitHub.Actions.Runtime.WebApi.RunnerScaleSetSessionExpiredException");
    assert!(error(404, Some("RunnerAdminException"), None).is_session_gone());
    assert!(error(400, expired, None).is_session_gone());
    assert!(error(400, None, Some("RunnerSessionInvalid")).is_session_gone());
    let refused = ActionsError::SessionInvalid(Box::new(api(403, None, None, "Forbidden")));
    assert!(refused.is_session_gone());
    assert!(
        refused.has_status(StatusCode::FORBIDDEN),
        "the answer stays readable"
    );

    assert!(!error(400, None, None).is_session_gone());
    assert!(!error(400, None, Some("RunnerVersionTooOld")).is_session_gone());
    assert!(
        !error(400, None, Some("runnersessioninvalid")).is_session_gone(),
        "an errorKind is an exact value"
    );
    assert!(
        !error(403, None, None).is_session_gone(),
        "a 403 outside a queue call (an admin call, a rate limit) is not about the session"
    );
    assert!(!error(409, Some(exception::SESSION_CONFLICT), None).is_session_gone());
}

#[test]
fn a_conflict_names_its_owner_only_in_the_older_wording() {
    let owner = |message: &str| {
        api(409, None, None, message)
            .conflict_owner()
            .map(str::to_owned)
    };
    assert_eq!(
        owner(
            "The runner scale set `gha-rs` already has an active session for owner `gha-rs-754b578d-listener`."
        ),
        Some("gha-rs-754b578d-listener".to_owned())
    );
    assert_eq!(
        owner("The runner scale set 'a' already has an active session for owner 'x y'."),
        Some("x y".to_owned())
    );
    assert_eq!(
        owner("The actions runner scaleset dev already has an active session."),
        None,
        "the newer wording names no owner"
    );
    assert_eq!(
        owner("… already has an active session for owner `ab`c`."),
        Some("ab`c".to_owned()),
        "the owner is everything between the outer quotes"
    );
    assert_eq!(owner("… for owner unquoted."), None);
    assert_eq!(owner("… for owner `unterminated."), None);
}

#[test]
fn the_detail_names_the_exception_or_the_error_kind() {
    let invalid = api(
        400,
        None,
        Some("RunnerSessionInvalid"),
        "Runner session is invalid",
    );
    assert!(
        invalid
            .to_string()
            .ends_with("RunnerSessionInvalid: Runner session is invalid"),
        "{invalid}"
    );
}

#[test]
fn the_broker_body_is_read_for_its_kind_and_message() {
    use reqwest::header::HeaderMap;

    use crate::actions::http::Response;

    let response = |status: u16, body: &str| Response {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT),
        headers: HeaderMap::new(),
        body: body.as_bytes().to_vec(),
    };
    let url = reqwest::Url::parse("https://example.test/queue").unwrap_or_else(|e| panic!("{e}"));
    let read = |status, body| response(status, body).error(&reqwest::Method::GET, &url);

    let broker = read(
        400,
        r#"{"source":"actions-broker-listener","errorKind":"RunnerSessionInvalid","statusCode":400,"errorMessage":"Runner session is invalid"}"#,
    );
    assert_eq!(broker.error_kind.as_deref(), Some("RunnerSessionInvalid"));
    assert_eq!(broker.type_name, None);
    assert_eq!(broker.message, "Runner session is invalid");

    let folded = read(
        400,
        r#"{"ErrorKind":"RunnerSessionInvalid","errorMessage":null}"#,
    );
    assert!(
        folded.has_error_kind(error_kind::SESSION_INVALID),
        "{folded:?}"
    );

    let dotnet = read(
        409,
        r#"{"typeName":"GitHub.Actions.Runtime.WebApi.RunnerScaleSetSessionConflictException, GitHub.Actions.Runtime.WebApi","message":"busy"}"#,
    );
    assert_eq!(dotnet.error_kind, None);
    assert_eq!(dotnet.message, "busy");
    assert!(dotnet.is_exception(exception::SESSION_CONFLICT));

    let text = read(403, "Forbidden");
    assert_eq!(
        (text.error_kind, text.message.as_str()),
        (None, "Forbidden")
    );
}
