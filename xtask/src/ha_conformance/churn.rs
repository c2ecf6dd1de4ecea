//! `ha-conformance --churn`: the bare client's CPU per entity change against a real Home Assistant.
//!
//! With Home Assistant `RUNNING` and onboarded, the run
//! 1. creates `--entities` sensors `sensor.hapulse_churn_NNNNN` with `POST /api/states/<id>` (201 each);
//! 2. starts `--churners` threads in this process, each with its own keep-alive HTTP connection to 127.0.0.1,
//!    that post a new state to their share of the sensors (sensor `i` belongs to thread `i % churners`) in
//!    turn, as fast as Home Assistant answers, counting the updates it accepted (200) and the ones it did not;
//! 3. runs `ha-client`'s `mirror` example in `--measure` mode (the load test's [`MirrorMeasure`]) subscribed to
//!    every entity: after its snapshot and `--warmup` it measures itself over `--seconds` (CPU from
//!    `/proc/self/stat`, context switches of every thread, frames and changes from its own counters, peak RSS);
//!    the xtask reads, at the two ends of that window, the updates accepted so far and the CPU of Home Assistant
//!    and of itself (the churn driver) from `/proc`;
//! 4. stops the churn, measures the machine's wake-up floor at the mean gap and size of the frames the client
//!    read (Home Assistant idle; see [`floor_for`]) and returns the figures ([`ChurnFile`]).
//!
//! The token reaches the example in its environment (`HASS_TOKEN`) and the churners in the `Authorization`
//! header; it is never printed.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::Progress;
use super::churn_report::{ChurnFile, Window};
use super::config::Urls;
use super::hass::Supervisor;
use super::onboard::Token;
use super::venv::HA_VERSION;
use crate::cli::ChurnConfig;
use crate::load::cpu::{self, CpuStep, CpuTimes};
use crate::load::floor::{self, Floor};
use crate::load::procs::{Mark, MirrorMeasure};

/// Timeout of one REST request: Home Assistant under churn answers in milliseconds; a request this late means
/// it is stuck, and counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The entity id of sensor `index`.
pub(crate) fn sensor_id(index: usize) -> String {
    format!("sensor.hapulse_churn_{index:05}")
}

/// The body that sets a sensor to `value`. The attributes stay the same in every update, so each one is a
/// state-only change, the commonest change of a real installation.
pub(crate) fn state_body(value: u64) -> Value {
    json!({"state": value.to_string(), "attributes": {"unit_of_measurement": "W", "state_class": "measurement"}})
}

/// The sensors churner `worker` of `churners` updates: every `churners`-th from `worker`.
pub(crate) fn share(worker: usize, churners: usize, entities: usize) -> impl Iterator<Item = usize> {
    (worker..entities).step_by(churners.max(1))
}

/// What the churners count, shared between them and the run.
#[derive(Debug, Default)]
struct Counters {
    /// Updates Home Assistant accepted.
    accepted: AtomicU64,
    /// Updates that failed or were refused.
    failed: AtomicU64,
    /// The first failure, to report (never holds the token: only statuses, bodies and transport errors).
    first_failure: Mutex<Option<String>>,
    /// Set to end the churn.
    stop: AtomicBool,
}

impl Counters {
    fn fail(&self, message: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.first_failure.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(message);
    }

