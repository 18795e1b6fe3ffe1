//! The ledger's tests: every decision, the queue, versions and the stored form.

use super::*;
use crate::device::id::device_digest;
use crate::device::settings::OnLimit;
use crate::http::problem::Problem;

const NOW: u64 = 1_800_000_000;
const VIEWER: &str = "5bdcc146bf60754e6a042426089575c75a003f08";

fn arn(id: &str) -> String {
    format!("arn:aws:ivs:us-west-2:123456789012:channel/{id}")
}

/// Channels `c0`.. `c29` in us-west-2 and `eu0` in eu-west-1, leaked for `ChannelRef`'s borrows.
fn ch(name: &str) -> ChannelRef<'static> {
    let arn =
        if name.starts_with("eu") { format!("arn:aws:ivs:eu-west-1:123456789012:channel/{name}") } else { arn(name) };
    ChannelRef { name: Box::leak(name.to_owned().into_boxed_str()), arn: Box::leak(arn.into_boxed_str()) }
}

fn policy(limit: u32, on_limit: OnLimit) -> Policy {
    Policy { limit, on_limit, idle_seconds: 90 }
}

fn refuse(limit: u32) -> Policy {
    policy(limit, OnLimit::Refuse)
}

fn admitted(decision: &Decision) -> (i64, bool, Vec<String>) {
    match decision {
        Decision::Admitted { version, renewed, evicted } => (*version, *renewed, evicted.clone()),
        other => panic!("not admitted: {other:?}"),
    }
}

/// The queued (channel ARN, ceiling, devices) triples, in queue order.
fn queued(ledger: &Ledger) -> Vec<(String, i64, Vec<String>)> {
    ledger.revocations.iter().map(|r| (r.channel_arn.clone(), r.version, r.devices.clone())).collect()
}

/// A small deterministic generator (xorshift64*), so property runs are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn a_device_keeps_its_slot_and_version_on_every_channel() {
    let mut ledger = Ledger::new(VIEWER);
    let (v, renewed, evicted) = admitted(&ledger.admit("tv-000001", ch("c0"), refuse(2), false, NOW));
    assert_eq!((v, renewed, evicted.len()), (NOW as i64, false, 0));
    let (again, renewed, _) = admitted(&ledger.admit("tv-000001", ch("c0"), refuse(2), false, NOW + 300));
    assert_eq!((again, renewed), (v, true), "a renewal or reload keeps the version");
    let (other, renewed, _) = admitted(&ledger.admit("tv-000001", ch("c1"), refuse(2), false, NOW + 400));
    assert_eq!((other, renewed), (v, true), "another channel: the same slot, the same version");
    assert_eq!(ledger.devices.len(), 1);
    assert_eq!(ledger.devices[0].last_seen, NOW + 400);
    let events = ledger.take_events();
    assert_eq!(events.len(), 1, "renewals are not logged as admissions: {events:?}");
    assert!(matches!(&events[0], Event::DeviceAdmitted { device, holding: 1, limit: 2, .. } if device == "tv-000001"));
}

#[test]
fn at_the_limit_refuse_changes_nothing_and_says_how_many() {
    let mut ledger = Ledger::new(VIEWER);
    ledger.admit("device-a", ch("c0"), refuse(2), false, NOW);
    ledger.admit("device-b", ch("c1"), refuse(2), false, NOW + 1);
    ledger.take_events();
    let before = ledger.clone();
    assert_eq!(
        ledger.admit("device-c", ch("c0"), refuse(2), false, NOW + 2),
        Decision::Refused { in_use: 2, limit: 2 }
    );
    assert_eq!(ledger.take_events().len(), 1);
    assert_eq!(ledger, before);
    let err = Decision::Refused { in_use: 2, limit: 2 }.into_result().unwrap_err();
    assert_eq!((err.status(), err.slug()), (403, "device-limit"));
    assert!(err.to_string().starts_with("2 of 2 devices are already watching"));
}

