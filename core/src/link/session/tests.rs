//! Scripted tests of [`Session`]: a child `c` and its street `s`, each with a log, a
//! fake engine (it applies everything except the documents told to fail) and a
//! durable checkpoint of the other's log. Every action either session returns is
//! written to a trace, one line each, and each test compares the trace with what the
//! protocol must do:
//!
//! ```text
//! c read after 0 max 512      the child's session asks for its log
//! c→s batch 2 [1 a/r/1, 2 a/r/1]   a frame on the wire, with its `through` and entries
//! s apply a/r/1×2 @c.1:2      the street's engine applies, checkpoint beside it
//! s→c ack 2                   once durable
//! ```

use super::*;
use crate::link::{Checkpoint, Hello, LinkLimits, Routes, Tier};
use std::collections::{BTreeSet, VecDeque};

fn id(s: &str) -> NodeId {
    NodeId::new(s).unwrap()
}

fn doc(owner: &str, shard: &str) -> DocId {
    DocId::new(owner, "requests", shard).unwrap()
}

/// One node of the script.
struct Side {
    name: &'static str,
    tier: Tier,
    log_id: String,
    log: Vec<LogEntry>,
    /// Entries through here were trimmed from `log`.
    log_trimmed: u64,
    routes: Routes,
    /// What this side durably holds of the other's log.
    checkpoint: Option<Checkpoint>,
    /// Documents whose changes this side's engine refuses for good.
    fails: BTreeSet<DocId>,
    /// Documents whose changes this side's engine cannot apply yet (a store read
    /// error): it keeps the checkpoint back, as the replica does.
    retries: BTreeSet<DocId>,
    /// Documents whose changes this side's engine takes but stores as waiting for
    /// their dependencies, as the replica does.
    waits: BTreeSet<DocId>,
    docs: Vec<DocId>,
    session: Option<Session>,
    /// Frames sent and not delivered yet.
    outbox: VecDeque<Frame>,
}

impl Side {
    fn new(name: &'static str, tier: Tier, log_id: &str) -> Self {
        let me = id(name);
        Self {
            name,
            tier,
            log_id: log_id.into(),
            log: Vec::new(),
            log_trimmed: 0,
            routes: Routes::new(&me),
            checkpoint: None,
            fails: BTreeSet::new(),
            retries: BTreeSet::new(),
            waits: BTreeSet::new(),
            docs: Vec::new(),
            session: None,
            outbox: VecDeque::new(),
        }
    }

    /// Appends entries for `doc` of `bytes` bytes each.
    fn write(&mut self, doc: &DocId, count: usize, bytes: usize) {
        for _ in 0..count {
            let seq = self.log_end() + 1;
            self.log.push(LogEntry {
                seq,
                doc: doc.clone(),
                origin: None,
                changes: vec![vec![7; bytes]],
                traces: Vec::new(),
            });
        }
    }

    fn log_end(&self) -> u64 {
        self.log.last().map_or(self.log_trimmed, |e| e.seq)
    }

    /// Drops the entries through `through`, as the store does for `Event::TrimLog`.
    fn trim(&mut self, through: u64) {
        self.log.retain(|e| e.seq > through);
        self.log_trimmed = self.log_trimmed.max(through);
    }

    /// This side's log entry that the other's checkpoint names.
    fn named(&self, mine: &Hello, theirs: &Hello) -> Option<LogEntry> {
        let seq = crate::link::named_seq(mine, theirs)?;
        self.log.iter().find(|e| e.seq == seq).cloned()
    }

    fn hello(&self) -> Hello {
        Hello {
            node: id(self.name),
            tier: self.tier,
            log_id: self.log_id.clone(),
            log_end: self.log_end(),
            log_trimmed: self.log_trimmed,
            checkpoint: self.checkpoint.clone(),
            subtree: self.routes.subtree(),
        }
    }
}

fn entries(entries: &[LogEntry]) -> String {
    let list: Vec<String> = entries.iter().map(|e| format!("{} {}", e.seq, short(&e.doc))).collect();
    format!("[{}]", list.join(", "))
}

fn short(doc: &DocId) -> String {
    format!("{}/r/{}", doc.owner, doc.shard)
}

fn frame(frame: &Frame) -> String {
    match frame {
        Frame::Hello(h) => format!("hello end {}", h.log_end),
        Frame::Batch { entries: list, through, .. } => format!("batch {through} {}", entries(list)),
        Frame::Ack { through, above } if above.is_empty() => format!("ack {through}"),
        Frame::Ack { through, above } => format!("ack {through} above {above:?}"),
        Frame::Refusal { seq, doc, reason } => format!("refusal {seq} {doc}: {reason}"),
        Frame::Sync { doc, .. } => format!("sync {}", short(doc)),
    }
}

