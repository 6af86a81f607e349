//! `chat [--addr HOST:PORT] [--relay HOST:PORT[,..] [--relay-login L] [--relay-passcode P]]
//! [--backplane redis://HOST:PORT] [--data-dir DIR]`:
//! starts the chat server (default 127.0.0.1:8080, embedded broker).

use std::net::SocketAddr;
use std::process::ExitCode;

use chat::Config;
use stomp_axum::core::relay::RelayConfig;

const USAGE: &str = "\
usage: chat [--addr HOST:PORT] [--relay HOST:PORT[,HOST:PORT...]]
            [--relay-login LOGIN] [--relay-passcode PASSCODE] [--backplane REDIS_URL]
            [--data-dir DIR]

  --addr HOST:PORT        where to listen (default 127.0.0.1:8080)
  --relay HOSTS           relay /topic and /queue to an external STOMP broker (RabbitMQ's
                          STOMP port, e.g. 127.0.0.1:61613) instead of the embedded broker;
                          several hosts are tried in turn (failover)
  --relay-login LOGIN     the relay's broker login (default guest)
  --relay-passcode PASS   the relay's broker passcode (default guest)
  --backplane REDIS_URL   keep the embedded broker and link several chat servers through
                          Redis pub/sub (e.g. redis://127.0.0.1:6379)
  --data-dir DIR          durable queues: keep SENDs with persistent:true to /queue/..
                          on disk in DIR (fsync'd before the RECEIPT); they survive a
                          crash and are delivered again after a restart
  -h, --help              this help";

/// The command line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Args {
    addr: SocketAddr,
    /// Broker hosts to relay to; empty: the embedded broker.
    relay: Vec<String>,
    relay_login: String,
    relay_passcode: String,
    /// Redis URL of the backplane; none: a standalone server.
    backplane: Option<String>,
    /// Durable queues in this directory; none: in memory.
    data_dir: Option<std::path::PathBuf>,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            relay: Vec::new(),
            relay_login: "guest".into(),
            relay_passcode: "guest".into(),
            backplane: None,
            data_dir: None,
        }
    }
}

/// Parses the arguments (`--flag value` or `--flag=value`); `Ok(None)` asks for the help.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--addr" => {
                let v = value()?;
                parsed.addr = v
                    .parse()
                    .map_err(|e| format!("--addr {v:?} is not HOST:PORT: {e}"))?;
            }
            "--relay" => {
                let v = value()?;
                parsed
                    .relay
                    .extend(v.split(',').filter(|h| !h.is_empty()).map(str::to_owned));
                if parsed.relay.is_empty() {
                    return Err("--relay needs at least one HOST:PORT".into());
                }
            }
            "--relay-login" => parsed.relay_login = value()?,
            "--relay-passcode" => parsed.relay_passcode = value()?,
            "--backplane" => {
                let url = value()?;
                stomp_core::backplane::redis::RedisConfig::new(url.clone())
                    .validate()
                    .map_err(|e| format!("--backplane {url:?}: {e}"))?;
                parsed.backplane = Some(url);
            }
            "--data-dir" => {
                let dir = value()?;
                if dir.is_empty() {
                    return Err("--data-dir needs a directory".into());
                }
                parsed.data_dir = Some(dir.into());
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(parsed))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("chat: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut config = Config::default();
    if !args.relay.is_empty() {
        println!(
            "chat: relaying /topic and /queue to {}",
            args.relay.join(", ")
        );
        config.relay = Some(
            RelayConfig::new(args.relay.clone())
                .virtual_host("/")
                .system_login(args.relay_login.clone(), args.relay_passcode.clone()),
        );
    }
    if let Some(url) = &args.backplane {
        println!("chat: backplane over Redis at {url} (channel prefix \"chat\")");
        config.backplane =
            Some(stomp_core::backplane::redis::RedisConfig::new(url.clone()).prefix("chat"));
    }
    if let Some(dir) = &args.data_dir {
        if args.relay.is_empty() && args.backplane.is_none() {
            println!("chat: durable queues in {}", dir.display());
            config.data_dir = Some(dir.clone());
        } else {
            eprintln!("chat: --data-dir applies to the embedded broker alone: ignored");
        }
    }
    if !config.stompjs.is_file() {
        eprintln!(
            "chat: warning: {}",
            chat::stompjs_missing_help(&config.stompjs)
        );
    }
    // Opens the durable store (if any) before listening: a store that cannot be opened
    // stops startup with its path and reason.
    let stomp = match chat::try_stomp(&config) {
        Ok(stomp) => stomp,
        Err(e) => {
            eprintln!("chat: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = args.addr;
    // A listen backlog of 4,096: bursts of connections are queued, not dropped.
    let listener = match stomp_axum::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("chat: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shown = listener.local_addr().unwrap_or(addr);
    println!("chat: open http://{shown}/ in a browser (STOMP endpoint ws://{shown}/ws)");
    match chat::serve_stomp(listener, &config, stomp).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat: server error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn parses_flags() {
        let addr = |a: &str| a.parse::<SocketAddr>().unwrap();
        let cases: Vec<(&[&str], Option<Args>)> = vec![
            (&[], Some(Args::default())),
            (
                &["--addr", "0.0.0.0:3000"],
                Some(Args {
                    addr: addr("0.0.0.0:3000"),
                    ..Args::default()
                }),
            ),
            (
                &["--addr=[::1]:9"],
                Some(Args {
                    addr: addr("[::1]:9"),
                    ..Args::default()
                }),
            ),
            (&["--help"], None),
            (
                &["--backplane", "redis://127.0.0.1:6379"],
                Some(Args {
                    backplane: Some("redis://127.0.0.1:6379".into()),
                    ..Args::default()
                }),
            ),
            (
                &[
                    "--relay",
                    "a:1,b:2",
                    "--relay-login=u",
                    "--relay-passcode",
                    "p",
                ],
                Some(Args {
                    relay: vec!["a:1".into(), "b:2".into()],
                    relay_login: "u".into(),
                    relay_passcode: "p".into(),
                    ..Args::default()
                }),
            ),
        ];
        for (args, want) in cases {
            assert_eq!(parse(args), Ok(want), "args {args:?}");
        }
    }

    #[test]
    fn usage_errors() {
        for args in [
            &["--addr"][..],
            &["--addr", "nope"],
            &["--relay"],
            &["--relay", ","],
            &["--relay-login"],
            &["--bogus"],
            &["--backplane"],
            &["--backplane", "http://nope"],
        ] {
            assert!(parse(args).is_err(), "args {args:?}");
        }
    }
}
