//! Detached containers seen through `ps` and `logs`, including `logs -f` on a
//! live container.

mod common;

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::Duration;

use common::engine::{show, text, Engine, T30};

#[test]
fn ps_lists_filters_and_formats() {
    let Some(e) = Engine::new("ps") else { return };
    let run = e.run_d(&["--name", "runner", "busybox", "sleep", "300"]);
    let done = e.run_d(&["--name", "done", "busybox", "sh", "-c", "exit 2"]);
    e.ok(&["wait", "done"]);

    let out = e.ok(&["ps"]);
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    for col in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(header.contains(col), "{header}");
    }
    let rows: Vec<_> = lines.collect();
    assert_eq!(rows.len(), 1, "ps shows running containers only: {out}");
    assert!(rows[0].starts_with(&run[..12]), "{out}");
    assert!(rows[0].contains("Up "), "{out}");
    assert!(rows[0].ends_with("runner"), "{out}");

    let all = e.ok(&["ps", "-a"]);
    assert!(all.contains("Exited (2)"), "{all}");

    let q = e.ok(&["ps", "-aq"]);
    let mut ids: Vec<_> = q.lines().collect();
    ids.sort();
    let mut want = vec![&run[..12], &done[..12]];
    want.sort();
    assert_eq!(ids, want);

    assert_eq!(e.ok(&["ps", "-q", "--no-trunc"]).trim(), run);
    // -l and -n 1 both mean the newest container, running or not.
    assert_eq!(e.ok(&["ps", "-lq"]).trim(), &done[..12]);
    assert_eq!(e.ok(&["ps", "-q", "-n", "1"]).trim(), &done[..12]);

    assert_eq!(
        e.ok(&["ps", "-aq", "--filter", "status=exited"]).trim(),
        &done[..12]
    );
    assert_eq!(
        e.ok(&["ps", "-aq", "--filter", "name=runn"]).trim(),
        &run[..12]
    );
    assert_eq!(
        e.ok(&["ps", "-a", "--filter", "exited=2", "--format", "{{.Names}}"]),
        "done\n"
    );
    // Docker's CLI exits 1 when the daemon rejects a filter.
    e.fails(&["ps", "--filter", "status=bogus"], 1);

    let json = e.ok(&["ps", "-a", "--format", "json"]);
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|err| panic!("{err}: {l}")))
        .collect();
    assert_eq!(rows.len(), 2, "{json}");
    let runner = rows.iter().find(|r| r["Names"] == "runner").expect(&json);
    assert_eq!(runner["State"], "running");
    assert_eq!(runner["Image"], "busybox");
}

#[test]
fn logs_separates_streams_and_selects_lines() {
    let Some(e) = Engine::new("logs") else { return };
    e.run_d(&[
        "--name",
        "talk",
        "busybox",
        "sh",
        "-c",
        "echo out1; echo err1 >&2; echo out2; echo out3",
    ]);
    e.ok(&["wait", "talk"]);

    let o = e.berth(&["logs", "talk"]);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(text(&o.stdout), "out1\nout2\nout3\n");
    assert_eq!(text(&o.stderr), "err1\n");

    // Two pipes are read separately, so the order between the streams is not
    // defined; --tail is checked on one stream.
    e.run_d(&["--name", "count", "busybox", "sh", "-c", "seq 1 5"]);
    e.ok(&["wait", "count"]);
    let o = e.berth(&["logs", "--tail", "2", "count"]);
    assert_eq!(text(&o.stdout), "4\n5\n", "{}", show(&o));
    let o = e.berth(&["logs", "-n", "0", "count"]);
    assert_eq!(text(&o.stdout), "", "{}", show(&o));

    let o = e.berth(&["logs", "-t", "talk"]);
    let first = text(&o.stdout).lines().next().unwrap().to_string();
    let (ts, line) = first.split_once(' ').unwrap();
    assert_eq!(line, "out1");
    assert!(
        ts.len() > 20 && ts.ends_with('Z') && ts.contains('T'),
        "RFC 3339 timestamp expected: {first}"
    );

    // Everything was logged before now, and nothing after a time in the future.
    let o = e.berth(&["logs", "--since", "2000-01-01T00:00:00Z", "talk"]);
    assert_eq!(text(&o.stdout), "out1\nout2\nout3\n", "{}", show(&o));
    let o = e.berth(&["logs", "--since", "2999-01-01T00:00:00Z", "talk"]);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(text(&o.stdout), "");
}

#[test]
fn logs_follow_streams_until_the_container_stops() {
    let Some(e) = Engine::new("logs_follow") else {
        return;
    };
    let flag = "/tmp/go";
    e.run_d(&[
        "--name",
        "tick",
        "busybox",
        "sh",
        "-c",
        &format!("echo first; while [ ! -e {flag} ]; do sleep 0.1; done; echo second"),
    ]);
    let mut child = e.spawn(&["logs", "-f", "tick"]);
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let got = rx.recv_timeout(T30);
    if got.as_deref() != Ok("first") {
        let _ = child.kill();
        panic!("logs -f gave {got:?} before the container went on");
    }
    // The second line only exists once we let the container go on, so seeing it
    // proves logs -f follows rather than dumping what was there.
    e.ok(&["exec", "tick", "touch", flag]);
    let got = rx.recv_timeout(T30);
    if got.as_deref() != Ok("second") {
        let _ = child.kill();
        panic!("logs -f gave {got:?}");
    }
    let ended = common::host::wait_until(T30, || matches!(child.try_wait(), Ok(Some(_))));
    if !ended {
        let _ = child.kill();
    }
    assert!(ended, "logs -f did not end when the container stopped");
    assert!(child.wait().unwrap().success());
    reader.join().unwrap();
    assert!(rx.recv_timeout(Duration::from_millis(10)).is_err());
}
