//! Which stages a build needs, and building the independent ones side by side.
//!
//! Before anything runs, the stages the target needs are read off the Dockerfile:
//! a FROM naming an earlier stage, `COPY --from=` and `RUN --mount=from=` naming a
//! stage. A reference written with a variable is left to the step that uses it
//! (its value may depend on the stage's ARGs); it is resolved when the step runs,
//! and a stage it names that is not built yet is built there, by the thread that
//! needs it, or waited for if another thread is building it. A cycle among the
//! references is an error before any step runs; one through a variable is found
//! when the wait would close it.
//!
//! The stages whose needs are built run on a few threads (as many as CPUs, at
//! least two), the target last. Each thread has its own engine handle: the store's
//! SQLite connection is not shared between threads (a second handle is what a
//! second `berth` process has, which the store is made for).
//!
//! When a stage fails, its error is the build's: steps already running in other
//! stages finish, no new step starts, and waiting stages give up.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Condvar, Mutex, MutexGuard};

use berth_dockerfile::{expand_word, Dockerfile, InstructionKind, StageRef};
use berth_engine::Engine;

use super::{Builder, Shared, StageResult};
use crate::error::{BuildError, Result};

/// The stages the target needs, dependencies first, and what each needs.
#[derive(Debug)]
pub(crate) struct Plan {
    pub order: Vec<usize>,
    pub deps: BTreeMap<usize, Vec<usize>>,
    pub target: usize,
}

pub(crate) fn cycle(stage: usize) -> BuildError {
    BuildError::Step {
        step: format!("stage {stage}"),
        why: "stages depend on each other in a cycle".into(),
    }
}

fn stopped(file: &Dockerfile, stage: usize) -> BuildError {
    BuildError::Stopped {
        stage: file.stages[stage]
            .name
            .clone()
            .unwrap_or_else(|| format!("stage-{stage}")),
    }
}

/// The stages stage `i` names without a variable.
fn named_stages(file: &Dockerfile, i: usize, globals: &BTreeMap<String, String>) -> Vec<usize> {
    let stage = &file.stages[i];
    let mut deps = Vec::new();
    // As build_stage expands it: with the global ARGs only.
    if let Ok(base) = expand_word(&stage.base, globals, file.escape()) {
        if let StageRef::Stage(j) = file.resolve_base(&base, i) {
            deps.push(j);
        }
    }
    let mut named = |reference: &str| {
        if !reference.contains('$') {
            if let Ok(StageRef::Stage(j)) = file.resolve_from(reference, i) {
                deps.push(j);
            }
        }
    };
    for ins in &stage.instructions {
        match &ins.kind {
            InstructionKind::Copy(c) => {
                if let Some(f) = &c.from {
                    named(f);
                }
            }
            InstructionKind::Run(r) => {
                for m in r.mounts.iter().filter(|m| !m.needs_expansion()) {
                    if let Some(f) = &m.from {
                        named(f);
                    }
                }
            }
            _ => {}
        }
    }
    deps.sort_unstable();
    deps.dedup();
    deps
}

/// The plan for building `target`, or the cycle its references make.
pub(crate) fn plan(
    file: &Dockerfile,
    target: usize,
    globals: &BTreeMap<String, String>,
) -> Result<Plan> {
    #[derive(PartialEq)]
    enum Mark {
        Visiting,
        Placed,
    }
    fn visit(
        file: &Dockerfile,
        i: usize,
        globals: &BTreeMap<String, String>,
        marks: &mut HashMap<usize, Mark>,
        p: &mut Plan,
    ) -> Result<()> {
        match marks.get(&i) {
            Some(Mark::Placed) => return Ok(()),
            Some(Mark::Visiting) => return Err(cycle(i)),
            None => {}
        }
        marks.insert(i, Mark::Visiting);
        let deps = named_stages(file, i, globals);
        for &j in &deps {
            visit(file, j, globals, marks, p)?;
        }
        marks.insert(i, Mark::Placed);
        p.deps.insert(i, deps);
        p.order.push(i);
        Ok(())
    }
    let mut p = Plan {
        order: Vec::new(),
        deps: BTreeMap::new(),
        target,
    };
    visit(file, target, globals, &mut HashMap::new(), &mut p)?;
    Ok(p)
}

/// The stages of a build: which are built, being built (by which thread) or failed.
#[derive(Default)]
pub(crate) struct Stages {
    table: Mutex<Table>,
    changed: Condvar,
}

#[derive(Default)]
struct Table {
    slots: HashMap<usize, Slot>,
    /// Thread -> the stage it waits for.
    waiting: HashMap<usize, usize>,
    /// The build's error: the first failure.
    error: Option<BuildError>,
    /// No new step starts.
    stopped: bool,
}

enum Slot {
    /// By this thread.
    Building(usize),
    Done(StageResult),
    Failed,
}

