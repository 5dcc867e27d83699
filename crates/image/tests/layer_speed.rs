//! Extraction throughput on a generated tar of many files (printed, not
//! asserted). Meaningful in release builds:
//! `cargo test --release -p berth-image --test layer_speed -- --nocapture`.
//! TMPDIR picks the filesystem written to; BERTH_LAYER_SPEED_TAR=<file>
//! also times extracting that tar (e.g. a real rootfs).

mod layer_util;

use std::io::Write;
use std::time::Instant;

use berth_image::layer::{self, ExtractOptions};
use layer_util::opts;

/// ~100 MB (20 MB in debug builds) in many small and some large files,
/// shaped roughly like a distro rootfs.
fn generate() -> (Vec<u8>, usize) {
    let target: usize = if cfg!(debug_assertions) {
        20 << 20
    } else {
        100 << 20
    };
    let mut b = tar::Builder::new(Vec::with_capacity(target + (8 << 20)));
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let content: Vec<u8> = (0..(4 << 20)).map(|i| (i * 31 % 251) as u8).collect();
    let (mut total, mut files) = (0usize, 0usize);
    while total < target {
        let dir = format!("usr/lib/pkg{:03}", files / 50);
        if files % 50 == 0 {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            b.append_data(&mut h, &dir, &[][..]).unwrap();
        }
        let r = rnd();
        // Mostly small files, a few big ones.
        let size = if r % 200 == 0 {
            (r >> 8) as usize % (2 << 20)
        } else {
            (r >> 8) as usize % 24_000
        };
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(size as u64);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, format!("{dir}/file{files}.so"), &content[..size])
            .unwrap();
        total += size;
        files += 1;
    }
    (b.into_inner().unwrap(), files)
}

#[test]
fn extraction_speed() {
    let (tar, files) = generate();
    let mb = tar.len() as f64 / 1e6;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    let cases: [(&str, &[u8], bool); 4] = [
        ("plain", &tar, false),
        ("plain+tar-split", &tar, true),
        ("gzip", &gz, false),
        ("zstd+tar-split", &zst, true),
    ];
    for (name, input, split) in cases {
        let tmp = tempfile::Builder::new()
            .prefix("berth-layer-speed-")
            .tempdir()
            .unwrap();
        let dest = tmp.path().join("d");
        std::fs::create_dir(&dest).unwrap();
        let o = ExtractOptions {
            tar_split: split.then(|| tmp.path().join("split")),
            ..opts()
        };
        let t0 = Instant::now();
        let out = layer::extract(input, &dest, &o).unwrap();
        let dt = t0.elapsed().as_secs_f64();
        assert_eq!(out.entries as usize, files + files.div_ceil(50));
        eprintln!(
            "SPEED extract {name:16} {mb:.1} MB, {files} files: {:.2}s = {:.0} MB/s (uncompressed)",
            dt,
            mb / dt
        );
        if split {
            let t0 = Instant::now();
            let n = layer::reassemble(&tmp.path().join("split"), &dest, std::io::sink()).unwrap();
            let dt = t0.elapsed().as_secs_f64();
            assert_eq!(n as usize, tar.len());
            eprintln!("SPEED reassemble {name:13} {:.0} MB/s", mb / dt);
        }
    }
}

fn timed(name: &str, input: &[u8], mb: f64) {
    let tmp = tempfile::Builder::new()
        .prefix("berth-layer-speed-")
        .tempdir()
        .unwrap();
    let dest = tmp.path().join("d");
    std::fs::create_dir(&dest).unwrap();
    let t0 = Instant::now();
    let out = layer::extract(input, &dest, &opts()).unwrap();
    let dt = t0.elapsed().as_secs_f64();
    eprintln!(
        "SPEED extract {name:16} {mb:.1} MB, {} entries: {dt:.2}s = {:.0} MB/s",
        out.entries,
        mb / dt
    );
}

#[test]
fn parallel_and_external_speed() {
    let (tar, _) = generate();
    let mb = tar.len() as f64 / 1e6;
    // One layer per thread, as the image store does.
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let tmp = tempfile::Builder::new()
                    .prefix("berth-layer-speed-")
                    .tempdir()
                    .unwrap();
                layer::extract(&tar[..], tmp.path(), &opts()).unwrap();
            });
        }
    });
    let dt = t0.elapsed().as_secs_f64();
    eprintln!(
        "SPEED extract 2 layers in parallel: {:.0} MB/s total",
        2.0 * mb / dt
    );
    if let Ok(p) = std::env::var("BERTH_LAYER_SPEED_TAR") {
        let data = std::fs::read(&p).unwrap();
        timed(&p, &data, data.len() as f64 / 1e6);
    }
}
