//! The command line.

use std::time::Duration;

use crate::churn::ChurnPlan;
use crate::client::Target;
use crate::conns::ConnPlan;
use crate::traffic::{Group, Plan};

pub(crate) const USAGE: &str = "\
usage: loadgen <fanout|pairs|latency|app|conns|churn|durable|soak> --url ws://HOST:PORT/PATH [options]
  --login L --passcode P   CONNECT credentials        --host H     CONNECT host (default /)
  --server-pid PID         server CPU and memory from /proc
  --subscribers N          fanout/app: 100, latency: 10; durable: 1 consumer while
                           producing, or 0 (drained afterwards)
  --pairs P                pairs: 50; durable: producers (persistent SENDs to one queue,
                           each waiting for its RECEIPT; one auto-ack consumer)
  --rate R                 messages/s per publisher (0 = unbounded; latency: 1000);
                           churn: sessions started per second (default 1000)
  --duration S             publishing (churn: churning) time in seconds (default 10,
                           churn 60)
  --messages M             most messages per publisher (default 10000000)
  --window W               most messages ahead of the slowest subscriber
                           (default 100000 / subscribers, within 10..1000)
  --body B                 body bytes (default 128)
  --drain S                after publishing, idle time before the rest is lost (default 5)
  --app-prefix D           app: publish to D/<topic> (default /app/fanout)
  --connections C          conns: 10000
  --concurrency K          handshakes in flight (default 64)
  --hold S                 conns: idle time once all are connected (default 5)
  --read-buffer B          client WebSocket read buffer (default 16384, conns 4096)
  --sources N              spread connections over 127.0.0.1..127.0.0.N (default 1;
                           one address has ~28,000 ephemeral ports per server)
  --stats-url U            churn: the server's stats (http://HOST:PORT/PATH, JSON with a
                           `live` object of counters that must return to 0)
soak (well-behaved chat traffic while the attacks of issue 14 repeat; --duration is the
      soak's length, --rate the ticks per session per second, default 1):
  --sessions N             well-behaved chat sessions (default 50, rooms of 5, pairs)
  --attacks A,B,..         pattern,backlog,unacked,state,slow-http,conns,stomp10 (default
                           all; \"none\" for traffic alone)
  --pause S                pause between two rounds of one attack (default 10)
  --csv PATH               server samples (RSS, CPU, gauges from /metrics) every 10 s
  --sample-every S         sampling period (default 10)
  --settle S               idle time after the soak before the last sample (default 20)";

/// Which scenario runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    Fanout,
    Pairs,
    Latency,
    App,
    Conns,
    Churn,
    Durable,
    Soak,
}

impl Scenario {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::Fanout => "fanout",
            Scenario::Pairs => "pairs",
            Scenario::Latency => "latency",
            Scenario::App => "app",
            Scenario::Conns => "conns",
            Scenario::Churn => "churn",
            Scenario::Durable => "durable",
            Scenario::Soak => "soak",
        }
    }
}

/// Parsed options.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) scenario: Scenario,
    pub(crate) url: String,
    login: Option<String>,
    passcode: Option<String>,
    host: String,
    pub(crate) server_pid: Option<u32>,
    subscribers: Option<usize>,
    pairs: usize,
    rate: Option<f64>,
    duration: f64,
    messages: u64,
    window: Option<u64>,
    body: usize,
    drain: f64,
    app_prefix: String,
    connections: usize,
    concurrency: usize,
    hold: f64,
    read_buffer: Option<usize>,
    sources: u8,
    stats_url: Option<String>,
    sessions: usize,
    attacks: Vec<crate::soak::Attack>,
    pause: f64,
    csv: Option<std::path::PathBuf>,
    sample_every: f64,
    settle: f64,
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: not a number: {value}"))
}