impl Table {
    /// Whether thread `owner` waits, through other threads' stages, for a stage
    /// thread `me` builds: waiting for `owner` would then never end.
    fn waits_for(&self, owner: usize, me: usize) -> bool {
        let mut o = owner;
        for _ in 0..=self.waiting.len() {
            if o == me {
                return true;
            }
            match self.waiting.get(&o).and_then(|s| self.slots.get(s)) {
                Some(Slot::Building(next)) => o = *next,
                _ => return false,
            }
        }
        false
    }
}

/// A stage, either built already or now this thread's to build.
pub(crate) enum Claim<'s> {
    Built(StageResult),
    Mine(Building<'s>),
}

/// A stage this thread builds; settled with its result. Dropped unsettled (a
/// panic), the stage counts as failed so no thread waits for it forever.
pub(crate) struct Building<'s> {
    stages: &'s Stages,
    pub stage: usize,
    settled: bool,
}

impl Stages {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn stopped(&self) -> bool {
        self.lock().stopped
    }

    /// Stage `i`, needed by a step of thread `me`: its result if it is built, else
    /// this thread's to build, or waited for while another thread builds it.
    pub fn claim(&self, file: &Dockerfile, i: usize, me: usize) -> Result<Claim<'_>> {
        let mut t = self.lock();
        loop {
            match t.slots.get(&i) {
                Some(Slot::Done(r)) => return Ok(Claim::Built(r.clone())),
                Some(Slot::Failed) => return Err(stopped(file, i)),
                Some(Slot::Building(owner)) => {
                    if *owner == me || t.waits_for(*owner, me) {
                        return Err(cycle(i));
                    }
                    t.waiting.insert(me, i);
                    t = self.changed.wait(t).unwrap_or_else(|e| e.into_inner());
                    t.waiting.remove(&me);
                }
                None if t.stopped => return Err(stopped(file, i)),
                None => {
                    t.slots.insert(i, Slot::Building(me));
                    return Ok(Claim::Mine(Building {
                        stages: self,
                        stage: i,
                        settled: false,
                    }));
                }
            }
        }
    }

    /// The next stage of the plan whose needs are built, now thread `me`'s; `None`
    /// once the target is taken or the build stopped.
    fn next(&self, plan: &Plan, me: usize) -> Option<Building<'_>> {
        let mut t = self.lock();
        loop {
            // Once the target is claimed every other stage of the plan is built
            // (it is claimed only then): what is left runs on its own thread.
            if t.stopped || t.slots.contains_key(&plan.target) {
                return None;
            }
            let ready = plan.order.iter().copied().find(|i| {
                !t.slots.contains_key(i)
                    && plan.deps[i]
                        .iter()
                        .all(|d| matches!(t.slots.get(d), Some(Slot::Done(_))))
            });
            if let Some(i) = ready {
                t.slots.insert(i, Slot::Building(me));
                return Some(Building {
                    stages: self,
                    stage: i,
                    settled: false,
                });
            }
            t = self.changed.wait(t).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Records a failure outside any stage (a thread's engine handle); it stops the
    /// build like a failed stage.
    fn fail(&self, e: BuildError) {
        let mut t = self.lock();
        t.stopped = true;
        if t.error.is_none() {
            t.error = Some(e);
        }
        self.changed.notify_all();
    }

    /// The build's result once every thread is done: the first failure, or the
    /// target.
    fn outcome(&self, file: &Dockerfile, target: usize) -> Result<StageResult> {
        let mut t = self.lock();
        if let Some(e) = t.error.take() {
            return Err(e);
        }
        match t.slots.get(&target) {
            Some(Slot::Done(r)) => Ok(r.clone()),
            _ => Err(stopped(file, target)),
        }
    }
}

impl Building<'_> {
    /// Records the stage's result. The first failure of the build is kept as its
    /// error (the caller gets a `Stopped` in its place); waiting threads wake.
    pub fn settle(mut self, r: Result<StageResult>, file: &Dockerfile) -> Result<StageResult> {
        self.settled = true;
        let mut t = self.stages.lock();
        let out = match r {
            Ok(r) => {
                t.slots.insert(self.stage, Slot::Done(r.clone()));
                Ok(r)
            }
            Err(e) => {
                t.slots.insert(self.stage, Slot::Failed);
                t.stopped = true;
                if t.error.is_none() && !matches!(e, BuildError::Stopped { .. }) {
                    t.error = Some(e);
                    Err(stopped(file, self.stage))
                } else {
                    Err(e)
                }
            }
        };
        self.stages.changed.notify_all();
        out
    }
}

impl Drop for Building<'_> {
    fn drop(&mut self) {
        if !self.settled {
            let mut t = self.stages.lock();
            t.slots.insert(self.stage, Slot::Failed);
            t.stopped = true;
            self.stages.changed.notify_all();
        }
    }
}

/// Threads for a plan: one per CPU, at least two, no more than it has stages.
fn threads(plan: &Plan) -> usize {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    cpus.max(2).min(plan.order.len()).max(1)
}

