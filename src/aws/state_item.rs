//! DynamoDB items ↔ the port's types (pure): the state record, the admin connection, runner
//! ledger entries and pending reruns.
//! Attribute names come from [`super::schema`].

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::schema::{admin as a, decisions as d, rerun as rr, runner as r, state as s};
use crate::ports::{
    Decision, Decisions, Lease, RerunRecord, RunnerRecord, RunnerState, ScaleSetState, StateRecord,
    StoredAdmin, StoredSession,
};

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// Why an item could not be read; names the attribute, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attribute {attribute}: {problem}")]
pub struct DecodeError {
    /// The attribute.
    pub attribute: &'static str,
    /// What is wrong with it.
    pub problem: &'static str,
}

fn string<'a>(item: &'a Item, attribute: &'static str) -> Result<Option<&'a str>, DecodeError> {
    match item.get(attribute) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v)),
        Some(_) => Err(DecodeError {
            attribute,
            problem: "not a string",
        }),
    }
}

fn number<T: std::str::FromStr>(
    item: &Item,
    attribute: &'static str,
) -> Result<Option<T>, DecodeError> {
    match item.get(attribute) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(v)) => v.parse().map(Some).map_err(|_| DecodeError {
            attribute,
            problem: "not an integer",
        }),
        Some(_) => Err(DecodeError {
            attribute,
            problem: "not a number",
        }),
    }
}

fn required<T>(value: Option<T>, attribute: &'static str) -> Result<T, DecodeError> {
    value.ok_or(DecodeError {
        attribute,
        problem: "missing",
    })
}

/// `N` attribute value.
pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// `S` attribute value.
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// Epoch milliseconds, the lease's time unit (numbers compare in condition expressions).
pub fn millis(at: DateTime<Utc>) -> AttributeValue {
    n(at.timestamp_millis())
}

/// Reads epoch milliseconds back.
pub fn from_millis(
    item: &Item,
    attribute: &'static str,
) -> Result<Option<DateTime<Utc>>, DecodeError> {
    number::<i64>(item, attribute)?
        .map(|ms| {
            Utc.timestamp_millis_opt(ms).single().ok_or(DecodeError {
                attribute,
                problem: "not a valid time",
            })
        })
        .transpose()
}

/// The lease fields of a state record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseFields {
    /// Holder, if the lease was ever taken.
    pub owner: Option<String>,
    /// Expiry, if the lease was ever taken.
    pub expires_at: Option<DateTime<Utc>>,
    /// Fencing counter; 0 before the first acquisition.
    pub fence: u64,
}

/// Reads the lease fields of a state record.
pub fn decode_lease(item: &Item) -> Result<LeaseFields, DecodeError> {
    Ok(LeaseFields {
        owner: string(item, s::LEASE_OWNER)?.map(str::to_owned),
        expires_at: from_millis(item, s::LEASE_EXPIRES_AT)?,
        fence: number::<u64>(item, s::FENCE)?.unwrap_or(0),
    })
}

/// The state item as read, with the admin connection from its own item (`None` when absent).
pub fn decode_record(item: &Item, admin: Option<&Item>) -> Result<StateRecord, DecodeError> {
    let fields = decode_lease(item)?;
    let lease = match (fields.owner, fields.expires_at) {
        (Some(owner), Some(expires_at)) => Some(Lease {
            owner,
            fence: fields.fence,
            expires_at,
        }),
        _ => None,
    };
    Ok(StateRecord {
        lease,
        released_at: from_millis(item, s::LEASE_RELEASED_AT)?,
        state: decode_state(item, admin)?,
    })
}

/// The state a lease guards, from the state record and the admin connection's item.
pub fn decode_state(item: &Item, admin: Option<&Item>) -> Result<ScaleSetState, DecodeError> {
    let session = match string(item, s::SESSION_ID)? {
        None => None,
        Some(id) => Some(StoredSession {
            id: id.parse().map_err(|_| DecodeError {
                attribute: s::SESSION_ID,
                problem: "not a UUID",
            })?,
            queue_url: required(string(item, s::QUEUE_URL)?, s::QUEUE_URL)?.to_owned(),
            created_at: from_millis(item, s::SESSION_CREATED_AT)?,
            refreshed_at: from_millis(item, s::SESSION_REFRESHED_AT)?,
        }),
    };
    let statistics = string(item, s::STATISTICS)?
        .map(serde_json::from_str)
        .transpose()
        .map_err(|_| DecodeError {
            attribute: s::STATISTICS,
            problem: "not statistics JSON",
        })?;
    Ok(ScaleSetState {
        scale_set_id: number(item, s::SCALE_SET_ID)?,
        session,
        last_message_id: number(item, s::LAST_MESSAGE_ID)?.unwrap_or(0),
        last_message_at: from_millis(item, s::LAST_MESSAGE_AT)?,
        admin: admin.map(decode_admin).transpose()?,
        statistics,
        decisions: Decisions::default(),
    })
}

