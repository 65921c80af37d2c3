//! Standard output for commands that print results: a reader that stops early (`rollout plan
//! | head`) ends the command quietly, as it does any Unix tool, instead of a panic.

use std::io::Write;

/// Writes `text` to standard output; a closed pipe ends the process with success.
pub fn write(text: &str) {
    let mut out = std::io::stdout().lock();
    let written = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    if let Err(e) = written
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// `println!` to standard output through [`write`].
#[macro_export]
macro_rules! outln {
    () => { $crate::output::write("\n") };
    ($($arg:tt)*) => {{
        let mut text = format!($($arg)*);
        text.push('\n');
        $crate::output::write(&text)
    }};
}

/// `print!` to standard output through [`write`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write(&format!($($arg)*)) };
}
