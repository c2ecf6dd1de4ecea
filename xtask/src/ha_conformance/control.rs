//! The control socket: a Unix socket through which the suite stops and starts Home Assistant mid-run
//! (the restart scenario), while the xtask stays the only owner of the process. Protocol: see the parent module.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::thread;

use anyhow::Context;

use super::hass::Supervisor;

/// One request on the control socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ControlCommand {
    /// Stop Home Assistant (SIGTERM, wait for it to exit).
    Stop,
    /// Start it again on the same port and wait until it is `RUNNING`.
    Start,
    /// `stop` then `start`.
    Restart,
    /// Report the pid of the running process, or that none runs.
    Status,
}

/// Parses one request line (surrounding whitespace ignored).
pub(crate) fn parse_command(line: &str) -> Result<ControlCommand, String> {
    match line.trim() {
        "stop" => Ok(ControlCommand::Stop),
        "start" => Ok(ControlCommand::Start),
        "restart" => Ok(ControlCommand::Restart),
        "status" => Ok(ControlCommand::Status),
        other => Err(format!("unknown command {other:?} (expected stop, start, restart or status)")),
    }
}

/// The reply line (without the newline) for the outcome of a command.
pub(crate) fn reply_line(outcome: &anyhow::Result<Option<u32>>) -> String {
    match outcome {
        Ok(Some(pid)) => format!("ok {pid}"),
        Ok(None) => "ok".to_owned(),
        // One line: the chain joined with ": ", newlines of log tails flattened.
        Err(err) => format!("err {}", format!("{err:#}").replace('\n', " | ")),
    }
}

/// What the control socket does to the process; implemented by the run (start means start and wait).
pub(crate) trait Control: Send + Sync + 'static {
    /// Stops Home Assistant.
    fn stop(&self) -> anyhow::Result<()>;
    /// Starts Home Assistant and waits until it is ready.
    fn start(&self) -> anyhow::Result<()>;
    /// The supervisor, for the pid.
    fn supervisor(&self) -> &Supervisor;
}

fn execute(command: ControlCommand, control: &dyn Control) -> anyhow::Result<Option<u32>> {
    match command {
        ControlCommand::Stop => control.stop().map(|()| None),
        ControlCommand::Start => control.start().map(|()| control.supervisor().pid()),
        ControlCommand::Restart => {
            control.stop()?;
            control.start().map(|()| control.supervisor().pid())
        }
        ControlCommand::Status => Ok(control.supervisor().pid()),
    }
}

fn serve_connection(stream: UnixStream, control: &dyn Control) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    for line in BufReader::new(stream).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let outcome = match parse_command(&line) {
            Ok(command) => {
                eprintln!("control: {line}");
                execute(command, control)
            }
            Err(message) => Err(anyhow::anyhow!(message)),
        };
        writeln!(writer, "{}", reply_line(&outcome))?;
    }
    Ok(())
}

/// Binds the socket at `path` and serves it on a background thread, one connection at a time (so two
/// restarts never interleave). The thread ends with the process.
pub(crate) fn spawn(path: &Path, control: Arc<dyn Control>) -> anyhow::Result<()> {
    let listener =
        UnixListener::bind(path).with_context(|| format!("binding the control socket {}", path.display()))?;
    thread::Builder::new()
        .name("ha-control".to_owned())
        .spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(stream) => {
                        if let Err(err) = serve_connection(stream, control.as_ref()) {
                            eprintln!("control: connection failed: {err}");
                        }
                    }
                    Err(err) => eprintln!("control: accept failed: {err}"),
                }
            }
        })
        .context("starting the control thread")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_commands_parse() {
        let lines = ["stop", "start\n", " restart ", "status"];

        let parsed: Vec<_> = lines.iter().map(|l| parse_command(l).unwrap()).collect();

        assert_eq!(
            parsed,
            [ControlCommand::Stop, ControlCommand::Start, ControlCommand::Restart, ControlCommand::Status]
        );
    }

    #[test]
    fn unknown_command_is_rejected_with_its_name() {
        let line = "reboot";

        let err = parse_command(line).unwrap_err();

        assert!(err.contains("\"reboot\""), "{err}");
    }

    #[test]
    fn success_with_pid_replies_ok_and_pid() {
        let outcome = Ok(Some(4242));

        let line = reply_line(&outcome);

        assert_eq!(line, "ok 4242");
    }

    #[test]
    fn success_without_process_replies_plain_ok() {
        let outcome = Ok(None);

        let line = reply_line(&outcome);

        assert_eq!(line, "ok");
    }

    #[test]
    fn failure_replies_one_err_line_with_the_whole_chain() {
        let outcome: anyhow::Result<Option<u32>> =
            Err(anyhow::anyhow!("log line 1\nlog line 2").context("Home Assistant did not start"));

        let line = reply_line(&outcome);

        assert_eq!(line, "err Home Assistant did not start: log line 1 | log line 2");
    }
}
