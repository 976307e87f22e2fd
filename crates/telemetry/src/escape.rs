//! Text logs escape control characters, so a value from a client (a username with a newline
//! and ESC, say) cannot forge a log line or drive the terminal. Each event reaches the writer
//! as one buffer ending in `\n`; everything else below 0x20, DEL and the C1 controls
//! (U+0080..U+009F) are written as `\n`, `\r`, `\t`, `\xNN` or `\u{NN}`. Colour codes (ESC
//! `[` digits and `;` then `m`) are kept only when the formatter writes colours itself (a
//! terminal); otherwise every ESC is escaped.

use std::io::Write;

pub struct EscapingWriter<W: Write> {
    inner: W,
    keep_colours: bool,
}

impl<W: Write> EscapingWriter<W> {
    /// `keep_colours`: the formatter writes ANSI colours (text logs on a terminal).
    pub fn new(inner: W, keep_colours: bool) -> Self {
        Self {
            inner,
            keep_colours,
        }
    }
}

/// Whether `rest` (after an ESC) is a colour code: `[`, digits and `;`, then `m`.
fn colour_code_len(rest: &[u8]) -> Option<usize> {
    if rest.first() != Some(&b'[') {
        return None;
    }
    let body = rest[1..]
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b';')
        .count();
    (rest.get(1 + body) == Some(&b'm')).then_some(body + 2)
}

/// `event` with its control characters escaped (the final newline kept).
pub fn escape_event(event: &[u8], keep_colours: bool) -> Vec<u8> {
    let (body, newline) = match event.strip_suffix(b"\n") {
        Some(body) => (body, true),
        None => (event, false),
    };
    let mut out = Vec::with_capacity(event.len() + 16);
    let mut i = 0;
    while i < body.len() {
        let byte = body[i];
        if byte == 0x1b && keep_colours {
            if let Some(len) = colour_code_len(&body[i + 1..]) {
                out.extend_from_slice(&body[i..=i + len]);
                i += len + 1;
                continue;
            }
        }
        // C1 controls, UTF-8 encoded: 0xC2 0x80..=0x9F.
        if byte == 0xc2 && matches!(body.get(i + 1), Some(0x80..=0x9f)) {
            out.extend_from_slice(format!("\\u{{{:02x}}}", body[i + 1]).as_bytes());
            i += 2;
            continue;
        }
        match byte {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\x{byte:02x}").as_bytes()),
            _ => out.push(byte),
        }
        i += 1;
    }
    if newline {
        out.push(b'\n');
    }
    out
}

impl<W: Write> Write for EscapingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner
            .write_all(&escape_event(buf, self.keep_colours))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forged_line_stays_on_its_line() {
        let event = b"INFO login attempt username=mallory\n2026-12-01 INFO login succeeded username=admin\x1b[2J\n";
        let escaped = String::from_utf8(escape_event(event, true)).unwrap();
        assert_eq!(escaped.matches('\n').count(), 1, "{escaped}");
        assert!(escaped.ends_with('\n'));
        assert!(escaped.contains("mallory\\n2026-12-01"), "{escaped}");
        assert!(escaped.contains("\\x1b[2J"), "{escaped}");
    }

    #[test]
    fn colour_codes_and_plain_text_pass_unchanged() {
        let event = "\x1b[32m INFO\x1b[0m request finished status=200 user=ünïcode\n".as_bytes();
        assert_eq!(escape_event(event, true), event);
        assert_eq!(
            escape_event(b"tab\there\x00\x7f", true),
            b"tab\\there\\x00\\x7f"
        );
        // Without colours, a client's own colour code (ESC[8m hides text) is escaped too,
        // and so are C1 controls (U+009B is a one-byte CSI on some terminals).
        let hidden = "user=\x1b[8msecret\u{9b}2J\n";
        assert_eq!(
            String::from_utf8(escape_event(hidden.as_bytes(), false)).unwrap(),
            "user=\\x1b[8msecret\\u{9b}2J\n"
        );
    }

    #[test]
    fn the_subscriber_escapes_what_a_field_carries() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl Write for Buffer {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || EscapingWriter::new(writer.clone(), false))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let username =
                "eve\n2026-12-01T00:00:00Z  INFO login attempt username=admin succeeded=true";
            tracing::info!(username = %username, "login attempt");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("eve\\n2026"), "{text}");
    }
}