/// A child `c` below a street `s`, and the trace of what they do.
struct Script {
    c: Side,
    s: Side,
    limits: LinkLimits,
    now_ms: u64,
    trace: Vec<String>,
}

impl Script {
    fn new() -> Self {
        let mut s = Side::new("s", Tier::Street, "s.1");
        s.routes.children.insert("a".into(), ["a".to_string()].into());
        Self {
            c: Side::new("a", Tier::Community, "a.1"),
            s,
            limits: LinkLimits::default(),
            now_ms: 0,
            trace: Vec::new(),
        }
    }

    fn side(&mut self, child: bool) -> (&mut Side, &mut Side) {
        if child { (&mut self.c, &mut self.s) } else { (&mut self.s, &mut self.c) }
    }

    fn note(&mut self, line: String) {
        self.trace.push(line);
    }

    /// Exchanges Hellos and starts both sessions.
    fn connect(&mut self) {
        let (child_hello, street_hello) = (self.c.hello(), self.s.hello());
        let c_named = self.c.named(&child_hello, &street_hello);
        let s_named = self.s.named(&street_hello, &child_hello);
        let (c, actions_c) = Session::start(
            &child_hello,
            &street_hello,
            c_named.as_ref(),
            PeerIs::Parent,
            self.limits.clone(),
            self.now_ms,
        );
        let (s, actions_s) = Session::start(
            &street_hello,
            &child_hello,
            s_named.as_ref(),
            PeerIs::Child,
            self.limits.clone(),
            self.now_ms,
        );
        let (pc, ps) = (c.progress(), s.progress());
        self.note(format!("connect: c sends after {}, s sends after {}", pc.sent_through, ps.sent_through));
        self.c.session = Some(c);
        self.s.session = Some(s);
        self.run(true, actions_c);
        self.run(false, actions_s);
    }

    fn disconnect(&mut self) {
        self.c.session = None;
        self.s.session = None;
        self.c.outbox.clear();
        self.s.outbox.clear();
        self.note("disconnect".into());
    }

    /// Carries out actions of one side; what they lead to is run too.
    fn run(&mut self, child: bool, actions: Vec<Action>) {
        let mut queue: VecDeque<Action> = actions.into();
        loop {
            let now_ms = self.now_ms;
            if queue.is_empty() {
                let (me, _) = self.side(child);
                let (log_end, outbox) = (me.log_end(), me.outbox.len());
                match me.session.as_mut().and_then(|s| s.poll(log_end, outbox, now_ms)) {
                    Some(next) => queue.push_back(next),
                    None => return,
                }
            }
            let Some(action) = queue.pop_front() else { return };
            let to = if child { "s" } else { "c" };
            let from = if child { "c" } else { "s" };
            let line = match &action {
                Action::Send(f) => format!("{from}→{to} {}", frame(f)),
                Action::ReadLog { after, entries_max } => format!("{from} read after {after} max {entries_max}"),
                Action::Apply { docs, checkpoint, .. } => {
                    let list: Vec<String> = docs.iter().map(|(d, ch)| format!("{}×{}", short(d), ch.len())).collect();
                    format!("{from} apply [{}] @{}:{}", list.join(", "), checkpoint.log_id, checkpoint.through)
                }
                Action::Sync { doc, message, .. } => {
                    format!("{from} sync {} {}", short(doc), if message.is_some() { "step" } else { "start" })
                }
                Action::ListDocs => format!("{from} list docs"),
                Action::PeerRefused { seq, doc, .. } => format!("{from} peer refused {seq} {doc}"),
                Action::RenewLog { stale } => format!("{from} renew log {stale}"),
            };
            self.trace.push(line);
            let (me, _) = self.side(child);
            let Some(session) = me.session.as_mut() else { return };
            let more = match action {
                Action::Send(f) => {
                    me.outbox.push_back(f);
                    Vec::new()
                }
                Action::ReadLog { after, entries_max } => {
                    let read: Vec<LogEntry> =
                        me.log.iter().filter(|e| e.seq > after).take(entries_max).cloned().collect();
                    // As the stores: a read that would skip trimmed entries fails, and
                    // the runtime ends the session.
                    if let Err(e) = crate::store::codec::check_dense(after, &read) {
                        me.session = None;
                        me.outbox.clear();
                        self.trace.push(format!("{from} session ends: {e}"));
                        return;
                    }
                    session.on_log(read, &me.routes, now_ms).into_iter().collect()
                }
                Action::Apply { docs, checkpoint, .. } => {
                    let failed: Vec<(DocId, Error)> = docs
                        .iter()
                        .filter_map(|(d, _)| {
                            let error = if me.fails.contains(d) {
                                let reason = "automerge said no".to_string();
                                Error::Corrupt { what: "change", key: d.to_string(), reason }
                            } else if me.retries.contains(d) {
                                Error::Storage { op: format!("read {d}"), source: "disk busy".into() }
                            } else {
                                return None;
                            };
                            Some((d.clone(), error))
                        })
                        .collect();
                    if !failed.iter().any(|(_, e)| e.may_pass()) {
                        me.checkpoint = Some(checkpoint);
                    }
                    let waiting = docs.iter().map(|(d, _)| d.clone()).filter(|d| me.waits.contains(d)).collect();
                    match session.on_applied(failed, waiting) {
                        Ok(actions) => actions,
                        Err(e) => {
                            me.session = None;
                            me.outbox.clear();
                            self.trace.push(format!("{from} session ends: {e}"));
                            return;
                        }
                    }
                }
                Action::Sync { doc, .. } => session.on_synced(doc, None, None),
                Action::ListDocs => {
                    session.on_docs(me.docs.clone(), &me.routes);
                    Vec::new()
                }
                Action::PeerRefused { .. } | Action::RenewLog { .. } => Vec::new(),
            };
            queue.extend(more);
        }
    }