#[test]
fn takeover_and_evict_oldest_evict_the_oldest_on_every_channel_it_held() {
    for (on_limit, takeover) in [(OnLimit::Refuse, true), (OnLimit::EvictOldest, false)] {
        let mut ledger = Ledger::new(VIEWER);
        let (va, ..) = admitted(&ledger.admit("device-a", ch("c0"), policy(2, on_limit), false, NOW));
        ledger.admit("device-a", ch("c1"), policy(2, on_limit), false, NOW + 1);
        let (vb, ..) = admitted(&ledger.admit("device-b", ch("c0"), policy(2, on_limit), false, NOW + 2));
        let (vc, renewed, evicted) =
            admitted(&ledger.admit("device-c", ch("c0"), policy(2, on_limit), takeover, NOW + 3));
        assert!(va < vb && vb < vc && !renewed);
        assert_eq!(evicted, ["device-a"]);
        assert_eq!(
            queued(&ledger),
            [(arn("c0"), va, vec!["device-a".into()]), (arn("c1"), va, vec!["device-a".into()])],
            "one revocation per channel the evicted device held, at its version"
        );
        assert!(vb > va, "the ceiling on c0 leaves device-b there untouched");
        assert_eq!(ledger.heartbeat("device-a", ch("c0"), NOW + 4), Heartbeat::Evicted);
        assert_eq!(ledger.heartbeat("device-b", ch("c0"), NOW + 4), Heartbeat::Held);
        assert_eq!(ledger.heartbeat("device-b", ch("c1"), NOW + 4), Heartbeat::Evicted, "not held there");
        assert!(ledger.take_events().iter().any(
            |e| matches!(e, Event::DeviceEvicted { reason: Reason::Evicted, channels, .. } if channels.len() == 2)
        ));
    }
}

#[test]
fn twelve_concurrent_takeovers_in_any_order_leave_one_holder_and_eleven_revocations() {
    let mut rng = Rng(0x5eed);
    for round in 0..200 {
        let mut order: Vec<usize> = (0..12).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let mut ledger = Ledger::new(VIEWER);
        let mut versions = Vec::new();
        for (step, device) in order.iter().enumerate() {
            // Requests arriving within the same second or a few apart, as the object serializes them.
            let now = NOW + if round % 2 == 0 { 0 } else { step as u64 / 3 };
            let (version, _, evicted) =
                admitted(&ledger.admit(&format!("device-{device:02}"), ch("c0"), refuse(1), true, now));
            assert_eq!(evicted.len(), usize::from(step > 0));
            versions.push(version);
        }
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "versions strictly increase: {versions:?}");
        assert_eq!(ledger.devices.len(), 1);
        assert_eq!(ledger.devices[0].id, format!("device-{:02}", order[11]), "the last one holds the slot");
        let revocations = queued(&ledger);
        assert_eq!(revocations.len(), 11);
        for (i, (channel, version, devices)) in revocations.iter().enumerate() {
            assert_eq!(
                (channel, *version, devices.clone()),
                (&arn("c0"), versions[i], vec![format!("device-{:02}", order[i])])
            );
            assert!(*version < ledger.devices[0].version, "no revocation reaches the holder");
        }
    }
}

#[test]
fn idle_devices_no_longer_count_but_are_revoked_when_their_slot_is_given_away() {
    let mut ledger = Ledger::new(VIEWER);
    let (va, ..) = admitted(&ledger.admit("device-a", ch("c0"), refuse(2), false, NOW));
    ledger.admit("device-b", ch("c1"), refuse(2), false, NOW + 50);
    // 100 s later device-a has been silent for 100 s > 90: it does not count.
    let (_, _, evicted) = admitted(&ledger.admit("device-c", ch("c0"), refuse(2), false, NOW + 100));
    assert_eq!(evicted, ["device-a"], "refuse, yet the idle device's slot is given away");
    assert_eq!(queued(&ledger), [(arn("c0"), va, vec!["device-a".into()])]);
    assert!(ledger.take_events().iter().any(|e| matches!(e, Event::DeviceEvicted { reason: Reason::Idle, .. })));
    // Under the limit an idle device keeps its slot and comes back with its version.
    let mut ledger = Ledger::new(VIEWER);
    let (va, ..) = admitted(&ledger.admit("device-a", ch("c0"), refuse(3), false, NOW));
    ledger.admit("device-b", ch("c0"), refuse(3), false, NOW + 500);
    assert!(ledger.revocations.is_empty());
    assert_eq!(ledger.list(NOW + 500, 90).iter().map(|d| d.idle).collect::<Vec<_>>(), [true, false]);
    assert_eq!(admitted(&ledger.admit("device-a", ch("c0"), refuse(3), false, NOW + 600)), (va, true, vec![]));
    assert!(!ledger.list(NOW + 600, 90)[0].idle);
}

