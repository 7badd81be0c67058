//! The built-in metrics every run records, with k6's names, kinds and units.

use super::data::MetricKind;

/// Plain service time of requests in open models (`http_req_duration`
/// there counts from the iteration's scheduled start).
pub const HTTP_REQ_SERVICE_TIME: &str = "http_req_service_time";
/// Plain service time of iterations in open models.
pub const ITERATION_SERVICE_TIME: &str = "iteration_service_time";
/// How late an open-model iteration started after its scheduled time.
pub const ITERATION_START_DELAY: &str = "iteration_start_delay";
/// Open-model iterations that found no free VU.
pub const DROPPED_ITERATIONS: &str = "dropped_iterations";
/// Iterations cut off at the end of a graceful stop or ramp-down.
pub const INTERRUPTED_ITERATIONS: &str = "interrupted_iterations";
/// Share of requests answered 4xx.
pub const HTTP_REQ_4XX: &str = "http_req_4xx";
/// Share of requests answered 5xx.
pub const HTTP_REQ_5XX: &str = "http_req_5xx";
/// Requests sent.
pub const HTTP_REQS: &str = "http_reqs";
/// Share of requests that failed (transport error or unexpected status).
pub const HTTP_REQ_FAILED: &str = "http_req_failed";
/// Sending + waiting + receiving.
pub const HTTP_REQ_DURATION: &str = "http_req_duration";
/// Waiting for a free connection.
pub const HTTP_REQ_BLOCKED: &str = "http_req_blocked";
/// TCP connect.
pub const HTTP_REQ_CONNECTING: &str = "http_req_connecting";
/// TLS handshake.
pub const HTTP_REQ_TLS_HANDSHAKING: &str = "http_req_tls_handshaking";
/// Writing the request.
pub const HTTP_REQ_SENDING: &str = "http_req_sending";
/// Time to first byte.
pub const HTTP_REQ_WAITING: &str = "http_req_waiting";
/// Reading the body.
pub const HTTP_REQ_RECEIVING: &str = "http_req_receiving";
/// Iterations completed (successfully or not).
pub const ITERATIONS: &str = "iterations";
/// Duration of a whole iteration.
pub const ITERATION_DURATION: &str = "iteration_duration";
/// Iterations that ended in an error or a trap (tag `kind`).
pub const ITERATION_ERRORS: &str = "iteration_errors";
/// Checks passed, of all.
pub const CHECKS: &str = "checks";
/// Active VUs.
pub const VUS: &str = "vus";
/// Most VUs allowed.
pub const VUS_MAX: &str = "vus_max";
/// Bytes written.
pub const DATA_SENT: &str = "data_sent";
/// Bytes read.
pub const DATA_RECEIVED: &str = "data_received";

/// `(name, kind, is_time)` of every built-in metric.
pub const BUILTINS: &[(&str, MetricKind, bool)] = &[
    (HTTP_REQS, MetricKind::Counter, false),
    (HTTP_REQ_FAILED, MetricKind::Rate, false),
    (HTTP_REQ_4XX, MetricKind::Rate, false),
    (HTTP_REQ_5XX, MetricKind::Rate, false),
    (HTTP_REQ_DURATION, MetricKind::Trend, true),
    (HTTP_REQ_BLOCKED, MetricKind::Trend, true),
    (HTTP_REQ_CONNECTING, MetricKind::Trend, true),
    (HTTP_REQ_TLS_HANDSHAKING, MetricKind::Trend, true),
    (HTTP_REQ_SENDING, MetricKind::Trend, true),
    (HTTP_REQ_WAITING, MetricKind::Trend, true),
    (HTTP_REQ_RECEIVING, MetricKind::Trend, true),
    (HTTP_REQ_SERVICE_TIME, MetricKind::Trend, true),
    (ITERATION_SERVICE_TIME, MetricKind::Trend, true),
    (ITERATION_START_DELAY, MetricKind::Trend, true),
    (DROPPED_ITERATIONS, MetricKind::Counter, false),
    (INTERRUPTED_ITERATIONS, MetricKind::Counter, false),
    (ITERATIONS, MetricKind::Counter, false),
    (ITERATION_DURATION, MetricKind::Trend, true),
    (ITERATION_ERRORS, MetricKind::Counter, false),
    (CHECKS, MetricKind::Rate, false),
    (VUS, MetricKind::Gauge, false),
    (VUS_MAX, MetricKind::Gauge, false),
    (DATA_SENT, MetricKind::Counter, false),
    (DATA_RECEIVED, MetricKind::Counter, false),
];

/// The kind and time-ness of a built-in metric.
pub fn builtin(name: &str) -> Option<(MetricKind, bool)> {
    BUILTINS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, k, t)| (*k, *t))
}

/// Unit shown for counters of bytes.
pub fn is_bytes(name: &str) -> bool {
    name == DATA_SENT || name == DATA_RECEIVED
}