    /// Polls a side (after its log grew, or time passed).
    fn poll(&mut self, child: bool) {
        self.run(child, Vec::new());
    }

    /// Delivers the oldest frame in flight from one side to the other.
    fn deliver(&mut self, from_child: bool) -> bool {
        let (sender, receiver) = self.side(from_child);
        let Some(f) = sender.outbox.pop_front() else { return false };
        let Some(session) = receiver.session.as_mut() else { return false };
        match session.on_frame(f, &receiver.routes) {
            Ok(actions) => self.run(!from_child, actions),
            Err(e) => self.note(format!("error: {e}")),
        }
        true
    }

    /// Delivers frames both ways until none is in flight.
    fn settle(&mut self) {
        while self.deliver(true) | self.deliver(false) {}
    }

    fn text(&self) -> String {
        self.trace.join("\n")
    }
}

fn assert_trace(script: &Script, expected: &str) {
    let expected: Vec<&str> = expected.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let got: Vec<&str> = script.trace.iter().map(String::as_str).collect();
    assert_eq!(got, expected, "\ngot:\n{}\n", script.text());
}

#[test]
fn hellos_then_a_batch_each_way_and_the_acks() {
    let mut t = Script::new();
    t.c.write(&doc("a", "1"), 2, 10);
    t.s.write(&doc("a", "1"), 1, 10);
    t.connect();
    t.settle();
    assert_trace(
        &t,
        "connect: c sends after 0, s sends after 0
         c read after 0 max 512
         c→s batch 2 [1 a/r/1, 2 a/r/1]
         s read after 0 max 512
         s→c batch 1 [1 a/r/1]
         s apply [a/r/1×2] @a.1:2
         s→c ack 2
         c apply [a/r/1×1] @s.1:1
         c→s ack 1",
    );
    let (c, s) = (t.c.session.as_ref().unwrap().progress(), t.s.session.as_ref().unwrap().progress());
    assert_eq!((c.acked_through, c.applied_through, c.in_flight), (2, 1, 0));
    assert_eq!((s.acked_through, s.applied_through, s.in_flight), (1, 2, 0));
}

#[test]
fn batches_end_at_the_entries_bound_and_at_the_bytes_bound() {
    let mut t = Script::new();
    t.limits.batch_entries_max = 2;
    t.c.write(&doc("a", "1"), 3, 10);
    t.connect();
    t.settle();
    assert_trace(
        &t,
        "connect: c sends after 0, s sends after 0
         c read after 0 max 2
         c→s batch 2 [1 a/r/1, 2 a/r/1]
         c read after 2 max 2
         c→s batch 3 [3 a/r/1]
         s apply [a/r/1×2] @a.1:2
         s→c ack 2
         s apply [a/r/1×1] @a.1:3
         s→c ack 3",
    );
    // Bytes: 100 + 64 overhead per entry; 400 bytes hold two entries, not three. An
    // entry larger than the bound still goes, alone.
    let mut t = Script::new();
    t.limits.batch_bytes_max = 400;
    t.c.write(&doc("a", "1"), 3, 100);
    t.c.write(&doc("a", "2"), 1, 1000);
    t.connect();
    t.settle();
    let batches: Vec<&String> = t.trace.iter().filter(|l| l.starts_with("c→s batch")).collect();
    assert_eq!(batches, ["c→s batch 2 [1 a/r/1, 2 a/r/1]", "c→s batch 3 [3 a/r/1]", "c→s batch 4 [4 a/r/2]"]);
}

