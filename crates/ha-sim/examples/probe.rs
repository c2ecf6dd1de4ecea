//! Measures what a running simulator delivers: starts one in-process (or connects to
//! `--url`), subscribes with raw WebSocket clients and prints messages and bytes per second.
//!
//! ```text
//! cargo run --release -p ha-sim --example probe -- --entities 16384 --rate 10000 --seconds 5
//! ```

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use ha_sim::{Sim, SimConfig};
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug)]
struct Args {
    entities: usize,
    rate: f64,
    seconds: u64,
    coalesce: bool,
    kind: String,
    max_pending: usize,
}

fn args() -> Args {
    let mut a = Args {
        entities: 16_384,
        rate: 10_000.0,
        seconds: 5,
        coalesce: true,
        kind: "entities".into(),
        max_pending: 4096,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().expect("flag value").clone();
        match flag.as_str() {
            "--entities" => a.entities = value().parse().expect("number"),
            "--rate" => a.rate = value().parse().expect("number"),
            "--seconds" => a.seconds = value().parse().expect("number"),
            "--no-coalesce" => a.coalesce = false,
            "--events" => a.kind = "events".into(),
            "--none" => a.kind = "none".into(),
            "--max-pending" => a.max_pending = value().parse().expect("number"),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

#[tokio::main]
async fn main() {
    let args = args();
    let started = Instant::now();
    let sim = Sim::start(SimConfig {
        entities: args.entities,
        rate: args.rate,
        max_pending: args.max_pending,
        ..SimConfig::default()
    })
    .await
    .expect("sim starts");
    println!("started {} entities in {:?}", args.entities, started.elapsed());
    if args.kind == "none" {
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
        println!(
            "no subscriber: the sim made {} changes in {:.1} s",
            sim.load_changes(),
            started.elapsed().as_secs_f64()
        );
        return;
    }
    if args.rate == 0.0 {
        let t = Instant::now();
        sim.emit_changes(200_000);
        println!("emit_changes(200000) without subscribers took {:?}", t.elapsed());
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(sim.ws_url()).await.expect("connects");
    ws.next().await;
    ws.send(Message::Text(r#"{"type":"auth","access_token":"sim-token"}"#.into())).await.unwrap();
    ws.next().await;
    if args.coalesce {
        ws.send(Message::Text(r#"{"id":1,"type":"supported_features","features":{"coalesce_messages":1}}"#.into()))
            .await
            .unwrap();
    }
    let sub = if args.kind == "events" {
        r#"{"id":2,"type":"subscribe_events","event_type":"state_changed"}"#
    } else {
        r#"{"id":2,"type":"subscribe_entities"}"#
    };
    let subscribed = Instant::now();
    ws.send(Message::Text(sub.into())).await.unwrap();
    let (mut frames, mut messages, mut bytes, mut biggest) = (0u64, 0u64, 0u64, 0usize);
    let mut window = Instant::now();
    let mut first = true;
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    while Instant::now() < deadline {
        let Some(Ok(Message::Text(text))) = ws.next().await else { continue };
        if first && text.len() > 100_000 {
            println!("snapshot: {} bytes after {:?}", text.len(), subscribed.elapsed());
            first = false;
            window = Instant::now();
            continue;
        }
        frames += 1;
        messages += text.matches("\"type\":\"event\"").count() as u64;
        bytes += text.len() as u64;
        biggest = biggest.max(text.len());
    }
    let secs = window.elapsed().as_secs_f64();
    println!(
        "{messages} events in {frames} frames: {:.0} events/s, {:.0} frames/s, {:.1} MB/s, biggest frame {biggest} bytes",
        messages as f64 / secs,
        frames as f64 / secs,
        bytes as f64 / secs / 1e6
    );
    println!("the sim made {} changes in {:.1} s", sim.load_changes(), started.elapsed().as_secs_f64());
    sim.shutdown().await;
}