impl Options {
    pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
        let mut args = args.into_iter();
        let scenario = match args.next().as_deref() {
            Some("fanout") => Scenario::Fanout,
            Some("pairs") => Scenario::Pairs,
            Some("latency") => Scenario::Latency,
            Some("app") => Scenario::App,
            Some("conns") => Scenario::Conns,
            Some("churn") => Scenario::Churn,
            Some("durable") => Scenario::Durable,
            Some("soak") => Scenario::Soak,
            Some(other) => return Err(format!("unknown scenario {other}")),
            None => return Err("no scenario".into()),
        };
        let mut o = Options {
            scenario,
            url: String::new(),
            login: None,
            passcode: None,
            host: "/".into(),
            server_pid: None,
            subscribers: None,
            pairs: 50,
            rate: match scenario {
                Scenario::Latency | Scenario::Churn => Some(1000.0),
                Scenario::Soak => Some(1.0),
                _ => None,
            },
            duration: if scenario == Scenario::Churn {
                60.0
            } else {
                10.0
            },
            messages: 10_000_000,
            window: None,
            body: 128,
            drain: 5.0,
            app_prefix: "/app/fanout".into(),
            connections: 10_000,
            concurrency: 64,
            hold: 5.0,
            read_buffer: None,
            sources: 1,
            stats_url: None,
            sessions: 50,
            attacks: crate::soak::Attack::ALL.to_vec(),
            pause: 10.0,
            csv: None,
            sample_every: 10.0,
            settle: 20.0,
        };
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let v = value.as_str();
            match flag.as_str() {
                "--url" => o.url = value,
                "--login" => o.login = Some(value),
                "--passcode" => o.passcode = Some(value),
                "--host" => o.host = value,
                "--server-pid" => o.server_pid = Some(number(&flag, v)?),
                "--subscribers" => o.subscribers = Some(number(&flag, v)?),
                "--pairs" => o.pairs = number(&flag, v)?,
                "--rate" => {
                    let rate: f64 = number(&flag, v)?;
                    o.rate = (rate > 0.0).then_some(rate);
                }
                "--duration" => o.duration = number(&flag, v)?,
                "--messages" => o.messages = number(&flag, v)?,
                "--window" => o.window = Some(number(&flag, v)?),
                "--body" => o.body = number(&flag, v)?,
                "--drain" => o.drain = number(&flag, v)?,
                "--app-prefix" => o.app_prefix = value,
                "--connections" => o.connections = number(&flag, v)?,
                "--concurrency" => o.concurrency = number(&flag, v)?,
                "--hold" => o.hold = number(&flag, v)?,
                "--read-buffer" => o.read_buffer = Some(number(&flag, v)?),
                "--sources" => o.sources = number(&flag, v)?,
                "--stats-url" => o.stats_url = Some(value),
                "--sessions" => o.sessions = number(&flag, v)?,
                "--attacks" => o.attacks = parse_attacks(v)?,
                "--pause" => o.pause = number(&flag, v)?,
                "--csv" => o.csv = Some(value.into()),
                "--sample-every" => o.sample_every = number(&flag, v)?,
                "--settle" => o.settle = number(&flag, v)?,
                other => return Err(format!("unknown option {other}")),
            }
        }
        if !(o.url.starts_with("ws://") || o.url.starts_with("wss://")) {
            return Err("--url ws://... is required".into());
        }
        let bounded = |x: f64| x.is_finite() && (0.0..=3600.0).contains(&x);
        if !bounded(o.duration) || !bounded(o.drain) || !bounded(o.hold) {
            return Err("--duration, --drain and --hold are seconds, at most 3600".into());
        }
        if o.sources == 0 || o.sources == 255 {
            return Err("--sources must be within 1..=254".into());
        }
        if o.scenario == Scenario::Churn && o.rate.is_none() {
            return Err("churn needs a --rate above 0".into());
        }
        if !bounded(o.pause)
            || !bounded(o.settle)
            || !bounded(o.sample_every)
            || o.sample_every < 1.0
        {
            return Err("--pause, --settle and --sample-every are seconds (1..3600)".into());
        }
        if o.scenario == Scenario::Soak && (o.sessions < 2 || o.rate.is_none()) {
            return Err("soak needs --sessions of at least 2 and a --rate above 0".into());
        }
        if o.window == Some(0) {
            return Err("--window must be at least 1".into());
        }
        Ok(o)
    }

    pub(crate) fn target(&self) -> Target {
        let default_buffer = if matches!(self.scenario, Scenario::Conns | Scenario::Churn) {
            4096
        } else {
            16 * 1024
        };
        Target {
            url: self.url.clone(),
            login: self.login.clone(),
            passcode: self.passcode.clone(),
            host: self.host.clone(),
            read_buffer: self.read_buffer.unwrap_or(default_buffer),
            sources: self.sources,
            next_source: Default::default(),
        }
    }

    /// The whole run's limit: publishing, draining, and generous set-up time.
    pub(crate) fn time_limit(&self) -> Duration {
        let busy = match self.scenario {
            Scenario::Conns => self.hold + 120.0,
            Scenario::Churn => self.duration + 120.0,
            // Set-up, the drain, the attacks' last rounds (at most 300 s), the settling.
            Scenario::Soak => self.duration + self.settle + 600.0,
            _ => self.duration + self.drain + 180.0,
        };
        Duration::from_secs_f64(busy)
    }

    /// The `durable` scenario's plan.
    pub(crate) fn durable_plan(&self, run_id: &str) -> crate::durable::DurablePlan {
        crate::durable::DurablePlan {
            producers: self.pairs.max(1),
            duration: Duration::from_secs_f64(self.duration),
            body: self.body,
            queue: format!("/queue/lg-durable-{run_id}"),
            messages: self.messages,
            consume_during: self.subscribers.unwrap_or(1) > 0,
        }
    }

    pub(crate) fn plan(&self, run_id: &str) -> Plan {
        let topic = |i: usize| format!("lg-{run_id}-{i}");
        let groups = match self.scenario {
            Scenario::Pairs => (0..self.pairs)
                .map(|i| Group {
                    publish_to: format!("/topic/{}", topic(i)),
                    subscribe_to: format!("/topic/{}", topic(i)),
                    subscribers: 1,
                })
                .collect(),
            Scenario::App => vec![Group {
                publish_to: format!("{}/{}", self.app_prefix, topic(0)),
                subscribe_to: format!("/topic/{}", topic(0)),
                subscribers: self.subscribers.unwrap_or(100),
            }],
            _ => vec![Group {
                publish_to: format!("/topic/{}", topic(0)),
                subscribe_to: format!("/topic/{}", topic(0)),
                subscribers: self.subscribers.unwrap_or(match self.scenario {
                    Scenario::Latency => 10,
                    _ => 100,
                }),
            }],
        };
        // In flight: about 100,000 deliveries per group, whatever its fan-out.
        let widest = groups
            .iter()
            .map(|g: &Group| g.subscribers)
            .max()
            .unwrap_or(1)
            .max(1);
        let window = self
            .window
            .unwrap_or((100_000 / widest as u64).clamp(10, 1000));
        Plan {
            groups,
            rate: self.rate,
            duration: Duration::from_secs_f64(self.duration),
            max_messages: self.messages,
            window,
            body_size: self.body,
            drain: Duration::from_secs_f64(self.drain),
            server_pid: self.server_pid,
            connect_concurrency: self.concurrency,
        }
    }

    /// The `churn` scenario's plan.
    pub(crate) fn churn_plan(&self, run_id: &str) -> ChurnPlan {
        ChurnPlan {
            rate: self.rate.unwrap_or(1000.0),
            duration: Duration::from_secs_f64(self.duration),
            in_flight: self.concurrency.max(1) * 16,
            topic_prefix: format!("/topic/lg-churn-{run_id}-"),
            server_pid: self.server_pid,
            stats_url: self.stats_url.clone(),
        }
    }

    /// The `soak` scenario's plan.
    pub(crate) fn soak_plan(&self, run: &str) -> crate::soak::SoakPlan {
        crate::soak::SoakPlan {
            run: run.to_owned(),
            sessions: self.sessions,
            rate: self.rate.unwrap_or(1.0),
            duration: Duration::from_secs_f64(self.duration),
            drain: Duration::from_secs_f64(self.drain),
            pause: Duration::from_secs_f64(self.pause),
            attacks: self.attacks.clone(),
            csv: self.csv.clone(),
            server_pid: self.server_pid,
            sample_every: Duration::from_secs_f64(self.sample_every),
            settle: Duration::from_secs_f64(self.settle),
        }
    }

    pub(crate) fn conn_plan(&self) -> ConnPlan {
        ConnPlan {
            connections: self.connections,
            concurrency: self.concurrency,
            hold: Duration::from_secs_f64(self.hold),
            ramp_limit: Duration::from_secs(90),
            server_pid: self.server_pid,
            progress: true,
        }
    }
}