#[test]
fn a_refusal_revokes_no_idle_device() {
    // The limit was lowered to 1: one active and one idle device. The idle slot alone is not
    // enough for a newcomer, so it is refused and the idle device is left alone.
    let mut ledger = Ledger::new(VIEWER);
    ledger.admit("device-a", ch("c0"), refuse(2), false, NOW);
    ledger.admit("device-b", ch("c0"), refuse(2), false, NOW + 100);
    assert_eq!(
        ledger.admit("device-c", ch("c0"), refuse(1), false, NOW + 120),
        Decision::Refused { in_use: 1, limit: 1 }
    );
    assert!(ledger.revocations.is_empty() && ledger.devices.len() == 2);
    // Lowering the limit evicted nobody; a takeover then frees both slots.
    let (_, _, evicted) = admitted(&ledger.admit("device-c", ch("c0"), refuse(1), true, NOW + 130));
    assert_eq!(evicted, ["device-a", "device-b"]);
    assert_eq!(ledger.devices.len(), 1);
}

#[test]
fn a_released_device_is_idle_until_it_asks_again() {
    let mut ledger = Ledger::new(VIEWER);
    let (va, ..) = admitted(&ledger.admit("device-a", ch("c0"), refuse(1), false, NOW));
    assert!(ledger.release("device-a", NOW + 5));
    assert!(!ledger.release("device-x", NOW + 5));
    assert_eq!(
        admitted(&ledger.admit("device-a", ch("c0"), refuse(1), false, NOW + 6)),
        (va, true, vec![]),
        "a reload"
    );
    ledger.release("device-a", NOW + 7);
    let (_, _, evicted) = admitted(&ledger.admit("device-b", ch("c0"), refuse(1), false, NOW + 8));
    assert_eq!(evicted, ["device-a"], "its slot is given away, and it is revoked");
    assert_eq!(queued(&ledger), [(arn("c0"), va, vec!["device-a".into()])]);
}

#[test]
fn an_older_device_stopped_by_an_idle_ones_ceiling_gets_a_fresh_version() {
    let mut ledger = Ledger::new(VIEWER);
    let (va, ..) = admitted(&ledger.admit("device-a", ch("c0"), refuse(2), false, NOW));
    let (vb, ..) = admitted(&ledger.admit("device-b", ch("c0"), refuse(2), false, NOW + 1));
    // device-a keeps beating, device-b goes quiet; a third device takes device-b's slot.
    ledger.heartbeat("device-a", ch("c0"), NOW + 100);
    ledger.take_events();
    let (vc, _, evicted) = admitted(&ledger.admit("device-c", ch("c1"), refuse(2), false, NOW + 120));
    assert_eq!(evicted, ["device-b"]);
    assert_eq!(queued(&ledger), [(arn("c0"), vb, vec!["device-b".into()])]);
    let events = ledger.take_events();
    assert!(
        events.iter().any(|e| matches!(e, Event::CollateralRevocation { device, .. } if device == "device-a")),
        "{events:?}"
    );
    // device-a's next token on c0 must be above the ceiling (IVS would refuse <= vb).
    let (fresh, renewed, _) = admitted(&ledger.admit("device-a", ch("c0"), refuse(2), false, NOW + 121));
    assert!(renewed && fresh > vb && fresh > vc && va < vb);
    assert_eq!(admitted(&ledger.admit("device-a", ch("c0"), refuse(2), false, NOW + 122)).0, fresh, "and keeps it");
    // Its admission version still serves channels without a revocation.
    assert_eq!(admitted(&ledger.admit("device-a", ch("c2"), refuse(2), false, NOW + 123)).0, va);
}

#[test]
fn versions_strictly_increase_and_stay_within_32_bits() {
    let mut ledger = Ledger::new(VIEWER);
    let mut last = 0;
    for (i, now) in [NOW, NOW, NOW - 100, NOW + 5, NOW + 5, 3, NOW + 1000].into_iter().enumerate() {
        let (v, ..) = admitted(&ledger.admit(&format!("device-{i}"), ch("c0"), refuse(1), true, now));
        assert!(v > last && v >= (now as i64).min(MAX_VERSION), "{v} after {last} at {now}");
        last = v;
    }
    assert_eq!(ledger.last_version, last);
    let mut late = Ledger::new(VIEWER);
    assert_eq!(
        admitted(&late.admit("device-a", ch("c0"), refuse(5), false, u64::MAX)).0,
        MAX_VERSION,
        "2038 and later: the cap"
    );
    assert_eq!(late.admit("device-b", ch("c0"), refuse(5), false, u64::MAX), Decision::Exhausted);
    assert_eq!(Decision::Exhausted.into_result().unwrap_err().status(), 500);
    assert_eq!(unledgered_version(NOW), NOW as i64);
    assert_eq!(unledgered_version(u64::MAX), MAX_VERSION);
}

