//! The words of an error chain's innermost cause, as the proxy's messages quote it.

/// The innermost error's message: hyper's outer errors ("client error (Connect)") say little.
///
/// An operating-system error is named by its kind (`connection refused`), as every message the
/// proxy writes is lowercase; io's own text (`Connection refused (os error 111)`) is not.
pub(crate) fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    if let Some(io) = current.downcast_ref::<std::io::Error>() {
        if io.raw_os_error().is_some() && io.kind() != std::io::ErrorKind::Other {
            return io.kind().to_string();
        }
    }
    let text = current.to_string();
    // io::Error's Display adds " (os error 111)"; the words are enough.
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}