#[test]
fn a_full_window_waits_for_an_ack_and_the_ack_releases_it() {
    let mut t = Script::new();
    t.limits.batch_entries_max = 1;
    t.limits.window_batches_max = 2;
    t.c.write(&doc("a", "1"), 3, 10);
    t.connect();
    // Nothing delivered yet: two batches out, the third waits.
    assert_eq!(t.c.session.as_ref().unwrap().progress().in_flight, 2);
    t.deliver(true); // the first batch reaches the street, which acks it
    t.deliver(false); // the ack releases one slot: the third batch goes
    t.settle();
    assert_trace(
        &t,
        "connect: c sends after 0, s sends after 0
         c read after 0 max 1
         c→s batch 1 [1 a/r/1]
         c read after 1 max 1
         c→s batch 2 [2 a/r/1]
         s apply [a/r/1×1] @a.1:1
         s→c ack 1
         c read after 2 max 1
         c→s batch 3 [3 a/r/1]
         s apply [a/r/1×1] @a.1:2
         s→c ack 2
         s apply [a/r/1×1] @a.1:3
         s→c ack 3",
    );
}

#[test]
fn entries_skipped_for_the_peer_are_announced_after_a_quiet_period() {
    let mut t = Script::new();
    t.s.routes.children.insert("b".into(), ["b".to_string()].into());
    // The street's log holds another community's entries only: nothing goes to `a`.
    t.s.write(&doc("b", "1"), 3, 10);
    t.connect();
    t.settle();
    assert_eq!(t.s.session.as_ref().unwrap().deadline_ms(), Some(1_000));
    t.now_ms = 999;
    t.poll(false);
    t.now_ms = 1_000;
    t.poll(false);
    t.settle();
    assert_trace(
        &t,
        "connect: c sends after 0, s sends after 0
         s read after 0 max 512
         s→c batch 3 []
         c apply [] @s.1:3
         c→s ack 3",
    );
    assert_eq!(t.s.session.as_ref().unwrap().deadline_ms(), None, "nothing left to announce");
}

#[test]
fn a_refused_entry_and_a_document_the_engine_refuses_leave_the_rest_applied() {
    let mut t = Script::new();
    t.c.write(&doc("a", "1"), 1, 10);
    t.c.write(&doc("b", "1"), 1, 10); // not in the child's subtree
    t.c.write(&doc("a", "2"), 1, 10);
    t.c.routes = Routes::new(&id("a"));
    t.c.routes.children.insert("b".into(), ["b".to_string()].into()); // the child claims b below it
    t.s.fails.insert(doc("a", "2"));
    t.connect();
    t.settle();
    assert_trace(
        &t,
        "connect: c sends after 0, s sends after 0
         c read after 0 max 512
         c→s batch 3 [1 a/r/1, 2 b/r/1, 3 a/r/2]
         s→c refusal 2 b/requests/1: document b/requests/1 belongs to `b`, which is not in the subtree of `a`
         s apply [a/r/1×1, a/r/2×1] @a.1:3
         s→c refusal 3 a/requests/2: corrupt change at key a/requests/2: automerge said no
         s→c ack 3
         c peer refused 2 b/requests/1
         c peer refused 3 a/requests/2",
    );
}

#[test]
fn a_document_that_cannot_apply_yet_is_not_acked_and_comes_again() {
    // Before, the street acked through 2 and kept that checkpoint: entry 2 was never
    // sent again.
    let mut t = Script::new();
    t.c.write(&doc("a", "1"), 1, 10);
    t.c.write(&doc("a", "2"), 1, 10);
    t.s.retries.insert(doc("a", "2"));
    t.connect();
    t.settle();
    t.disconnect();
    t.s.retries.clear();
    t.connect();
    t.settle();
    assert_trace(
        &t,
        "connect: c sends after 0, s sends after 0
         c read after 0 max 512
         c→s batch 2 [1 a/r/1, 2 a/r/2]
         s apply [a/r/1×1, a/r/2×1] @a.1:2
         s session ends: link with `a`: document a/requests/2 cannot apply yet (storage, read a/requests/2: disk busy); the peer sends it again from the checkpoint
         disconnect
         connect: c sends after 0, s sends after 0
         c read after 0 max 512
         c→s batch 2 [1 a/r/1, 2 a/r/2]
         s apply [a/r/1×1, a/r/2×1] @a.1:2
         s→c ack 2",
    );
    assert_eq!(t.s.checkpoint.as_ref().map(|cp| cp.through), Some(2));
}