/// Issue 22, finding 9: 300 takeovers in 4.5 s ran versions 294 s ahead of the clock, so
/// "revoke every session started before T" (`<= T`) missed the newest devices.
#[test]
fn versions_stay_within_a_few_seconds_of_the_clock() {
    let mut ledger = Ledger::new(VIEWER);
    let mut admitted_count = 0;
    let mut refused = 0;
    for i in 0..300u64 {
        let now = NOW + i * 15 / 1000; // 300 takeovers in 4.5 s
        match ledger.admit(&format!("device-{i}"), ch("c0"), refuse(2), true, now) {
            Decision::Admitted { version, .. } => {
                assert!(version <= now as i64 + MAX_VERSION_LEAD, "{version} at {now}");
                admitted_count += 1;
            }
            Decision::TooFast { retry_after } => {
                assert!((1..=MAX_VERSION_LEAD as u64).contains(&retry_after), "{retry_after}");
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    // 16 in the first second (leads 0 to 15), then one a second for the next four.
    assert_eq!(admitted_count, 16 + 4);
    assert_eq!(admitted_count + refused, 300);
    let error = Decision::TooFast { retry_after: 2 }.into_result().unwrap_err();
    assert_eq!((error.status(), error.slug()), (429, "too-many-new-devices"));
    // Once the clock catches up, new devices are admitted again; the versions still rise.
    let before = ledger.last_version;
    let (v, ..) = admitted(&ledger.admit("device-late", ch("c0"), refuse(2), true, NOW + 10));
    assert!(v > before && v <= (NOW + 10) as i64 + MAX_VERSION_LEAD);
    // An operator's ceiling at T covers every device admitted before T.
    let revoked = ledger.revoke_viewer(RevokeScope::Viewer(&[]), None, NOW + 10);
    assert!(revoked.version >= v);
}

#[test]
fn an_operator_revokes_every_device_and_may_block() {
    let mut ledger = Ledger::new(VIEWER);
    ledger.admit("device-a", ch("c0"), refuse(3), false, NOW);
    ledger.admit("device-a", ch("c1"), refuse(3), false, NOW);
    ledger.admit("device-b", ch("c2"), refuse(3), false, NOW + 1);
    let limited = [ch("c0"), ch("c3")];
    let revoked = ledger.revoke_viewer(RevokeScope::Viewer(&limited), Some(NOW + 600), NOW + 10);
    assert_eq!(revoked.devices, ["device-a", "device-b"]);
    assert_eq!(revoked.channels, ["c0", "c1", "c2", "c3"], "the given channels and every channel held");
    assert_eq!(revoked.version, (NOW + 10) as i64, "everything issued until now, ledger or not");
    assert!(ledger.devices.is_empty());
    assert_eq!(ledger.revocations.len(), 4);
    assert!(ledger.revocations.iter().all(|r| r.version == revoked.version && r.reason == Reason::Operator));
    assert_eq!(ledger.heartbeat("device-a", ch("c0"), NOW + 11), Heartbeat::Evicted);
    assert_eq!(ledger.admit("device-a", ch("c0"), refuse(3), false, NOW + 11), Decision::Blocked { until: NOW + 600 });
    assert_eq!(ledger.admit("device-z", ch("c9"), refuse(3), false, NOW + 599), Decision::Blocked { until: NOW + 600 });
    let err = Decision::Blocked { until: NOW + 600 }.into_result().unwrap_err();
    assert_eq!((err.status(), err.slug()), (403, "viewer-blocked"));
    let (v, ..) = admitted(&ledger.admit("device-a", ch("c0"), refuse(3), false, NOW + 600));
    assert!(v > revoked.version, "a new admission is above the revoked ceiling");
    assert_eq!(ledger.blocked_until, None, "an expired block is forgotten");
}

#[test]
fn an_operator_revocation_of_one_channel_frees_only_what_it_must() {
    let mut ledger = Ledger::new(VIEWER);
    ledger.admit("device-a", ch("c0"), refuse(3), false, NOW);
    ledger.admit("device-a", ch("c1"), refuse(3), false, NOW);
    ledger.admit("device-b", ch("c0"), refuse(3), false, NOW + 1);
    ledger.admit("device-c", ch("c1"), refuse(3), false, NOW + 2);
    let revoked = ledger.revoke_viewer(RevokeScope::Channel(ch("c0")), Some(NOW + 60), NOW + 10);
    assert_eq!(
        (revoked.devices, revoked.channels),
        (vec!["device-a".to_owned(), "device-b".into()], vec!["c0".to_owned()])
    );
    assert_eq!(queued(&ledger), [(arn("c0"), (NOW + 10) as i64, vec!["device-a".into(), "device-b".into()])]);
    let left: Vec<&str> = ledger.devices.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(left, ["device-a", "device-c"], "device-a still holds c1; device-b held only c0");
    assert_eq!(ledger.heartbeat("device-a", ch("c1"), NOW + 11), Heartbeat::Held);
    assert_eq!(ledger.heartbeat("device-a", ch("c0"), NOW + 11), Heartbeat::Evicted);
    assert_eq!(ledger.admit("device-a", ch("c0"), refuse(3), false, NOW + 12), Decision::Blocked { until: NOW + 60 });
    assert!(
        matches!(ledger.admit("device-a", ch("c1"), refuse(3), false, NOW + 12), Decision::Admitted { .. }),
        "only c0 is blocked"
    );
}

#[test]
fn calls_batch_up_to_twenty_channels_of_one_region_merging_ceilings() {
    let mut ledger = Ledger::new(VIEWER);
    let channels: Vec<ChannelRef<'static>> = (0..25).map(|i| ch(&format!("c{i}"))).chain([ch("eu0")]).collect();
    for channel in &channels {
        ledger.admit("device-a", *channel, refuse(1), false, NOW);
    }
    ledger.admit("device-b", ch("c0"), refuse(1), true, NOW + 1);
    let vb = ledger.devices[0].version;
    ledger.admit("device-c", ch("c0"), refuse(1), true, NOW + 2);
    assert_eq!(ledger.revocations.len(), 26 + 1);
    // The oldest due first: device-a's holds queued in ARN order, eu-west-1's before us-west-2's.
    let first = ledger.due_revocations(NOW + 2, 20).unwrap();
    assert_eq!((first.region.as_str(), first.pairs.len(), first.is_batch()), ("eu-west-1", 1, false));
    assert_eq!(ledger.due_revocations(NOW + 2, 20), None, "one call per second");
    let second = ledger.due_revocations(NOW + 3, 20).unwrap();
    assert!(second.is_batch());
    assert_eq!((second.region.as_str(), second.pairs.len(), second.ids.len()), ("us-west-2", 20, 21));
    assert_eq!(
        second.pairs[0],
        Pair { channel_arn: arn("c0"), viewer_id: VIEWER.into(), version: vb },
        "c0's two merged"
    );
    let third = ledger.due_revocations(NOW + 4, 20).unwrap();
    assert_eq!((third.region.as_str(), third.pairs.len()), ("us-west-2", 5));
    assert_eq!(ledger.due_revocations(NOW + 5, 20), None, "all leased");
    assert_eq!(ledger.next_alarm(), Some(NOW + 2 + LEASE_SECONDS));
    ledger.revocation_result(&first, &CallOutcome::Answered(vec![]), NOW + 5, 0);
    ledger.revocation_result(&third, &CallOutcome::Answered(vec![]), NOW + 5, 0);
    assert_eq!(ledger.next_alarm(), Some(NOW + 3 + LEASE_SECONDS));
    // A lease that runs out (the object restarted mid-call) hands the call out again.
    assert_eq!(ledger.due_revocations(NOW + 2 + LEASE_SECONDS, 20), None);
    let again = ledger.due_revocations(NOW + 3 + LEASE_SECONDS, 20).unwrap();
    assert_eq!(again.ids, second.ids);
    ledger.revocation_result(&again, &CallOutcome::Answered(vec![]), NOW + 70, 0);
    assert!(ledger.revocations.is_empty());
    for channel in &channels[..3] {
        ledger.admit("device-d", *channel, refuse(1), true, NOW + 80);
    }
    ledger.admit("device-e", ch("c0"), refuse(1), true, NOW + 81);
    assert_eq!(ledger.due_revocations(NOW + 81, 2).unwrap().pairs.len(), 2, "max is honoured");
}

#[test]
fn answers_remove_retry_or_drop() {
    let setup = || {
        let mut ledger = Ledger::new(VIEWER);
        for c in ["c0", "c1", "c2"] {
            ledger.admit("device-a", ch(c), refuse(1), false, NOW);
        }
        ledger.admit("device-b", ch("c0"), refuse(1), true, NOW + 1);
        ledger.take_events();
        let call = ledger.due_revocations(NOW + 1, 20).unwrap();
        (ledger, call)
    };
    let (mut ledger, call) = setup();
    ledger.revocation_result(&call, &CallOutcome::Answered(vec![]), NOW + 2, 7);
    assert!(ledger.revocations.is_empty() && ledger.next_alarm().is_none());
    assert_eq!(ledger.take_events().iter().filter(|e| matches!(e, Event::RevocationAccepted { .. })).count(), 3);

    for outcome in [
        CallOutcome::Status { status: 429, code: Some("ThrottlingException".into()) },
        CallOutcome::Status { status: 500, code: None },
        CallOutcome::Status { status: 503, code: None },
        CallOutcome::Status { status: 403, code: Some("AccessDeniedException".into()) },
        CallOutcome::Network("connection reset".into()),
    ] {
        let (mut ledger, call) = setup();
        ledger.revocation_result(&call, &outcome, NOW + 2, 0);
        assert_eq!(ledger.revocations.len(), 3, "{outcome:?}: never dropped");
        assert!(ledger
            .revocations
            .iter()
            .all(|r| r.attempts == 1 && r.next_attempt_at == NOW + 3 && r.leased_until.is_none()));
        assert_eq!(ledger.next_alarm(), Some(NOW + 3));
        assert_eq!(ledger.due_revocations(NOW + 2, 20), None, "backing off");
        let retry = ledger.due_revocations(NOW + 3, 20).unwrap();
        assert_eq!(retry.ids, call.ids);
        ledger.revocation_result(&retry, &outcome, NOW + 3, 0);
        assert!(ledger.revocations.iter().all(|r| r.attempts == 2 && r.next_attempt_at == NOW + 5));
        assert!(ledger.revocations[0].last_error.is_some());
    }

    // A batch refused as invalid is split into single calls; a single one refused is dropped.
    let (mut ledger, call) = setup();
    ledger.revocation_result(
        &call,
        &CallOutcome::Status { status: 400, code: Some("ValidationException".into()) },
        NOW + 2,
        0,
    );
    assert_eq!(ledger.revocations.len(), 3);
    let single = ledger.due_revocations(NOW + 2, 20).unwrap();
    assert!(!single.is_batch());
    ledger.revocation_result(
        &single,
        &CallOutcome::Status { status: 400, code: Some("ValidationException".into()) },
        NOW + 2,
        0,
    );
    assert_eq!(ledger.revocations.len(), 2);
    assert!(ledger
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::RevocationDropped { reason, .. } if reason == "HTTP 400 ValidationException")));
    let single = ledger.due_revocations(NOW + 3, 20).unwrap();
    ledger.revocation_result(&single, &CallOutcome::Answered(vec![]), NOW + 3, 0);
    let single = ledger.due_revocations(NOW + 4, 20).unwrap();
    ledger.revocation_result(
        &single,
        &CallOutcome::Status { status: 404, code: Some("ResourceNotFoundException".into()) },
        NOW + 4,
        0,
    );
    assert!(ledger.revocations.is_empty());

    // A batch answered 200 with errors: each pair on its own.
    let (mut ledger, call) = setup();
    let error = |c: &str, code: &str| PairError {
        channel_arn: arn(c),
        viewer_id: VIEWER.into(),
        code: code.into(),
        message: "m".into(),
    };
    let errors = vec![error("c1", "ThrottlingException"), error("c2", "ValidationException")];
    ledger.revocation_result(&call, &CallOutcome::Answered(errors), NOW + 2, 0);
    assert_eq!(queued(&ledger).iter().map(|q| q.0.clone()).collect::<Vec<_>>(), [arn("c1")]);
    let events = ledger.take_events();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            Event::RevocationAccepted { .. } => "accepted",
            Event::RevocationRetry { .. } => "retry",
            Event::RevocationDropped { .. } => "dropped",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["accepted", "retry", "dropped"]);
}