/// The state record's attributes: `Some` to set, `None` to remove (a session that ended, and
/// what an older layout kept here). Times are epoch milliseconds, the smallest encoding: the
/// item stays under 1 KB. The admin connection and the decisions are not among them: each has
/// its own item ([`encode_admin`], [`encode_decisions`]).
pub fn encode_state(state: &ScaleSetState) -> Vec<(&'static str, Option<AttributeValue>)> {
    let session = state.session.as_ref();
    let mut attributes = vec![
        (s::SCALE_SET_ID, state.scale_set_id.map(n)),
        (s::SESSION_ID, session.map(|x| s(x.id.to_string()))),
        (s::QUEUE_URL, session.map(|x| s(&x.queue_url))),
        (
            s::SESSION_CREATED_AT,
            session.and_then(|x| x.created_at).map(millis),
        ),
        (
            s::SESSION_REFRESHED_AT,
            session.and_then(|x| x.refreshed_at).map(millis),
        ),
        (s::LAST_MESSAGE_ID, Some(n(state.last_message_id))),
        (s::LAST_MESSAGE_AT, state.last_message_at.map(millis)),
        (
            s::STATISTICS,
            // Serialising a struct of integers cannot fail; an empty fallback would only drop
            // the cached statistics, never corrupt them.
            state
                .statistics
                .and_then(|st| serde_json::to_string(&st).ok())
                .map(s),
        ),
    ];
    attributes.extend(s::RETIRED.map(|attribute| (attribute, None)));
    attributes
}

/// The admin connection's attributes, without the key.
pub fn encode_admin(admin: &StoredAdmin) -> Item {
    Item::from([
        (a::SERVICE_URL.to_owned(), s(&admin.service_url)),
        (a::TOKEN.to_owned(), s(admin.token.expose_secret())),
    ])
}

/// The admin connection, from its item.
pub fn decode_admin(item: &Item) -> Result<StoredAdmin, DecodeError> {
    Ok(StoredAdmin {
        service_url: required(string(item, a::SERVICE_URL)?, a::SERVICE_URL)?.to_owned(),
        token: SecretString::from(required(string(item, a::TOKEN)?, a::TOKEN)?),
    })
}

/// A decision as its item keeps it: `[at (epoch ms), desired, current, booting, launched,
/// terminated, [capped by…]]`, an array rather than an object, so that five fit well under 1 KB.
type StoredDecision = (i64, u32, u32, u32, u32, u32, Vec<String>);

/// The decisions' attributes, without the key.
pub fn encode_decisions(decisions: &Decisions) -> Item {
    let stored: Vec<StoredDecision> = decisions
        .as_slice()
        .iter()
        .map(|x| {
            let counts = (x.desired, x.current, x.booting, x.launched, x.terminated);
            let at = x.at.timestamp_millis();
            (
                at,
                counts.0,
                counts.1,
                counts.2,
                counts.3,
                counts.4,
                x.capped_by.clone(),
            )
        })
        .collect();
    // Serialising numbers and strings cannot fail; an empty list would only forget the
    // decisions, never corrupt them.
    let json = serde_json::to_string(&stored).unwrap_or_else(|_| "[]".to_owned());
    Item::from([(d::RECORDS.to_owned(), s(json))])
}

/// The decisions, from their item.
pub fn decode_decisions(item: &Item) -> Result<Decisions, DecodeError> {
    let json = required(string(item, d::RECORDS)?, d::RECORDS)?;
    let not_decisions = DecodeError {
        attribute: d::RECORDS,
        problem: "not a JSON list of decisions",
    };
    let stored: Vec<StoredDecision> =
        serde_json::from_str(json).map_err(|_| not_decisions.clone())?;
    let decisions = stored
        .into_iter()
        .map(
            |(at, desired, current, booting, launched, terminated, capped_by)| {
                Ok(Decision {
                    at: Utc
                        .timestamp_millis_opt(at)
                        .single()
                        .ok_or(not_decisions.clone())?,
                    desired,
                    current,
                    booting,
                    launched,
                    terminated,
                    capped_by,
                })
            },
        )
        .collect::<Result<_, DecodeError>>()?;
    Ok(Decisions::new(decisions))
}

fn runner_state_name(state: RunnerState) -> &'static str {
    match state {
        RunnerState::Booting => "booting",
        RunnerState::Idle => "idle",
        RunnerState::Busy => "busy",
        RunnerState::Terminating => "terminating",
    }
}

fn runner_state(name: &str) -> Option<RunnerState> {
    [
        RunnerState::Booting,
        RunnerState::Idle,
        RunnerState::Busy,
        RunnerState::Terminating,
    ]
    .into_iter()
    .find(|st| runner_state_name(*st) == name)
}

