//! A headless Chromium driven through the Chrome DevTools Protocol, for the HTML reports'
//! tests: load a page, run script in it, click and press keys as a person would (real input
//! events, not `element.click()`), and collect every console error and uncaught exception.
//!
//! The protocol runs over `--remote-debugging-pipe`: Chromium reads commands from fd 3 and
//! writes answers and events to fd 4, each a JSON message ended by a NUL byte. A shell puts
//! the test's pipes there (`exec 3<&0 4>&1`), so no port is opened and no crate is needed.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// A headless Chromium to load pages in: `KAFKASIM_CHROMIUM`, or the first of the usual names
/// on the PATH.
pub fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KAFKASIM_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
    .find(|p| p.is_file())
}

/// The browser, or the test's early return: a missing browser skips the test, except where
/// `KAFKASIM_REQUIRE_TOOLS` is set or `CI=true` (a CI runner), where it fails it.
pub fn chromium_or_skip() -> Option<PathBuf> {
    let found = chromium();
    assert!(
        found.is_some() || std::env::var("CI").as_deref() != Ok("true"),
        "Chromium is not installed, and CI=true says this is a CI run, where the browser tests \
         must run (Debian's `chromium` package, or KAFKASIM_CHROMIUM)"
    );
    if found.is_none() {
        super::tool_missing(
            "Chromium",
            "Debian's `chromium` package, or KAFKASIM_CHROMIUM set to a Chromium or Chrome binary",
        );
    }
    found
}

/// How long any one wait may take before the test fails (a loaded CI machine is slow).
const WAIT: Duration = Duration::from_secs(60);

/// One browser with one page.
pub struct Browser {
    child: Child,
    to: ChildStdin,
    from: Receiver<Value>,
    session: String,
    next_id: u64,
    /// Console errors and uncaught exceptions so far, as text.
    pub errors: Vec<String>,
    _profile: PathBuf,
}

impl Browser {
    /// Starts `binary` headless with a page of `width` × `height` CSS pixels; `profile` is an
    /// empty directory for its user data.
    pub fn start(binary: &Path, profile: PathBuf, width: u32, height: u32) -> Browser {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("exec 3<&0 4>&1 </dev/null >/dev/null; exec \"$0\" \"$@\"")
            .arg(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-pipe",
                &format!("--user-data-dir={}", profile.display()),
                &format!("--window-size={width},{height}"),
                "about:blank",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts");
        let to = child.stdin.take().expect("a pipe to chromium");
        let out: ChildStdout = child.stdout.take().expect("a pipe from chromium");
        let (tx, from) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(out);
            let mut buf = Vec::new();
            while let Ok(n) = reader.read_until(0, &mut buf) {
                if n == 0 {
                    break;
                }
                if buf.last() == Some(&0) {
                    buf.pop();
                }
                if let Ok(v) = serde_json::from_slice::<Value>(&buf)
                    && tx.send(v).is_err()
                {
                    break;
                }
                buf.clear();
            }
        });
        let mut b = Browser {
            child,
            to,
            from,
            session: String::new(),
            next_id: 0,
            errors: Vec::new(),
            _profile: profile,
        };
        let target = b.send_to(None, "Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"]
            .as_str()
            .expect("a target id")
            .to_string();
        let attached = b.send_to(
            None,
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        b.session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        b.call("Page.enable", json!({}));
        b.call("Runtime.enable", json!({}));
        b.call("Log.enable", json!({}));
        b.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
        b
    }

    /// Sends a command and waits for its answer (the answer's `result`); events that arrive
    /// meanwhile are looked at for errors. A protocol error fails the test.
    fn send_to(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).expect("a command serializes");
        bytes.push(0);
        self.to.write_all(&bytes).expect("chromium reads commands");
        self.to.flush().expect("chromium reads commands");
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = match self.from.recv_timeout(left) {
                Ok(v) => v,
                Err(RecvTimeoutError::Timeout) => panic!("chromium did not answer {method}"),
                Err(RecvTimeoutError::Disconnected) => panic!("chromium exited during {method}"),
            };
            if v["id"].as_u64() == Some(id) {
                if let Some(e) = v.get("error") {
                    panic!("{method} failed: {e}");
                }
                return v["result"].clone();
            }
            self.note_event(&v);
        }
    }

    /// A command to the page.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send_to(Some(&session), method, params)
    }

    fn note_event(&mut self, v: &Value) {
        let p = &v["params"];
        match v["method"].as_str() {
            Some("Runtime.exceptionThrown") => {
                let d = &p["exceptionDetails"];
                self.errors.push(format!(
                    "uncaught: {} {}",
                    d["text"].as_str().unwrap_or(""),
                    d["exception"]["description"].as_str().unwrap_or("")
                ));
            }
            Some("Runtime.consoleAPICalled") if p["type"] == "error" || p["type"] == "assert" => {
                self.errors
                    .push(format!("console.{}: {}", p["type"], p["args"]));
            }
            Some("Log.entryAdded") if p["entry"]["level"] == "error" => {
                self.errors.push(format!(
                    "log: {}",
                    p["entry"]["text"].as_str().unwrap_or("")
                ));
            }
            _ => {}
        }
    }

    /// Loads `url` and waits until the page's script marks `data-rendered="yes"`.
    pub fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        let deadline = Instant::now() + WAIT;
        loop {
            if self.eval("document.body && document.body.getAttribute('data-rendered')")
                == json!("yes")
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{url} did not finish rendering; errors: {:?}",
                self.errors
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Evaluates `expression` in the page and returns its value (JSON-able values only).
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("evaluating {expression}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Clicks the middle of the first element `selector` matches, with real mouse events,
    /// after scrolling it into view.
    pub fn click(&mut self, selector: &str) {
        let sel = serde_json::to_string(selector).expect("a selector serializes");
        let at = self.eval(&format!(
            "(function () {{ var el = document.querySelector({sel}); if (!el) return null; \
             el.scrollIntoView({{block: 'center'}}); var r = el.getBoundingClientRect(); \
             return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
        ));
        let (x, y) = match at.as_array() {
            Some(xy) => (xy[0].as_f64().unwrap(), xy[1].as_f64().unwrap()),
            None => panic!("no element matches {selector}"),
        };
        self.click_at(x, y);
    }

    /// A left click at viewport coordinates.
    pub fn click_at(&mut self, x: f64, y: f64) {
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    /// Presses a key (`ArrowRight`, `End`, ...), with Shift if asked.
    pub fn press(&mut self, key: &str, shift: bool) {
        let code = match key {
            "ArrowLeft" => 37,
            "ArrowRight" => 39,
            "Home" => 36,
            "End" => 35,
            other => panic!("no key code for {other}"),
        };
        for kind in ["rawKeyDown", "keyUp"] {
            self.call(
                "Input.dispatchKeyEvent",
                json!({"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code,
                       "modifiers": if shift { 8 } else { 0 }}),
            );
        }
    }

    /// Waits briefly for events already sent (console errors after a step) to arrive.
    pub fn settle(&mut self) {
        self.eval("new Promise(function (r) { setTimeout(r, 50); })");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