#[test]
fn a_revocation_queued_during_a_call_is_not_lost_when_the_call_succeeds() {
    let mut ledger = Ledger::new(VIEWER);
    ledger.admit("device-a", ch("c0"), refuse(1), false, NOW);
    ledger.admit("device-b", ch("c0"), refuse(1), true, NOW + 1);
    let call = ledger.due_revocations(NOW + 1, 20).unwrap();
    // While IVS answers, another takeover queues a higher ceiling on the same channel.
    ledger.admit("device-c", ch("c0"), refuse(1), true, NOW + 1);
    ledger.revocation_result(&call, &CallOutcome::Answered(vec![]), NOW + 2, 0);
    assert_eq!(queued(&ledger).len(), 1);
    assert_eq!(queued(&ledger)[0].2, ["device-b"]);
}

#[test]
fn backoff_grows_and_is_bounded() {
    let mut previous_floor = 0;
    for attempts in 1..=40 {
        let samples: Vec<u64> = [0, 1, 7, 1000, u32::MAX].iter().map(|r| backoff(attempts, *r)).collect();
        let floor = *samples.iter().min().unwrap();
        assert!(samples.iter().all(|d| *d >= 1 && *d <= BACKOFF_MAX), "{attempts}: {samples:?}");
        assert!(floor >= previous_floor, "{attempts}: grows");
        previous_floor = floor;
    }
    assert_eq!((backoff(1, 0), backoff(1, 1)), (1, 2));
    assert_eq!((backoff(4, 0), backoff(4, 8)), (8, 16));
    assert_eq!((backoff(30, 0), backoff(30, 150)), (150, 300));
    let spread: std::collections::BTreeSet<u64> = (0..1000).map(|r| backoff(9, r)).collect();
    assert!(spread.len() > 100, "jitter spreads retries");
}

