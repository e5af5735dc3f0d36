//! The browser harness's own test: a one-page site on a local port, with a
//! login form whose POST echoes the posted body, driven end to end through
//! chromedriver and headless Chromium, Chinese text and typing included.

mod browser;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

use browser::Browser;

/// The page: a Chinese heading and a login form.
const PAGE: &str = r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>登录 - smoke</title></head>
<body>
<h1>登录</h1>
<form method="post" action="/login">
  <label>账号 <input name="login"></label>
  <label>密码 <input name="password" type="password"></label>
  <button type="submit" id="submit">登录</button>
</form>
</body></html>"#;

/// Serves [`PAGE`] on a free local port, in the background; its address.
fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port for the site");
    let address = listener.local_addr().expect("its address").to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            // Chromium may open connections it never uses: one thread each.
            std::thread::spawn(move || answer(stream));
        }
    });
    address
}

/// Answers one request: the page for `GET /`, the echo for a POST.
fn answer(stream: TcpStream) {
    let mut reader = BufReader::new(stream);
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let mut length = 0;
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|read| read > 2) {
        if let Some((name, value)) = line.trim_end().split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().expect("a Content-Length");
        }
        line.clear();
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let (status, html) = if request.starts_with("POST ") {
        let posted = String::from_utf8_lossy(&body).replace('&', "&amp;");
        let echo = format!("<!doctype html><title>echo</title><pre id=\"echo\">{posted}</pre>");
        ("200 OK", echo)
    } else if request.starts_with("GET / ") {
        ("200 OK", PAGE.to_owned())
    } else {
        ("404 Not Found", String::new())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Set-Cookie: visited=yes; Path=/; HttpOnly\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{html}",
        html.len()
    );
    let _ = reader.get_mut().write_all(response.as_bytes());
}

#[test]
fn fills_and_submits_a_form_in_headless_chromium() {
    let site = format!("http://{}/", serve());
    let Some(browser) = Browser::start() else {
        return;
    };
    browser.goto(&site);
    assert_eq!(browser.url(), site);
    assert_eq!(browser.title(), "登录 - smoke");
    assert_eq!(browser.text("h1"), "登录");
    assert_eq!(browser.texts("label"), ["账号", "密码"]);
    assert!(browser.exists("form input[name=password]"));
    assert!(!browser.exists("#echo"));
    assert_eq!(
        browser.attribute("input[name=password]", "type").as_deref(),
        Some("password")
    );
    assert_eq!(browser.attribute("input[name=login]", "placeholder"), None);

    browser.fill("input[name=login]", "wrong");
    browser.fill("input[name=login]", "alice");
    browser.fill("input[name=password]", "密码1");
    assert_eq!(
        browser.property("input[name=login]", "value").as_deref(),
        Some("alice"),
        "fill clears the field first"
    );
    let cookies = browser.cookies();
    assert!(
        cookies.iter().any(|cookie| cookie["name"] == "visited"),
        "the site's cookie, in {cookies:?}"
    );
    browser.delete_cookies();
    assert_eq!(browser.cookies(), Vec::<serde_json::Value>::new());

    browser.submit_form("#submit");
    browser.wait_for("#echo");
    assert_eq!(browser.url(), format!("{site}login"));
    assert_eq!(
        browser.text("#echo"),
        "login=alice&password=%E5%AF%86%E7%A0%811"
    );
    assert!(
        browser
            .source()
            .contains("<pre id=\"echo\">login=alice&amp;")
    );

    browser.goto(&site);
    browser.fill("input[name=login]", "bob");
    browser.submit_form("form");
    browser.wait_for("#echo");
    assert!(browser.text("#echo").starts_with("login=bob&"));

    let shot = std::env::temp_dir().join(format!("ets-browser-smoke-{}.png", std::process::id()));
    browser.screenshot(&shot);
    let png = std::fs::read(&shot).expect("the screenshot");
    std::fs::remove_file(&shot).expect("remove the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
}
