//! `chat [--addr HOST:PORT]`: starts the chat server (default 127.0.0.1:8080).

use std::net::SocketAddr;
use std::process::ExitCode;

use chat::Config;

const USAGE: &str = "usage: chat [--addr HOST:PORT]\n\n  --addr HOST:PORT  where to listen (default 127.0.0.1:8080)\n  -h, --help        this help";

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<SocketAddr>, String> {
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 8080));
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--addr" => args
                .next()
                .ok_or("--addr needs a value, e.g. --addr 127.0.0.1:8080")?,
            other => match other.strip_prefix("--addr=") {
                Some(v) => v.to_owned(),
                None => return Err(format!("unknown argument {other:?}")),
            },
        };
        addr = value
            .parse()
            .map_err(|e| format!("--addr {value:?} is not HOST:PORT: {e}"))?;
    }
    Ok(Some(addr))
}

#[tokio::main]
async fn main() -> ExitCode {
    let addr = match parse_args(std::env::args().skip(1)) {
        Ok(Some(addr)) => addr,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("chat: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = Config::default();
    if !config.stompjs.is_file() {
        eprintln!(
            "chat: warning: {}",
            chat::stompjs_missing_help(&config.stompjs)
        );
    }
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("chat: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shown = listener.local_addr().unwrap_or(addr);
    println!("chat: open http://{shown}/ in a browser (STOMP endpoint ws://{shown}/ws)");
    match chat::serve(listener, config).await {
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

    #[test]
    fn parses_addr_flags() {
        // args → the address parsed (None for --help), or Err(()) for a usage error.
        type Case = (&'static [&'static str], Result<Option<&'static str>, ()>);
        let cases: [Case; 6] = [
            (&[], Ok(Some("127.0.0.1:8080"))),
            (&["--addr", "0.0.0.0:3000"], Ok(Some("0.0.0.0:3000"))),
            (&["--addr=[::1]:9"], Ok(Some("[::1]:9"))),
            (&["--help"], Ok(None)),
            (&["--addr"], Err(())),
            (&["--relay", "x:1"], Err(())),
        ];
        for (args, want) in cases {
            let got = parse_args(args.iter().map(|s| (*s).to_owned()));
            let got = got.map(|a| a.map(|a| a.to_string())).map_err(|_| ());
            let want = want.map(|a| a.map(str::to_owned));
            assert_eq!(got, want, "args {args:?}");
        }
    }
}