#[test]
fn changes_waiting_for_their_dependencies_are_acked_and_their_document_synced() {
    // Before, the checkpoint stayed behind the waiting changes (and every other
    // link's with it) while the ack went out anyway, and nothing fetched what they
    // waited for.
    let mut t = Script::new();
    t.c.write(&doc("a", "1"), 1, 10);
    t.c.write(&doc("a", "2"), 2, 10);
    t.s.waits.insert(doc("a", "2"));
    t.connect();
    t.settle();
    assert_trace(
        &t,
        "connect: c sends after 0, s sends after 0
         c read after 0 max 512
         c→s batch 3 [1 a/r/1, 2 a/r/2, 3 a/r/2]
         s apply [a/r/1×1, a/r/2×2] @a.1:3
         s→c ack 3
         s sync a/r/2 start",
    );
    assert_eq!(t.s.checkpoint.as_ref().map(|cp| cp.through), Some(3), "the stored waiting changes are passed");
}

#[test]
fn a_reconnect_resumes_from_each_sides_checkpoint() {
    let mut t = Script::new();
    t.c.write(&doc("a", "1"), 2, 10);
    t.s.write(&doc("a", "1"), 1, 10);
    t.connect();
    t.settle();
    t.disconnect();
    t.trace.clear();
    t.c.write(&doc("a", "1"), 1, 10);
    t.s.write(&doc("a", "1"), 1, 10);
    t.connect();
    t.settle();
    assert_trace(
        &t,
        "connect: c sends after 2, s sends after 1
         c read after 2 max 512
         c→s batch 3 [3 a/r/1]
         s read after 1 max 512
         s→c batch 2 [2 a/r/1]
         s apply [a/r/1×1] @a.1:3
         s→c ack 3
         c apply [a/r/1×1] @s.1:2
         c→s ack 2",
    );
}

#[test]
fn a_replayed_batch_is_acked_and_applies_nothing() {
    let mut t = Script::new();
    t.c.write(&doc("a", "1"), 2, 10);
    t.connect();
    t.settle();
    t.trace.clear();
    let replay = Frame::Batch { entries: t.c.log.clone(), through: 2, fingerprint: 0 };
    let s = t.s.session.as_mut().unwrap();
    let actions = s.on_frame(replay, &t.s.routes).unwrap();
    assert_eq!(actions, vec![Action::Send(Frame::Ack { through: 2, above: Vec::new() })]);
    // Out of order, or past its own `through`: the peer broke the protocol.
    let mut bad = t.c.log.clone();
    bad[0].seq = 9;
    let err = s.on_frame(Frame::Batch { entries: bad, through: 3, fingerprint: 0 }, &t.s.routes).unwrap_err();
    assert!(err.to_string().contains("entry 9 is out of order"), "{err}");
    let err = s.on_frame(Frame::Ack { through: 5, above: Vec::new() }, &t.s.routes).unwrap_err();
    assert!(err.to_string().contains("past 0 sent"), "{err}");
}

#[test]
fn a_parent_tells_its_child_how_far_the_tiers_above_hold_its_log_and_may_not_claim_more() {
    let mut t = Script::new();
    t.c.write(&doc("a", "1"), 2, 10);
    t.connect();
    t.settle();
    // The district holds the street's log, and so the community's through 2.
    let parent = t.s.session.as_mut().unwrap();
    let ack = parent.on_durable_above(&[2]).expect("a raised watermark goes down in an Ack");
    assert_eq!(ack, Action::Send(Frame::Ack { through: 2, above: vec![2] }));
    assert_eq!(parent.on_durable_above(&[2]), None, "nothing new, nothing sent");
    let Action::Send(frame) = ack else { unreachable!() };
    let child = t.c.session.as_mut().unwrap();
    assert_eq!(child.on_frame(frame, &t.c.routes).unwrap(), Vec::new());
    assert_eq!(child.progress().durable_above, vec![2]);
    // A parent claiming a tier above holds more than it acknowledged breaks the protocol.
    let lie = Frame::Ack { through: 2, above: vec![3] };
    let err = child.on_frame(lie, &t.c.routes).unwrap_err();
    assert!(err.to_string().contains("past the 2 the tier below holds"), "{err}");
}

