//! The per-container monitor; started by the engine, never by users.

fn main() {
    std::process::exit(berth_monitor::process::main());
}