/// A ledger entry's attributes, without key and TTL.
pub fn encode_runner(runner: &RunnerRecord) -> Item {
    let mut item = Item::from([
        (r::NAME.to_owned(), s(&runner.name)),
        (r::INSTANCE_ID.to_owned(), s(&runner.instance_id)),
        (r::LAUNCHED_AT.to_owned(), rfc3339(runner.launched_at)),
        (r::STATE.to_owned(), s(runner_state_name(runner.state))),
    ]);
    if let Some(id) = runner.runner_id {
        item.insert(r::RUNNER_ID.to_owned(), n(id));
    }
    if let Some(job) = &runner.job_id {
        item.insert(r::JOB_ID.to_owned(), s(job));
    }
    if let Some(at) = runner.interrupted_at {
        item.insert(r::INTERRUPTED_AT.to_owned(), rfc3339(at));
    }
    item
}

/// A ledger entry.
pub fn decode_runner(item: &Item) -> Result<RunnerRecord, DecodeError> {
    let state = required(string(item, r::STATE)?, r::STATE)?;
    Ok(RunnerRecord {
        name: required(string(item, r::NAME)?, r::NAME)?.to_owned(),
        instance_id: required(string(item, r::INSTANCE_ID)?, r::INSTANCE_ID)?.to_owned(),
        runner_id: number(item, r::RUNNER_ID)?,
        launched_at: time(item, r::LAUNCHED_AT)?,
        state: runner_state(state).ok_or(DecodeError {
            attribute: r::STATE,
            problem: "unknown state",
        })?,
        job_id: string(item, r::JOB_ID)?.map(str::to_owned),
        interrupted_at: optional_time(item, r::INTERRUPTED_AT)?,
    })
}