#[test]
fn a_batch_over_the_entries_or_documents_bound_is_refused_whole_and_an_honest_one_stays_below() {
    use crate::link::limits::{BATCH_DOCS_MAX, BATCH_ENTRIES_BOUND};
    let entry = |seq: u64, shard: String| LogEntry {
        seq,
        doc: doc("a", &shard),
        origin: None,
        changes: vec![vec![7]],
        traces: Vec::new(),
    };
    let mut t = Script::new();
    t.connect();
    t.settle();
    let s = t.s.session.as_mut().unwrap();
    // 200,000 tiny entries for made-up documents: refused before anything is grouped.
    let flood: Vec<LogEntry> = (1..=200_000).map(|seq| entry(seq, format!("x{seq}"))).collect();
    let err = s.on_frame(Frame::Batch { entries: flood, through: 200_000, fingerprint: 0 }, &t.s.routes).unwrap_err();
    assert!(matches!(err, Error::LinkOverBound { .. }), "{err:?}");
    assert!(err.to_string().contains("200000 entries") && err.to_string().contains("4096"), "{err}");
    // Within the entries bound, one document more than a batch may touch.
    let wide: Vec<LogEntry> = (1..=BATCH_DOCS_MAX as u64 + 1).map(|seq| entry(seq, format!("x{seq}"))).collect();
    let through = wide.len() as u64;
    let err = s.on_frame(Frame::Batch { entries: wide, through, fingerprint: 0 }, &t.s.routes).unwrap_err();
    assert!(err.to_string().contains(&format!("more than {BATCH_DOCS_MAX} documents")), "{err}");
    assert_eq!(s.progress().applied_through, 0, "nothing of either batch counts as applied");
    assert!(BATCH_ENTRIES_BOUND >= LinkLimits::default().batch_entries_max);

    // An honest sender with room for more entries ends its batch at the documents bound.
    let mut t = Script::new();
    t.limits.batch_entries_max = BATCH_ENTRIES_BOUND;
    t.limits.batch_bytes_max = 16 << 20;
    for i in 0..(BATCH_DOCS_MAX + 10) {
        t.c.write(&doc("a", &format!("x{i}")), 1, 4);
    }
    t.connect();
    t.settle();
    let batches: Vec<&String> = t.trace.iter().filter(|l| l.starts_with("c→s batch")).collect();
    assert_eq!(batches.len(), 2, "{batches:?}");
    assert!(batches[0].starts_with(&format!("c→s batch {BATCH_DOCS_MAX} ")), "{}", batches[0]);
    assert_eq!(t.s.session.as_ref().unwrap().progress().applied_through, BATCH_DOCS_MAX as u64 + 10);
}

#[test]
fn a_checkpoint_that_names_a_lost_log_starts_the_repair_path() {
    let mut t = Script::new();
    t.c.write(&doc("a", "1"), 2, 10);
    t.connect();
    t.settle();
    t.disconnect();
    t.trace.clear();
    // The street lost its disk: a new log, no checkpoint of the child. The child's
    // checkpoint names the street's old log.
    let mut street = Side::new("s", Tier::Street, "s.2");
    street.routes.children.insert("a".into(), ["a".to_string()].into());
    street.routes.children.insert("b".into(), ["b".to_string()].into()); // not shared with `a`
    t.c.checkpoint = Some(Checkpoint { log_id: "s.1".into(), through: 4, fingerprint: 0 });
    t.s = street;
    t.c.docs = vec![doc("a", "1"), doc("s", "all")];
    t.s.docs = vec![doc("a", "1"), doc("b", "1")];
    t.connect();
    t.settle();
    assert_trace(
        &t,
        "connect: c sends after 0, s sends after 0
         c list docs
         c read after 0 max 512
         c→s batch 2 [1 a/r/1, 2 a/r/1]
         c sync a/r/1 start
         c sync s/r/all start
         s list docs
         s sync a/r/1 start
         s apply [a/r/1×2] @a.1:2
         s→c ack 2",
    );
    assert!(t.c.session.as_ref().unwrap().progress().repair);
}

#[test]
fn a_child_that_lost_its_disk_syncs_up_only_its_own_documents() {
    // Before, a repairing child synced every document it held up, broadcasts
    // included, and the street refused each broadcast, with a warning, on every
    // attempt.
    let mut t = Script::new();
    // The child lost its disk: a new log; the street's checkpoint names the old one.
    t.c = Side::new("a", Tier::Community, "a.2");
    t.s.checkpoint = Some(Checkpoint { log_id: "a.1".into(), through: 7, fingerprint: 0 });
    t.c.docs = vec![doc("a", "1"), doc("s", "all")];
    t.s.docs = vec![doc("a", "1"), doc("s", "all")];
    t.connect();
    t.settle();
    assert_trace(
        &t,
        "connect: c sends after 0, s sends after 0
         c list docs
         c sync a/r/1 start
         s list docs
         s sync a/r/1 start
         s sync s/r/all start",
    );
}

