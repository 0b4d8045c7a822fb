//! Retry policy, `Retry-After`, 403 rate limits and response reading.

use super::*;

#[test]
fn waits_double_from_one_second_and_honour_retry_after() {
    let policy = RetryPolicy::default();
    let waits: Vec<u64> = (0..4).map(|r| policy.wait(r, None).as_secs()).collect();
    assert_eq!(waits, vec![1, 2, 4, 8]);
    assert_eq!(policy.wait(10, None), Duration::from_secs(30));
    assert_eq!(
        policy.wait(0, Some(Duration::from_secs(7))),
        Duration::from_secs(7)
    );
    assert_eq!(
        policy.wait(0, Some(Duration::from_secs(300))),
        Duration::from_secs(30)
    );
}

#[test]
fn retryable_statuses() {
    for (status, retry) in [
        (429, true),
        (500, true),
        (502, true),
        (503, true),
        (501, false),
        (400, false),
        (401, false),
        (404, false),
        (409, false),
    ] {
        let status = StatusCode::from_u16(status).unwrap();
        assert_eq!(RetryPolicy::is_retryable_status(status), retry, "{status}");
    }
}

#[test]
fn a_403_is_a_rate_limit_only_when_it_says_so() {
    let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let headers = |pairs: &[(&'static str, &str)]| {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    };
    let secondary = br#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#;
    let refused = br#"{"message":"Resource not accessible by integration"}"#;
    let cases: [(HeaderMap, &[u8], Option<u64>); 6] = [
        (headers(&[("retry-after", "7")]), refused, Some(7)),
        (
            headers(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1700000042"),
            ]),
            b"",
            Some(42),
        ),
        (headers(&[("x-ratelimit-remaining", "0")]), b"", Some(60)),
        (HeaderMap::new(), secondary, Some(60)),
        (headers(&[("x-ratelimit-remaining", "4999")]), refused, None),
        (HeaderMap::new(), b"<html>Forbidden</html>", None),
    ];
    for (headers, body, expected) in cases {
        assert_eq!(
            rate_limit_wait(&headers, body, now).map(|d| d.as_secs()),
            expected,
            "{headers:?} {}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn retry_after_seconds_and_dates() {
    let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:50Z")
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
        Some(Duration::from_secs(10))
    );
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
        Some(Duration::ZERO)
    );
    assert_eq!(parse_retry_after("soon", now), None);
}

fn response(status: u16, content_type: &str, body: &str) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, content_type.parse().unwrap());
    headers.insert(ACTIVITY_ID, "act-1".parse().unwrap());
    Response {
        status: StatusCode::from_u16(status).unwrap(),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn errors_map_json_text_empty_and_html() {
    let url = reqwest::Url::parse("http://127.0.0.1/x").unwrap();
    let json = response(
        409,
        "application/json",
        r#"{"typeName":"X.AgentExistsException, X","message":"exists"}"#,
    )
    .error(&Method::POST, &url);
    assert!(json.is_exception("AgentExistsException"));
    assert_eq!(json.activity_id.as_deref(), Some("act-1"));
    assert!(json.to_string().contains("status 409"));
    let text = response(401, "text/plain", "token expired").error(&Method::GET, &url);
    assert_eq!(
        (text.type_name, text.message.as_str()),
        (None, "token expired")
    );
    let empty = response(500, "application/json", "").error(&Method::GET, &url);
    assert_eq!(empty.message, "unknown exception");
    let html = response(502, "text/html", "<html><body>Bad gateway</body></html>");
    assert!(html.is_html());
    assert!(html.error(&Method::GET, &url).message.contains("HTML"));
}
