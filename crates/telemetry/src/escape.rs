//! Text logs escape control characters, so a value from a client (a username with a newline
//! and ESC, say) cannot forge a log line or drive the terminal. Each event reaches the writer
//! as one buffer ending in `\n`; everything else below 0x20, and DEL, is written as `\n`,
//! `\r`, `\t` or `\xNN`. The colour codes the formatter itself writes (ESC `[` digits and
//! `;` then `m`) are kept.

use std::io::Write;

pub struct EscapingWriter<W: Write>(pub W);

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
pub fn escape_event(event: &[u8]) -> Vec<u8> {
    let (body, newline) = match event.strip_suffix(b"\n") {
        Some(body) => (body, true),
        None => (event, false),
    };
    let mut out = Vec::with_capacity(event.len() + 16);
    let mut i = 0;
    while i < body.len() {
        let byte = body[i];
        if byte == 0x1b {
            if let Some(len) = colour_code_len(&body[i + 1..]) {
                out.extend_from_slice(&body[i..=i + len]);
                i += len + 1;
                continue;
            }
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
        self.0.write_all(&escape_event(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forged_line_stays_on_its_line() {
        let event = b"INFO login attempt username=mallory\n2026-12-01 INFO login succeeded username=admin\x1b[2J\n";
        let escaped = String::from_utf8(escape_event(event)).unwrap();
        assert_eq!(escaped.matches('\n').count(), 1, "{escaped}");
        assert!(escaped.ends_with('\n'));
        assert!(escaped.contains("mallory\\n2026-12-01"), "{escaped}");
        assert!(escaped.contains("\\x1b[2J"), "{escaped}");
    }

    #[test]
    fn colour_codes_and_plain_text_pass_unchanged() {
        let event = "\x1b[32m INFO\x1b[0m request finished status=200 user=ünïcode\n".as_bytes();
        assert_eq!(escape_event(event), event);
        assert_eq!(escape_event(b"tab\there\x00\x7f"), b"tab\\there\\x00\\x7f");
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
            .with_writer(move || EscapingWriter(writer.clone()))
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
