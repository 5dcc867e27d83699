//! Each instruction applied to the stage being built: metadata ones edit the image
//! config (and add an empty-layer history entry, as BuildKit does); RUN, COPY, ADD
//! and WORKDIR go to their steps.

use berth_dockerfile::{
    expand_word, expand_words, CommandLine, Healthcheck, Instruction, InstructionKind,
};
use serde_json::{json, Value};

use super::{gofmt, Builder, State};
use crate::error::{BuildError, Result};

fn ns(d: Option<std::time::Duration>) -> Option<u128> {
    d.map(|d| d.as_nanos()).filter(|n| *n > 0)
}

/// The strings of a config array (`null`: none).
fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// BuildKit's `HEALTHCHECK %q` of its HealthcheckConfig: Test, the four
/// durations and Retries, zero when unset.
fn healthcheck_text(h: &Value) -> String {
    let d = |k: &str| gofmt::duration(std::time::Duration::from_nanos(h[k].as_u64().unwrap_or(0)));
    format!(
        "&{{{} {} {} {} {} {}}}",
        gofmt::quote_list(&strings(&h["Test"])),
        gofmt::quote(&d("Interval")),
        gofmt::quote(&d("Timeout")),
        gofmt::quote(&d("StartPeriod")),
        gofmt::quote(&d("StartInterval")),
        gofmt::quote_rune(h["Retries"].as_u64().unwrap_or(0) as u32),
    )
}

/// The ExposedPorts keys of one EXPOSE word: `80` is `80/tcp`, a range
/// `8000-8002/udp` is each of its ports (as Docker's nat.ParsePortSpecs).
fn port_keys(word: &str) -> Vec<String> {
    let (ports, proto) = match word.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (word, "tcp".to_string()),
    };
    let range = ports
        .split_once('-')
        .and_then(|(a, b)| Some((a.parse::<u16>().ok()?, b.parse::<u16>().ok()?)))
        .filter(|(a, b)| a <= b);
    match range {
        Some((a, b)) => (a..=b).map(|p| format!("{p}/{proto}")).collect(),
        None => vec![format!("{ports}/{proto}")],
    }
}

