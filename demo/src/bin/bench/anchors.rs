//! Published figures the measurements stand beside, each with how it differs from what the
//! bench measures: an anchor is context, not a like-for-like race, unless it says so.

/// One published figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    /// The figure as published.
    pub figure: &'static str,
    /// How it differs from the measurement beside it.
    pub differs: &'static str,
    /// Link text and address of the source.
    pub source: &'static str,
    pub url: &'static str,
}

impl Anchor {
    /// `[source](url)`.
    pub fn link(&self) -> String {
        format!("[{}]({})", self.source, self.url)
    }
}

const TAGR: &str = "terraform-aws-github-runner";
const TAGR_VARIABLES: &str =
    "https://github.com/github-aws-runners/terraform-aws-github-runner/blob/main/variables.tf";
const LAMBDA_PERF: &str = "lambda-perf";
const LAMBDA_PERF_URL: &str = "https://maxday.github.io/lambda-perf/";

/// Pickup, set against terraform-aws-github-runner's webhook delay.
pub const TAGR_DELAY: Anchor = Anchor {
    figure: "`delay_webhook_event` default 30 s: the webhook's SQS message stays invisible \
             that long before the scale-up Lambda sees it",
    differs: "a configurable delay, not a floor: an operator may lower it (it exists so that an \
              idle non-ephemeral runner can take the job first); what remains, webhook → SQS → \
              Lambda → CreateFleet, has no published figure",
    source: TAGR,
    url: TAGR_VARIABLES,
};

/// Pickup while listening, set against actions-runner-controller's listener.
pub const ARC_LISTENER: Anchor = Anchor {
    figure: "its listener long-polls the same message queue, in an always-on pod per scale set",
    differs: "the same mechanism, no published latency: the anchor is how it listens, not a \
              number; it then creates a Kubernetes pod, not an EC2 instance",
    source: "actions-runner-controller",
    url: "https://github.com/actions/actions-runner-controller",
};

/// Scale-down, set against terraform-aws-github-runner's idle scale-down schedule.
pub const TAGR_SCALE_DOWN: Anchor = Anchor {
    figure: "`scale_down_schedule_expression` default `cron(*/5 * * * ? *)`: idle runners are \
             looked for every 5 minutes",
    differs: "not the same event: with ephemeral runners the instance ends itself after its \
              job, and the cron removes runners that stayed idle; no published figure times \
              job finished → instance terminated",
    source: TAGR,
    url: TAGR_VARIABLES,
};

/// ghaec2's init (up to its credential from SSM), set against Lambda's init of a hello world.
pub const LAMBDA_INIT: Anchor = Anchor {
    figure: "Lambda init, hello world: Rust arm64 ≈ 15 ms, Node.js 24 ≈ 116–121 ms",
    differs: "a hello world's init calls nothing; ghaec2's Lambda init also reads its GitHub \
              credential from SSM (measured beside it up to SSM's answer, from moto on this \
              machine rather than SSM across a network), and its first invocation calls EC2, \
              DynamoDB and GitHub before it listens (the rows below); Lambda's init runs on \
              Lambda's CPU share, this one on this machine",
    source: LAMBDA_PERF,
    url: LAMBDA_PERF_URL,
};

/// Memory, set against Lambda's memory use of a hello world.
pub const LAMBDA_MEMORY: Anchor = Anchor {
    figure: "Lambda memory used, hello world: Rust arm64 ≈ 15 MB, Node.js 24 ≈ 75–79 MB",
    differs: "Lambda reports the sandbox's memory, the bench the process's peak RSS; a hello \
              world holds no SDK clients or TLS",
    source: LAMBDA_PERF,
    url: LAMBDA_PERF_URL,
};

/// Every anchor, for the tests.
#[cfg(test)]
pub const ALL: [Anchor; 5] = [
    TAGR_DELAY,
    ARC_LISTENER,
    TAGR_SCALE_DOWN,
    LAMBDA_INIT,
    LAMBDA_MEMORY,
];