/// A thread's share of the build: `first`, then plan stages as they become ready.
fn work(b: &mut Builder<'_>, plan: &Plan, first: Option<Building<'_>>) {
    let mut next = first.or_else(|| b.shared.stages.next(plan, b.worker));
    while let Some(claim) = next {
        let r = b.build_claimed(claim.stage);
        let _ = claim.settle(r, &b.shared.file);
        next = b.shared.stages.next(plan, b.worker);
    }
}

/// Builds the plan's stages, the calling thread being one of the builders.
pub(crate) fn run(engine: &Engine, shared: &Shared<'_>, plan: &Plan) -> Result<StageResult> {
    let layout = engine.layout();
    std::thread::scope(|s| {
        for w in 1..threads(plan) {
            s.spawn(move || {
                // The engine handle is opened once there is a stage to build: a
                // thread the plan leaves idle costs no database connection.
                let Some(first) = shared.stages.next(plan, w) else {
                    return;
                };
                match Engine::open(&layout.store_root, Some(&layout.run_root)) {
                    Ok(engine) => work(&mut Builder::new(&engine, shared, w), plan, Some(first)),
                    Err(e) => {
                        shared.stages.fail(e.into());
                        drop(first);
                    }
                }
            });
        }
        work(&mut Builder::new(engine, shared, 0), plan, None);
    });
    shared.stages.outcome(&shared.file, plan.target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(src: &str) -> Result<Plan> {
        let file = berth_dockerfile::parse(src).unwrap();
        let target = file.stages.len() - 1;
        let globals = [("B".to_string(), "b".to_string())].into();
        plan(&file, target, &globals)
    }

    #[test]
    fn needs_come_from_from_copy_and_mounts() {
        let p = plan_of(
            "ARG B\n\
             FROM busybox AS a\nRUN true\n\
             FROM busybox AS b\n\
             FROM busybox AS unused\n\
             FROM busybox AS c\nRUN --mount=type=bind,from=a,target=/a true\n\
             FROM $B AS d\n\
             FROM c\nCOPY --from=d / /\nCOPY --from=0 / /\nCOPY --from=$X / /\n",
        )
        .unwrap();
        // Stages: a 0, b 1, unused 2, c 3, d 4 (FROM $B: b), the target 5.
        assert_eq!(p.deps[&5], [0, 3, 4]);
        assert_eq!(p.deps[&4], [1]);
        assert_eq!(p.deps[&3], [0]);
        assert!(!p.deps.contains_key(&2), "{p:?}");
        // Needs first, the target last.
        let pos = |i| p.order.iter().position(|&x| x == i).unwrap();
        assert!(pos(0) < pos(3) && pos(1) < pos(4));
        assert_eq!(*p.order.last().unwrap(), 5);
    }

    #[test]
    fn a_cycle_is_refused_before_anything_runs() {
        let e =
            plan_of("FROM busybox AS a\nCOPY --from=b / /\nFROM busybox AS b\nCOPY --from=a / /\n")
                .unwrap_err();
        assert!(e.to_string().contains("cycle"), "{e}");
    }

    fn result(key: &str) -> StageResult {
        StageResult {
            raw: serde_json::json!({}),
            diff_ids: Vec::new(),
            key: key.into(),
            created: String::new(),
        }
    }

    #[test]
    fn claims_wait_for_other_threads_and_see_cycles() {
        let file = berth_dockerfile::parse("FROM a\nFROM b\nFROM c\n").unwrap();
        let stages = Stages::default();
        let Claim::Mine(a) = stages.claim(&file, 0, 1).unwrap() else {
            panic!("stage 0 was free");
        };
        // The same thread naming it again: a cycle.
        assert!(stages.claim(&file, 0, 1).is_err());
        let Claim::Mine(b) = stages.claim(&file, 1, 2).unwrap() else {
            panic!("stage 1 was free");
        };
        std::thread::scope(|s| {
            // Thread 2 waits for stage 0 until thread 1 settles it.
            let waiter = s.spawn(|| match stages.claim(&file, 0, 2) {
                Ok(Claim::Built(r)) => r.key,
                _ => "not built".to_string(),
            });
            while stages.lock().waiting.get(&2) != Some(&0) {
                std::thread::yield_now();
            }
            // Thread 1 waiting for stage 1 (thread 2's) would close the circle.
            let e = stages.claim(&file, 1, 1).err().expect("a cycle");
            assert!(e.to_string().contains("cycle"), "{e}");
            a.settle(Ok(result("k0")), &file).unwrap();
            assert_eq!(waiter.join().unwrap(), "k0");
        });
        // A failure is kept as the build's error and stops the rest.
        let e = b
            .settle(Err(cycle(9)), &file)
            .expect_err("the failure comes back");
        assert!(matches!(e, BuildError::Stopped { .. }), "{e}");
        assert!(stages.stopped());
        assert!(stages.claim(&file, 2, 3).is_err());
        let e = stages.outcome(&file, 2).unwrap_err();
        assert!(e.to_string().contains("stage 9"), "{e}");
    }
}