use crate::doc::heads_only::test_sync_message as sync_message;

#[test]
fn a_childs_answer_on_a_broadcast_is_taken_for_its_heads_and_its_changes_refused() {
    // Before, a street refused every sync message of a child on a broadcast, so a
    // repair down (a new child, or one whose checkpoint was trimmed away) never got
    // past the first message: a community split off mid-run never received the
    // district's sites document.
    let t = Script::new();
    let (mut street, _) = Session::start(&t.s.hello(), &t.c.hello(), None, PeerIs::Child, LinkLimits::default(), 0);
    let answer = Frame::Sync { doc: doc("s", "all"), message: sync_message(false) };
    let taken = street.on_frame(answer, &t.s.routes).unwrap();
    assert!(
        matches!(taken.as_slice(), [Action::Sync { message: None, .. }, Action::Sync { message: Some(_), .. }]),
        "{taken:?}"
    );
    // A change in it is refused, naming the rule; the heads still move the protocol.
    let written = Frame::Sync { doc: doc("s", "all"), message: sync_message(true) };
    let actions = street.on_frame(written, &t.s.routes).unwrap();
    let [Action::Send(Frame::Refusal { doc: refused, reason, .. }), Action::Sync { message: Some(heads), .. }] =
        actions.as_slice()
    else {
        panic!("{actions:?}")
    };
    assert_eq!(refused, &doc("s", "all").to_string());
    assert!(reason.contains("not in the subtree"), "{reason}");
    let heads = automerge::sync::Message::decode(heads).expect("decode");
    assert!(heads.changes.is_empty() && !heads.heads.is_empty(), "{heads:?}");
    // What does not decode is refused, and nothing reaches the engine.
    let garbage = Frame::Sync { doc: doc("s", "all"), message: vec![1] };
    let refused = street.on_frame(garbage, &t.s.routes).unwrap();
    assert!(matches!(refused.as_slice(), [Action::Send(Frame::Refusal { .. })]), "{refused:?}");
}

#[test]
fn a_parent_that_lost_its_disk_takes_its_broadcasts_back_from_a_child() {
    let t = Script::new();
    let broadcast = Frame::Sync { doc: doc("s", "all"), message: sync_message(true) };
    // First contact: nothing lost. The child may not write the street's documents.
    let (mut street, _) = Session::start(&t.s.hello(), &t.c.hello(), None, PeerIs::Child, LinkLimits::default(), 0);
    let refused = street.on_frame(broadcast.clone(), &t.s.routes).unwrap();
    assert!(matches!(refused.first(), Some(Action::Send(Frame::Refusal { .. }))), "{refused:?}");
    // The street lost its disk (a new log; the child knew the old one): it takes
    // the broadcasts it lost back from the child.
    let mut child = t.c.hello();
    child.checkpoint = Some(Checkpoint { log_id: "s.0".into(), through: 4, fingerprint: 0 });
    let (mut street, _) = Session::start(&t.s.hello(), &child, None, PeerIs::Child, LinkLimits::default(), 0);
    let taken = street.on_frame(broadcast.clone(), &t.s.routes).unwrap();
    // The session's first message on the document starts this side over, then is taken.
    assert!(
        matches!(taken.as_slice(), [Action::Sync { message: None, .. }, Action::Sync { message: Some(_), .. }]),
        "{taken:?}"
    );
    let taken = street.on_frame(broadcast, &t.s.routes).unwrap();
    assert!(matches!(taken.as_slice(), [Action::Sync { message: Some(_), .. }]), "{taken:?}");
}

#[test]
fn repair_starts_one_more_document_only_while_the_backlog_is_small() {
    let mut t = Script::new();
    // The child's checkpoint names a log the street no longer has.
    t.c.checkpoint = Some(Checkpoint { log_id: "s.0".into(), through: 9, fingerprint: 0 });
    let (mine, theirs) = (t.c.hello(), t.s.hello());
    let (mut session, actions) = Session::start(&mine, &theirs, None, PeerIs::Parent, LinkLimits::default(), 0);
    assert_eq!(actions, vec![Action::ListDocs]);
    session.on_docs((0..20).map(|i| doc("a", &i.to_string())).collect(), &t.c.routes);
    assert_eq!(session.poll(0, 16, 0), None, "16 frames or engine steps queued: the next document waits");
    assert_eq!(
        session.poll(0, 15, 0),
        Some(Action::Sync { doc: doc("a", "0"), message: None, actors_refused: Default::default() })
    );
    let started = std::iter::from_fn(|| session.poll(0, 0, 0)).count();
    assert_eq!(started, 19, "every shared document is repaired, one poll each");
}

