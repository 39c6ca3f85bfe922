//! The loopback listener that receives Spotify's one redirect back to the owner's machine.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Binds 127.0.0.1:`port` before the owner is sent to Spotify, so a busy port fails first.
pub async fn bind(port: u16) -> Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port)).await.with_context(|| {
        format!(
            "port {port} on 127.0.0.1 is not free; pass --port N (or BOOTSTRAP_PORT=N) and register \
             http://127.0.0.1:N/callback on your Spotify app instead"
        )
    })
}

/// Waits for `GET /callback?...` with the expected `state`; answers the browser with a
/// short page either way. Other requests (a favicon) are answered 404 and ignored.
pub async fn wait_for_code(
    listener: TcpListener,
    state: &str,
    timeout: Duration,
    redirect_uri: &str,
) -> Result<SecretString> {
    let outcome = tokio::time::timeout(timeout, async {
        loop {
            let (stream, _) = listener.accept().await.context("accepting the callback connection")?;
            if let Some(result) = handle(stream, state).await {
                return result;
            }
        }
    })
    .await;
    match outcome {
        Ok(result) => result,
        Err(_) => bail!(
            "no answer from the browser within {} s. If Spotify showed \"INVALID_CLIENT: Invalid redirect URI\", \
             add {redirect_uri} under Redirect URIs in your app's settings on developer.spotify.com, save, and run \
             `make bootstrap` again",
            timeout.as_secs()
        ),
    }
}

async fn handle(mut stream: TcpStream, state: &str) -> Option<Result<SecretString>> {
    let mut buffer = vec![0u8; 8192];
    let mut read = 0;
    while read < buffer.len() {
        match stream.read(&mut buffer[read..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
        if buffer[..read].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let head = String::from_utf8_lossy(&buffer[..read]);
    let target = head.lines().next().and_then(|line| line.split_whitespace().nth(1)).unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/callback" {
        respond(&mut stream, "404 Not Found", "Not the callback", "This address only receives Spotify's callback.")
            .await;
        return None;
    }
    let params = parse_query(query);
    let result = if params.get("state").map(String::as_str) != Some(state) {
        Err(anyhow::anyhow!(
            "the callback's state does not match this attempt (an old tab, or a forged request); nothing was stored. \
             Run `make bootstrap` again and use the new link"
        ))
    } else if let Some(error) = params.get("error") {
        if error == "access_denied" {
            Err(anyhow::anyhow!("the authorization was cancelled in the browser; nothing was stored"))
        } else {
            Err(anyhow::anyhow!("Spotify answered the authorization with error {error:?}; nothing was stored"))
        }
    } else if let Some(code) = params.get("code").filter(|c| !c.is_empty()) {
        Ok(SecretString::from(code.as_str()))
    } else {
        Err(anyhow::anyhow!("the callback carried neither a code nor an error; nothing was stored"))
    };
    match &result {
        Ok(_) => {
            respond(
                &mut stream,
                "200 OK",
                "Authorized",
                "Spotify authorized now-playing. You can close this tab and return to the terminal.",
            )
            .await
        }
        Err(e) => respond(&mut stream, "400 Bad Request", "Not authorized", &e.to_string()).await,
    }
    Some(result)
}

async fn respond(stream: &mut TcpStream, status: &str, title: &str, message: &str) {
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>now-playing: {title}</title>\
         <body style=\"font:16px system-ui;margin:3em auto;max-width:36em\"><h1>{title}</h1><p>{}</p></body>",
        escape(message)
    );
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn parse_query(query: &str) -> HashMap<String, String> {
    reqwest::Url::parse(&format!("http://127.0.0.1/?{query}"))
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_percent_decoded() {
        let params = parse_query("code=a%2Fb&state=s+t");
        assert_eq!(params["code"], "a/b");
        assert_eq!(params["state"], "s t");
    }

    #[test]
    fn text_in_the_page_is_escaped() {
        assert_eq!(escape("<b>\"x\" & y</b>"), "&lt;b&gt;&quot;x&quot; &amp; y&lt;/b&gt;");
    }
}