#[test]
fn a_long_queue_is_merged_per_channel() {
    let mut ledger = Ledger::new(VIEWER);
    for i in 0..300 {
        ledger.admit(&format!("device-{i}"), ch(if i % 2 == 0 { "c0" } else { "c1" }), refuse(1), true, NOW + i);
    }
    assert!(ledger.revocations.len() <= MAX_QUEUE);
    let newest_c0 = ledger.revocations.iter().filter(|r| r.channel_arn == arn("c0")).map(|r| r.version).max();
    // The holder now is device-299 on c1; the last evicted, device-298, held c0.
    assert_eq!(newest_c0, Some(ledger.devices[0].version - 1));
    assert_eq!(ledger.revoked_through[&arn("c0")], ledger.devices[0].version - 1);
}

/// Random operations on a ledger that is stored and loaded (serialized and parsed) between
/// every two, beside a twin that never is: same decisions, same state, and the invariants hold.
#[test]
fn random_operations_survive_restarts_and_keep_the_invariants() {
    let mut rng = Rng(42);
    let channels = [ch("c0"), ch("c1"), ch("c2"), ch("eu0")];
    for run in 0..60 {
        let limit = 1 + (run % 4) as u32;
        let on_limit = if run % 3 == 0 { OnLimit::EvictOldest } else { OnLimit::Refuse };
        let policy = Policy { limit, on_limit, idle_seconds: 30 };
        let mut stored = serde_json::to_string(&Ledger::new(VIEWER)).unwrap();
        let mut twin = Ledger::new(VIEWER);
        let mut now = NOW;
        let mut issued: Vec<i64> = Vec::new();
        for _ in 0..150 {
            now += rng.below(20) as u64;
            let mut ledger: Ledger = serde_json::from_str(&stored).unwrap();
            let device = format!("device-{}", rng.below(6));
            let channel = channels[rng.below(channels.len())];
            let op = rng.below(10);
            let before_devices: Vec<Device> = ledger.devices.clone();
            let before_queue = ledger.revocations.len();
            match op {
                0..=4 => {
                    let takeover = rng.below(4) == 0;
                    let watermark = ledger.revoked_through.get(channel.arn).copied();
                    let a = ledger.admit(&device, channel, policy, takeover, now);
                    assert_eq!(a, twin.admit(&device, channel, policy, takeover, now));
                    if let Decision::Admitted { version, renewed, evicted } = &a {
                        assert!(watermark.is_none_or(|w| *version > w), "a token IVS would refuse");
                        if !renewed {
                            assert!(issued.iter().all(|v| v < version), "a new admission is above all before");
                            // Every evicted device: one revocation per channel it held.
                            let held: usize =
                                before_devices.iter().filter(|d| evicted.contains(&d.id)).map(|d| d.holds.len()).sum();
                            assert_eq!(ledger.revocations.len() - before_queue, held);
                        }
                        issued.push(*version);
                    }
                    if !matches!(a, Decision::Admitted { renewed: false, .. }) {
                        assert!(ledger.devices.len() <= before_devices.len().max(1));
                    }
                    assert!(ledger.devices.len() <= (limit as usize).max(before_devices.len()));
                }
                5 => assert_eq!(ledger.heartbeat(&device, channel, now), twin.heartbeat(&device, channel, now)),
                6 => assert_eq!(ledger.release(&device, now), twin.release(&device, now)),
                7 if rng.below(5) == 0 => {
                    let scope =
                        if rng.below(2) == 0 { RevokeScope::Viewer(&channels) } else { RevokeScope::Channel(channel) };
                    let block = (rng.below(2) == 0).then_some(now + 30);
                    assert_eq!(ledger.revoke_viewer(scope, block, now), twin.revoke_viewer(scope, block, now));
                }
                _ => {
                    let call = ledger.due_revocations(now, 20);
                    assert_eq!(call, twin.due_revocations(now, 20));
                    if let Some(call) = call {
                        // The object may restart between the call and its answer.
                        stored = serde_json::to_string(&ledger).unwrap();
                        ledger = serde_json::from_str(&stored).unwrap();
                        let outcome = match rng.below(4) {
                            0 => CallOutcome::Status { status: 429, code: None },
                            1 => CallOutcome::Network("timeout".into()),
                            _ => CallOutcome::Answered(vec![]),
                        };
                        let random = rng.next() as u32;
                        ledger.revocation_result(&call, &outcome, now, random);
                        twin.revocation_result(&call, &outcome, now, random);
                    }
                }
            }
            assert_eq!(ledger.take_events(), twin.take_events());
            assert_eq!(ledger, twin);
            let ids: std::collections::BTreeSet<&str> = ledger.devices.iter().map(|d| d.id.as_str()).collect();
            assert_eq!(ids.len(), ledger.devices.len(), "one entry per device");
            assert!(ledger.devices.windows(2).all(|w| w[0].version < w[1].version), "admission order");
            for r in &ledger.revocations {
                assert!(r.version <= ledger.last_version && r.version >= 0);
            }
            stored = serde_json::to_string(&ledger).unwrap();
        }
        // Whatever IVS did, answering every call in the end empties the queue.
        let mut ledger: Ledger = serde_json::from_str(&stored).unwrap();
        while let Some(at) = ledger.next_alarm() {
            now = now.max(at);
            let call = ledger.due_revocations(now, 20).unwrap();
            ledger.revocation_result(&call, &CallOutcome::Answered(vec![]), now, 0);
        }
        assert!(ledger.revocations.is_empty());
    }
}