#[test]
fn a_log_restored_from_a_backup_that_wrote_on_is_renewed_not_resumed() {
    let mut t = Script::new();
    t.c.write(&doc("a", "1"), 3, 10);
    t.connect();
    t.settle();
    t.disconnect();
    // The community goes back to a backup taken after its first entry, and writes two
    // others under numbers the street acknowledged: the street's checkpoint (3) is
    // within the log, but names an entry the log holds otherwise. Resuming from it
    // would skip entries 2 and 3 for good.
    t.c.log.truncate(1);
    t.c.write(&doc("a", "1"), 3, 20);
    t.trace.clear();
    t.connect();
    assert_trace(
        &t,
        "connect: c sends after 3, s sends after 0
         c renew log a.1
         s list docs",
    );
    // The child's session does nothing more; a new log is a new link to the street.
    assert!(t.c.session.as_mut().unwrap().poll(4, 0, 0).is_none());
    t.disconnect();
    t.c.log_id = "a.1.renewed".into();
    t.trace.clear();
    t.connect();
    t.settle();
    assert_trace(
        &t,
        "connect: c sends after 0, s sends after 0
         c list docs
         c read after 0 max 512
         c→s batch 4 [1 a/r/1, 2 a/r/1, 3 a/r/1, 4 a/r/1]
         s list docs
         s apply [a/r/1×4] @a.1.renewed:4
         s→c ack 4",
    );
}

#[test]
fn a_peer_whose_checkpoint_was_trimmed_away_is_repaired_then_resumed_at_the_trim() {
    let mut t = Script::new();
    t.c.docs = vec![doc("a", "1")];
    t.c.write(&doc("a", "1"), 2, 10);
    t.connect();
    t.settle();
    t.disconnect();
    // Away, the child's hold on the street's log (nothing) falls behind what the street
    // keeps: 7 entries of its own to the child's document, the log trimmed through 6.
    t.s.write(&doc("a", "1"), 7, 10);
    t.s.trim(6);
    t.trace.clear();
    t.connect();
    t.settle();
    // Entries 1..=6 are gone: repair runs on what the street shares down (nothing here:
    // its own documents are not in the child's routes) and shipping resumes at 6.
    assert_trace(
        &t,
        "connect: c sends after 2, s sends after 6
         c list docs
         c sync a/r/1 start
         s list docs
         s read after 6 max 512
         s→c batch 7 [7 a/r/1]
         c apply [a/r/1×1] @s.1:7
         c→s ack 7",
    );
    // A session that meets the trim mid-way (it connected while the trim was being
    // written) ends instead of skipping: the next Hellos repair.
    t.disconnect();
    t.s.write(&doc("a", "1"), 3, 10);
    let (child, street) = (t.c.hello(), t.s.hello());
    let named = t.s.named(&street, &child);
    t.s.trim(9);
    let (session, actions) = Session::start(&street, &child, named.as_ref(), PeerIs::Child, LinkLimits::default(), 0);
    t.s.session = Some(session);
    t.trace.clear();
    t.run(false, actions);
    assert_trace(
        &t,
        "s read after 7 max 512
         s session ends: the log was trimmed past 7: its first entry is 10; the peer is repaired instead",
    );
}

#[test]
fn quarantined_documents_are_synced_with_the_peers_that_share_them() {
    // Before, nothing synced a document whose stored bytes could not be read: what it
    // lost stayed lost.
    let mut t = Script::new();
    t.s.routes.children.insert("b".into(), ["b".to_string()].into());
    t.connect();
    t.settle();
    t.trace.clear();
    // The street quarantined the child's document, a broadcast and another
    // community's; the child quarantined its own and the broadcast.
    let (a, menu, b) = (doc("a", "1"), doc("s", "1"), doc("b", "1"));
    let s = t.s.session.as_mut().unwrap();
    s.on_quarantined([a.clone(), menu.clone(), b.clone()], &t.s.routes);
    let c = t.c.session.as_mut().unwrap();
    c.on_quarantined([a.clone(), menu.clone()], &t.c.routes);
    t.poll(true);
    t.poll(false);
    t.settle();
    // Down: the child's own and the broadcast, never another community's. Up: only
    // the child's own (a parent takes no child's sync of a broadcast).
    assert_trace(
        &t,
        "c sync a/r/1 start
         s sync a/r/1 start
         s sync s/r/1 start",
    );
}