impl Builder<'_> {
    pub(crate) fn expand1(&self, st: &State, ins: &Instruction, word: &str) -> Result<String> {
        expand_word(word, &st.vars(), self.escape()).map_err(|e| BuildError::Step {
            step: ins.original.clone(),
            why: e.to_string(),
        })
    }

    pub(crate) fn expand_n(
        &self,
        st: &State,
        ins: &Instruction,
        word: &str,
    ) -> Result<Vec<String>> {
        expand_words(word, &st.vars(), self.escape()).map_err(|e| BuildError::Step {
            step: ins.original.clone(),
            why: e.to_string(),
        })
    }

    /// A command in the config: the exec form as is, the shell form under the
    /// stage's SHELL.
    fn command_value(st: &State, c: &CommandLine) -> Value {
        match c {
            CommandLine::Exec(v) => json!(v),
            CommandLine::Shell(s) if s.is_empty() => Value::Null,
            CommandLine::Shell(s) => {
                let mut v = st.shell();
                v.push(s.clone());
                json!(v)
            }
        }
    }

    pub(crate) fn apply(&mut self, st: &mut State, ins: &Instruction) -> Result<()> {
        let title = format!("[{} {}/{}] {}", st.label, st.step, st.total, ins.original);
        let created_by = match &ins.kind {
            InstructionKind::Run(r) => return self.run_step(st, ins, r, &title),
            InstructionKind::Copy(c) => {
                return self.transfer_step(
                    st,
                    ins,
                    &c.transfer,
                    c.from.as_deref(),
                    c.parents,
                    None,
                    &title,
                )
            }
            InstructionKind::Add(a) => {
                return self.transfer_step(st, ins, &a.transfer, None, false, Some(a), &title)
            }
            InstructionKind::Workdir(w) => return self.workdir_step(st, ins, w, &title),
            InstructionKind::Arg(decls) => {
                let globals = self.global_args()?;
                for d in decls {
                    let v = match self.opts.build_args.get(&d.name) {
                        Some(v) => {
                            self.use_arg(&d.name);
                            Some(v.clone())
                        }
                        None => match &d.default {
                            Some(def) => Some(self.expand1(st, ins, def)?),
                            None => globals
                                .get(&d.name)
                                .cloned()
                                .or_else(|| self.predefined_arg(&d.name)),
                        },
                    };
                    st.arg_decls.push((d.name.clone(), v.clone()));
                    match v {
                        Some(v) => st.args.insert(d.name.clone(), v),
                        None => st.args.remove(&d.name),
                    };
                }
                // BuildKit records each ARG, with the value it took.
                let shown: Vec<String> = st.arg_decls[st.arg_decls.len() - decls.len()..]
                    .iter()
                    .map(|(k, v)| match v {
                        Some(v) => format!("{k}={v}"),
                        None => k.clone(),
                    })
                    .collect();
                st.metadata_history(&format!("ARG {}", shown.join(" ")));
                return Ok(());
            }
            InstructionKind::Env(kvs) => {
                let mut shown = String::from("ENV");
                // Every value sees the variables as they were before this ENV
                // (`ENV a=2 b=$a` gives b the old a), as Docker documents.
                let vars = st.vars();
                let mut env = st.env_list();
                for kv in kvs {
                    let expand = |w: &str| {
                        expand_word(w, &vars, self.escape()).map_err(|e| BuildError::Step {
                            step: ins.original.clone(),
                            why: e.to_string(),
                        })
                    };
                    let (k, v) = (expand(&kv.key)?, expand(&kv.value)?);
                    shown.push_str(&format!(" {k}={v}"));
                    // A redefined variable keeps its place, as BuildKit's addEnv does.
                    let entry = format!("{k}={v}");
                    match env
                        .iter_mut()
                        .find(|e| e.split_once('=').map_or(e.as_str(), |p| p.0) == k)
                    {
                        Some(e) => *e = entry,
                        None => env.push(entry),
                    }
                }
                st.config().insert("Env".into(), json!(env));
                shown
            }
            InstructionKind::Label(kvs) => {
                let mut shown = String::from("LABEL");
                for kv in kvs {
                    let k = self.expand1(st, ins, &kv.key)?;
                    let v = self.expand1(st, ins, &kv.value)?;
                    shown.push_str(&format!(" {k}={v}"));
                    let labels = st.config().entry("Labels").or_insert_with(|| json!({}));
                    if !labels.is_object() {
                        *labels = json!({});
                    }
                    labels[k] = json!(v);
                }
                shown
            }
            InstructionKind::Expose(ports) => {
                let mut all = Vec::new();
                for p in ports {
                    for p in self.expand_n(st, ins, p)? {
                        for key in port_keys(&p) {
                            all.push(key.clone());
                            let e = st
                                .config()
                                .entry("ExposedPorts")
                                .or_insert_with(|| json!({}));
                            if !e.is_object() {
                                *e = json!({});
                            }
                            e[key] = json!({});
                        }
                    }
                }
                format!("EXPOSE {}", gofmt::port_set(&all))
            }
            InstructionKind::Volume(vols) => {
                let mut all = Vec::new();
                for v in vols {
                    let v = self.expand1(st, ins, v)?;
                    all.push(v.clone());
                    let e = st.config().entry("Volumes").or_insert_with(|| json!({}));
                    if !e.is_object() {
                        *e = json!({});
                    }
                    e[v] = json!({});
                }
                format!("VOLUME {}", gofmt::list(&all))
            }
            InstructionKind::User(u) => {
                let u = self.expand1(st, ins, u)?;
                st.config().insert("User".into(), json!(u));
                format!("USER {u}")
            }
            InstructionKind::StopSignal(s) => {
                let s = self.expand1(st, ins, s)?;
                st.config().insert("StopSignal".into(), json!(s));
                format!("STOPSIGNAL {s}")
            }
            InstructionKind::Cmd(c) => {
                let v = Self::command_value(st, c);
                let shown = format!("CMD {}", gofmt::quote_list(&strings(&v)));
                st.config().insert("Cmd".into(), v);
                st.cmd_set = true;
                shown
            }
            InstructionKind::Entrypoint(c) => {
                let v = Self::command_value(st, c);
                let shown = format!("ENTRYPOINT {}", gofmt::quote_list(&strings(&v)));
                st.config().insert("Entrypoint".into(), v);
                // An inherited CMD no longer applies to a new ENTRYPOINT.
                if !st.cmd_set {
                    st.config().insert("Cmd".into(), Value::Null);
                }
                shown
            }
            InstructionKind::Shell(v) => {
                st.config().insert("Shell".into(), json!(v));
                format!("SHELL {}", gofmt::list(v))
            }
            InstructionKind::Healthcheck(h) => {
                let v = match h {
                    Healthcheck::None => json!({"Test": ["NONE"]}),
                    Healthcheck::Check(c) => {
                        let test = match &c.command {
                            CommandLine::Exec(a) => {
                                let mut t = vec!["CMD".to_string()];
                                t.extend(a.iter().cloned());
                                t
                            }
                            CommandLine::Shell(s) => vec!["CMD-SHELL".to_string(), s.clone()],
                        };
                        let mut h = json!({"Test": test});
                        for (k, d) in [
                            ("Interval", c.interval),
                            ("Timeout", c.timeout),
                            ("StartPeriod", c.start_period),
                            ("StartInterval", c.start_interval),
                        ] {
                            if let Some(n) = ns(d) {
                                h[k] = json!(n as u64);
                            }
                        }
                        if let Some(r) = c.retries.filter(|r| *r > 0) {
                            h["Retries"] = json!(r);
                        }
                        h
                    }
                };
                let shown = format!("HEALTHCHECK {}", healthcheck_text(&v));
                st.config().insert("Healthcheck".into(), v);
                shown
            }
            InstructionKind::Onbuild(o) => {
                let e = st.config().entry("OnBuild").or_insert_with(|| json!([]));
                if !e.is_array() {
                    *e = json!([]);
                }
                if let Some(a) = e.as_array_mut() {
                    a.push(json!(o.expression));
                }
                // BuildKit records no history entry for ONBUILD.
                return Ok(());
            }
            InstructionKind::Maintainer(m) => {
                st.raw["author"] = json!(m);
                format!("MAINTAINER {m}")
            }
        };
        // Metadata steps take the time of the last file step (or of the stage's
        // first one), so a cached rebuild writes the same history.
        st.metadata_history(&created_by);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::port_keys;

    #[test]
    fn exposed_port_keys() {
        assert_eq!(port_keys("80"), ["80/tcp"]);
        assert_eq!(port_keys("53/UDP"), ["53/udp"]);
        assert_eq!(
            port_keys("8000-8002/udp"),
            ["8000/udp", "8001/udp", "8002/udp"]
        );
        assert_eq!(port_keys("9-3"), ["9-3/tcp"]);
    }
}
