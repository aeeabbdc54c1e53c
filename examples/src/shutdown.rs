//! Waiting for the operator to ask for shutdown.

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when this is
/// called, not when the future is first polled, so a signal that arrives in between is not lost
/// (nor does it kill the process with the default action).
pub(crate) fn signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate()).ok();
    let int = signal(SignalKind::interrupt()).ok();
    async move {
        let wait = |s: Option<tokio::signal::unix::Signal>| async move {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(term) => {}
            () = wait(int) => {}
        }
    }
}

/// A cloneable view of "has shutdown been requested?", for code that needs to check
/// it in several places (the launcher's start-up and its live loop).
#[derive(Clone)]
pub(crate) struct Stop(tokio::sync::watch::Receiver<bool>);

impl Stop {
    /// Starts listening for SIGINT and SIGTERM.
    pub(crate) fn listen() -> Self {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let signalled = signal();
        tokio::spawn(async move {
            signalled.await;
            let _ = tx.send(true);
        });
        Self(rx)
    }

    /// Completes once a signal has arrived (immediately if it already has).
    pub(crate) async fn requested(&mut self) {
        // An error means the sender is gone, which only happens after it sent.
        let _ = self.0.wait_for(|stopped| *stopped).await;
    }
}
