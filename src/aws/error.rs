//! AWS SDK errors → [`PortError`]: a lost fence, something to retry, or something a person
//! must fix. One generic mapper serves DynamoDB, EC2 and SSM, since their errors share the
//! same metadata (`ProvideErrorMetadata`: code and message).

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::ports::{PortError, PortErrorKind};

/// Error codes of a failed condition: another invocation moved the fence.
pub const CONDITION_CODES: &[&str] = &["ConditionalCheckFailedException", "ConditionalCheckFailed"];

/// Error codes worth retrying: throttling and transient service-side trouble, in DynamoDB, EC2
/// and SSM spelling (also the codes of DynamoDB transaction cancellation reasons).
pub const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ProvisionedThroughputExceeded",
    "ThrottlingException",
    "ThrottlingError",
    "Throttling",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "TooManyUpdates",
    "TransactionConflictException",
    "TransactionConflict",
    "TransactionInProgressException",
    "InternalServerError",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "Unavailable",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// EC2's code for an instance id it does not know. Right after a launch this is eventual
/// consistency, not absence ("Eventual consistency in the Amazon EC2 API",
/// <https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html>): the fleet
/// retries it for a while, and what is left of it is worth retrying later.
pub const INSTANCE_NOT_FOUND: &str = "InvalidInstanceID.NotFound";

/// How much of the AWS message goes into the [`PortError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Code and message.
    Full,
    /// Code only: for calls that carry a secret, in case a validation message echoes input.
    CodeOnly,
}

/// Classifies an AWS error by its code and HTTP status (pure).
pub fn classify(code: Option<&str>, status: Option<u16>) -> PortErrorKind {
    match code {
        Some(c) if CONDITION_CODES.contains(&c) => PortErrorKind::Fenced,
        Some(c) if RETRYABLE_CODES.contains(&c) || c == INSTANCE_NOT_FOUND => {
            PortErrorKind::Retryable
        }
        _ if status.is_some_and(|s| s >= 500 || s == 429) => PortErrorKind::Retryable,
        _ => PortErrorKind::Fatal,
    }
}

/// Maps any SDK error of DynamoDB, EC2 or SSM. Transport trouble (timeouts, connection
/// failures, unreadable responses) is retryable; a request the SDK could not even build is not.
pub fn from_sdk<E>(
    operation: &'static str,
    err: &SdkError<E, HttpResponse>,
    detail: Detail,
) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (kind, message) = match err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service.err().code();
            let text = match (code, detail) {
                (Some(code), Detail::CodeOnly) => format!("{code} (HTTP {status})"),
                (Some(code), Detail::Full) => {
                    format!(
                        "{code}: {} (HTTP {status})",
                        service.err().message().unwrap_or("no message")
                    )
                }
                (None, _) => format!("HTTP {status} without an error code"),
            };
            (classify(code, Some(status)), text)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => (
            PortErrorKind::Retryable,
            DisplayErrorContext(err).to_string(),
        ),
        _ => (PortErrorKind::Fatal, DisplayErrorContext(err).to_string()),
    };
    PortError {
        operation,
        kind,
        message,
    }
}

/// The AWS error code of an SDK error, if the service sent one.
pub fn code_of<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    err.as_service_error().and_then(ProvideErrorMetadata::code)
}

/// A request the SDK refused to build (a required field missing): a bug, so fatal.
pub fn build_error(operation: &'static str, err: &dyn std::error::Error) -> PortError {
    PortError {
        operation,
        kind: PortErrorKind::Fatal,
        message: format!("invalid request: {err}"),
    }
}

/// An AWS answer that lacks something it always carries.
pub fn malformed(operation: &'static str, what: &str) -> PortError {
    PortError {
        operation,
        kind: PortErrorKind::Fatal,
        message: format!("unexpected response: {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_codes_and_statuses() {
        let cases = [
            (
                Some("ConditionalCheckFailedException"),
                Some(400),
                PortErrorKind::Fenced,
            ),
            (Some("ConditionalCheckFailed"), None, PortErrorKind::Fenced),
            (
                Some("ProvisionedThroughputExceededException"),
                Some(400),
                PortErrorKind::Retryable,
            ),
            (
                Some("ThrottlingException"),
                Some(400),
                PortErrorKind::Retryable,
            ),
            (
                Some("RequestLimitExceeded"),
                Some(503),
                PortErrorKind::Retryable,
            ),
            (Some("TransactionConflict"), None, PortErrorKind::Retryable),
            (
                Some("InternalServerError"),
                Some(500),
                PortErrorKind::Retryable,
            ),
            (Some("SomethingNew"), Some(503), PortErrorKind::Retryable),
            (
                Some("InvalidInstanceID.NotFound"),
                Some(400),
                PortErrorKind::Retryable,
            ),
            (
                Some("InvalidAMIID.NotFound"),
                Some(400),
                PortErrorKind::Fatal,
            ),
            (None, Some(500), PortErrorKind::Retryable),
            (None, Some(429), PortErrorKind::Retryable),
            (
                Some("AccessDeniedException"),
                Some(400),
                PortErrorKind::Fatal,
            ),
            (
                Some("UnauthorizedOperation"),
                Some(403),
                PortErrorKind::Fatal,
            ),
            (Some("ValidationException"), Some(400), PortErrorKind::Fatal),
            (
                Some("ResourceNotFoundException"),
                Some(400),
                PortErrorKind::Fatal,
            ),
            (None, None, PortErrorKind::Fatal),
        ];
        for (code, status, kind) in cases {
            assert_eq!(classify(code, status), kind, "{code:?} {status:?}");
        }
    }
}