#[test]
fn the_stored_form_is_plain_json() {
    let mut ledger = Ledger::new(VIEWER);
    ledger.admit("device-a", ch("c0"), refuse(1), false, NOW);
    ledger.admit("device-b", ch("c0"), refuse(1), true, NOW);
    let json = serde_json::to_value(&ledger).unwrap();
    assert_eq!(json["viewer_id"], VIEWER);
    assert_eq!(json["devices"][0]["holds"][arn("c0")]["version"], NOW + 1);
    assert_eq!(json["revocations"][0]["reason"], "evicted");
    assert!(json.get("events").is_none(), "log lines are never stored");
    // Fields added later default when an older object's state is read.
    let old: Ledger = serde_json::from_str(&format!(r#"{{"viewer_id": "{VIEWER}"}}"#)).unwrap();
    assert_eq!(old, Ledger::new(VIEWER));
    // Issue 22: a device is logged by its digest, never by its id (a browser's cookie value).
    let evicted = serde_json::to_value(Event::DeviceEvicted {
        viewer_id: VIEWER.into(),
        device: "device-a".into(),
        reason: Reason::Evicted,
        channels: vec![],
    })
    .unwrap();
    assert_eq!(evicted["device"], device_digest("device-a"));
    assert!(!evicted.to_string().contains("device-a"));
    let event = serde_json::to_value(Event::DeviceRefused {
        viewer_id: VIEWER.into(),
        channel: "c0".into(),
        in_use: 2,
        limit: 2,
    })
    .unwrap();
    assert_eq!(
        event,
        serde_json::json!({"event": "device-refused", "viewer_id": VIEWER, "channel": "c0", "in_use": 2, "limit": 2})
    );
    let decision = serde_json::to_value(Decision::Admitted { version: 5, renewed: false, evicted: vec![] }).unwrap();
    assert_eq!(decision, serde_json::json!({"decision": "admitted", "version": 5, "renewed": false, "evicted": []}));
}
