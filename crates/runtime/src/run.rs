//! `run`: create and start in one step; in the foreground, wait for the container and
//! delete it afterwards (unless `--keep`), exiting with its status.

use crate::create::{self, CreateOptions};
use crate::error::{Result, RuntimeError};
use crate::lifecycle::Container;
use crate::supervise;

pub fn run(opts: &CreateOptions, detach: bool, keep: bool) -> Result<i32> {
    if detach && opts.console_socket.is_none() {
        let spec = crate::config::load(&opts.bundle)?;
        if spec.process().as_ref().and_then(|p| p.terminal()) == Some(true) {
            return Err(RuntimeError::Usage(
                "cannot allocate a terminal for a detached container without --console-socket"
                    .into(),
            ));
        }
    }
    let created = create::create(opts)?;
    let container = Container::load(&opts.root, &opts.id)?;
    if let Err(e) = container.start() {
        let _ = container.delete(true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let code = supervise::wait_foreground(created.state.pid, created.pty_master);
    if !keep {
        let _ = container.delete(true);
    }
    code
}