/// `pattern,conns`, `all` or `none`.
fn parse_attacks(list: &str) -> Result<Vec<crate::soak::Attack>, String> {
    use crate::soak::Attack;
    match list {
        "all" => return Ok(Attack::ALL.to_vec()),
        "none" => return Ok(Vec::new()),
        _ => {}
    }
    let mut attacks = list
        .split(',')
        .map(|name| Attack::parse(name.trim()).ok_or_else(|| format!("--attacks: unknown {name}")))
        .collect::<Result<Vec<_>, _>>()?;
    attacks.sort();
    attacks.dedup();
    Ok(attacks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Options, String> {
        Options::parse(line.split_whitespace().map(String::from))
    }

    #[test]
    fn defaults_and_errors() {
        let o = parse("latency --url ws://x/ws").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.rate, Some(1000.0));
        assert_eq!(o.plan("r").groups[0].subscribers, 10);
        let o = parse("pairs --url ws://x/ws --rate 0").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.rate, None);
        assert_eq!(o.plan("r").groups.len(), 50);
        let o = parse("soak --url ws://x/ws --attacks conns,pattern,conns --duration 120")
            .unwrap_or_else(|e| panic!("{e}"));
        let plan = o.soak_plan("r");
        assert_eq!(
            plan.attacks,
            [crate::soak::Attack::Pattern, crate::soak::Attack::Conns]
        );
        assert_eq!((plan.sessions, plan.rate), (50, 1.0));
        assert_eq!(plan.duration, Duration::from_secs(120));
        let o = parse("soak --url ws://x/ws --attacks none").unwrap_or_else(|e| panic!("{e}"));
        assert!(o.soak_plan("r").attacks.is_empty());
        let o = parse("app --url ws://x/ws").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.plan("r").groups[0].publish_to, "/app/fanout/lg-r-0");
        assert_eq!(o.plan("r").groups[0].subscribe_to, "/topic/lg-r-0");
        let o = parse("churn --url ws://x/ws").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.churn_plan("r").rate, 1000.0);
        assert_eq!(o.churn_plan("r").duration, Duration::from_secs(60));
        for bad in [
            "fanout",
            "nope --url ws://x",
            "fanout --url http://x",
            "fanout --url ws://x --duration forever",
            "fanout --url ws://x --duration 99999",
            "fanout --url ws://x --window 0",
            "fanout --url ws://x --subscribers",
            "conns --url ws://x --sources 0",
            "churn --url ws://x --rate 0",
            "soak --url ws://x --attacks pattern,nope",
            "soak --url ws://x --sessions 1",
            "soak --url ws://x --rate 0",
            "soak --url ws://x --sample-every 0",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