    fn first_failure(&self) -> Option<String> {
        self.first_failure.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// One churner's keep-alive HTTP/1.1 connection to Home Assistant. Written by hand rather than with ureq:
/// the xtask is built without optimisation, and ureq's request building there cost about 280 µs of CPU per
/// update (0.65 of a core at 2,300 updates/s, measured 2026-12-05), CPU the churn took from Home Assistant on
/// a 2-core machine. A request here is one formatted write and a buffered read of the answer.
struct Poster<'a> {
    urls: &'a Urls,
    authorization: String,
    connection: Option<BufReader<TcpStream>>,
}

/// The request that sets `entity_id` to `body` (JSON) on `host`, keeping the connection open.
pub(crate) fn state_request(host: &str, authorization: &str, entity_id: &str, body: &str) -> String {
    format!(
        "POST /api/states/{entity_id} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {authorization}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The status and `Content-Length` of a response head (status line and headers, without the blank line).
pub(crate) fn response_head(head: &str) -> Result<(u16, usize), String> {
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP/1.1 status line: {status_line:?}"))?;
    let length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.trim().parse().map_err(|_| format!("bad Content-Length {value:?}")))
        .transpose()?
        .ok_or_else(|| format!("the answer (status {status}) has no Content-Length"))?;
    Ok((status, length))
}

impl<'a> Poster<'a> {
    fn new(urls: &'a Urls, token: &Token) -> Self {
        Self { urls, authorization: format!("Bearer {}", token.expose()), connection: None }
    }

    /// Sets sensor `index` to `value`; `Ok(status)` when Home Assistant answered 200 or 201. On a failed
    /// exchange the connection is dropped and the next call opens a new one.
    fn post(&mut self, index: usize, value: u64) -> Result<u16, String> {
        let entity_id = sensor_id(index);
        let result = self.exchange(&entity_id, &state_body(value).to_string());
        if result.is_err() {
            self.connection = None;
        }
        match result? {
            (status @ (200 | 201), _) => Ok(status),
            (status, body) => Err(format!("POST /api/states/{entity_id} answered {status}: {}", body.trim())),
        }
    }

    fn exchange(&mut self, entity_id: &str, body: &str) -> Result<(u16, String), String> {
        let address = format!("127.0.0.1:{}", self.urls.port());
        let failed = |what: &str, err: std::io::Error| format!("POST /api/states/{entity_id}: {what}: {err}");
        let connection = match &mut self.connection {
            Some(connection) => connection,
            None => {
                let stream = TcpStream::connect(&address).map_err(|err| failed("connecting", err))?;
                stream.set_nodelay(true).map_err(|err| failed("TCP_NODELAY", err))?;
                stream.set_read_timeout(Some(REQUEST_TIMEOUT)).map_err(|err| failed("read timeout", err))?;
                stream.set_write_timeout(Some(REQUEST_TIMEOUT)).map_err(|err| failed("write timeout", err))?;
                self.connection.insert(BufReader::new(stream))
            }
        };
        let request = state_request(&address, &self.authorization, entity_id, body);
        connection.get_mut().write_all(request.as_bytes()).map_err(|err| failed("sending", err))?;
        let mut head = String::new();
        loop {
            let before = head.len();
            let read = connection.read_line(&mut head).map_err(|err| failed("reading the answer", err))?;
            if read == 0 {
                return Err(format!("POST /api/states/{entity_id}: the server closed the connection"));
            }
            if head[before..] == *"\r\n" {
                break;
            }
        }
        let (status, length) = response_head(head.trim_end())?;
        let mut answer = vec![0; length];
        connection.read_exact(&mut answer).map_err(|err| failed("reading the body", err))?;
        Ok((status, String::from_utf8_lossy(&answer).into_owned()))
    }
}

/// Creates the sensors, `churners` requests at a time.
fn create(config: &ChurnConfig, urls: &Urls, token: &Token, counters: &Counters) -> anyhow::Result<()> {
    thread::scope(|scope| {
        for worker in 0..config.churners {
            scope.spawn(move || {
                let mut poster = Poster::new(urls, token);
                for index in share(worker, config.churners, config.entities) {
                    match poster.post(index, 0) {
                        Ok(201) => {}
                        Ok(status) => {
                            counters.fail(format!("creating {} answered {status}, not 201", sensor_id(index)))
                        }
                        Err(message) => counters.fail(message),
                    }
                }
            });
        }
    });
    match counters.failed.load(Ordering::Relaxed) {
        0 => Ok(()),
        failed => bail!(
            "{failed} of {} sensors could not be created; first: {}",
            config.entities,
            counters.first_failure().unwrap_or_default()
        ),
    }
}

/// Updates churner `worker`'s share of the sensors in turn until the run stops it or Home Assistant is gone.
fn churn(worker: usize, config: &ChurnConfig, poster: &mut Poster<'_>, counters: &Counters, closed: &dyn Fn() -> bool) {
    let mine: Vec<usize> = share(worker, config.churners, config.entities).collect();
    // Every update of one sensor gets a value its previous one did not have: a change each time.
    let mut value = 0u64;
    while !counters.stop.load(Ordering::Relaxed) && !closed() {
        for &index in &mine {
            value += 1;
            match poster.post(index, value) {
                Ok(_) => {
                    counters.accepted.fetch_add(1, Ordering::Relaxed);
                }
                Err(message) => counters.fail(message),
            }
            if counters.stop.load(Ordering::Relaxed) {
                return;
            }
        }
    }
}

/// What the xtask reads at each end of the client's window.
#[derive(Debug, Clone, Copy)]
struct Reading {
    at: Instant,
    accepted: u64,
    home_assistant: Option<CpuTimes>,
    driver: Option<CpuTimes>,
    /// The machine's steal time so far, seconds.
    steal: Option<f64>,
}

impl Reading {
    fn take(counters: &Counters, home_assistant: Option<u32>) -> Self {
        Reading {
            at: Instant::now(),
            accepted: counters.accepted.load(Ordering::Relaxed),
            home_assistant: home_assistant.and_then(cpu::read),
            driver: cpu::read(std::process::id()),
            steal: crate::steal::read_steal(),
        }
    }

    /// The window from `self` to `later`.
    fn until(self, later: Reading) -> Window {
        let since = |a: Option<CpuTimes>, b: Option<CpuTimes>| a.zip(b).map(|(a, b)| b.since(a));
        Window {
            seconds: later.at.duration_since(self.at).as_secs_f64(),
            posted: later.accepted.saturating_sub(self.accepted),
            home_assistant: since(self.home_assistant, later.home_assistant),
            driver: since(self.driver, later.driver),
            steal_seconds: self.steal.zip(later.steal).map(|(a, b)| (b - a).max(0.0)),
        }
    }
}

/// Runs the churn against the Home Assistant `supervisor` runs on `urls` and measures the `mirror` example at
/// `mirror` meanwhile.
pub(crate) fn run(
    config: &ChurnConfig,
    urls: &Urls,
    token: &Token,
    supervisor: &Supervisor,
    mirror: &Path,
    progress: &Progress,
) -> anyhow::Result<ChurnFile> {
    let counters = Counters::default();
    progress.stage(format_args!("creating {} sensors over REST", config.entities));
    create(config, urls, token, &counters)?;
    let closed = || supervisor.is_closed();

    progress.stage(format_args!(
        "churning them with {} REST clients; the mirror example measures {:.0} s after a {:.0} s warm-up",
        config.churners,
        config.seconds.as_secs_f64(),
        config.warmup.as_secs_f64()
    ));
    let base = urls.base();
    let measure = MirrorMeasure {
        program: mirror,
        url: &base,
        token: token.expose(),
        warmup: config.warmup,
        seconds: config.seconds,
        batch_reads: config.batch_reads,
    };
    let (step, window) = thread::scope(|scope| {
        for worker in 0..config.churners.min(config.entities) {
            let (counters, closed) = (&counters, &closed);
            scope.spawn(move || churn(worker, config, &mut Poster::new(urls, token), counters, closed));
        }
        let mut opened = None;
        let mut window = None;
        let step = measure.run(
            |mark| {
                let reading = Reading::take(&counters, supervisor.pid());
                match mark {
                    Mark::Opened => opened = Some(reading),
                    Mark::Closed => window = opened.map(|opened| opened.until(reading)),
                }
            },
            closed,
        );
        counters.stop.store(true, Ordering::Relaxed);
        step.map(|step| (step, window))
    })?;
    let window = window.context("the mirror example gave its result without saying when its window opened")?;
    let failed = counters.failed.load(Ordering::Relaxed);
    if let Some(first) = counters.first_failure() {
        eprintln!("warning: {failed} REST updates failed; first: {first}");
    }
    let floor = floor_for(&step, progress)?;
    Ok(ChurnFile::new(HA_VERSION, config, &step, &window, failed).with_floor(floor))
}

/// The machine's wake-up floor for the client's run, measured after the churn (Home Assistant idle):
/// when the client read each frame as it came, at the mean gap and size of those frames (a wake-up
/// costs more the longer the reader slept before it, and Home Assistant sends a frame every
/// millisecond or so, not every 5 ms); with read batching, or frames further apart than the floor
/// measures, as the load test measures it (the split per frame is not made with read batching).
fn floor_for(step: &CpuStep, progress: &Progress) -> anyhow::Result<Floor> {
    let at = step
        .frame_gap_and_size()
        .filter(|(gap, size)| step.read_batching_ms.is_none() && floor::GAPS.contains(gap) && *size > 0);
    match at {
        Some((gap, size)) => {
            progress.stage(format_args!(
                "measuring the machine's wake-up floor at the frames' mean gap ({:.2} ms, {size} bytes)",
                gap.as_secs_f64() * 1e3
            ));
            floor::measure_at(gap, size)
        }
        None => {
            progress.stage(format_args!("measuring the machine's wake-up floor"));
            floor::measure_standard()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn every_sensor_belongs_to_exactly_one_churner() {
        let (churners, entities) = (3, 10);

        let mut all: Vec<usize> = (0..churners).flat_map(|w| share(w, churners, entities)).collect();

        all.sort_unstable();
        assert_eq!(all, (0..entities).collect::<Vec<_>>());
    }

    #[test]
    fn churners_beyond_the_sensors_get_none() {
        let shares: Vec<usize> = (0..4).map(|w| share(w, 4, 2).count()).collect();

        assert_eq!(shares, [1, 1, 0, 0]);
    }

    #[test]
    fn sensor_ids_are_valid_and_sort_in_creation_order() {
        let ids = [sensor_id(7), sensor_id(10_000)];

        assert_eq!(ids, ["sensor.hapulse_churn_00007", "sensor.hapulse_churn_10000"]);
    }

    #[test]
    fn an_update_sets_the_state_as_text_and_keeps_the_attributes() {
        let (first, second) = (state_body(1), state_body(2));

        assert_eq!(first["state"], "1");
        assert_eq!(second["state"], "2");
        assert_eq!(first["attributes"], second["attributes"]);
    }

    #[test]
    fn a_state_request_is_a_keep_alive_post_with_its_length() {
        let request = state_request("127.0.0.1:8125", "Bearer t", "sensor.x", r#"{"state":"1"}"#);

        assert_eq!(
            request,
            "POST /api/states/sensor.x HTTP/1.1\r\nHost: 127.0.0.1:8125\r\nAuthorization: Bearer t\r\n\
             Content-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"state\":\"1\"}"
        );
    }

    #[test]
    fn a_response_head_gives_status_and_length() {
        let head = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\ncontent-length: 42\r\nDate: x";

        let parsed = response_head(head);

        assert_eq!(parsed, Ok((201, 42)));
    }

    #[test]
    fn a_response_head_without_length_or_status_is_an_error() {
        let heads = [
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked",
            "SSH-2.0-OpenSSH",
            "HTTP/1.1 200 OK\r\nContent-Length: x",
        ];

        let errors: Vec<String> = heads.iter().map(|head| response_head(head).unwrap_err()).collect();

        assert_eq!(
            errors,
            [
                "the answer (status 200) has no Content-Length",
                "not an HTTP/1.1 status line: \"SSH-2.0-OpenSSH\"",
                "bad Content-Length \" x\"",
            ]
        );
    }

    /// A server on 127.0.0.1 that answers `answers` in turn on one connection, returning what it read.
    fn one_connection_server(answers: Vec<&'static str>) -> (u16, thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut seen = String::new();
            for answer in answers {
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    seen.push_str(&line);
                    if let Some(value) = line.strip_prefix("Content-Length: ") {
                        length = value.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                seen.push_str(&String::from_utf8(body).unwrap());
                reader.get_mut().write_all(answer.as_bytes()).unwrap();
            }
            seen
        });
        (port, server)
    }

    #[test]
    fn a_poster_reuses_its_connection_and_reports_refusals() {
        let answers = vec![
            "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}",
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 7\r\n\r\nno good",
        ];
        let (port, server) = one_connection_server(answers);
        let (urls, token) = (Urls::new(port), Token::for_tests("tok"));
        let mut poster = Poster::new(&urls, &token);

        let results = [poster.post(3, 1), poster.post(3, 2)];

        let seen = server.join().unwrap();
        assert_eq!(results, [Ok(201), Err("POST /api/states/sensor.hapulse_churn_00003 answered 400: no good".into())]);
        assert_eq!(seen.matches("Authorization: Bearer tok\r\n").count(), 2);
    }

    #[test]
    fn a_window_counts_what_happened_between_its_readings() {
        let at = Instant::now();
        let cpu = |user, system| Some(CpuTimes { user, system });
        let opened =
            Reading { at, accepted: 100, home_assistant: cpu(1.0, 0.5), driver: cpu(0.2, 0.1), steal: Some(30.0) };
        let closed = Reading {
            at: at + Duration::from_secs(10),
            accepted: 35_100,
            home_assistant: cpu(9.0, 2.5),
            driver: None,
            steal: Some(31.5),
        };

        let window = opened.until(closed);

        assert_eq!(
            window,
            Window {
                seconds: 10.0,
                posted: 35_000,
                home_assistant: cpu(8.0, 2.0),
                driver: None,
                steal_seconds: Some(1.5)
            }
        );
    }
}
