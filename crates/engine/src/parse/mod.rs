//! Docker's flag syntaxes turned into the stored model: `-v`, `--mount`, `--tmpfs`,
//! `-p`, sizes, `--ulimit`, `--restart`, `--env-file`/`--label-file`, durations.

mod mount;
mod publish;
mod scalar;

pub use mount::{parse_mount, parse_tmpfs, parse_volume, VolumeFlag};
pub use publish::parse_publish;
pub use scalar::{
    parse_cpus, parse_duration_ns, parse_env_file, parse_restart, parse_size, parse_ulimit,
};
