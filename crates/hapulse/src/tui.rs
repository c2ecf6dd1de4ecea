//! The live terminal view of `hapulse watch` (ratatui over crossterm): laid out for 80×24 and
//! larger, refreshed every second, `q`, `Esc` or Ctrl-C to quit. The terminal is restored on every
//! way out, errors and panics included.

use std::time::Duration;

use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table};

use crate::view::{View, ms};

/// Restores the terminal when dropped (raw mode off, main screen back).
#[derive(Debug)]
pub struct TerminalGuard(());

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Whether a key means "quit".
pub fn is_quit(code: KeyCode, modifiers: KeyModifiers) -> bool {
    matches!(code, KeyCode::Char('q') | KeyCode::Char('Q') | KeyCode::Esc)
        || (code == KeyCode::Char('c') && modifiers.contains(KeyModifiers::CONTROL))
}

/// Runs the view until the user quits or `stop` resolves: `read` is called every second for
/// fresh data; `header` is the first line (what is watched).
pub async fn run(
    header: impl Fn() -> String,
    mut read: impl FnMut() -> View,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let _guard = TerminalGuard(());
    tokio::pin!(stop);
    let mut redraw = tokio::time::interval(Duration::from_secs(1));
    let mut keys = tokio::time::interval(Duration::from_millis(50));
    let mut view = read();
    loop {
        tokio::select! {
            _ = redraw.tick() => {
                view = read();
                let title = header();
                terminal.draw(|f| draw(f, &title, &view))?;
            }
            _ = keys.tick() => {
                while event::poll(Duration::ZERO)? {
                    match event::read()? {
                        Event::Key(k) if k.kind == KeyEventKind::Press && is_quit(k.code, k.modifiers) => return Ok(()),
                        Event::Resize(..) => { terminal.draw(|f| draw(f, &header(), &view))?; }
                        _ => {}
                    }
                }
            }
            () = &mut stop => return Ok(()),
        }
    }
}

/// Draws `view` under a `title` line.
pub fn draw(frame: &mut Frame<'_>, title: &str, view: &View) {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let [head, rates, middle, bottom, help] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(8),
        Constraint::Length(5),
        Constraint::Length(1),
    ])
    .areas(frame.area());

    frame.render_widget(Paragraph::new(Line::from(Span::styled(title.to_owned(), bold))), head);
    frame.render_widget(
        Paragraph::new(format!(
            "events/s {:.1}  changes/s {:.1}  in {:.1} kB/s  entities {}",
            view.events_per_second,
            view.changes_per_second,
            view.bytes_per_second / 1e3,
            view.entities
        )),
        rates,
    );

    let [left, right] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(middle);
    let [entities, domains] = Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(left);
    let rate_rows = |v: &[(String, f64)]| -> Vec<Row<'static>> {
        v.iter().map(|(k, r)| Row::new(vec![k.clone(), format!("{r:.1}/s")])).collect()
    };
    let widths = [Constraint::Min(10), Constraint::Length(9)];
    frame.render_widget(
        Table::new(rate_rows(&view.top_entities), widths).block(Block::bordered().title("top entities")),
        entities,
    );
    frame.render_widget(
        Table::new(rate_rows(&view.top_domains), widths).block(Block::bordered().title("top domains")),
        domains,
    );

    let mut rows: Vec<Row<'static>> = view
        .latencies
        .iter()
        .map(|l| Row::new(vec![l.command.clone(), ms(Some(l.p50)), ms(Some(l.p99)), ms(Some(l.max))]))
        .collect();
    rows.push(Row::new(vec!["event lag".into(), String::new(), ms(view.lag_p99), String::new()]));
    let latency =
        Table::new(rows, [Constraint::Min(8), Constraint::Length(9), Constraint::Length(9), Constraint::Length(9)])
            .header(Row::new(vec!["latency", "p50", "p99", "max"]).style(bold))
            .block(Block::bordered().title("latency (5 min)"));
    frame.render_widget(latency, right);

    let [memory, alerts] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(bottom);
    let largest = view.largest_payload.as_ref().map_or_else(|| "-".into(), |(e, b)| format!("{e} {:.1} kB", b / 1e3));
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(format!("rss {:.1} MB  cpu {:.0}%", view.rss_bytes / 1e6, view.cpu * 100.0)),
            Line::from(format!("mirror {:.1} MB  reconnects {}", view.mirror_bytes / 1e6, view.reconnects)),
            Line::from(format!("largest attrs {largest}")),
        ])
        .block(Block::bordered().title("this client")),
        memory,
    );
    let alert_lines: Vec<Line<'static>> = if view.alerts.is_empty() {
        vec![Line::from(Span::styled("none", Style::default().fg(Color::Green)))]
    } else {
        view.alerts
            .iter()
            .map(|a| {
                let color = if a.state == "firing" { Color::Red } else { Color::Yellow };
                let value = a.value.map_or_else(|| "-".into(), |v| format!("{v:.3}"));
                Line::from(Span::styled(
                    format!("{} {} ({value} > {})", a.state, a.name, a.threshold),
                    Style::default().fg(color),
                ))
            })
            .collect()
    };
    frame.render_widget(Paragraph::new(alert_lines).block(Block::bordered().title("alerts")), alerts);
    frame.render_widget(Paragraph::new("q / Esc / Ctrl-C: quit"), help);
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::view::{ActiveAlert, Latency};

    fn sample_view() -> View {
        View {
            events_per_second: 201.5,
            changes_per_second: 199.0,
            top_entities: vec![("sensor.house_power".into(), 12.5), ("sensor.grid_power".into(), 9.0)],
            top_domains: vec![("sensor".into(), 150.0), ("light".into(), 20.0)],
            latencies: vec![Latency { command: "ping".into(), p50: 0.0004, p99: 0.002, max: 0.003, count: 4 }],
            entities: 10_000.0,
            rss_bytes: 42e6,
            alerts: vec![ActiveAlert {
                name: "command_latency".into(),
                state: "firing",
                value: Some(3.0),
                threshold: 1.0,
            }],
            ..View::default()
        }
    }

    fn screen(width: u16, height: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|f| draw(f, "hapulse watch  http://127.0.0.1:8123", &sample_view())).unwrap();
        let buffer = terminal.backend().buffer().clone();
        (0..height)
            .map(|y| (0..width).map(|x| buffer[(x, y)].symbol().to_owned()).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn an_80_by_24_terminal_shows_rates_top_entities_latency_memory_and_alerts() {
        let text = screen(80, 24);

        for needle in
            ["events/s 201.5", "sensor.house_power", "ping", "rss 42.0 MB", "firing command_latency", "q / Esc"]
        {
            assert!(text.contains(needle), "{needle:?} missing from\n{text}");
        }
    }

    #[test]
    fn q_and_ctrl_c_quit_but_c_alone_does_not() {
        let quits = [
            is_quit(KeyCode::Char('q'), KeyModifiers::NONE),
            is_quit(KeyCode::Char('c'), KeyModifiers::CONTROL),
            is_quit(KeyCode::Char('c'), KeyModifiers::NONE),
        ];

        assert_eq!(quits, [true, true, false]);
    }
}
