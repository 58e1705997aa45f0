//! Blocks: solo mining one per parent, the block limit, candidates behind a pool, and a
//! node whose verdicts lag its next template.

use super::*;

#[test]
fn solo_mining_submits_one_block_per_parent() {
    let solo = regtest_job("t1");
    let next = solo.clone();
    let mut source = Script {
        after_verdict: Box::new(move |share, n| {
            let mut j = next.clone();
            j.id = format!("t{}", n + 1);
            j.prev_hash = share.hash.0;
            vec![Event::Job(Arc::new(j))]
        }),
        solo: true,
        ..Script::new(solo)
    };
    let options = MineOptions {
        blocks: Some(3),
        ..MineOptions::default()
    };
    let stats = mine(&mut source, &portable(), &options, &mut |_, _| {}).expect("mines");
    assert_eq!(stats.blocks_accepted, 3);
    assert_eq!(stats.block_candidates, 0, "a node's answer settles a block");
    assert_eq!(source.submitted.len(), 3, "one block per parent");
    for (i, (_, share)) in source.submitted.iter().enumerate() {
        assert!(share.is_block);
        check(share);
        if i > 0 {
            assert_eq!(
                share.header.prev_blockhash,
                source.submitted[i - 1].1.hash.0
            );
        }
    }
    assert_eq!(
        stats.blocks.iter().map(|b| b.hash).collect::<Vec<_>>(),
        source
            .submitted
            .iter()
            .map(|(_, s)| s.hash)
            .collect::<Vec<_>>()
    );
    assert!(stats.blocks.windows(2).all(|w| w[0].hashes <= w[1].hashes));
}

#[test]
fn the_block_list_stays_bounded() {
    let mut source = Script::new(every_share_a_block());
    let limit = MAX_LISTED_BLOCKS as u64 + 10;
    let options = MineOptions {
        shares: Some(limit),
        ..MineOptions::default()
    };
    let stats = mine(&mut source, &portable(), &options, &mut |_, _| {}).expect("mines");
    // A pool's acceptance makes each a candidate, never an accepted block.
    assert_eq!(stats.blocks_accepted, 0);
    assert_eq!(stats.blocks, []);
    assert!(stats.accepted >= limit, "{}", stats.accepted);
    assert_eq!(stats.block_candidates, stats.accepted);
    assert_eq!(stats.candidates.len(), MAX_LISTED_BLOCKS);
    assert_eq!(stats.candidates[0].hash, source.submitted[0].1.hash);
}

#[test]
fn behind_a_pool_the_block_limit_counts_candidates() {
    let mut source = Script::new(every_share_a_block());
    let options = MineOptions {
        blocks: Some(3),
        // A bound for a pipeline that ignores the limit: met, the counts below fail.
        time: Some(Duration::from_secs(60)),
        ..MineOptions::default()
    };
    let stats = mine(&mut source, &portable(), &options, &mut |_, _| {}).expect("mines");
    assert!(stats.elapsed < Duration::from_secs(60), "{stats:?}");
    assert_eq!(stats.blocks_accepted, 0);
    assert!(stats.block_candidates >= 3, "{}", stats.block_candidates);
    assert_eq!(
        stats.candidates.iter().map(|b| b.hash).collect::<Vec<_>>(),
        source
            .submitted
            .iter()
            .map(|(_, s)| s.hash)
            .collect::<Vec<_>>(),
        "every submission was a block, and the script accepts each at once"
    );
}

/// A solo source whose node learns of each block before it answers for it, as a real one
/// does: the next template (on top of the block) comes from the next poll, the verdict
/// `delay` later. The first `reject` blocks are rejected: the next template is then a fresh
/// one on the same parent.
struct Node {
    template: Job,
    queue: VecDeque<Event>,
    verdicts: VecDeque<(Instant, Share, Verdict)>,
    delay: Duration,
    reject: usize,
    submitted: Vec<Share>,
}

impl Node {
    fn new(delay: Duration, reject: usize) -> Self {
        let template = regtest_job("t0");
        Node {
            queue: VecDeque::from([Event::Job(Arc::new(template.clone()))]),
            template,
            verdicts: VecDeque::new(),
            delay,
            reject,
            submitted: Vec::new(),
        }
    }
}

impl Source for Node {
    fn poll(&mut self, timeout: Duration) -> Result<Vec<Event>, Error> {
        let mut events: Vec<Event> = self.queue.drain(..).collect();
        while self.verdicts.front().is_some_and(|v| v.0 <= Instant::now()) {
            let (_, share, verdict) = self.verdicts.pop_front().expect("the front was just seen");
            events.push(Event::Verdict { share, verdict });
        }
        if events.is_empty() {
            std::thread::sleep(timeout.min(Duration::from_millis(5)));
        }
        Ok(events)
    }

    fn submit(&mut self, share: Share) -> Result<Vec<Event>, Error> {
        self.submitted.push(share.clone());
        let mut next = self.template.clone();
        next.id = format!("t{}", self.submitted.len());
        let verdict = if self.submitted.len() <= self.reject {
            Verdict::Rejected {
                reason: "bad-txns".into(),
                stale: false,
            }
        } else {
            next.prev_hash = share.hash.0;
            Verdict::Accepted
        };
        self.template = next.clone();
        self.queue.push_back(Event::Job(Arc::new(next)));
        self.verdicts
            .push_back((Instant::now() + self.delay, share, verdict));
        Ok(Vec::new())
    }

    fn pause_after_block(&self) -> bool {
        true
    }

    fn block_verdicts_are_final(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        "node".into()
    }
}

#[test]
fn the_block_limit_is_never_passed_while_verdicts_lag_the_next_template() {
    for limit in [1, 2] {
        let mut node = Node::new(Duration::from_millis(100), 0);
        let options = MineOptions {
            blocks: Some(limit),
            ..MineOptions::default()
        };
        let stats = mine(&mut node, &portable(), &options, &mut |_, _| {}).expect("mines");
        assert_eq!(stats.blocks_accepted, limit);
        assert_eq!(node.submitted.len() as u64, limit, "{:?}", stats.blocks);
        assert_eq!(
            stats.jobs,
            limit + 1,
            "the template on the last block arrived too"
        );
    }
}

#[test]
fn a_rejected_block_lets_the_held_template_be_mined() {
    let mut node = Node::new(Duration::from_millis(50), 1);
    let options = MineOptions {
        blocks: Some(1),
        // A bound for a broken pipeline, which would idle: met, the accepted count fails. Wide,
        // since a debug build on a busy machine takes most of half a minute to find the blocks.
        time: Some(Duration::from_secs(300)),
        ..MineOptions::default()
    };
    // The template that arrived while the rejected block was in flight is held, then mined:
    // its block is on the same parent as the rejected one.
    let stats = mine(&mut node, &portable(), &options, &mut |_, _| {}).expect("mines");
    assert_eq!(stats.blocks_accepted, 1);
    assert_eq!(stats.rejected_total(), 1, "{:?}", stats.rejected);
    assert_eq!(node.submitted.len(), 2);
    assert_eq!(
        node.submitted[0].header.prev_blockhash,
        node.submitted[1].header.prev_blockhash
    );
    assert_eq!(node.submitted[1].job.id, "t1");
}