/// Full-precision RFC 3339, so a time reads back equal to what was written.
fn rfc3339(at: DateTime<Utc>) -> AttributeValue {
    s(at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

fn time(item: &Item, attribute: &'static str) -> Result<DateTime<Utc>, DecodeError> {
    required(optional_time(item, attribute)?, attribute)
}

fn optional_time(
    item: &Item,
    attribute: &'static str,
) -> Result<Option<DateTime<Utc>>, DecodeError> {
    let Some(text) = string(item, attribute)? else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(text)
        .map(|at| Some(at.with_timezone(&Utc)))
        .map_err(|_| DecodeError {
            attribute,
            problem: "not RFC 3339",
        })
}

/// A pending rerun's attributes, without key and TTL.
pub fn encode_rerun(rerun: &RerunRecord) -> Item {
    let mut item = Item::from([
        (rr::RUN_ID.to_owned(), n(rerun.run_id)),
        (rr::OWNER.to_owned(), s(&rerun.owner)),
        (rr::REPOSITORY.to_owned(), s(&rerun.repository)),
        (rr::JOB_ID.to_owned(), s(&rerun.job_id)),
        (rr::RUNNER_NAME.to_owned(), s(&rerun.runner_name)),
        (rr::RECORDED_AT.to_owned(), rfc3339(rerun.recorded_at)),
    ]);
    if let Some(attempt) = rerun.attempt {
        item.insert(rr::ATTEMPT.to_owned(), n(attempt));
    }
    item
}

/// A pending rerun.
pub fn decode_rerun(item: &Item) -> Result<RerunRecord, DecodeError> {
    let text = |attribute| -> Result<String, DecodeError> {
        Ok(required(string(item, attribute)?, attribute)?.to_owned())
    };
    Ok(RerunRecord {
        run_id: required(number(item, rr::RUN_ID)?, rr::RUN_ID)?,
        owner: text(rr::OWNER)?,
        repository: text(rr::REPOSITORY)?,
        job_id: text(rr::JOB_ID)?,
        runner_name: text(rr::RUNNER_NAME)?,
        attempt: number(item, rr::ATTEMPT)?,
        recorded_at: time(item, rr::RECORDED_AT)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::wire::Statistics;

    /// A time the table keeps exactly (milliseconds).
    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_900_000_000_000 + ms).unwrap()
    }

    fn full_state() -> ScaleSetState {
        ScaleSetState {
            scale_set_id: Some(7),
            session: Some(StoredSession {
                id: uuid::Uuid::new_v4(),
                queue_url: "https://pipelines.example/queue".into(),
                created_at: Some(at(1)),
                refreshed_at: Some(at(2)),
            }),
            last_message_id: 42,
            last_message_at: Some(at(3)),
            admin: Some(admin()),
            statistics: Some(Statistics {
                total_assigned_jobs: 3,
                ..Statistics::default()
            }),
            decisions: Decisions::default(),
        }
    }

    #[test]
    fn decisions_round_trip_newest_first_and_name_their_attribute() {
        let decisions = Decisions::new(
            (0..Decisions::KEPT as u32)
                .map(|i| Decision {
                    at: at(i.into()),
                    desired: i,
                    capped_by: vec!["max".into()],
                    ..Decision::default()
                })
                .collect(),
        );
        assert_eq!(
            decode_decisions(&encode_decisions(&decisions)),
            Ok(decisions)
        );
        let garbled = Item::from([(d::RECORDS.to_owned(), s("{"))]);
        assert_eq!(
            decode_decisions(&garbled).unwrap_err().attribute,
            d::RECORDS
        );
    }

    fn admin() -> StoredAdmin {
        StoredAdmin {
            service_url: "https://pipelines.example/".into(),
            token: SecretString::from("admin-token"),
        }
    }

    fn as_item(attributes: Vec<(&'static str, Option<AttributeValue>)>) -> Item {
        attributes
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
            .collect()
    }

    #[test]
    fn state_round_trips_with_the_admin_connection_apart() {
        let state = full_state();
        let item = as_item(encode_state(&state));
        let admin = encode_admin(&admin());
        assert_eq!(decode_state(&item, Some(&admin)), Ok(state.clone()));
        let without = ScaleSetState {
            admin: None,
            ..state
        };
        assert_eq!(decode_state(&item, None), Ok(without));
        let empty = ScaleSetState::default();
        assert_eq!(
            decode_state(&as_item(encode_state(&empty)), None),
            Ok(empty)
        );
    }

    #[test]
    fn retired_attributes_are_removed() {
        let attributes = encode_state(&full_state());
        for retired in s::RETIRED {
            assert!(attributes.contains(&(retired, None)), "{retired}");
        }
    }

    #[test]
    fn a_record_reads_its_lease_and_release() {
        let mut item = as_item(encode_state(&ScaleSetState::default()));
        assert_eq!(decode_record(&item, None).unwrap().lease, None);
        let expires_at = chrono::Utc.timestamp_millis_opt(1_900_000_000_123).unwrap();
        item.insert(s::LEASE_OWNER.into(), s("inv-1"));
        item.insert(s::LEASE_EXPIRES_AT.into(), millis(expires_at));
        item.insert(s::FENCE.into(), n(4));
        item.insert(s::LEASE_RELEASED_AT.into(), millis(expires_at));
        let record = decode_record(&item, None).unwrap();
        assert_eq!(
            record.lease,
            Some(Lease {
                owner: "inv-1".into(),
                fence: 4,
                expires_at
            })
        );
        assert_eq!(record.released_at, Some(expires_at));
    }

    #[test]
    fn runner_round_trips_with_nanoseconds() {
        let runner = RunnerRecord {
            name: "r-1".into(),
            instance_id: "i-0123456789abcdef0".into(),
            runner_id: Some(9),
            launched_at: Utc::now(),
            state: RunnerState::Busy,
            job_id: Some("job-1".into()),
            interrupted_at: Some(Utc::now()),
        };
        assert_eq!(decode_runner(&encode_runner(&runner)), Ok(runner));
    }

    #[test]
    fn rerun_round_trips_with_and_without_an_attempt() {
        let rerun = RerunRecord {
            run_id: 30_433_642,
            owner: "octo-org".into(),
            repository: "octo-repo".into(),
            job_id: "job-1".into(),
            runner_name: "set-r1".into(),
            attempt: None,
            recorded_at: Utc::now(),
        };
        let noted = RerunRecord {
            attempt: Some(2),
            ..rerun.clone()
        };
        for rerun in [rerun, noted.clone()] {
            assert_eq!(decode_rerun(&encode_rerun(&rerun)), Ok(rerun));
        }
        let mut item = encode_rerun(&noted);
        item.insert(rr::RECORDED_AT.into(), s("yesterday"));
        assert_eq!(decode_rerun(&item).unwrap_err().attribute, rr::RECORDED_AT);
    }

    #[test]
    fn errors_name_the_attribute_not_the_value() {
        let mut item = as_item(encode_state(&full_state()));
        item.remove(s::QUEUE_URL);
        assert_eq!(
            decode_state(&item, None).unwrap_err().attribute,
            s::QUEUE_URL
        );
        let mut admin = encode_admin(&admin());
        admin.insert(a::SERVICE_URL.into(), n(1));
        let err = decode_state(&as_item(encode_state(&full_state())), Some(&admin)).unwrap_err();
        assert_eq!(err.attribute, a::SERVICE_URL);
        item.insert(s::SESSION_ID.into(), s("secret-looking"));
        assert!(
            !decode_state(&item, None)
                .unwrap_err()
                .to_string()
                .contains("secret-looking")
        );
    }
}
